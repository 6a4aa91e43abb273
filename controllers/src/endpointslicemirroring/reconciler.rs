//! The slices an Endpoints object calls for (upstream's mirroring `reconcile`): its addresses
//! grouped by address family and port list, at most `max_per_subset` addresses mirrored per
//! subset, each group cut into slices of at most that many endpoints, matched against the
//! existing slices so that unchanged ones are left alone. Pure.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort as CorePort, Endpoints};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// `endpointslice.kubernetes.io/managed-by`.
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of the managed-by label.
pub const MANAGED_BY: &str = "endpointslicemirroring-controller.k8s.io";
/// `kubernetes.io/service-name`.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Endpoints labelled `true` with this are not mirrored.
pub const LABEL_SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";
/// Endpoints used as leader-election locks carry this annotation and are not mirrored.
pub const ANNOTATION_LEADER: &str = "control-plane.alpha.kubernetes.io/leader";
const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
const ANNOTATION_LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The writes that bring the existing slices to the desired ones.
#[derive(Debug, Default)]
pub struct Plan {
    /// Slices to create (generateName set).
    pub create: Vec<EndpointSlice>,
    /// Existing slices with new contents.
    pub update: Vec<EndpointSlice>,
    /// Existing slices no longer needed.
    pub delete: Vec<EndpointSlice>,
    /// Addresses left out because a subset had more than `max_per_subset`.
    pub skipped_over_capacity: usize,
    /// Addresses left out because they were not IP addresses.
    pub skipped_invalid: usize,
}

/// (address type, ports) of one group of endpoints.
type GroupKey = (String, String);

fn ports(core: &[CorePort]) -> Vec<EndpointPort> {
    core.iter()
        .map(|p| EndpointPort {
            name: Some(p.name.clone().unwrap_or_default()),
            port: Some(p.port),
            protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
            app_protocol: p.app_protocol.clone(),
        })
        .collect()
}

fn ports_key(p: &[EndpointPort]) -> String {
    let mut parts: Vec<String> = p
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}/{}",
                p.name.as_deref().unwrap_or_default(),
                p.port.unwrap_or_default(),
                p.protocol.as_deref().unwrap_or_default(),
                p.app_protocol.as_deref().unwrap_or_default()
            )
        })
        .collect();
    parts.sort();
    parts.join(",")
}

fn endpoint(address: &EndpointAddress, ready: bool) -> Option<(String, Endpoint)> {
    let ip: IpAddr = address.ip.parse().ok()?;
    let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
    Some((
        family.to_string(),
        Endpoint {
            addresses: vec![ip.to_string()],
            conditions: Some(EndpointConditions {
                ready: Some(ready),
                ..Default::default()
            }),
            hostname: address.hostname.clone().filter(|h| !h.is_empty()),
            node_name: address.node_name.clone(),
            target_ref: address.target_ref.clone(),
            ..Default::default()
        },
    ))
}

/// The metadata every mirrored slice of `endpoints` carries.
fn slice_meta(endpoints: &Endpoints) -> ObjectMeta {
    let name = endpoints.metadata.name.clone().unwrap_or_default();
    let mut labels = endpoints.metadata.labels.clone().unwrap_or_default();
    labels.insert(LABEL_SERVICE_NAME.into(), name.clone());
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    let annotations: BTreeMap<String, String> = endpoints
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k != ANNOTATION_TRIGGER_TIME && k != ANNOTATION_LAST_APPLIED)
        .collect();
    ObjectMeta {
        namespace: endpoints.metadata.namespace.clone(),
        generate_name: Some(format!("{name}-")),
        labels: Some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        owner_references: Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Endpoints".into(),
            name,
            uid: endpoints.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..Default::default()
    }
}

/// The desired groups: (address type, ports key) to (ports, endpoints in address order).
fn desired(
    endpoints: &Endpoints,
    max_per_subset: usize,
    plan: &mut Plan,
) -> BTreeMap<GroupKey, (Vec<EndpointPort>, Vec<Endpoint>)> {
    let mut groups: BTreeMap<GroupKey, (Vec<EndpointPort>, BTreeMap<String, Endpoint>)> =
        BTreeMap::new();
    for subset in endpoints.subsets.as_deref().unwrap_or_default() {
        let p = ports(subset.ports.as_deref().unwrap_or_default());
        let pk = ports_key(&p);
        let ready = subset.addresses.iter().flatten().map(|a| (a, true));
        let not_ready = subset
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| (a, false));
        let mut added = 0;
        for (address, is_ready) in ready.chain(not_ready) {
            if added >= max_per_subset {
                plan.skipped_over_capacity += 1;
                continue;
            }
            let Some((family, ep)) = endpoint(address, is_ready) else {
                plan.skipped_invalid += 1;
                continue;
            };
            let group = groups
                .entry((family, pk.clone()))
                .or_insert_with(|| (p.clone(), BTreeMap::new()));
            if !group.1.contains_key(&ep.addresses[0]) {
                group.1.insert(ep.addresses[0].clone(), ep);
                added += 1;
            }
        }
    }
    groups
        .into_iter()
        .map(|(k, (p, eps))| (k, (p, eps.into_values().collect())))
        .collect()
}

fn group_of(slice: &EndpointSlice) -> GroupKey {
    (
        slice.address_type.clone(),
        ports_key(slice.ports.as_deref().unwrap_or_default()),
    )
}

fn sorted(eps: &[Endpoint]) -> Vec<Endpoint> {
    let mut v = eps.to_vec();
    v.sort_by(|a, b| a.addresses.cmp(&b.addresses));
    v
}

/// Plans the writes mirroring `endpoints` into `existing` (None: nothing to mirror, delete
/// every existing slice), with at most `max_per_subset` addresses per subset and per slice.
pub fn plan(
    endpoints: Option<&Endpoints>,
    existing: &[&EndpointSlice],
    max_per_subset: usize,
) -> Plan {
    let mut plan = Plan::default();
    let Some(endpoints) = endpoints else {
        plan.delete = existing.iter().map(|s| (*s).clone()).collect();
        return plan;
    };
    let max = max_per_subset.max(1);
    let meta = slice_meta(endpoints);
    let groups = desired(endpoints, max, &mut plan);
    let mut by_group: BTreeMap<GroupKey, Vec<&EndpointSlice>> = BTreeMap::new();
    for s in existing {
        by_group.entry(group_of(s)).or_default().push(s);
    }
    let mut used = BTreeSet::new();
    for (key, (p, eps)) in &groups {
        let mut olds = by_group.remove(key).unwrap_or_default();
        olds.sort_by_key(|s| s.metadata.name.clone());
        let mut olds = olds.into_iter();
        for chunk in eps.chunks(max) {
            let mut want = EndpointSlice {
                metadata: meta.clone(),
                address_type: key.0.clone(),
                endpoints: chunk.to_vec(),
                ports: Some(p.clone()),
            };
            match olds.next() {
                Some(old) => {
                    used.insert(old.metadata.name.clone());
                    let same = sorted(&old.endpoints) == sorted(chunk)
                        && old.metadata.labels == want.metadata.labels
                        && old.metadata.annotations == want.metadata.annotations
                        && old.metadata.owner_references == want.metadata.owner_references;
                    if !same {
                        let mut m = old.metadata.clone();
                        m.labels = want.metadata.labels.take();
                        m.annotations = want.metadata.annotations.take();
                        m.owner_references = want.metadata.owner_references.take();
                        m.managed_fields = None;
                        want.metadata = m;
                        plan.update.push(want);
                    }
                }
                None => plan.create.push(want),
            }
        }
        plan.delete.extend(olds.cloned());
    }
    for (_, rest) in by_group {
        plan.delete.extend(rest.into_iter().cloned());
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoints(v: serde_json::Value) -> Endpoints {
        serde_json::from_value(v).unwrap()
    }

    fn addresses(s: &EndpointSlice) -> Vec<(String, bool)> {
        s.endpoints
            .iter()
            .map(|e| {
                (
                    e.addresses[0].clone(),
                    e.conditions.as_ref().unwrap().ready.unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn ready_and_not_ready_addresses_land_in_one_slice_per_family() {
        let ep = endpoints(
            json!({"metadata": {"name": "db", "namespace": "ns", "uid": "u",
            "labels": {"team": "a"}},
            "subsets": [{"addresses": [{"ip": "10.0.0.1", "hostname": "h"}, {"ip": "fd00::1"}],
                         "notReadyAddresses": [{"ip": "10.0.0.2"}],
                         "ports": [{"name": "sql", "port": 5432, "protocol": "TCP"}]}]}),
        );
        let p = plan(Some(&ep), &[], 1000);
        assert_eq!(p.create.len(), 2);
        let v4 = p.create.iter().find(|s| s.address_type == "IPv4").unwrap();
        assert_eq!(
            addresses(v4),
            [
                ("10.0.0.1".to_string(), true),
                ("10.0.0.2".to_string(), false)
            ]
        );
        let labels = v4.metadata.labels.as_ref().unwrap();
        assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
        assert_eq!(labels[LABEL_SERVICE_NAME], "db");
        assert_eq!(labels["team"], "a");
        assert_eq!(v4.metadata.generate_name.as_deref(), Some("db-"));
        assert_eq!(v4.endpoints[0].hostname.as_deref(), Some("h"));
    }

    #[test]
    fn a_subset_is_capped_and_the_rest_reported() {
        let ep = endpoints(
            json!({"metadata": {"name": "db"}, "subsets": [{"addresses": [
            {"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}, {"ip": "bogus"}]}]}),
        );
        let p = plan(Some(&ep), &[], 2);
        assert_eq!(p.create.len(), 1);
        assert_eq!(p.create[0].endpoints.len(), 2);
        assert_eq!(p.skipped_over_capacity, 2);
    }

    #[test]
    fn an_unchanged_slice_is_left_alone_and_a_changed_one_updated() {
        let ep = endpoints(
            json!({"metadata": {"name": "db"}, "subsets": [{"addresses": [
            {"ip": "10.0.0.1"}]}]}),
        );
        let mut s = plan(Some(&ep), &[], 10).create.remove(0);
        s.metadata.name = Some("db-abc".into());
        let p = plan(Some(&ep), &[&s], 10);
        assert!(p.create.is_empty() && p.update.is_empty() && p.delete.is_empty());
        let ep2 = endpoints(
            json!({"metadata": {"name": "db"}, "subsets": [{"addresses": [
            {"ip": "10.0.0.1"}, {"ip": "10.0.0.9"}]}]}),
        );
        let p = plan(Some(&ep2), &[&s], 10);
        assert_eq!(p.update.len(), 1);
        assert_eq!(p.update[0].metadata.name.as_deref(), Some("db-abc"));
        assert_eq!(p.update[0].endpoints.len(), 2);
        assert_eq!(plan(None, &[&s], 10).delete.len(), 1);
    }
}
