//! The pure part of an Endpoints sync: each selected pod becomes one address per Service port
//! (upstream's `addEndpointSubset`), the subsets are repacked so addresses sharing the same
//! ports share a subset (`endpoints.RepackSubsets`) and sorted, and more than
//! [`MAX_CAPACITY`] addresses are truncated (`truncateEndpoints`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Pod, Service};
use kube::ResourceExt;

use crate::endpointslice::util;
use crate::pod_util;

/// Upstream's `maxCapacity`: the most addresses one Endpoints object holds.
pub const MAX_CAPACITY: usize = 1000;

/// The address of `pod` for `svc`: the pod IP of the Service's (first) IP family, nodeName,
/// targetRef, and hostname when the pod names this Service as its subdomain. None when the pod
/// has no IP of that family.
pub fn pod_address(svc: &Service, pod: &Pod) -> Option<EndpointAddress> {
    let spec = svc.spec.as_ref();
    let family_v6 = match spec
        .and_then(|s| s.ip_families.as_deref())
        .and_then(|f| f.first())
    {
        Some(f) => f == "IPv6",
        None => match spec.and_then(|s| s.cluster_ip.as_deref()) {
            Some(ip) if !ip.is_empty() && ip != "None" => util::is_ipv6(ip),
            _ => util::pod_ips(pod)
                .first()
                .is_some_and(|ip| util::is_ipv6(ip)),
        },
    };
    let ip = util::pod_ips(pod)
        .into_iter()
        .find(|ip| util::is_ipv6(ip) == family_v6)?;
    let pod_spec = pod.spec.as_ref();
    Some(EndpointAddress {
        ip: ip.to_string(),
        node_name: Some(
            pod_spec
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
        ),
        hostname: util::should_set_hostname(pod, svc)
            .then(|| pod_spec.and_then(|s| s.hostname.clone()))
            .flatten(),
        target_ref: Some(k8s_openapi::api::core::v1::ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.namespace(),
            name: Some(pod.name_any()),
            uid: pod.uid(),
            ..Default::default()
        }),
    })
}

/// One subset per (pod, port) before repacking, as upstream's sync loop builds them.
pub fn unpacked_subsets(svc: &Service, pods: &[&Pod]) -> Vec<EndpointSubset> {
    let spec = svc.spec.clone().unwrap_or_default();
    let tolerate_unready = spec.publish_not_ready_addresses.unwrap_or(false);
    let ports = spec.ports.unwrap_or_default();
    let mut subsets = Vec::new();
    for pod in pods {
        if !util::should_pod_be_in_endpoints(pod, tolerate_unready) {
            continue;
        }
        let Some(address) = pod_address(svc, pod) else {
            continue;
        };
        let ready = tolerate_unready || pod_util::is_ready(pod);
        let mut add = |port: Option<EndpointPort>| {
            let (addresses, not_ready) = if ready {
                (Some(vec![address.clone()]), None)
            } else {
                (None, Some(vec![address.clone()]))
            };
            subsets.push(EndpointSubset {
                addresses,
                not_ready_addresses: not_ready,
                ports: Some(port.into_iter().collect()),
            });
        };
        if ports.is_empty() {
            // A headless Service may have no ports.
            if util::is_headless(svc) {
                add(None);
            }
            continue;
        }
        for port in &ports {
            let Some(number) = util::find_port(pod, port) else {
                continue;
            };
            add(Some(EndpointPort {
                name: port.name.clone().filter(|n| !n.is_empty()),
                port: number,
                protocol: port.protocol.clone(),
                app_protocol: port.app_protocol.clone(),
            }));
        }
    }
    subsets
}

/// An address's identity in repacking: its IP and its target's UID.
type AddressKey = (String, String);

fn address_key(a: &EndpointAddress) -> AddressKey {
    let uid = a
        .target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .unwrap_or_default();
    (a.ip.clone(), uid)
}

/// A port as a sortable key; the sentinel `None` stands for "no ports" (headless).
type PortKey = Option<(String, i32, String, String)>;

fn port_key(p: &EndpointPort) -> PortKey {
    Some((
        p.name.clone().unwrap_or_default(),
        p.port,
        p.protocol.clone().unwrap_or_default(),
        p.app_protocol.clone().unwrap_or_default(),
    ))
}

/// Upstream's `RepackSubsets`: groups addresses by the exact set of ports they serve (with
/// their readiness; not ready on any subset wins), one subset per group, sorted.
pub fn repack(subsets: &[EndpointSubset]) -> Vec<EndpointSubset> {
    let mut addresses: BTreeMap<AddressKey, EndpointAddress> = BTreeMap::new();
    let mut ports: BTreeMap<PortKey, EndpointPort> = BTreeMap::new();
    // port -> address -> ready
    let mut by_port: BTreeMap<PortKey, BTreeMap<AddressKey, bool>> = BTreeMap::new();
    for subset in subsets {
        let subset_ports = subset.ports.as_deref().unwrap_or_default();
        let keys: Vec<PortKey> = if subset_ports.is_empty() {
            vec![None]
        } else {
            subset_ports.iter().map(port_key).collect()
        };
        for (p, key) in subset_ports.iter().zip(&keys) {
            ports.entry(key.clone()).or_insert_with(|| p.clone());
        }
        let all = [
            (subset.addresses.as_deref().unwrap_or_default(), true),
            (
                subset.not_ready_addresses.as_deref().unwrap_or_default(),
                false,
            ),
        ];
        for key in &keys {
            for (list, ready) in all {
                for a in list {
                    let ak = address_key(a);
                    addresses.entry(ak.clone()).or_insert_with(|| a.clone());
                    let set = by_port.entry(key.clone()).or_default();
                    let state = set.entry(ak).or_insert(ready);
                    *state = *state && ready;
                }
            }
        }
    }
    // Group ports by the (address, ready) set they map to.
    let mut groups: BTreeMap<Vec<(AddressKey, bool)>, BTreeSet<PortKey>> = BTreeMap::new();
    for (port, set) in by_port {
        groups
            .entry(set.into_iter().collect())
            .or_default()
            .insert(port);
    }
    let mut out: Vec<EndpointSubset> = groups
        .into_iter()
        .map(|(set, port_keys)| {
            let (ready, not_ready): (Vec<_>, Vec<_>) = set.into_iter().partition(|(_, r)| *r);
            let pick = |v: Vec<(AddressKey, bool)>| {
                let list: Vec<EndpointAddress> =
                    v.into_iter().map(|(k, _)| addresses[&k].clone()).collect();
                (!list.is_empty()).then_some(list)
            };
            let ports: Vec<EndpointPort> = port_keys
                .iter()
                .filter_map(|k| k.as_ref().map(|_| ports[k].clone()))
                .collect();
            EndpointSubset {
                addresses: pick(ready),
                not_ready_addresses: pick(not_ready),
                ports: (!ports.is_empty()).then_some(ports),
            }
        })
        .collect();
    sort(&mut out);
    out
}

/// Upstream's `SortSubsets`: addresses by IP then target UID, ports and subsets in a fixed
/// order (ours: by value, where upstream orders by a hash of the value).
pub fn sort(subsets: &mut [EndpointSubset]) {
    for s in subsets.iter_mut() {
        for list in [&mut s.addresses, &mut s.not_ready_addresses]
            .into_iter()
            .flatten()
        {
            list.sort_by_key(address_key);
        }
        if let Some(p) = s.ports.as_mut() {
            p.sort_by_key(port_key);
        }
    }
    subsets.sort_by_key(|s| {
        let first = |l: &Option<Vec<EndpointAddress>>| {
            l.as_deref()
                .and_then(|l| l.first())
                .map(address_key)
                .unwrap_or_default()
        };
        let ports: Vec<PortKey> = s
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(port_key)
            .collect();
        (ports, first(&s.addresses), first(&s.not_ready_addresses))
    });
}

/// The number of addresses (ready and not) over all subsets.
pub fn count(subsets: &[EndpointSubset]) -> usize {
    subsets
        .iter()
        .map(|s| {
            s.addresses.as_ref().map_or(0, Vec::len)
                + s.not_ready_addresses.as_ref().map_or(0, Vec::len)
        })
        .sum()
}

/// Upstream's `truncateEndpoints`: above [`MAX_CAPACITY`] addresses, keeps ready addresses
/// first, each subset keeping its proportional share (rounded up, the last subsets getting
/// what is left). Returns whether anything was dropped.
pub fn truncate(subsets: &mut [EndpointSubset]) -> bool {
    let len = |l: &Option<Vec<EndpointAddress>>| l.as_ref().map_or(0, Vec::len);
    let total_ready: usize = subsets.iter().map(|s| len(&s.addresses)).sum();
    let total_not_ready: usize = subsets.iter().map(|s| len(&s.not_ready_addresses)).sum();
    if total_ready + total_not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = total_ready > MAX_CAPACITY;
    let (max, total) = if truncate_ready {
        (MAX_CAPACITY, total_ready)
    } else {
        (MAX_CAPACITY - total_ready, total_not_ready)
    };
    let mut can_be_added = max;
    for s in subsets.iter_mut() {
        let in_subset = if truncate_ready {
            len(&s.addresses)
        } else {
            len(&s.not_ready_addresses)
        };
        // ceil(in_subset / total * max), in integers.
        let share = (in_subset * max).div_ceil(total).min(can_be_added);
        let list = if truncate_ready {
            s.not_ready_addresses = None;
            &mut s.addresses
        } else {
            &mut s.not_ready_addresses
        };
        if let Some(l) = list.as_mut() {
            l.truncate(share);
            can_be_added -= l.len();
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> EndpointAddress {
        EndpointAddress {
            ip: ip.into(),
            ..Default::default()
        }
    }

    fn port(name: &str, n: i32) -> EndpointPort {
        EndpointPort {
            name: Some(name.into()),
            port: n,
            protocol: Some("TCP".into()),
            ..Default::default()
        }
    }

    fn subset(ready: &[&str], not_ready: &[&str], ports: &[EndpointPort]) -> EndpointSubset {
        let list = |l: &[&str]| (!l.is_empty()).then(|| l.iter().map(|i| addr(i)).collect());
        EndpointSubset {
            addresses: list(ready),
            not_ready_addresses: list(not_ready),
            ports: Some(ports.to_vec()),
        }
    }

    fn ips(l: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        l.as_deref()
            .unwrap_or_default()
            .iter()
            .map(|a| a.ip.as_str())
            .collect()
    }

    #[test]
    fn addresses_with_the_same_ports_share_one_sorted_subset() {
        let http = port("http", 80);
        let packed = repack(&[
            subset(&["10.0.0.2"], &[], std::slice::from_ref(&http)),
            subset(&[], &["10.0.0.3"], std::slice::from_ref(&http)),
            subset(&["10.0.0.1"], &[], std::slice::from_ref(&http)),
        ]);
        assert_eq!(packed.len(), 1);
        assert_eq!(ips(&packed[0].addresses), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(ips(&packed[0].not_ready_addresses), ["10.0.0.3"]);
    }

    #[test]
    fn pods_resolving_a_named_port_differently_get_separate_subsets() {
        let packed = repack(&[
            subset(&["10.0.0.1"], &[], &[port("http", 8080)]),
            subset(&["10.0.0.2"], &[], &[port("http", 9090)]),
            subset(&["10.0.0.1"], &[], &[port("metrics", 7070)]),
            subset(&["10.0.0.2"], &[], &[port("metrics", 7070)]),
        ]);
        assert_eq!(packed.len(), 3);
        let shared = packed
            .iter()
            .find(|s| s.ports.as_ref().unwrap()[0].port == 7070)
            .unwrap();
        assert_eq!(ips(&shared.addresses), ["10.0.0.1", "10.0.0.2"]);
    }

    #[test]
    fn not_ready_on_one_subset_wins_over_ready() {
        let http = port("http", 80);
        let packed = repack(&[
            subset(&["10.0.0.1"], &[], std::slice::from_ref(&http)),
            subset(&[], &["10.0.0.1"], std::slice::from_ref(&http)),
        ]);
        assert_eq!(ips(&packed[0].not_ready_addresses), ["10.0.0.1"]);
        assert!(packed[0].addresses.is_none());
    }

    #[test]
    fn over_capacity_keeps_ready_addresses_first() {
        let ready: Vec<String> = (0..900)
            .map(|i| format!("10.0.{}.{}", i / 250, i % 250))
            .collect();
        let not_ready: Vec<String> = (0..300)
            .map(|i| format!("10.1.{}.{}", i / 250, i % 250))
            .collect();
        let r: Vec<&str> = ready.iter().map(String::as_str).collect();
        let n: Vec<&str> = not_ready.iter().map(String::as_str).collect();
        let mut subsets = vec![subset(&r, &n, &[port("http", 80)])];
        assert!(truncate(&mut subsets));
        assert_eq!(ips(&subsets[0].addresses).len(), 900);
        assert_eq!(ips(&subsets[0].not_ready_addresses).len(), 100);
        assert_eq!(count(&subsets), MAX_CAPACITY);
        assert!(!truncate(&mut subsets));
    }

    #[test]
    fn too_many_ready_addresses_are_split_proportionally() {
        let a: Vec<String> = (0..900).map(|i| format!("a{i}")).collect();
        let b: Vec<String> = (0..300).map(|i| format!("b{i}")).collect();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        let mut subsets = vec![
            subset(&a, &["x"], &[port("http", 80)]),
            subset(&b, &[], &[port("grpc", 81)]),
        ];
        assert!(truncate(&mut subsets));
        assert_eq!(ips(&subsets[0].addresses).len(), 750);
        assert_eq!(ips(&subsets[1].addresses).len(), 250);
        assert!(ips(&subsets[0].not_ready_addresses).is_empty());
    }
}
