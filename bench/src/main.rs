//! `ferrokube-bench`: scenario benchmarks of the Ferrokube API server, run from a release
//! build. Each scenario starts its own `ferrokube apiserver` (and etcd where it compares with
//! etcd), drives it with a lean HTTPS client, prints a markdown table and writes
//! `bench/results/<scenario>.json`. See `bench/README.md`.

mod client;
mod controller_convergence;
mod create;
mod endpointslice_churn;
mod failure_detection;
mod fixtures;
mod list;
mod memory;
mod pod_startup;
mod report;
mod scheduler_perf;
mod server;
mod sim_scale;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use report::{Outcome, Row};

#[derive(Parser)]
#[command(
    name = "ferrokube-bench",
    about = "Scenario benchmarks of the Ferrokube API server"
)]
struct Cli {
    /// The `ferrokube` binary (default: the one next to this binary).
    #[arg(long, global = true)]
    ferrokube: Option<PathBuf>,
    /// Where the JSON results go.
    #[arg(long, global = true, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// 1. Create throughput and latency: API on SQLite, API on etcd, raw etcd puts.
    Create(create::CreateArgs),
    /// 2. Watch fan-out latency: watchers on pods while pods are written at a fixed rate.
    Watch(watch::WatchArgs),
    /// 3. List latency from the cache: a full and a paginated list of many pods.
    List(list::ListArgs),
    /// 4. Resident memory holding many pods against their JSON size.
    Memory(memory::MemoryArgs),
    /// Controller manager: a 1,000-replica scale-up (our client limits vs upstream's), a
    /// 100-replica rolling update, and its RSS with 10,000 pods cached.
    ControllerConvergence(controller_convergence::ConvergenceArgs),
    /// Scheduler throughput on upstream's scheduler_perf shapes (apiserver + scheduler).
    SchedulerPerf(scheduler_perf::SchedulerPerfArgs),
    /// EndpointSlices behind a 1,000-pod Service: completion time, then readiness churn.
    EndpointsliceChurn(endpointslice_churn::ChurnArgs),
    /// A dead node's pods Ready elsewhere: seconds from its last heartbeat.
    FailureDetection(failure_detection::FailureDetectionArgs),
    /// Pods on a kubelet driving containerd: create→Running latency against the raw CRI
    /// floor, and the kubelet's RSS.
    PodStartup(pod_startup::PodStartupArgs),
    /// One sim kubelet process hosting many nodes and pods: its CPU, RSS and API load.
    SimScale(sim_scale::SimScaleArgs),
    /// Every scenario with its defaults (create for `--duration` seconds).
    All {
        /// Seconds of create load per target.
        #[arg(long, default_value_t = 20)]
        duration: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let binary = server::ferrokube_binary(cli.ferrokube.clone())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let scenarios: Vec<Scenario> = match cli.scenario {
        Scenario::All { duration } => vec![
            Scenario::Create(create::CreateArgs {
                duration,
                ..parse_defaults("create")
            }),
            Scenario::Watch(parse_defaults("watch")),
            Scenario::List(parse_defaults("list")),
            Scenario::Memory(parse_defaults("memory")),
        ],
        one => vec![one],
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut loads: Vec<String> = Vec::new();
    for scenario in scenarios {
        let before = report::load_average();
        let outcome: Outcome = runtime.block_on(async {
            match &scenario {
                Scenario::Create(a) => create::run(&binary, a).await,
                Scenario::Watch(a) => watch::run(&binary, a).await,
                Scenario::List(a) => list::run(&binary, a).await,
                Scenario::Memory(a) => memory::run(&binary, a).await,
                Scenario::SchedulerPerf(a) => scheduler_perf::run(&binary, a).await,
                Scenario::EndpointsliceChurn(a) => endpointslice_churn::run(&binary, a).await,
                Scenario::FailureDetection(a) => failure_detection::run(&binary, a).await,
                Scenario::PodStartup(a) => pod_startup::run(&binary, a).await,
                Scenario::SimScale(a) => sim_scale::run(&binary, a).await,
                Scenario::ControllerConvergence(a) => controller_convergence::run(&binary, a).await,
                Scenario::All { .. } => unreachable!("expanded above"),
            }
        })?;
        let after = report::load_average();
        report::write_json(&cli.out, &outcome, before, after)?;
        rows.extend(outcome.rows);
        loads.push(format!(
            "{} {:.2} → {:.2}",
            outcome.scenario, before[0], after[0]
        ));
    }
    report::print_table(&rows);
    println!(
        "\n{} CPUs shared with other work; 1-minute load average before → after each scenario: {}. JSON in {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        loads.join(", "),
        cli.out.display()
    );
    Ok(())
}

/// A scenario's arguments with every flag at its default.
fn parse_defaults<T: clap::FromArgMatches + clap::Args>(name: &'static str) -> T {
    let command = T::augment_args(clap::Command::new(name));
    let matches = command.get_matches_from([name]);
    T::from_arg_matches(&matches).expect("defaults parse")
}
