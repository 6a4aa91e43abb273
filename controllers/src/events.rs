//! Events as upstream's `client-go/tools/record` recorder writes them: core/v1 `Event`s named
//! `<object>.<hex nanoseconds>` with `source.component` set to the controller's name, written
//! in the background so a slow or failing write never holds up a reconcile. An event identical
//! to one written before (same object, type, reason and message) bumps that Event's `count` and
//! `lastTimestamp` instead of adding another, as upstream's correlator does. `kubectl describe`
//! lists them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use tracing::debug;

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Routine progress (`SuccessfulCreate`).
    Normal,
    /// Something went wrong (`FailedCreate`).
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Identical events remembered for aggregation (upstream's LRU holds 4096).
const MAX_REMEMBERED: usize = 4096;

/// (involved object UID, type, reason, message).
type EventKey = (String, &'static str, String, String);

/// An aggregated Event: its name, first timestamp and count so far.
type Seen = (String, Timestamp, i32);

/// Writes Events on behalf of one controller (`source.component`).
#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    component: String,
    host: Option<String>,
    /// Identical events seen so far.
    seen: Arc<Mutex<HashMap<EventKey, Seen>>>,
}

/// A reference to `obj` for `involvedObject`.
pub fn object_reference<K: Resource<DynamicType = ()>>(obj: &K) -> ObjectReference {
    ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        namespace: obj.namespace(),
        name: Some(obj.name_any()),
        uid: obj.uid(),
        resource_version: obj.resource_version(),
        field_path: None,
    }
}

impl Recorder {
    /// A recorder for `component` (e.g. `replicaset-controller`) running on `host`.
    pub fn new(client: kube::Client, component: &str, host: Option<String>) -> Self {
        Recorder {
            client,
            component: component.into(),
            host,
            seen: Arc::default(),
        }
    }

    /// Records an event about `obj` in the background.
    pub fn publish<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        message: String,
    ) {
        self.publish_about(obj, None, type_, reason, message);
    }

    /// Records an event about a part of `obj` named by `field_path` (`involvedObject.fieldPath`,
    /// e.g. `spec.containers{main}` as the kubelet reports container events), in the background.
    pub fn publish_about<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        field_path: Option<String>,
        type_: EventType,
        reason: &str,
        message: String,
    ) {
        let mut involved = object_reference(obj);
        involved.field_path = field_path;
        let namespace = involved
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let now = Timestamp::now();
        let key: EventKey = (
            involved.uid.clone().unwrap_or_default(),
            type_.as_str(),
            reason.to_string(),
            message.clone(),
        );
        let fresh_name = format!(
            "{}.{:x}",
            involved.name.as_deref().unwrap_or_default(),
            now.as_nanosecond()
        );
        let (name, first, count) = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            if seen.len() >= MAX_REMEMBERED && !seen.contains_key(&key) {
                seen.clear();
            }
            let entry = seen.entry(key).or_insert((fresh_name, now, 0));
            entry.2 += 1;
            entry.clone()
        };
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
            involved_object: involved,
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(type_.as_str().into()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: self.host.clone(),
            }),
            first_timestamp: Some(Time(first)),
            last_timestamp: Some(Time(now)),
            count: Some(count),
            event_time: None::<MicroTime>,
            reporting_component: Some(self.component.clone()),
            reporting_instance: self.host.clone(),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        tokio::spawn(async move {
            if count > 1 {
                let patch = serde_json::json!({
                    "count": count,
                    "lastTimestamp": event.last_timestamp,
                });
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => return,
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => {
                        debug!(error = %e, reason = ?event.reason, "could not update event");
                        return;
                    }
                }
            }
            if let Err(e) = api.create(&PostParams::default(), &event).await {
                debug!(error = %e, reason = ?event.reason, "could not write event");
            }
        });
    }
}
