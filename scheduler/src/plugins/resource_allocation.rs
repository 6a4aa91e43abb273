//! The node-resource scoring arithmetic, pure: upstream's `leastRequestedScore` and
//! `balancedResourceScorer`.

use crate::framework::MAX_NODE_SCORE;

/// LeastAllocated for one resource: the free share left after placing the pod, 0..=100.
pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// LeastAllocated over several resources: the weighted average of each resource's score.
/// `resources` holds (requested, allocatable, weight).
pub fn least_allocated(resources: &[(i64, i64, i64)]) -> i64 {
    let (mut score, mut weights) = (0, 0);
    for &(requested, allocatable, weight) in resources {
        score += least_requested_score(requested, allocatable) * weight;
        weights += weight;
    }
    if weights == 0 { 0 } else { score / weights }
}

/// BalancedAllocation: `(1 - std) * 100` of the requested fractions (each capped at 1);
/// resources with no allocatable amount are left out. `resources` holds (requested,
/// allocatable).
pub fn balanced_resource_score(resources: &[(i64, i64)]) -> i64 {
    // Computed from the slice in two passes rather than collected, as this runs for every
    // scored node.
    let fractions = || {
        resources
            .iter()
            .filter(|(_, a)| *a != 0)
            .map(|&(r, a)| (r as f64 / a as f64).min(1.0))
    };
    let std = match fractions().count() {
        0 | 1 => 0.0,
        2 => {
            let mut f = fractions();
            let (a, b) = (f.next().unwrap_or(0.0), f.next().unwrap_or(0.0));
            ((a - b) / 2.0).abs()
        }
        n => {
            let mean = fractions().sum::<f64>() / n as f64;
            (fractions().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64).sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_requested_is_the_free_share() {
        assert_eq!(least_requested_score(3000, 4000), 25);
        assert_eq!(least_requested_score(0, 4000), 100);
        assert_eq!(least_requested_score(5000, 4000), 0);
        assert_eq!(least_requested_score(1, 0), 0);
    }

    #[test]
    fn least_allocated_averages_cpu_and_memory() {
        // Upstream: 3000m / 5000 on nodes of (4000m, 10000) and (6000m, 10000).
        assert_eq!(least_allocated(&[(3000, 4000, 1), (5000, 10000, 1)]), 37);
        assert_eq!(least_allocated(&[(3000, 6000, 1), (5000, 10000, 1)]), 50);
    }

    #[test]
    fn balanced_allocation_prefers_equal_fractions() {
        assert_eq!(balanced_resource_score(&[(3000, 4000), (5000, 10000)]), 87);
        assert_eq!(balanced_resource_score(&[(3000, 6000), (5000, 10000)]), 100);
        assert_eq!(balanced_resource_score(&[(6000, 4000), (0, 10000)]), 50);
        assert_eq!(balanced_resource_score(&[(1, 0), (5, 10)]), 100);
    }

    #[test]
    fn balanced_allocation_over_three_resources_uses_the_standard_deviation() {
        // fractions 0.5, 0.5, 0.2: mean 0.4, std sqrt(0.06/3) = 0.1414
        assert_eq!(balanced_resource_score(&[(5, 10), (5, 10), (2, 10)]), 85);
    }
}
