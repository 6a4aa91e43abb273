//! Scenario 4, memory: the API server's resident size (VmRSS) holding N pods, minus its
//! resident size when empty (after a first request of each kind), against the total size of
//! those pods' JSON as the server returns them.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use http::Method;
use serde_json::{Value, json};

use crate::client::Protocol;
use crate::fixtures::{self, create_pods, pods_path};
use crate::report::{Goal, Outcome, Row};
use crate::server::ApiServer;

/// How long the server is left idle before its RSS is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Scenario 4's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct MemoryArgs {
    /// Pods stored.
    #[arg(long, default_value_t = 10_000)]
    pub pods: usize,
    /// HTTP/1.1 or HTTP/2.
    #[arg(long, value_enum, default_value = "h1")]
    pub protocol: Protocol,
}

/// Runs scenario 4.
pub async fn run(binary: &Path, args: &MemoryArgs) -> anyhow::Result<Outcome> {
    let server = ApiServer::start(binary, None)?;
    let connector = server.connector(args.protocol)?;
    // Warm the paths the load uses (a create, a list) so their one-time setup is in the baseline.
    fixtures::create_namespace(&connector).await?;
    create_pods(&connector, "warm", 1, 1).await?;
    let mut conn = connector.connect().await?;
    conn.expect(200, Method::GET, &pods_path(), None).await?;
    conn.expect(
        200,
        Method::DELETE,
        &format!("{}/warm-0", pods_path()),
        None,
    )
    .await?;
    drop(conn);
    tokio::time::sleep(SETTLE).await;
    let empty = server.rss_bytes()?;

    create_pods(&connector, "pod", args.pods, 32).await?;
    tokio::time::sleep(SETTLE).await;
    let full = server.rss_bytes()?;

    let mut conn = connector.connect().await?;
    let body = conn.expect(200, Method::GET, &pods_path(), None).await?;
    let list: Value = serde_json::from_slice(&body).context("decoding the pod list")?;
    let items = list["items"].as_array().context("the list has no items")?;
    anyhow::ensure!(
        items.len() == args.pods,
        "the list has {} pods, wanted {}",
        items.len(),
        args.pods
    );
    let json_bytes: usize = items
        .iter()
        .map(|i| serde_json::to_vec(i).map_or(0, |v| v.len()))
        .sum();
    let after_list = server.rss_bytes()?;

    let growth = full.saturating_sub(empty);
    let ratio = growth as f64 / json_bytes as f64;
    let mib = |b: u64| b as f64 / 1_048_576.0;
    let subject = format!("apiserver/sqlite, {} pods", args.pods);
    let rows = vec![
        Row::new("memory", &subject, "RSS empty", mib(empty), "MiB"),
        Row::new("memory", &subject, "RSS holding the pods", mib(full), "MiB"),
        Row::new(
            "memory",
            &subject,
            "pods' JSON",
            mib(json_bytes as u64),
            "MiB",
        ),
        Row::new("memory", &subject, "RSS growth ÷ JSON", ratio, "x").goal(Goal::AtMost(3.0)),
    ];
    let details = json!({
        "args": args,
        "rss_empty_bytes": empty,
        "rss_full_bytes": full,
        "rss_after_a_full_list_bytes": after_list,
        "json_bytes": json_bytes,
        "average_pod_json_bytes": json_bytes / args.pods.max(1),
        "ratio": ratio,
    });
    Ok(Outcome {
        scenario: "memory",
        rows,
        details,
    })
}
