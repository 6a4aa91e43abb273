//! Discovery and the resource monitors (upstream's `GraphBuilder.syncMonitors`): every
//! [`DISCOVERY_PERIOD`](super::DISCOVERY_PERIOD) the served resources are read again, a watch
//! starts for each new resource that supports `list`, `watch` and `delete`, and watches of
//! resources that went away stop. Each watch feeds the ownership graph.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use kube::Api;
use kube::api::DynamicObject;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span, warn};

use super::graph::{Identity, Observation};
use super::resources::{Resolved, Resources, ignored};
use super::{Context, Error};

/// Reads discovery and keeps one watch per deletable resource until `stop` turns true.
pub async fn run(ctx: Arc<Context>, mut stop: watch::Receiver<bool>) {
    let mut monitors: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
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
                        slot.insert(tokio::spawn(monitor(ctx.clone(), r).instrument(span)));
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

fn observation(r: &Resolved, obj: &DynamicObject) -> Option<Observation> {
    let meta = &obj.metadata;
    Some(Observation {
        identity: Identity {
            api_version: r.resource.api_version.clone(),
            kind: r.resource.kind.clone(),
            namespace: meta.namespace.clone(),
            name: meta.name.clone()?,
            uid: meta.uid.clone()?,
        },
        owners: meta.owner_references.clone().unwrap_or_default(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.clone().unwrap_or_default(),
    })
}

/// Watches one resource; a re-list is diffed against what the watch saw before, so objects
/// deleted while it was down leave the graph too.
async fn monitor(ctx: Arc<Context>, r: Resolved) {
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &r.resource);
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut known: HashSet<String> = HashSet::new();
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
                let Some(obs) = observation(&r, &obj) else {
                    continue;
                };
                known.insert(obs.identity.uid.clone());
                if let Some(seen) = relisted.as_mut() {
                    seen.insert(obs.identity.uid.clone());
                }
                let work = ctx.graph().observe(obs);
                ctx.schedule(work);
            }
            watcher::Event::Delete(obj) => {
                if let Some(uid) = obj.metadata.uid {
                    known.remove(&uid);
                    let work = ctx.graph().remove(&uid, false);
                    ctx.schedule(work);
                }
            }
            watcher::Event::Init => relisted = Some(HashSet::new()),
            watcher::Event::InitDone => {
                let seen = relisted.take().unwrap_or_default();
                for gone in known.difference(&seen) {
                    let work = ctx.graph().remove(gone, false);
                    ctx.schedule(work);
                }
                known = seen;
            }
        }
    }
}
