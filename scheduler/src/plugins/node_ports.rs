//! NodePorts (PreFilter, Filter): a pod asking for a host port fits only nodes where no pod
//! already uses that port for the same protocol on an overlapping host IP.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    Code, CycleState, FilterPlugin, Handle, HostPort, NodeInfo, Plugin, PluginSet, PreFilterPlugin,
    Status, host_ports,
};

/// The plugin's name.
pub const NAME: &str = "NodePorts";

/// The rejection reason.
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

const STATE_KEY: &str = "PreFilterNodePorts";

/// The plugin.
pub struct NodePorts;

/// Builds the plugin.
pub fn new(_: &Handle) -> PluginSet {
    let p = Arc::new(NodePorts);
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p),
        ..Default::default()
    }
}

/// Whether two host ports collide: same protocol and port, and the same IP or either
/// listening on every address.
pub fn conflicts(a: &HostPort, b: &HostPort) -> bool {
    a.1 == b.1 && a.2 == b.2 && (a.0 == b.0 || a.0 == "0.0.0.0" || b.0 == "0.0.0.0")
}

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _: &[Arc<NodeInfo>]) -> Status {
        let ports = host_ports(pod);
        if ports.is_empty() {
            return Status::new(Code::Skip, Vec::<String>::new());
        }
        state.write(STATE_KEY, ports);
        Status::success()
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let computed;
        let wanted = match state.read::<Vec<HostPort>>(STATE_KEY) {
            Some(w) => w,
            None => {
                computed = host_ports(pod);
                &computed
            }
        };
        let taken = wanted
            .iter()
            .any(|w| node.used_ports.iter().any(|u| conflicts(w, u)));
        if taken {
            Status::new(Code::Unschedulable, [ERR_REASON])
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::testing::{node, node_info, pod};
    use k8s_openapi::api::core::v1::ContainerPort;

    fn with_ports(ports: &[(&str, &str, i32)]) -> Pod {
        let mut p = pod("p", &[&[]]);
        p.spec.as_mut().unwrap().containers[0].ports = Some(
            ports
                .iter()
                .map(|(proto, ip, port)| ContainerPort {
                    container_port: 80,
                    host_port: Some(*port),
                    host_ip: Some(ip.to_string()),
                    protocol: Some(proto.to_string()),
                    ..Default::default()
                })
                .collect(),
        );
        p
    }

    fn fits(want: &[(&str, &str, i32)], used: &[(&str, &str, i32)]) -> bool {
        let p = with_ports(want);
        let n = node_info(node("n", &[]), vec![with_ports(used)]);
        let mut state = CycleState::default();
        NodePorts.pre_filter(&mut state, &p, &[]);
        NodePorts.filter(&state, &p, &n).is_success()
    }

    #[test]
    fn upstream_port_cases() {
        assert!(fits(&[], &[]), "nothing running");
        assert!(
            fits(&[("UDP", "127.0.0.1", 8080)], &[("UDP", "127.0.0.1", 9090)]),
            "other port"
        );
        assert!(
            !fits(&[("UDP", "127.0.0.1", 8080)], &[("UDP", "127.0.0.1", 8080)]),
            "same udp port"
        );
        assert!(
            !fits(&[("TCP", "127.0.0.1", 8080)], &[("TCP", "127.0.0.1", 8080)]),
            "same tcp port"
        );
        assert!(
            fits(&[("TCP", "127.0.0.1", 8001)], &[("UDP", "127.0.0.1", 8001)]),
            "other protocol"
        );
        assert!(
            fits(&[("TCP", "127.0.0.1", 8001)], &[("TCP", "127.0.0.2", 8001)]),
            "other host ip"
        );
        assert!(
            !fits(&[("TCP", "0.0.0.0", 8001)], &[("TCP", "127.0.0.1", 8001)]),
            "all ips vs one"
        );
        assert!(
            !fits(&[("TCP", "127.0.0.1", 8001)], &[("TCP", "0.0.0.0", 8001)]),
            "one ip vs all"
        );
    }

    #[test]
    fn the_rejection_can_be_resolved_by_preemption() {
        let p = with_ports(&[("TCP", "0.0.0.0", 80)]);
        let n = node_info(node("n", &[]), vec![with_ports(&[("TCP", "0.0.0.0", 80)])]);
        let s = NodePorts.filter(&CycleState::default(), &p, &n);
        assert_eq!(s.code, Code::Unschedulable);
        assert_eq!(s.message(), ERR_REASON);
    }
}
