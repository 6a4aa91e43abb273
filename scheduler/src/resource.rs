//! Resource arithmetic, pure: quantities as integers (milli-CPU, bytes, counts), a pod's
//! effective requests under upstream's init-container and overhead rules, and the non-zero
//! defaults that scoring assumes for containers without requests.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The CPU assumed for a container without a CPU request when scoring (upstream: 100m).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory assumed for a container without a memory request when scoring (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of every resource the scheduler accounts for.
///
/// Laid out in declaration order, the numbers before the map, so a node's requests and
/// allocatable resources put what the filters read every cycle in adjacent words.
#[repr(C)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// The number of pods (only meaningful for allocatable).
    pub allowed_pod_number: i64,
    /// Extended and hugepage resources by name, in their base unit.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// Reads a `ResourceList` (capacity, allocatable or requests).
    pub fn from_list(list: &BTreeMap<String, Quantity>) -> Self {
        let mut r = Resource::default();
        for (name, q) in list {
            r.set(name, q);
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = milli_value(&q.0).unwrap_or(0),
            "memory" => self.memory = value(&q.0).unwrap_or(0),
            "ephemeral-storage" => self.ephemeral_storage = value(&q.0).unwrap_or(0),
            "pods" => self.allowed_pod_number = value(&q.0).unwrap_or(0),
            other if is_scalar(other) => {
                self.scalar.insert(other.into(), value(&q.0).unwrap_or(0));
            }
            _ => {}
        }
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() += v;
        }
    }

    /// Subtracts `other` from `self`.
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_default() -= v;
        }
    }

    /// Raises each resource of `self` to at least `other`'s.
    pub fn max_with(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// The amount of one named resource (`cpu` in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.allowed_pod_number,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }
}

/// Extended resources (`example.com/foo`), hugepages and attachable volumes: accounted by name.
fn is_scalar(name: &str) -> bool {
    name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || (name.contains('/') && !name.starts_with("kubernetes.io/"))
        || name.starts_with("requests.")
}

fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let mut r = c
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .map(Resource::from_list)
        .unwrap_or_default();
    if non_zero {
        let has = |n: &str| {
            c.resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .is_some_and(|m| m.contains_key(n))
        };
        if !has("cpu") {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if !has("memory") {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

/// What a pod asks of its node, as upstream's `PodRequests`: the larger of the sum of its
/// containers (plus sidecars, i.e. restartable init containers) and each init container (plus
/// the sidecars started before it), plus the pod overhead. With `non_zero`, containers without
/// a CPU or memory request count the scoring defaults.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resource {
    let Some(spec) = pod.spec.as_ref() else {
        return Resource::default();
    };
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c, non_zero);
        let candidate = if c.restart_policy.as_deref() == Some("Always") {
            reqs.add(&r);
            sidecars.add(&r);
            sidecars.clone()
        } else {
            let mut t = r;
            t.add(&sidecars);
            t
        };
        init_max.max_with(&candidate);
    }
    reqs.max_with(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add(&Resource::from_list(overhead));
    }
    reqs
}

/// A quantity in milli-units, rounded up (`100m` -> 100, `1` -> 1000, `1.5` -> 1500).
pub fn milli_value(q: &str) -> Option<i64> {
    scaled(q, 3)
}

/// A quantity in whole units, rounded up (`1Gi` -> 1073741824, `100m` -> 1).
pub fn value(q: &str) -> Option<i64> {
    scaled(q, 0)
}

/// `q * 10^extra_exp`, rounded up.
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
    // The digits of both parts as one integer (without building a string per quantity).
    let digits = int.bytes().chain(frac.bytes()).try_fold(0i128, |n, b| {
        b.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(i128::from(b - b'0')))
            .flatten()
    })?;
    let (mut binary, mut exp10): (u32, i32) = (0, -(frac.len() as i32));
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
        n = n.checked_mul(10i128.checked_pow(exp10 as u32)?)?;
    } else {
        let d = 10i128.checked_pow((-exp10) as u32)?;
        n = (n + d - 1) / d;
    }
    let n = if negative { -n } else { n };
    i64::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn container(cpu: Option<&str>, mem: Option<&str>) -> Container {
        let mut m = BTreeMap::new();
        if let Some(c) = cpu {
            m.insert("cpu".to_string(), Quantity(c.into()));
        }
        if let Some(c) = mem {
            m.insert("memory".to_string(), Quantity(c.into()));
        }
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements {
                requests: Some(m),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn quantities_parse_in_every_suffix() {
        assert_eq!(milli_value("100m"), Some(100));
        assert_eq!(milli_value("1"), Some(1000));
        assert_eq!(milli_value("1.5"), Some(1500));
        assert_eq!(milli_value("0.1"), Some(100));
        assert_eq!(value("1Gi"), Some(1 << 30));
        assert_eq!(value("500Mi"), Some(500 << 20));
        assert_eq!(value("1k"), Some(1000));
        assert_eq!(value("1e3"), Some(1000));
        assert_eq!(value("100m"), Some(1));
        assert_eq!(value("110"), Some(110));
        assert_eq!(value("abc"), None);
    }

    #[test]
    fn requests_are_the_larger_of_containers_and_init_containers_plus_overhead() {
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![
                    container(Some("1"), Some("1Gi")),
                    container(Some("1"), None),
                ],
                init_containers: Some(vec![container(Some("3"), Some("512Mi"))]),
                overhead: Some([("cpu".to_string(), Quantity("100m".into()))].into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = pod_requests(&pod, false);
        assert_eq!(r.milli_cpu, 3100);
        assert_eq!(r.memory, 1 << 30);
    }

    #[test]
    fn sidecars_add_to_containers_and_to_later_init_containers() {
        let mut sidecar = container(Some("500m"), None);
        sidecar.restart_policy = Some("Always".into());
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![container(Some("1"), None)],
                init_containers: Some(vec![sidecar, container(Some("2"), None)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(pod_requests(&pod, false).milli_cpu, 2500);
    }

    #[test]
    fn scoring_assumes_defaults_for_missing_requests() {
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![container(None, None)],
                ..Default::default()
            }),
            ..Default::default()
        };
        let r = pod_requests(&pod, true);
        assert_eq!(r.milli_cpu, DEFAULT_MILLI_CPU_REQUEST);
        assert_eq!(r.memory, DEFAULT_MEMORY_REQUEST);
        assert_eq!(pod_requests(&pod, false), Resource::default());
    }
}
