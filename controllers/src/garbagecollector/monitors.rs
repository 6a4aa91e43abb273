//! Discovery and the resource monitors (upstream's `GraphBuilder.syncMonitors`): every
//! [`DISCOVERY_PERIOD`](super::DISCOVERY_PERIOD) the served resources are read again, a watch
//! starts for each new resource that supports `list`, `watch` and `delete`, and watches of
//! resources that went away stop. Each watch feeds the ownership graph.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use kube::core::ObjectMeta;
use kube::runtime::watcher;
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use super::graph::{Identity, Observation};
use super::metadata::{server_serves_metadata, watch_metadata};
use super::resources::{Resolved, Resources, ignored};
use super::{Context, Error};

/// Reads discovery and keeps one watch per deletable resource until `stop` turns true.
pub async fn run(ctx: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let mut monitors: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut metadata_api: Option<bool> = None;
    loop {
        match Resources::discover(&ctx.client)
            .await
            .map_err(Error::Discover)
        {
            Ok(resources) => {
                let wanted: Vec<Resolved> = resources
                    .preferred_supporting(&["list", "watch", "delete"])
                    .into_iter()
                    .filter(|r| !ignored(r))
                    .collect();
                *ctx.resources.write().unwrap_or_else(|e| e.into_inner()) = resources;
                if metadata_api.is_none()
                    && let Some(first) = wanted.first()
                {
                    let served = server_serves_metadata(&ctx.client, &first.resource).await;
                    debug!(served, "metadata-only lists");
                    metadata_api = Some(served);
                }
                let keys: HashSet<String> = wanted.iter().map(Resolved::key).collect();
                monitors.retain(|key, task| {
                    let keep = keys.contains(key);
                    if !keep {
                        info!(resource = %key, "stopping monitor: resource no longer served");
                        task.abort();
                    }
                    keep
                });
                for r in wanted {
                    let key = r.key();
                    if let std::collections::hash_map::Entry::Vacant(slot) = monitors.entry(key) {
                        debug!(resource = %slot.key(), "starting monitor");
                        let span = info_span!("monitor", resource = %slot.key());
                        let metadata_api = metadata_api.unwrap_or(false);
                        slot.insert(tokio::spawn(
                            monitor(ctx.clone(), r, metadata_api).instrument(span),
                        ));
                    }
                }
            }
            Err(e) => warn!(error = %e, "garbage collector: discovery failed"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(ctx.discovery_period) => {}
        }
    }
    for (_, task) in monitors {
        task.abort();
    }
}

fn observation(r: &Resolved, meta: ObjectMeta) -> Option<Observation> {
    Some(Observation {
        identity: Identity {
            api_version: r.resource.api_version.clone(),
            kind: r.resource.kind.clone(),
            namespace: meta.namespace,
            name: meta.name?,
            uid: meta.uid?,
        },
        owners: meta.owner_references.unwrap_or_default(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.unwrap_or_default(),
    })
}

/// Watches one resource; a re-list is diffed against what the watch saw before, so objects
/// deleted while it was down leave the graph too. Only metadata is read (see [`super::metadata`]).
async fn monitor(ctx: Arc<Context>, r: Resolved, metadata_api: bool) {
    let mut events = watch_metadata(&ctx.client, &r.resource, metadata_api);
    let mut relisted: Option<HashSet<String>> = None;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(e) => e,
            Err(e) => {
                debug!(error = %e, "watch failed; retrying");
                continue;
            }
        };
        match event {
            watcher::Event::Apply(obj) | watcher::Event::InitApply(obj) => {
                let Some(obs) = observation(&r, obj) else {
                    continue;
                };
                if let Some(seen) = relisted.as_mut() {
                    seen.insert(obs.identity.uid.clone());
                }
                let work = ctx.graph().observe(obs);
                ctx.schedule(work);
            }
            watcher::Event::Delete(obj) => {
                if let Some(uid) = obj.uid {
                    let work = ctx.graph().remove(&uid, false);
                    ctx.schedule(work);
                }
            }
            watcher::Event::Init => relisted = Some(HashSet::new()),
            watcher::Event::InitDone => {
                // Objects of this resource the graph holds but the re-list did not return.
                let seen = relisted.take().unwrap_or_default();
                let mut graph = ctx.graph();
                let gone = graph.observed_of(&r.resource.api_version, &r.resource.kind, &seen);
                for uid in gone {
                    let work = graph.remove(&uid, false);
                    ctx.schedule(work);
                }
            }
        }
    }
}
