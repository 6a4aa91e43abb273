//! The pure arithmetic of PodTopologySpread scoring, as upstream's: the per-constraint
//! weight `ln(domains + 2)`, a node's score `count * weight + (maxSkew - 1)`, and the
//! normalisation `100 * (max + min - score) / max` (ignored nodes score 0).

use crate::framework::{MAX_NODE_SCORE, NodeScore};

/// The weight of a constraint with `size` domains.
pub fn topology_normalizing_weight(size: usize) -> f64 {
    ((size + 2) as f64).ln()
}

/// A node's raw score for one constraint.
pub fn score_for_count(count: i64, max_skew: i64, weight: f64) -> f64 {
    count as f64 * weight + (max_skew - 1) as f64
}

/// Normalises raw scores (lower raw is better); `ignored[i]` nodes get 0.
pub fn normalize(scores: &mut [NodeScore<'_>], ignored: &[bool]) {
    let mut min = i64::MAX;
    let mut max = 0;
    for (s, &skip) in scores.iter().zip(ignored) {
        if skip {
            continue;
        }
        min = min.min(s.score);
        max = max.max(s.score);
    }
    for (s, &skip) in scores.iter_mut().zip(ignored) {
        s.score = if skip {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (max + min - s.score) / max
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(raw: &[i64]) -> Vec<NodeScore<'static>> {
        raw.iter()
            .map(|&score| NodeScore { name: "n", score })
            .collect()
    }

    #[test]
    fn the_weight_grows_with_the_log_of_the_domain_count() {
        assert!((topology_normalizing_weight(0) - 2f64.ln()).abs() < 1e-12);
        assert!((topology_normalizing_weight(3) - 5f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn fewer_matching_pods_score_higher() {
        // Upstream's "one constraint on node, no existing pods" shape: 2 nodes, equal counts.
        let mut s = scores(&[0, 0]);
        normalize(&mut s, &[false, false]);
        assert_eq!(s.iter().map(|s| s.score).collect::<Vec<_>>(), [100, 100]);
        // Raw 4, 3, 1, 0 → 100 * (4 + 0 - raw) / 4.
        let mut s = scores(&[4, 3, 1, 0]);
        normalize(&mut s, &[false; 4]);
        assert_eq!(
            s.iter().map(|s| s.score).collect::<Vec<_>>(),
            [0, 25, 75, 100]
        );
    }

    #[test]
    fn ignored_nodes_score_zero_and_do_not_shift_the_range() {
        let mut s = scores(&[2, 9, 4]);
        normalize(&mut s, &[false, true, false]);
        assert_eq!(s.iter().map(|s| s.score).collect::<Vec<_>>(), [100, 0, 50]);
    }
}
