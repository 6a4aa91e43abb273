//! Which pods a scale-down deletes first: upstream's `ActivePodsWithRanks` ordering, pure and
//! unit-tested. Earlier in the order means deleted sooner:
//!
//! 1. unassigned < assigned;
//! 2. `Pending` < `Unknown` < `Running`;
//! 3. not ready < ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` < higher;
//! 5. more related pods on the same node < fewer;
//! 6. ready for less time < more (by power-of-two buckets, as `LogarithmicScaleDown`);
//! 7. more container restarts < fewer;
//! 8. newer < older (by power-of-two buckets, then by UID).

use std::cmp::Ordering;
use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use crate::pod_util;

/// The annotation that lets users say which pods are cheaper to delete.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

fn node(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or_default()
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match pod_util::phase(pod) {
        "Unknown" => 1,
        "Running" => 2,
        // Pending, and (as upstream's map lookup does) any other phase.
        _ => 0,
    }
}

/// The pod's deletion cost; 0 when unset or not a valid int32, as upstream.
pub fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Upstream's `logarithmicRankDiff`: compares floor(log2(age in ns)) of two timestamps.
fn log_rank(t: Timestamp, now: Timestamp) -> i64 {
    let ns = now.as_nanosecond() - t.as_nanosecond();
    if ns > 0 {
        (ns as f64).log2() as i64
    } else {
        -1
    }
}

/// Orders two timestamps newer-first, with unset first, in power-of-two age buckets; ties in a
/// bucket go by UID. `None` means the timestamps are equal (upstream falls through).
fn newer_first(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    uids: (&str, &str),
    now: Timestamp,
) -> Option<Ordering> {
    match (a, b) {
        (x, y) if x == y => None,
        (None, _) => Some(Ordering::Less),
        (_, None) => Some(Ordering::Greater),
        (Some(a), Some(b)) => {
            let diff = log_rank(a, now) - log_rank(b, now);
            Some(if diff == 0 {
                uids.0.cmp(uids.1)
            } else {
                diff.cmp(&0)
            })
        }
    }
}

/// Compares two pods for deletion; `Less` means `a` goes first. `on_node_*` is the number of
/// related active pods on each pod's node.
pub fn compare(a: &Pod, on_node_a: usize, b: &Pod, on_node_b: usize, now: Timestamp) -> Ordering {
    let (na, nb) = (node(a), node(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return if na.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let by = phase_ordinal(a).cmp(&phase_ordinal(b));
    if by != Ordering::Equal {
        return by;
    }
    let (ra, rb) = (pod_util::is_ready(a), pod_util::is_ready(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    let by = deletion_cost(a).cmp(&deletion_cost(b));
    if by != Ordering::Equal {
        return by;
    }
    let by = on_node_b.cmp(&on_node_a);
    if by != Ordering::Equal {
        return by;
    }
    let uids = (
        a.metadata.uid.as_deref().unwrap_or_default(),
        b.metadata.uid.as_deref().unwrap_or_default(),
    );
    if ra
        && rb
        && let Some(by) = newer_first(
            pod_util::ready_since(a),
            pod_util::ready_since(b),
            uids,
            now,
        )
    {
        return by;
    }
    let by = pod_util::max_container_restarts(b).cmp(&pod_util::max_container_restarts(a));
    if by != Ordering::Equal {
        return by;
    }
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    newer_first(created(a), created(b), uids, now).unwrap_or(Ordering::Equal)
}

/// Upstream's `getPodsToDelete`: the first `diff` of `pods` in deletion order (no sorting
/// when all of them go).
pub fn pods_to_delete<'a>(
    pods: &[&'a Pod],
    related: &[&Pod],
    diff: usize,
    now: Timestamp,
) -> Vec<&'a Pod> {
    if diff >= pods.len() {
        return pods.to_vec();
    }
    let mut ranked = in_deletion_order(pods, related, now);
    ranked.truncate(diff);
    ranked
}

/// `pods` sorted for deletion, ranking by how many active `related` pods (this ReplicaSet's
/// and its siblings') share each pod's node.
pub fn in_deletion_order<'a>(pods: &[&'a Pod], related: &[&Pod], now: Timestamp) -> Vec<&'a Pod> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| pod_util::is_active(p)) {
        *on_node.entry(node(p)).or_default() += 1;
    }
    let mut ranked: Vec<(&'a Pod, usize)> = pods
        .iter()
        .map(|p| (*p, on_node.get(node(p)).copied().unwrap_or(0)))
        .collect();
    merge_sort(&mut ranked, &|a, b| compare(a.0, a.1, b.0, b.1, now));
    ranked.into_iter().map(|(p, _)| p).collect()
}

/// A stable merge sort that tolerates a comparison that is not a strict total order (upstream's
/// ordering has bucketed ties that can be intransitive; `slice::sort_by` may panic on those).
fn merge_sort<T: Clone>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering) {
    if v.len() <= 1 {
        return;
    }
    let mid = v.len() / 2;
    merge_sort(&mut v[..mid], cmp);
    merge_sort(&mut v[mid..], cmp);
    let (left, right) = (v[..mid].to_vec(), v[mid..].to_vec());
    let (mut i, mut j) = (0, 0);
    for slot in v.iter_mut() {
        let take_left =
            j >= right.len() || (i < left.len() && cmp(&right[j], &left[i]) != Ordering::Less);
        if take_left {
            *slot = left[i].clone();
            i += 1;
        } else {
            *slot = right[j].clone();
            j += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn now() -> Timestamp {
        Timestamp::from_second(1_000_000).unwrap()
    }

    fn ago(secs: i64) -> Timestamp {
        now() - SignedDuration::from_secs(secs)
    }

    /// A pod on `node` (empty: unassigned) in `phase`, created `age` seconds ago.
    fn pod(name: &str, node: &str, phase: &str, age: i64) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.uid = Some(format!("uid-{name}"));
        p.metadata.creation_timestamp = Some(Time(ago(age)));
        p.spec = Some(PodSpec {
            node_name: (!node.is_empty()).then(|| node.to_string()),
            ..Default::default()
        });
        p.status = Some(PodStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        p
    }

    fn ready(mut p: Pod, since_secs: i64) -> Pod {
        p.status.get_or_insert_with(Default::default).conditions = Some(vec![PodCondition {
            type_: "Ready".into(),
            status: "True".into(),
            last_transition_time: Some(Time(ago(since_secs))),
            ..Default::default()
        }]);
        p
    }

    fn cost(mut p: Pod, cost: &str) -> Pod {
        p.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(POD_DELETION_COST.into(), cost.into());
        p
    }

    fn restarts(mut p: Pod, n: i32) -> Pod {
        p.status
            .get_or_insert_with(Default::default)
            .container_statuses = Some(vec![ContainerStatus {
            name: "c".into(),
            restart_count: n,
            ..Default::default()
        }]);
        p
    }

    /// The names of the pods in deletion order.
    fn order(pods: &[Pod]) -> Vec<String> {
        let refs: Vec<&Pod> = pods.iter().collect();
        in_deletion_order(&refs, &refs, now())
            .iter()
            .map(|p| p.metadata.name.clone().unwrap())
            .collect()
    }

    #[test]
    fn unassigned_pods_go_before_assigned_ones() {
        let pods = [
            pod("assigned", "n1", "Pending", 10),
            pod("unassigned", "", "Pending", 10),
        ];
        assert_eq!(order(&pods), ["unassigned", "assigned"]);
    }

    #[test]
    fn pending_goes_before_unknown_before_running() {
        let pods = [
            pod("running", "n1", "Running", 10),
            pod("unknown", "n2", "Unknown", 10),
            pod("pending", "n3", "Pending", 10),
        ];
        assert_eq!(order(&pods), ["pending", "unknown", "running"]);
    }

    #[test]
    fn not_ready_goes_before_ready() {
        let pods = [
            ready(pod("ready", "n1", "Running", 10), 5),
            pod("not-ready", "n2", "Running", 10),
        ];
        assert_eq!(order(&pods), ["not-ready", "ready"]);
    }

    #[test]
    fn lower_deletion_cost_goes_first_and_invalid_costs_count_as_zero() {
        let pods = [
            cost(pod("expensive", "n1", "Running", 10), "100"),
            cost(pod("cheap", "n2", "Running", 10), "-5"),
            cost(pod("invalid", "n3", "Running", 10), "lots"),
        ];
        assert_eq!(order(&pods), ["cheap", "invalid", "expensive"]);
    }

    #[test]
    fn pods_doubled_up_on_a_node_go_first() {
        let pods = [
            pod("alone", "n1", "Running", 10),
            pod("crowded", "n2", "Running", 10),
        ];
        let refs: Vec<&Pod> = pods.iter().collect();
        let sibling = pod("sibling", "n2", "Running", 10);
        let related = vec![refs[0], refs[1], &sibling];
        let first = pods_to_delete(&refs, &related, 1, now());
        assert_eq!(first[0].metadata.name.as_deref(), Some("crowded"));
    }

    #[test]
    fn pods_ready_for_less_time_go_first_in_power_of_two_buckets() {
        let pods = [
            ready(pod("old-ready", "n1", "Running", 5000), 4000),
            ready(pod("new-ready", "n2", "Running", 5000), 10),
        ];
        assert_eq!(order(&pods), ["new-ready", "old-ready"]);
    }

    #[test]
    fn more_restarts_go_first() {
        let pods = [
            restarts(pod("steady", "n1", "Running", 10), 0),
            restarts(pod("flaky", "n2", "Running", 10), 7),
        ];
        assert_eq!(order(&pods), ["flaky", "steady"]);
    }

    #[test]
    fn newer_pods_go_first_and_a_bucket_tie_goes_by_uid() {
        let pods = [
            pod("old", "n1", "Running", 100_000),
            pod("new", "n2", "Running", 10),
        ];
        assert_eq!(order(&pods), ["new", "old"]);
        // 1000 s and 1001 s are in the same power-of-two bucket of nanoseconds.
        let pods = [
            pod("b", "n1", "Running", 1000),
            pod("a", "n2", "Running", 1001),
        ];
        assert_eq!(order(&pods), ["a", "b"]);
    }

    #[test]
    fn earlier_criteria_win_over_later_ones() {
        let pods = [
            cost(pod("running-cheap", "n1", "Running", 10), "-100"),
            pod("pending-old", "n2", "Pending", 100_000),
        ];
        assert_eq!(order(&pods), ["pending-old", "running-cheap"]);
    }

    #[test]
    fn deleting_everything_keeps_the_given_order() {
        let pods = [pod("x", "n1", "Running", 1), pod("y", "", "Pending", 1)];
        let refs: Vec<&Pod> = pods.iter().collect();
        let all = pods_to_delete(&refs, &refs, 5, now());
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].metadata.name.as_deref(), Some("x"));
    }
}
