//! Scenario 3, lists from the watch cache: with N pods stored, the latency of a full list and
//! of a paginated list (`limit`, following `continue` to the last page), median of several runs.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use http::Method;
use serde_json::{Value, json};

use crate::client::{Conn, Protocol, find_string_field};
use crate::fixtures::{self, create_pods, pods_path};
use crate::report::{Goal, Outcome, Row, median_ms};
use crate::server::ApiServer;

/// Scenario 3's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct ListArgs {
    /// Pods stored before listing.
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// Page size of the paginated list.
    #[arg(long, default_value_t = 500)]
    pub limit: usize,
    /// Timed runs of each list (the median is reported).
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
    /// HTTP/1.1 or HTTP/2.
    #[arg(long, value_enum, default_value = "h1")]
    pub protocol: Protocol,
}

/// Lists every pod in one response; returns the body size.
async fn full_list(conn: &mut Conn) -> anyhow::Result<usize> {
    Ok(conn
        .expect(200, Method::GET, "/api/v1/pods", None)
        .await?
        .len())
}

/// Lists every pod of the namespace page by page; returns (pages, bytes).
async fn paginated_list(conn: &mut Conn, limit: usize) -> anyhow::Result<(usize, usize)> {
    let base = format!("{}?limit={limit}", pods_path());
    let mut path = base.clone();
    let (mut pages, mut bytes) = (0, 0);
    loop {
        let body = conn.expect(200, Method::GET, &path, None).await?;
        pages += 1;
        bytes += body.len();
        // metadata (with `continue`) precedes the items in every list we serve.
        match find_string_field(&body[..body.len().min(4096)], "\"continue\":\"") {
            Some(token) if !token.is_empty() => path = format!("{base}&continue={token}"),
            _ => return Ok((pages, bytes)),
        }
    }
}

/// Runs scenario 3.
pub async fn run(binary: &Path, args: &ListArgs) -> anyhow::Result<Outcome> {
    let server = ApiServer::start(binary, None)?;
    let connector = server.connector(args.protocol)?;
    fixtures::create_namespace(&connector).await?;
    let load_start = Instant::now();
    create_pods(&connector, "pod", args.pods, 32).await?;
    let load_seconds = load_start.elapsed().as_secs_f64();
    let mut conn = connector.connect().await?;

    // Check what a full list holds before timing it.
    let body = conn.expect(200, Method::GET, "/api/v1/pods", None).await?;
    let list: Value = serde_json::from_slice(&body).context("decoding the pod list")?;
    let items = list["items"].as_array().map_or(0, Vec::len);
    anyhow::ensure!(
        items == args.pods,
        "the list has {items} pods, wanted {}",
        args.pods
    );

    let mut full: Vec<Duration> = Vec::new();
    let mut full_bytes = 0;
    for _ in 0..args.runs {
        let started = Instant::now();
        full_bytes = full_list(&mut conn).await?;
        full.push(started.elapsed());
    }
    let mut paged: Vec<Duration> = Vec::new();
    let (mut pages, mut paged_bytes) = (0, 0);
    for _ in 0..args.runs {
        let started = Instant::now();
        (pages, paged_bytes) = paginated_list(&mut conn, args.limit).await?;
        paged.push(started.elapsed());
    }
    let expected_pages = args.pods.div_ceil(args.limit);
    anyhow::ensure!(
        pages == expected_pages,
        "the paginated list took {pages} pages, wanted {expected_pages}"
    );

    let full_ms = median_ms(&full);
    let paged_ms = median_ms(&paged);
    let subject = format!("{} pods", args.pods);
    let rows = vec![
        Row::new("list", &subject, "full list (median)", full_ms, "ms").goal(Goal::AtMost(250.0)),
        Row::new(
            "list",
            &subject,
            &format!(
                "paginated list, limit {} ({pages} pages, median)",
                args.limit
            ),
            paged_ms,
            "ms",
        ),
        Row::new(
            "list",
            &subject,
            "full list body",
            full_bytes as f64 / 1_048_576.0,
            "MiB",
        ),
    ];
    let ms = |v: &[Duration]| {
        v.iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect::<Vec<_>>()
    };
    let details = json!({
        "args": args,
        "load_seconds": load_seconds,
        "full": {"median_ms": full_ms, "runs_ms": ms(&full), "bytes": full_bytes},
        "paginated": {"median_ms": paged_ms, "runs_ms": ms(&paged), "pages": pages, "bytes": paged_bytes},
    });
    Ok(Outcome {
        scenario: "list",
        rows,
        details,
    })
}
