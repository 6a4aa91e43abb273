//! Scenario 1, create throughput: N concurrent clients create 1 KiB ConfigMaps over HTTPS for
//! a fixed time against the API server on SQLite and on etcd, and the same bytes are put into
//! etcd directly through `etcd-client` by N concurrent tasks. Reports creates/s, p50/p99 and
//! the ratios to raw etcd.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use serde_json::json;

use crate::client::{self, Protocol};
use crate::fixtures;
use crate::report::{Goal, Latency, Outcome, Row};
use crate::server::{ApiServer, start_etcd};

/// The size of every ConfigMap body (and of every raw etcd value).
pub const OBJECT_BYTES: usize = 1024;

/// Scenario 1's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct CreateArgs {
    /// How long each target is loaded, in seconds (after the warm-up).
    #[arg(long, default_value_t = 20)]
    pub duration: u64,
    /// Warm-up before measuring, in seconds.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Concurrent clients (HTTP connections for h1; etcd tasks).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// HTTP/1.1 (one connection per client) or HTTP/2 (8 clients per connection).
    #[arg(long, value_enum, default_value = "h1")]
    pub protocol: Protocol,
}

/// A ConfigMap named `cm-<client>-<seq>` in `bench`, padded to exactly [`OBJECT_BYTES`].
pub fn configmap_body(client: usize, seq: u64) -> Bytes {
    let head = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"cm-{client}-{seq}\",\"namespace\":\"bench\"}},\"data\":{{\"payload\":\""
    );
    let tail = "\"}}";
    let mut body = Vec::with_capacity(OBJECT_BYTES);
    body.extend_from_slice(head.as_bytes());
    body.resize(OBJECT_BYTES - tail.len(), b'x');
    body.extend_from_slice(tail.as_bytes());
    Bytes::from(body)
}

/// One worker's (then everyone's) counts and latencies inside the measured window.
#[derive(Default)]
pub struct Tally {
    /// Successful operations started inside the window.
    pub ok: u64,
    /// Failed operations started inside the window.
    pub errors: u64,
    /// The first failure seen.
    pub first_error: Option<String>,
    /// Latency of each successful operation, in microseconds.
    pub micros: Vec<u64>,
    /// When the last measured operation finished.
    pub last_finish: Option<Instant>,
}

impl Tally {
    /// Records one operation started at `started` (ignored before `window_start`).
    pub fn record(&mut self, window_start: Instant, started: Instant, result: anyhow::Result<()>) {
        if started < window_start {
            return;
        }
        let finished = Instant::now();
        match result {
            Ok(()) => {
                self.ok += 1;
                self.micros.push((finished - started).as_micros() as u64);
            }
            Err(e) => {
                self.errors += 1;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("{e:#}"));
                }
            }
        }
        self.last_finish = Some(self.last_finish.map_or(finished, |l| l.max(finished)));
    }

    /// Adds another worker's tally.
    pub fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.micros.extend(other.micros);
        self.last_finish = match (self.last_finish, other.last_finish) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What one target achieved.
#[derive(Debug, serde::Serialize)]
pub struct Throughput {
    /// Which target.
    pub subject: String,
    /// Successful creates (puts) in the window.
    pub ok: u64,
    /// Failures in the window.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// Successful operations per second.
    pub per_second: f64,
    /// Latency percentiles.
    pub latency: Latency,
}

impl Throughput {
    fn from_tally(subject: &str, mut tally: Tally, window_start: Instant) -> Self {
        let seconds = tally
            .last_finish
            .map_or(0.0, |l| (l - window_start).as_secs_f64());
        Throughput {
            subject: subject.into(),
            ok: tally.ok,
            errors: tally.errors,
            first_error: tally.first_error.take(),
            seconds,
            per_second: if seconds > 0.0 {
                tally.ok as f64 / seconds
            } else {
                0.0
            },
            latency: Latency::from_micros(&mut tally.micros),
        }
    }
}

/// Loads the API server with ConfigMap creates.
pub async fn api_creates(
    server: &ApiServer,
    subject: &str,
    args: &CreateArgs,
) -> anyhow::Result<Throughput> {
    let connector = server.connector(args.protocol)?;
    fixtures::create_namespace(&connector).await?;
    let conns = client::connections(&connector, args.clients, 8).await?;
    let start = Instant::now();
    let window_start = start + Duration::from_secs(args.warmup);
    let end = window_start + Duration::from_secs(args.duration);
    let mut tasks = Vec::new();
    for (c, mut conn) in conns.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut seq = 0u64;
            while Instant::now() < end {
                seq += 1;
                let body = configmap_body(c, seq);
                let started = Instant::now();
                let result = conn
                    .expect(
                        201,
                        Method::POST,
                        "/api/v1/namespaces/bench/configmaps",
                        Some(body),
                    )
                    .await
                    .map(drop);
                tally.record(window_start, started, result);
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for t in tasks {
        total.merge(t.await?);
    }
    Ok(Throughput::from_tally(subject, total, window_start))
}

/// Puts the same bytes straight into etcd through `etcd-client`.
pub async fn raw_etcd_puts(endpoint: &str, args: &CreateArgs) -> anyhow::Result<Throughput> {
    let client = etcd_client::Client::connect([endpoint], None).await?;
    let start = Instant::now();
    let window_start = start + Duration::from_secs(args.warmup);
    let end = window_start + Duration::from_secs(args.duration);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let mut kv = client.kv_client();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut seq = 0u64;
            while Instant::now() < end {
                seq += 1;
                let body = configmap_body(c, seq);
                let key = format!("/registry/configmaps/bench/cm-{c}-{seq}");
                let started = Instant::now();
                let result = kv
                    .put(key, body.to_vec(), None)
                    .await
                    .map(drop)
                    .map_err(anyhow::Error::from);
                tally.record(window_start, started, result);
            }
            tally
        }));
    }
    let mut total = Tally::default();
    for t in tasks {
        total.merge(t.await?);
    }
    Ok(Throughput::from_tally("raw etcd put", total, window_start))
}

/// Runs scenario 1: API on SQLite, API on etcd, raw etcd; one fresh server (and etcd) each.
pub async fn run(binary: &Path, args: &CreateArgs) -> anyhow::Result<Outcome> {
    let sqlite = {
        let server = ApiServer::start(binary, None)?;
        api_creates(&server, "apiserver/sqlite", args).await?
    };
    let on_etcd = {
        let etcd = start_etcd().await?;
        let server = ApiServer::start(binary, Some(&etcd.datastore_url()))?;
        let result = api_creates(&server, "apiserver/etcd", args).await?;
        drop(server);
        drop(etcd);
        result
    };
    let raw = {
        let etcd = start_etcd().await?;
        raw_etcd_puts(etcd.endpoint(), args).await?
    };
    let mut rows = Vec::new();
    for t in [&sqlite, &on_etcd, &raw] {
        let mut throughput = Row::new("create", &t.subject, "creates/s", t.per_second, "1/s");
        if t.subject == "apiserver/sqlite" {
            throughput = throughput.goal(Goal::AtLeast(5000.0));
        }
        rows.push(throughput);
        rows.push(Row::new(
            "create",
            &t.subject,
            "p50",
            t.latency.p50_ms,
            "ms",
        ));
        rows.push(Row::new(
            "create",
            &t.subject,
            "p99",
            t.latency.p99_ms,
            "ms",
        ));
        if t.errors > 0 {
            rows.push(Row::new(
                "create",
                &t.subject,
                "errors",
                t.errors as f64,
                "count",
            ));
        }
    }
    let ratio = |a: &Throughput| {
        if raw.per_second > 0.0 {
            a.per_second / raw.per_second
        } else {
            f64::NAN
        }
    };
    rows.push(
        Row::new(
            "create",
            "apiserver/sqlite ÷ raw etcd",
            "throughput ratio",
            ratio(&sqlite),
            "x",
        )
        .goal(Goal::AtLeast(1.0)),
    );
    rows.push(Row::new(
        "create",
        "apiserver/etcd ÷ raw etcd",
        "throughput ratio",
        ratio(&on_etcd),
        "x",
    ));
    let details = json!({
        "args": args,
        "object_bytes": OBJECT_BYTES,
        "targets": [sqlite, on_etcd, raw],
    });
    Ok(Outcome {
        scenario: "create",
        rows,
        details,
    })
}
