//! Service cluster IP and node port allocation, as upstream's service REST storage does:
//! IPs from the service CIDR (the first one is the `kubernetes` Service's), node ports from
//! the node port range; released when the Service is deleted. The allocation maps are rebuilt
//! from the stored Services at start-up.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::status::ApiError;
use crate::strategy::{cause, invalid};

/// Allocates cluster IPs and node ports.
pub struct Allocator {
    network: u32,
    size: u32,
    node_ports: (u16, u16),
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    ips: HashSet<u32>,
    ports: HashSet<u16>,
    next_ip: u32,
    next_port: u16,
}

impl Allocator {
    /// A new allocator for `cidr` (e.g. `10.43.0.0/16`) and node port range (`30000-32767`).
    pub fn new(cidr: &str, node_ports: (u16, u16)) -> Result<Self, String> {
        let (addr, bits) = cidr
            .split_once('/')
            .ok_or_else(|| format!("invalid service CIDR {cidr:?}"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("invalid service CIDR {cidr:?}"))?;
        let bits: u32 = bits
            .parse()
            .map_err(|_| format!("invalid service CIDR {cidr:?}"))?;
        if !(8..=30).contains(&bits) {
            return Err(format!(
                "service CIDR {cidr:?} must have a prefix between /8 and /30"
            ));
        }
        let mask = u32::MAX << (32 - bits);
        Ok(Allocator {
            network: u32::from(addr) & mask,
            size: 1 << (32 - bits),
            node_ports,
            state: Mutex::new(State::default()),
        })
    }

    /// The first usable IP of the range: the `kubernetes` Service's cluster IP.
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network + 1)
    }

    /// Marks the IPs and ports of an existing Service as used (start-up).
    pub fn observe(&self, svc: &Value) {
        let mut st = self.state.lock().expect("allocator lock");
        if let Some(ip) = cluster_ip(svc).and_then(|ip| self.offset(ip)) {
            st.ips.insert(ip);
        }
        for p in node_ports(svc) {
            st.ports.insert(p);
        }
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        let v = u32::from(ip);
        (v > self.network && v < self.network + self.size - 1).then_some(v - self.network)
    }

    /// Fills in `spec.clusterIP(s)` and node ports of a Service being created (`old` None) or
    /// updated, checking requested values are in range and free.
    pub fn allocate(
        &self,
        svc: &mut Value,
        old: Option<&Value>,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        let name = svc
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ty = svc
            .pointer("/spec/type")
            .and_then(Value::as_str)
            .unwrap_or("ClusterIP")
            .to_string();
        let mut st = self.state.lock().expect("allocator lock");
        let old_ip = old.and_then(cluster_ip_raw);
        let requested = svc
            .pointer("/spec/clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if ty == "ExternalName" {
            if let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
        } else if requested == "None" {
            svc["spec"]["clusterIPs"] = json!(["None"]);
        } else if old_ip.as_deref().is_some_and(|o| !o.is_empty())
            && (requested.is_empty() || Some(requested.as_str()) == old_ip.as_deref())
        {
            let ip = old_ip.unwrap_or_default();
            svc["spec"]["clusterIP"] = json!(ip);
            svc["spec"]["clusterIPs"] = json!([ip]);
        } else {
            let ip = if requested.is_empty() {
                let mut found = None;
                for _ in 1..self.size - 1 {
                    st.next_ip = st.next_ip % (self.size - 2) + 1;
                    if !st.ips.contains(&st.next_ip) {
                        found = Some(st.next_ip);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    ApiError::internal("failed to allocate a serviceIP: range is full")
                })?
            } else {
                let parsed: Ipv4Addr = requested.parse().map_err(|_| {
                    ApiError::invalid(
                        "",
                        "Service",
                        &name,
                        vec![invalid(
                            "spec.clusterIPs[0]",
                            &json!(requested),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        )],
                    )
                })?;
                let off = self.offset(parsed).ok_or_else(|| {
                    ApiError::invalid("", "Service", &name, vec![invalid("spec.clusterIPs", &json!([requested]), &format!("failed to allocate IP {requested}: provided IP is not in the valid range. The range of valid IPs is {}/{}", Ipv4Addr::from(self.network), 32 - self.size.trailing_zeros()))])
                })?;
                if st.ips.contains(&off) {
                    return Err(ApiError::invalid(
                        "",
                        "Service",
                        &name,
                        vec![invalid(
                            "spec.clusterIPs",
                            &json!([requested]),
                            &format!(
                                "failed to allocate IP {requested}: provided IP is already allocated"
                            ),
                        )],
                    ));
                }
                off
            };
            if !dry_run {
                st.ips.insert(ip);
            }
            let ip = Ipv4Addr::from(self.network + ip).to_string();
            svc["spec"]["clusterIP"] = json!(ip);
            svc["spec"]["clusterIPs"] = json!([ip]);
        }
        if ty != "ExternalName"
            && let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut)
        {
            spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
            spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
        }
        let wants_ports = ty == "NodePort"
            || (ty == "LoadBalancer"
                && svc.pointer("/spec/allocateLoadBalancerNodePorts") != Some(&json!(false)));
        let old_ports = old.map(node_ports).unwrap_or_default();
        if let Some(ports) = svc.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for (i, p) in ports.iter_mut().enumerate() {
                if !wants_ports {
                    if let Some(m) = p.as_object_mut() {
                        m.remove("nodePort");
                    }
                    continue;
                }
                match p.get("nodePort").and_then(Value::as_u64) {
                    Some(n) => {
                        let n = n as u16;
                        if n < self.node_ports.0 || n > self.node_ports.1 {
                            return Err(ApiError::invalid(
                                "",
                                "Service",
                                &name,
                                vec![invalid(
                                    &format!("spec.ports[{i}].nodePort"),
                                    &json!(n),
                                    &format!(
                                        "provided port is not in the valid range. The range of valid ports is {}-{}",
                                        self.node_ports.0, self.node_ports.1
                                    ),
                                )],
                            ));
                        }
                        if st.ports.contains(&n) && !old_ports.contains(&n) {
                            return Err(ApiError::invalid(
                                "",
                                "Service",
                                &name,
                                vec![invalid(
                                    &format!("spec.ports[{i}].nodePort"),
                                    &json!(n),
                                    "provided port is already allocated",
                                )],
                            ));
                        }
                        if !dry_run {
                            st.ports.insert(n);
                        }
                    }
                    None => {
                        let span = self.node_ports.1 - self.node_ports.0 + 1;
                        let mut chosen = None;
                        for _ in 0..span {
                            st.next_port = (st.next_port + 1) % span;
                            let candidate = self.node_ports.0 + st.next_port;
                            if !st.ports.contains(&candidate) {
                                chosen = Some(candidate);
                                break;
                            }
                        }
                        let n = chosen.ok_or_else(|| {
                            ApiError::invalid(
                                "",
                                "Service",
                                &name,
                                vec![cause(
                                    "FieldValueInvalid",
                                    &format!("spec.ports[{i}].nodePort"),
                                    "range is full",
                                )],
                            )
                        })?;
                        if !dry_run {
                            st.ports.insert(n);
                        }
                        p["nodePort"] = json!(n);
                    }
                }
            }
        }
        // Ports the update dropped are free again.
        if !dry_run {
            let now = node_ports(svc);
            for p in old_ports {
                if !now.contains(&p) {
                    st.ports.remove(&p);
                }
            }
        }
        Ok(())
    }

    /// Frees the IP and ports of a deleted Service.
    pub fn release(&self, svc: &Value) {
        let mut st = self.state.lock().expect("allocator lock");
        if let Some(off) = cluster_ip(svc).and_then(|ip| self.offset(ip)) {
            st.ips.remove(&off);
        }
        for p in node_ports(svc) {
            st.ports.remove(&p);
        }
    }
}

fn cluster_ip_raw(svc: &Value) -> Option<String> {
    svc.pointer("/spec/clusterIP")
        .and_then(Value::as_str)
        .map(String::from)
}

fn cluster_ip(svc: &Value) -> Option<Ipv4Addr> {
    cluster_ip_raw(svc).and_then(|s| s.parse().ok())
}

fn node_ports(svc: &Value) -> Vec<u16> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
                .map(|n| n as u16)
                .collect()
        })
        .unwrap_or_default()
}
