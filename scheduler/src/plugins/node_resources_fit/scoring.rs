//! The NodeResourcesFit scoring strategies, pure: upstream's LeastAllocated, MostAllocated
//! and RequestedToCapacityRatio (a broken-linear function of the utilisation), each a weighted
//! average over the configured resources.

use crate::framework::MAX_NODE_SCORE;
use crate::plugins::resource_allocation::least_requested_score;

/// One point of a RequestedToCapacityRatio shape: utilisation (0..=100) → score (0..=10 as
/// configured; scaled to 0..=100 here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapePoint {
    /// Utilisation in percent.
    pub utilization: i64,
    /// Score at that utilisation, already scaled to `0..=MAX_NODE_SCORE`.
    pub score: i64,
}

/// MostAllocated for one resource: the used share after placing the pod (capped at 100).
pub fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// Upstream's `BuildBrokenLinearFunction` evaluated at `p`.
pub fn broken_linear(shape: &[ShapePoint], p: i64) -> i64 {
    for (i, point) in shape.iter().enumerate() {
        if p <= point.utilization {
            if i == 0 {
                return point.score;
            }
            let prev = shape[i - 1];
            return prev.score
                + (point.score - prev.score) * (p - prev.utilization)
                    / (point.utilization - prev.utilization);
        }
    }
    shape.last().map(|p| p.score).unwrap_or(0)
}

/// The strategy with its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Prefer the emptiest node.
    LeastAllocated,
    /// Prefer the fullest node (bin packing).
    MostAllocated,
    /// Score by a custom utilisation curve.
    RequestedToCapacityRatio(Vec<ShapePoint>),
}

/// The node's score over `resources` = (requested incl. the pod, allocatable, weight);
/// resources the node does not have are left out.
pub fn score(strategy: &Strategy, resources: &[(i64, i64, i64)]) -> i64 {
    let (mut total, mut weights) = (0i64, 0i64);
    for &(requested, allocatable, weight) in resources {
        if allocatable == 0 {
            continue;
        }
        let s = match strategy {
            Strategy::LeastAllocated => least_requested_score(requested, allocatable),
            Strategy::MostAllocated => most_requested_score(requested, allocatable),
            Strategy::RequestedToCapacityRatio(shape) => {
                let p = if requested > allocatable {
                    100
                } else {
                    requested * 100 / allocatable
                };
                let s = broken_linear(shape, p);
                if s <= 0 {
                    continue;
                }
                s
            }
        };
        total += s * weight;
        weights += weight;
    }
    if weights == 0 {
        return 0;
    }
    match strategy {
        Strategy::RequestedToCapacityRatio(_) => (total as f64 / weights as f64).round() as i64,
        _ => total / weights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(points: &[(i64, i64)]) -> Vec<ShapePoint> {
        points
            .iter()
            .map(|&(utilization, score)| ShapePoint {
                utilization,
                score: score * 10,
            })
            .collect()
    }

    #[test]
    fn most_allocated_prefers_the_fuller_node() {
        // Upstream: 3000m / 5000 on (4000m, 10000) and (6000m, 10000).
        assert_eq!(
            score(
                &Strategy::MostAllocated,
                &[(3000, 4000, 1), (5000, 10000, 1)]
            ),
            62
        );
        assert_eq!(
            score(
                &Strategy::MostAllocated,
                &[(3000, 6000, 1), (5000, 10000, 1)]
            ),
            50
        );
        assert_eq!(most_requested_score(5000, 4000), 100);
    }

    #[test]
    fn least_allocated_matches_the_default() {
        assert_eq!(
            score(
                &Strategy::LeastAllocated,
                &[(3000, 4000, 1), (5000, 10000, 1)]
            ),
            37
        );
    }

    #[test]
    fn the_broken_linear_function_interpolates_between_points() {
        let s = shape(&[(0, 0), (100, 10)]);
        assert_eq!(broken_linear(&s, 0), 0);
        assert_eq!(broken_linear(&s, 50), 50);
        assert_eq!(broken_linear(&s, 100), 100);
        let s = shape(&[(10, 1), (50, 5), (80, 10)]);
        assert_eq!(broken_linear(&s, 5), 10);
        assert_eq!(broken_linear(&s, 30), 30);
        assert_eq!(broken_linear(&s, 90), 100);
    }

    #[test]
    fn requested_to_capacity_ratio_weights_and_rounds() {
        // Bin packing shape: 0 → 0, 100 → 10. cpu 50% (w 1), memory 25% (w 3).
        let st = Strategy::RequestedToCapacityRatio(shape(&[(0, 0), (100, 10)]));
        assert_eq!(score(&st, &[(2, 4, 1), (1, 4, 3)]), 31);
        assert_eq!(score(&st, &[(0, 4, 1), (0, 0, 3)]), 0);
    }
}
