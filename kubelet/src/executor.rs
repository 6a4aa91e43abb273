//! The tokio runtime `ferrokube kubelet` runs on ([`build`]), sized for a node agent rather
//! than taken from tokio's defaults (a worker per CPU and up to 512 blocking threads).
//!
//! One node's work is mostly waiting on the API server and the container runtime: one worker
//! thread drives it, as upstream's kubelet spends most of its time parked. Many simulated nodes
//! in one process get a worker per CPU. Blocking work (creating pod and log directories,
//! writing volume files) is short, so a few blocking threads serve it, and idle ones exit
//! soon: 30 pods started at once used to leave 22 blocking threads behind, each with its
//! own stack and malloc arena.

use std::time::Duration;

/// The most blocking threads the kubelet keeps (tokio's default is 512).
pub const MAX_BLOCKING_THREADS: usize = 4;

/// How long an idle blocking thread lives before it exits (tokio's default is 10 s).
pub const BLOCKING_THREAD_KEEP_ALIVE: Duration = Duration::from_secs(2);

/// Worker threads for a process hosting `nodes` nodes on a machine with `cpus` CPUs: one for a
/// single node, else one per CPU (at least one, at most one per node).
pub fn worker_threads(nodes: u32, cpus: usize) -> usize {
    let nodes = usize::try_from(nodes).unwrap_or(usize::MAX);
    cpus.min(nodes).max(1)
}

/// Builds the runtime for a kubelet process hosting `nodes` nodes (1 for a `cri` node).
pub fn build(nodes: u32) -> std::io::Result<tokio::runtime::Runtime> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads(nodes, cpus))
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_THREAD_KEEP_ALIVE)
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::worker_threads;

    #[test]
    fn one_node_runs_on_one_worker_whatever_the_cpus() {
        assert_eq!(worker_threads(1, 1), 1);
        assert_eq!(worker_threads(1, 16), 1);
    }

    #[test]
    fn many_simulated_nodes_get_a_worker_per_cpu() {
        assert_eq!(worker_threads(100, 2), 2);
        assert_eq!(worker_threads(100, 64), 64);
        assert_eq!(worker_threads(3, 64), 3);
    }

    #[test]
    fn no_nodes_or_no_cpus_still_get_one_worker() {
        assert_eq!(worker_threads(0, 8), 1);
        assert_eq!(worker_threads(5, 0), 1);
    }
}
