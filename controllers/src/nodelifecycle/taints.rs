//! The taints this controller owns: `not-ready` / `unreachable` with `NoExecute` (what the
//! taint-eviction controller acts on) and the `NoSchedule` taints that mirror node conditions
//! (`not-ready`, `unreachable`, `memory-pressure`, `disk-pressure`, `network-unavailable`,
//! `pid-pressure`) and `spec.unschedulable`. The set arithmetic is pure; [`swap`] writes.

use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Api;
use kube::api::PostParams;

use crate::{api_message, is_not_found};

/// The taint of a node whose Ready condition is False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The taint of a node whose Ready condition is Unknown.
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// The taint of a cordoned node.
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
/// `NoExecute`.
pub const NO_EXECUTE: &str = "NoExecute";
/// `NoSchedule`.
pub const NO_SCHEDULE: &str = "NoSchedule";

/// Node condition (type, status) to the NoSchedule taint key it implies.
const CONDITION_TAINTS: &[(&str, &str, &str)] = &[
    ("Ready", "False", NOT_READY),
    ("Ready", "Unknown", UNREACHABLE),
    (
        "MemoryPressure",
        "True",
        "node.kubernetes.io/memory-pressure",
    ),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    (
        "NetworkUnavailable",
        "True",
        "node.kubernetes.io/network-unavailable",
    ),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
];

/// A taint with `key` and `effect` and no value.
pub fn template(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        effect: effect.into(),
        value: None,
        time_added: None,
    }
}

/// Whether two taints have the same key and effect (upstream's `MatchTaint`).
pub fn same(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// Whether `node` carries a taint matching `t`.
pub fn has(node: &Node, t: &Taint) -> bool {
    taints(node).iter().any(|n| same(n, t))
}

/// The node's taints.
pub fn taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

/// The node's NoExecute taints.
pub fn no_execute(node: &Node) -> Vec<Taint> {
    taints(node)
        .iter()
        .filter(|t| t.effect == NO_EXECUTE)
        .cloned()
        .collect()
}

/// The NoSchedule taints `node`'s conditions and `spec.unschedulable` call for, and the ones to
/// add and to delete to get there (upstream's `doNoScheduleTaintingPass`).
pub fn no_schedule_diff(node: &Node) -> (Vec<Taint>, Vec<Taint>) {
    let conditions = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let mut want: Vec<Taint> = conditions
        .iter()
        .filter_map(|c| {
            CONDITION_TAINTS
                .iter()
                .find(|(t, s, _)| *t == c.type_ && *s == c.status)
                .map(|(_, _, key)| template(key, NO_SCHEDULE))
        })
        .collect();
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        want.push(template(UNSCHEDULABLE, NO_SCHEDULE));
    }
    let managed = |t: &Taint| {
        t.effect == NO_SCHEDULE
            && (t.key == UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == t.key))
    };
    let have: Vec<&Taint> = taints(node).iter().filter(|t| managed(t)).collect();
    let add = want
        .iter()
        .filter(|w| !have.iter().any(|h| same(h, w)))
        .cloned()
        .collect();
    let delete = have
        .into_iter()
        .filter(|h| !want.iter().any(|w| same(h, w)))
        .cloned()
        .collect();
    (add, delete)
}

/// `current` without the taints matching `delete`, plus those of `add` not already there
/// (stamped with `now`, as upstream stamps the NoExecute taints it adds); None when nothing
/// changes.
pub fn swapped(
    current: &[Taint],
    add: &[Taint],
    delete: &[Taint],
    now: Time,
) -> Option<Vec<Taint>> {
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| !delete.iter().any(|d| same(d, t)))
        .cloned()
        .collect();
    let mut changed = out.len() != current.len();
    for a in add {
        if !out.iter().any(|t| same(t, a)) {
            let mut a = a.clone();
            if a.effect == NO_EXECUTE && a.time_added.is_none() {
                a.time_added = Some(now.clone());
            }
            out.push(a);
            changed = true;
        }
    }
    changed.then_some(out)
}

/// Adds `add` and removes `delete` on node `name` (upstream's `SwapNodeControllerTaint`): reads
/// the node fresh and writes it with its resourceVersion, retrying conflicts. A node that is
/// gone counts as done.
pub async fn swap(
    api: &Api<Node>,
    name: &str,
    add: &[Taint],
    delete: &[Taint],
) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..5 {
        let mut node = match api.get(name).await {
            Ok(n) => n,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(api_message(&e)),
        };
        let now = Time(jiff::Timestamp::now());
        let Some(new) = swapped(taints(&node), add, delete, now) else {
            return Ok(());
        };
        let spec = node.spec.get_or_insert_with(Default::default);
        spec.taints = (!new.is_empty()).then_some(new);
        node.metadata.managed_fields = None;
        match api.replace(name, &PostParams::default(), &node).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => last = s.message,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(api_message(&e)),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: serde_json::Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    fn keys(t: &[Taint]) -> Vec<(&str, &str)> {
        t.iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect()
    }

    #[test]
    fn an_unknown_ready_condition_calls_for_the_unreachable_no_schedule_taint() {
        let n = node(json!({"metadata": {"name": "n"},
            "spec": {"taints": [{"key": NOT_READY, "effect": "NoSchedule"},
                                {"key": "custom", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "Unknown"},
                                      {"type": "MemoryPressure", "status": "True"}]}}));
        let (add, delete) = no_schedule_diff(&n);
        assert_eq!(
            keys(&add),
            [
                (UNREACHABLE, "NoSchedule"),
                ("node.kubernetes.io/memory-pressure", "NoSchedule")
            ]
        );
        assert_eq!(
            keys(&delete),
            [(NOT_READY, "NoSchedule")],
            "custom taints stay"
        );
    }

    #[test]
    fn a_cordoned_healthy_node_gets_only_the_unschedulable_taint() {
        let n = node(
            json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let (add, delete) = no_schedule_diff(&n);
        assert_eq!(keys(&add), [(UNSCHEDULABLE, "NoSchedule")]);
        assert!(delete.is_empty());
    }

    #[test]
    fn swapping_replaces_one_no_execute_taint_with_the_other_and_stamps_it() {
        let now = Time(jiff::Timestamp::from_second(100).unwrap());
        let current = [template(NOT_READY, NO_EXECUTE), template("x", NO_SCHEDULE)];
        let out = swapped(
            &current,
            &[template(UNREACHABLE, NO_EXECUTE)],
            &[template(NOT_READY, NO_EXECUTE)],
            now.clone(),
        )
        .unwrap();
        assert_eq!(
            keys(&out),
            [("x", "NoSchedule"), (UNREACHABLE, "NoExecute")]
        );
        assert_eq!(out[1].time_added, Some(now.clone()));
        assert_eq!(swapped(&out, &[template("x", NO_SCHEDULE)], &[], now), None);
    }
}
