//! Which replicas a rolling update deletes next, as upstream's tail of `updateStatefulSet` and
//! `updateStatefulSetAfterInvariantEstablished`. Pure arithmetic over the replica slots.
//!
//! Without `maxUnavailable` (the MaxUnavailableStatefulSet feature is alpha and off in v1.33):
//! from the highest index down to the partition, delete the first pod not at the update
//! revision, but stop at any unhealthy pod. With it: count unhealthy replicas; delete up to
//! `maxUnavailable` minus that many outdated pods, highest index first, down to the partition.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::Error;

/// One replica slot as the rolling update sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Slot {
    /// Its pod is labelled with the update revision.
    pub at_update_revision: bool,
    /// Its pod is being deleted.
    pub terminating: bool,
    /// Its pod is running, ready and not terminating.
    pub healthy: bool,
}

/// Upstream's `getStatefulSetMaxUnavailable`: `rollingUpdate.maxUnavailable` (default 1) of
/// `spec.replicas`, percentages rounded down, at least 1.
pub fn max_unavailable(set: &StatefulSet) -> Result<Option<usize>, Error> {
    let replicas = super::identity::replicas(set);
    let value = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone())
        .unwrap_or(IntOrString::Int(1));
    let n = scaled(&value, replicas)?;
    Ok(Some(n.max(1) as usize))
}

/// An int, or a percentage of `total` rounded down.
fn scaled(value: &IntOrString, total: i64) -> Result<i64, Error> {
    match value {
        IntOrString::Int(n) => Ok(i64::from(*n)),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| {
                    Error::InvalidObject(format!(
                        "invalid value for IntOrString: invalid value {s:?}"
                    ))
                })?;
            Ok(pct * total / 100)
        }
    }
}

/// The slot indexes to delete now, highest first. `partition` is the lowest index that may be
/// updated; `max_unavailable` is None when the feature is off.
pub fn to_delete(slots: &[Slot], partition: i64, max_unavailable: Option<usize>) -> Vec<usize> {
    let lowest = partition.max(0) as usize;
    let outdated = |s: &Slot| !s.at_update_revision && !s.terminating;
    match max_unavailable {
        None => {
            for i in (lowest..slots.len()).rev() {
                if outdated(&slots[i]) {
                    return vec![i];
                }
                if !slots[i].healthy {
                    return Vec::new();
                }
            }
            Vec::new()
        }
        Some(max) => {
            let unavailable = slots.iter().filter(|s| !s.healthy).count();
            if unavailable >= max {
                return Vec::new();
            }
            (lowest..slots.len())
                .rev()
                .filter(|&i| outdated(&slots[i]))
                .take(max - unavailable)
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old() -> Slot {
        Slot {
            at_update_revision: false,
            terminating: false,
            healthy: true,
        }
    }

    fn new() -> Slot {
        Slot {
            at_update_revision: true,
            terminating: false,
            healthy: true,
        }
    }

    #[test]
    fn the_highest_outdated_pod_goes_first() {
        assert_eq!(to_delete(&[old(), old(), old()], 0, None), [2]);
        assert_eq!(to_delete(&[old(), old(), new()], 0, None), [1]);
        assert!(to_delete(&[new(), new(), new()], 0, None).is_empty());
    }

    #[test]
    fn the_update_waits_for_an_unhealthy_updated_pod() {
        let mut starting = new();
        starting.healthy = false;
        assert!(to_delete(&[old(), old(), starting], 0, None).is_empty());
    }

    #[test]
    fn ordinals_below_the_partition_are_left_alone() {
        assert!(to_delete(&[old(), old(), new()], 2, None).is_empty());
        assert_eq!(to_delete(&[old(), old(), old()], 2, None), [2]);
    }

    #[test]
    fn max_unavailable_deletes_several_at_once_minus_the_unhealthy() {
        let slots = [old(), old(), old(), old()];
        assert_eq!(to_delete(&slots, 0, Some(2)), [3, 2]);
        let mut sick = old();
        sick.healthy = false;
        assert_eq!(to_delete(&[old(), sick, old(), old()], 0, Some(2)), [3]);
        assert!(to_delete(&[sick, sick, old()], 0, Some(2)).is_empty());
    }

    #[test]
    fn max_unavailable_percentages_round_down_to_at_least_one() {
        assert_eq!(scaled(&IntOrString::String("50%".into()), 5).unwrap(), 2);
        assert_eq!(scaled(&IntOrString::String("10%".into()), 5).unwrap(), 0);
        assert!(scaled(&IntOrString::String("x".into()), 5).is_err());
    }
}
