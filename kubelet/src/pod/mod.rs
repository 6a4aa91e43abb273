//! The pods of one node: a watch on the pods bound to it (field selector `spec.nodeName`)
//! feeds one [`worker`] per pod UID, each holding the latest pod without its `managedFields`;
//! [`status`] computes the status a worker writes and [`back_off`] the restart delays. What a
//! worker prepares for each container: its environment ([`env`]), its volumes ([`volumes`]),
//! its cgroup settings ([`resources`]), its probes ([`probes`], timing in [`probe_timing`])
//! and its postStart / preStop hooks ([`lifecycle_hooks`]).

pub mod back_off;
pub mod env;
pub mod events;
pub mod lifecycle_hooks;
pub mod probe_timing;
pub mod probes;
pub mod resources;
pub mod status;
pub mod volumes;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::node::NodeContext;
use worker::PodWorker;

/// Runs the node's pod workers until `stop` turns true (workers are then abandoned, not
/// terminated: the pods keep running, as when a kubelet restarts).
pub(crate) async fn run(ctx: Arc<NodeContext>, mut stop: watch::Receiver<bool>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={}", ctx.node_name));
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
    let mut tasks: JoinSet<String> = JoinSet::new();
    let mut relisted: Option<HashSet<String>> = None;
    info!(node = %ctx.node_name, "watching pods bound to this node");
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok(uid) = done {
                    workers.remove(&uid);
                }
            }
            event = events.next() => {
                let event = match event {
                    None => return,
                    Some(Err(e)) => {
                        warn!(node = %ctx.node_name, error = %e, "pod watch failed; retrying");
                        continue;
                    }
                    Some(Ok(e)) => e,
                };
                match event {
                    watcher::Event::Init => relisted = Some(HashSet::new()),
                    watcher::Event::InitApply(mut pod) | watcher::Event::Apply(mut pod) => {
                        // Field ownership is the API server's business: the workers never
                        // read it, and it is often the largest part of a pod object.
                        pod.metadata.managed_fields = None;
                        let uid = pod.uid().unwrap_or_default();
                        if let Some(seen) = relisted.as_mut() {
                            seen.insert(uid.clone());
                        }
                        let pod = Arc::new(pod);
                        match workers.get(&uid) {
                            Some(tx) if !tx.is_closed() => {
                                tx.send_replace(Some(pod));
                            }
                            _ => {
                                let (tx, rx) = watch::channel(Some(pod));
                                workers.insert(uid.clone(), tx);
                                let worker = PodWorker::new(ctx.clone(), rx);
                                tasks.spawn(async move {
                                    worker.run().await;
                                    uid
                                });
                            }
                        }
                    }
                    watcher::Event::Delete(pod) => {
                        if let Some(tx) = workers.get(&pod.uid().unwrap_or_default()) {
                            tx.send_replace(None);
                        }
                    }
                    watcher::Event::InitDone => {
                        let seen = relisted.take().unwrap_or_default();
                        for (uid, tx) in &workers {
                            if !seen.contains(uid) {
                                tx.send_replace(None);
                            }
                        }
                    }
                }
            }
        }
    }
}
