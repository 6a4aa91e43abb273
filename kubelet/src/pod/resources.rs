//! Requests and limits as the kubelet turns them into cgroup settings, as upstream's
//! `pkg/kubelet/cm/helpers_linux.go`, `pkg/kubelet/qos/policy.go` and
//! `pkg/apis/core/v1/helper/qos`: quantities, `cpu.shares` from the CPU request, the CFS
//! quota from the CPU limit, the memory limit, the pod's QoS class and each container's OOM
//! score adjustment; and the values the downward API exposes for `resourceFieldRef`. All pure
//! arithmetic.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::runtime::LinuxResources;

/// The smallest `cpu.shares` (upstream's `MinShares`).
pub const MIN_SHARES: i64 = 2;
/// The largest `cpu.shares` (upstream's `MaxShares`).
pub const MAX_SHARES: i64 = 262_144;
/// `cpu.shares` per CPU.
pub const SHARES_PER_CPU: i64 = 1024;
/// The CFS period the kubelet sets with a CPU limit, in microseconds (100 ms).
pub const QUOTA_PERIOD: i64 = 100_000;
/// The smallest CFS quota, in microseconds (1 ms).
pub const MIN_QUOTA_PERIOD: i64 = 1000;
/// The OOM score adjustment of Guaranteed containers (and critical pods).
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// The OOM score adjustment of BestEffort containers.
pub const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;

/// A quantity in milli-units, rounded up (`100m` -> 100, `1` -> 1000, `1Ki` -> 1024000).
pub fn milli_value(q: &str) -> Option<i64> {
    scaled(q, 3)
}

/// A quantity in whole units, rounded up (`1Gi` -> 1073741824, `100m` -> 1).
pub fn value(q: &str) -> Option<i64> {
    scaled(q, 0)
}

/// `q * 10^extra_exp`, rounded up (away from zero for positive values).
fn scaled(q: &str, extra_exp: i32) -> Option<i64> {
    let q = q.trim();
    let (negative, q) = match q.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, q.strip_prefix('+').unwrap_or(q)),
    };
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let digits: i128 = format!("{int}{frac}").parse().ok()?;
    let mut exp10 = -i32::try_from(frac.len()).ok()?;
    let mut binary: u32 = 0;
    match suffix {
        "" => {}
        "Ki" => binary = 10,
        "Mi" => binary = 20,
        "Gi" => binary = 30,
        "Ti" => binary = 40,
        "Pi" => binary = 50,
        "Ei" => binary = 60,
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        s if s.starts_with(['e', 'E']) => exp10 += s[1..].parse::<i32>().ok()?,
        _ => return None,
    }
    exp10 += extra_exp;
    let mut n = digits.checked_mul(1i128.checked_shl(binary)?)?;
    if exp10 >= 0 {
        n = n.checked_mul(10i128.checked_pow(exp10.unsigned_abs())?)?;
    } else {
        let d = 10i128.checked_pow(exp10.unsigned_abs())?;
        n = (n + d - 1) / d;
    }
    let n = if negative { -n } else { n };
    i64::try_from(n).ok()
}

fn quantity<'a>(list: Option<&'a BTreeMap<String, Quantity>>, name: &str) -> Option<&'a str> {
    list?.get(name).map(|q| q.0.as_str())
}

/// A container's request for `name` (`cpu`, `memory`, ...), defaulting to its limit as the
/// API server does.
fn request<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    let r = c.resources.as_ref()?;
    quantity(r.requests.as_ref(), name).or(quantity(r.limits.as_ref(), name))
}

fn limit<'a>(c: &'a Container, name: &str) -> Option<&'a str> {
    quantity(c.resources.as_ref()?.limits.as_ref(), name)
}

/// Upstream's `MilliCPUToShares`: 1024 shares per CPU, at least 2, at most 262144.
pub fn milli_cpu_to_shares(milli_cpu: i64) -> i64 {
    if milli_cpu <= 0 {
        return MIN_SHARES;
    }
    (milli_cpu * SHARES_PER_CPU / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// Upstream's `MilliCPUToQuota`: the CFS quota for a CPU limit over `period` microseconds
/// (0, no quota, without a limit; at least 1 ms).
pub fn milli_cpu_to_quota(milli_cpu: i64, period: i64) -> i64 {
    if milli_cpu <= 0 {
        return 0;
    }
    (milli_cpu * period / 1000).max(MIN_QUOTA_PERIOD)
}

/// The pod's QoS class (`Guaranteed`, `Burstable` or `BestEffort`), as upstream's
/// `GetPodQOS` computes it from the cpu and memory requests and limits of every container.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let mut requests: BTreeMap<&str, i64> = BTreeMap::new();
    let mut limits: BTreeMap<&str, i64> = BTreeMap::new();
    let mut guaranteed = true;
    let all = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in all {
        for name in ["cpu", "memory"] {
            if let Some(v) = request(c, name).and_then(milli_value).filter(|v| *v != 0) {
                *requests.entry(name).or_default() += v;
            }
        }
        let mut found = 0;
        for name in ["cpu", "memory"] {
            if let Some(v) = limit(c, name).and_then(milli_value).filter(|v| *v != 0) {
                found += 1;
                *limits.entry(name).or_default() += v;
            }
        }
        if found < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests.len() == limits.len()
        && requests.iter().all(|(k, v)| limits.get(k) == Some(v))
    {
        return "Guaranteed";
    }
    "Burstable"
}

/// Upstream's `GetContainerOOMScoreAdjust`: -997 for Guaranteed, 1000 for BestEffort, and
/// for Burstable `1000 - 1000 * memoryRequest / memoryCapacity` kept within 3..=999.
pub fn oom_score_adj(pod: &Pod, container: &Container, memory_capacity: i64) -> i64 {
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.priority)
        .is_some_and(|p| p >= 2_000_000_000)
    {
        return GUARANTEED_OOM_SCORE_ADJ;
    }
    match qos_class(pod) {
        "Guaranteed" => GUARANTEED_OOM_SCORE_ADJ,
        "BestEffort" => BEST_EFFORT_OOM_SCORE_ADJ,
        _ => {
            let memory_request = request(container, "memory").and_then(value).unwrap_or(0);
            if memory_capacity <= 0 {
                return BEST_EFFORT_OOM_SCORE_ADJ - 1;
            }
            let adj = 1000 - (1000 * i128::from(memory_request) / i128::from(memory_capacity));
            let adj = i64::try_from(adj).unwrap_or(0);
            if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ {
                1000 + GUARANTEED_OOM_SCORE_ADJ
            } else if adj >= BEST_EFFORT_OOM_SCORE_ADJ {
                BEST_EFFORT_OOM_SCORE_ADJ - 1
            } else {
                adj
            }
        }
    }
}

/// A container's Linux resources (CRI `LinuxContainerResources`), as upstream's
/// `generateLinuxContainerResources`; `memory_capacity` is the node's memory in bytes.
pub fn linux_resources(pod: &Pod, container: &Container, memory_capacity: i64) -> LinuxResources {
    let cpu_request = request(container, "cpu").and_then(milli_value).unwrap_or(0);
    let cpu_limit = limit(container, "cpu").and_then(milli_value).unwrap_or(0);
    let (cpu_period, cpu_quota) = if cpu_limit > 0 {
        (QUOTA_PERIOD, milli_cpu_to_quota(cpu_limit, QUOTA_PERIOD))
    } else {
        (0, 0)
    };
    LinuxResources {
        cpu_shares: milli_cpu_to_shares(cpu_request),
        cpu_period,
        cpu_quota,
        memory_limit_in_bytes: limit(container, "memory").and_then(value).unwrap_or(0),
        oom_score_adj: oom_score_adj(pod, container, memory_capacity),
    }
}

/// Why a `resourceFieldRef` has no value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceFieldError {
    /// The resource is not one the downward API exposes.
    #[error("unsupported container resource : {0}")]
    Unsupported(String),
    /// The divisor or the quantity does not parse, or the divisor is zero.
    #[error("invalid quantity for {0}")]
    InvalidQuantity(String),
}

/// The value of a container's `resourceFieldRef` (`limits.cpu`, `requests.memory`, ...)
/// divided by `divisor` and rounded up, as upstream's `ExtractContainerResourceValue`; an
/// unset limit is the node's allocatable (`allocatable`: resource name to quantity).
pub fn resource_field_value(
    container: &Container,
    resource: &str,
    divisor: Option<&str>,
    allocatable: &BTreeMap<String, String>,
) -> Result<String, ResourceFieldError> {
    let invalid = || ResourceFieldError::InvalidQuantity(resource.to_string());
    let divisor = divisor.filter(|d| !d.is_empty()).unwrap_or("1");
    let (kind, name) = resource
        .split_once('.')
        .ok_or_else(|| ResourceFieldError::Unsupported(resource.to_string()))?;
    let node = allocatable.get(name).map(String::as_str);
    let amount = match kind {
        "limits" => limit(container, name).or(node),
        "requests" => request(container, name).or(match name {
            "cpu" | "memory" | "ephemeral-storage" => Some("0"),
            _ => None,
        }),
        _ => return Err(ResourceFieldError::Unsupported(resource.to_string())),
    };
    let amount = amount.unwrap_or("0");
    let result = if name == "cpu" {
        let d = milli_value(divisor)
            .filter(|d| *d > 0)
            .ok_or_else(invalid)?;
        let v = milli_value(amount).ok_or_else(invalid)?;
        ceil_div(v, d)
    } else if matches!(name, "memory" | "ephemeral-storage") || name.starts_with("hugepages-") {
        let d = value(divisor).filter(|d| *d > 0).ok_or_else(invalid)?;
        let v = value(amount).ok_or_else(invalid)?;
        ceil_div(v, d)
    } else {
        return Err(ResourceFieldError::Unsupported(resource.to_string()));
    };
    Ok(result.to_string())
}

fn ceil_div(v: i64, d: i64) -> i64 {
    if v <= 0 { v / d } else { (v + d - 1) / d }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let list = |l: &[(&str, &str)]| {
            (!l.is_empty()).then(|| {
                l.iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect()
            })
        };
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: list(requests),
                limits: list(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn quantities_parse_in_every_suffix() {
        assert_eq!(milli_value("100m"), Some(100));
        assert_eq!(milli_value("1.5"), Some(1500));
        assert_eq!(value("1Gi"), Some(1 << 30));
        assert_eq!(value("1k"), Some(1000));
        assert_eq!(value("100m"), Some(1));
        assert_eq!(value("1e3"), Some(1000));
        assert_eq!(value("bogus"), None);
    }

    #[test]
    fn cpu_requests_become_shares_and_limits_a_quota() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(100), 102);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_shares(1_000_000), MAX_SHARES);
        assert_eq!(milli_cpu_to_quota(0, QUOTA_PERIOD), 0);
        assert_eq!(milli_cpu_to_quota(500, QUOTA_PERIOD), 50_000);
        assert_eq!(milli_cpu_to_quota(5, QUOTA_PERIOD), MIN_QUOTA_PERIOD);
    }

    #[test]
    fn qos_classes_follow_requests_and_limits() {
        assert_eq!(qos_class(&pod(vec![container(&[], &[])])), "BestEffort");
        let guaranteed = container(&[], &[("cpu", "1"), ("memory", "1Gi")]);
        assert_eq!(qos_class(&pod(vec![guaranteed])), "Guaranteed");
        let burstable = container(&[("cpu", "100m")], &[]);
        assert_eq!(qos_class(&pod(vec![burstable])), "Burstable");
        let unequal = container(
            &[("cpu", "500m"), ("memory", "1Gi")],
            &[("cpu", "1"), ("memory", "1Gi")],
        );
        assert_eq!(qos_class(&pod(vec![unequal])), "Burstable");
    }

    #[test]
    fn linux_resources_and_oom_scores_come_from_the_qos_class() {
        let gib = 1i64 << 30;
        let c = container(&[], &[("cpu", "500m"), ("memory", "256Mi")]);
        let r = linux_resources(&pod(vec![c.clone()]), &c, 4 * gib);
        assert_eq!(
            r,
            LinuxResources {
                cpu_shares: 512,
                cpu_period: 100_000,
                cpu_quota: 50_000,
                memory_limit_in_bytes: 256 << 20,
                oom_score_adj: -997,
            }
        );
        let best_effort = container(&[], &[]);
        let r = linux_resources(&pod(vec![best_effort.clone()]), &best_effort, 4 * gib);
        assert_eq!((r.cpu_shares, r.oom_score_adj), (2, 1000));
        let burstable = container(&[("memory", "1Gi")], &[]);
        let p = pod(vec![burstable.clone()]);
        assert_eq!(oom_score_adj(&p, &burstable, 4 * gib), 750);
        assert_eq!(oom_score_adj(&p, &burstable, gib), 3);
        let tiny = container(&[("memory", "1")], &[]);
        assert_eq!(oom_score_adj(&pod(vec![tiny.clone()]), &tiny, gib), 999);
    }

    #[test]
    fn resource_field_refs_divide_and_round_up_with_node_allocatable_as_the_default_limit() {
        let allocatable: BTreeMap<String, String> = [("cpu", "4"), ("memory", "8Gi")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let c = container(&[("cpu", "250m")], &[("memory", "64Mi")]);
        let v = |r: &str, d: Option<&str>| resource_field_value(&c, r, d, &allocatable);
        assert_eq!(v("requests.cpu", None).unwrap(), "1");
        assert_eq!(v("requests.cpu", Some("1m")).unwrap(), "250");
        assert_eq!(v("limits.cpu", None).unwrap(), "4");
        assert_eq!(v("limits.memory", Some("1Mi")).unwrap(), "64");
        assert_eq!(v("requests.memory", None).unwrap(), "67108864");
        assert!(matches!(
            v("limits.gpu", None),
            Err(ResourceFieldError::Unsupported(_))
        ));
    }
}
