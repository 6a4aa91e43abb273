//! Scenario 2, watch fan-out: W watchers hold HTTP watch streams on the pods of one namespace
//! while writers create pods at a fixed rate. Each write's acknowledgement time (when its 201
//! arrived) is matched by resourceVersion with the time every watcher received its event;
//! the difference is the fan-out latency.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::Method;
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::watch as signal;

use crate::client::{self, Protocol, resource_version};
use crate::fixtures::{self, pod_body, pods_path};
use crate::report::{Goal, Latency, Outcome, Row};
use crate::server::{ApiServer, start_etcd};

/// How long watchers may take to receive the last events after the writers stop.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Scenario 2's flags.
#[derive(Clone, Debug, clap::Args, serde::Serialize)]
pub struct WatchArgs {
    /// Watch streams.
    #[arg(long, default_value_t = 100)]
    pub watchers: usize,
    /// Pod writes per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    /// How long the writers run, in seconds.
    #[arg(long, default_value_t = 15)]
    pub duration: u64,
    /// Concurrent writer connections sharing the rate.
    #[arg(long, default_value_t = 32)]
    pub writers: usize,
    /// HTTP/1.1 (a connection per watcher) or HTTP/2 (10 watchers per connection).
    #[arg(long, value_enum, default_value = "h1")]
    pub protocol: Protocol,
    /// Run the API server on a private etcd instead of SQLite.
    #[arg(long)]
    pub etcd: bool,
}

/// What one writer saw: (resourceVersion, when the 201 arrived), write latencies, failures.
#[derive(Default)]
struct Writes {
    acks: Vec<(i64, Instant)>,
    micros: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// Reads a watch stream, noting when each event's resourceVersion arrived, until `stop` says
/// how many events to expect (and by when).
async fn read_events(
    response: http::Response<hyper::body::Incoming>,
    mut stop: signal::Receiver<Option<(usize, tokio::time::Instant)>>,
) -> Vec<(i64, Instant)> {
    let mut body = response.into_body();
    let mut events = Vec::new();
    let mut buf = BytesMut::new();
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    loop {
        if let Some((n, deadline)) = *stop.borrow()
            && (events.len() >= n || tokio::time::Instant::now() >= deadline)
        {
            break;
        }
        tokio::select! {
            frame = body.frame() => {
                let Some(Ok(frame)) = frame else { break };
                let Ok(data) = frame.into_data() else { continue };
                let now = Instant::now();
                buf.extend_from_slice(&data);
                while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                    let line = buf.split_to(end + 1);
                    if let Some(rv) = resource_version(&line) {
                        events.push((rv, now));
                    }
                }
            }
            changed = stop.changed() => {
                if changed.is_err() {
                    break;
                }
                if let Some((_, deadline)) = *stop.borrow() {
                    sleep.as_mut().reset(deadline);
                }
            }
            _ = &mut sleep => {}
        }
    }
    events
}

/// Runs scenario 2.
pub async fn run(binary: &Path, args: &WatchArgs) -> anyhow::Result<Outcome> {
    let etcd = if args.etcd {
        Some(start_etcd().await?)
    } else {
        None
    };
    let server = ApiServer::start(binary, etcd.as_ref().map(|e| e.datastore_url()).as_deref())?;
    let subject = if args.etcd {
        "apiserver/etcd"
    } else {
        "apiserver/sqlite"
    };
    let connector = server.connector(args.protocol)?;
    fixtures::create_namespace(&connector).await?;

    let (stop_tx, stop_rx) = signal::channel(None);
    let watch_conns = client::connections(&connector, args.watchers, 10).await?;
    let mut watchers = Vec::new();
    let watch_path = format!("{}?watch=true", pods_path());
    for mut conn in watch_conns {
        let response = conn.send(Method::GET, &watch_path, None).await?;
        anyhow::ensure!(
            response.status() == 200,
            "watch answered {}",
            response.status()
        );
        let stop = stop_rx.clone();
        watchers.push(tokio::spawn(async move {
            let events = read_events(response, stop).await;
            drop(conn);
            events
        }));
    }

    let writer_conns = client::connections(&connector, args.writers, 8).await?;
    let total = (args.rate * args.duration) as usize;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut writers = Vec::new();
    for (w, mut conn) in writer_conns.into_iter().enumerate() {
        let step = args.writers;
        let path = pods_path();
        writers.push(tokio::spawn(async move {
            let mut out = Writes::default();
            let mut k = w;
            while k < total {
                tokio::time::sleep_until(start + interval * k as u32).await;
                let begun = Instant::now();
                match conn
                    .expect(201, Method::POST, &path, Some(pod_body(&format!("w-{k}"))))
                    .await
                {
                    Ok(body) => {
                        let acked = Instant::now();
                        out.micros.push((acked - begun).as_micros() as u64);
                        match resource_version(&body) {
                            Some(rv) => out.acks.push((rv, acked)),
                            None => out.errors += 1,
                        }
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
                k += step;
            }
            out
        }));
    }
    let mut writes = Writes::default();
    for w in writers {
        let w = w.await?;
        writes.acks.extend(w.acks);
        writes.micros.extend(w.micros);
        writes.errors += w.errors;
        if writes.first_error.is_none() {
            writes.first_error = w.first_error;
        }
    }
    let write_seconds = (Instant::now() - start.into_std()).as_secs_f64();
    let acked = writes.acks.len();
    stop_tx.send_replace(Some((acked, tokio::time::Instant::now() + DRAIN_TIMEOUT)));

    let ack_at: HashMap<i64, Instant> = writes.acks.iter().copied().collect();
    let mut fanout = Vec::with_capacity(acked * args.watchers);
    let mut before_ack = 0u64;
    let mut short_watchers = 0usize;
    for w in watchers {
        let events = w.await?;
        let mut matched = 0;
        for (rv, at) in events {
            if let Some(ack) = ack_at.get(&rv) {
                matched += 1;
                if at < *ack {
                    before_ack += 1;
                }
                fanout.push(at.saturating_duration_since(*ack).as_micros() as u64);
            }
        }
        if matched < acked {
            short_watchers += 1;
        }
    }
    let delivered = fanout.len();
    let expected = acked * args.watchers;
    let fanout = Latency::from_micros(&mut fanout);
    let write_latency = Latency::from_micros(&mut writes.micros);
    let write_rate = acked as f64 / write_seconds;

    let rows = vec![
        Row::new(
            "watch",
            subject,
            "pod writes/s (achieved)",
            write_rate,
            "1/s",
        ),
        Row::new("watch", subject, "write p99", write_latency.p99_ms, "ms"),
        Row::new(
            "watch",
            subject,
            "events delivered / expected",
            delivered as f64 / expected.max(1) as f64,
            "fraction",
        )
        .goal(Goal::AtLeast(1.0)),
        Row::new("watch", subject, "ack→event p50", fanout.p50_ms, "ms"),
        Row::new("watch", subject, "ack→event p99", fanout.p99_ms, "ms").goal(Goal::AtMost(20.0)),
    ];
    let details = json!({
        "args": args,
        "subject": subject,
        "writes": {"attempted": total, "acked": acked, "errors": writes.errors, "first_error": writes.first_error, "seconds": write_seconds, "per_second": write_rate, "latency": write_latency},
        "events": {"expected": expected, "delivered": delivered, "delivered_before_ack": before_ack, "watchers_missing_events": short_watchers},
        "fanout_latency": fanout,
    });
    drop(server);
    drop(etcd);
    Ok(Outcome {
        scenario: "watch",
        rows,
        details,
    })
}
