//! Choosing among preemption candidates, pure: upstream's `pickOneNodeForPreemption` and the
//! number of candidates to look for (`calculateNumCandidates`).

use std::cmp::Reverse;

/// What the choice looks at for one candidate node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CandidateSummary {
    /// Victims whose eviction would violate a PodDisruptionBudget.
    pub pdb_violations: usize,
    /// Each victim's priority.
    pub victim_priorities: Vec<i32>,
    /// The earliest start time (nanoseconds since the epoch) among the highest-priority
    /// victims; None when unknown.
    pub earliest_start_of_highest: Option<i128>,
}

/// Upstream's criteria in order: fewest PDB violations, the lowest highest-victim priority,
/// the smallest sum of (shifted) victim priorities, the fewest victims, and the latest start
/// time of the highest-priority victims; the first candidate wins remaining ties. Returns the
/// index of the chosen candidate.
pub fn pick_one(candidates: &[CandidateSummary]) -> Option<usize> {
    let key = |c: &CandidateSummary| {
        let highest = c
            .victim_priorities
            .iter()
            .copied()
            .max()
            .unwrap_or(i32::MIN);
        // Upstream shifts each priority by MaxInt32+1 so the sum of negatives stays ordered.
        let sum: i128 = c
            .victim_priorities
            .iter()
            .map(|p| *p as i128 + i32::MAX as i128 + 1)
            .sum();
        (
            c.pdb_violations,
            highest,
            sum,
            c.victim_priorities.len(),
            Reverse(c.earliest_start_of_highest.unwrap_or(i128::MIN)),
        )
    };
    (0..candidates.len()).min_by_key(|&i| (key(&candidates[i]), i))
}

/// How many candidates to find among `num_nodes`: `minCandidateNodesPercentage` of them but
/// at least `minCandidateNodesAbsolute`, and never more than there are.
pub fn num_candidates(num_nodes: usize, percentage: u32, absolute: u32) -> usize {
    let n = (num_nodes * percentage as usize / 100).max(absolute as usize);
    n.min(num_nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(violations: usize, prios: &[i32], start: Option<i128>) -> CandidateSummary {
        CandidateSummary {
            pdb_violations: violations,
            victim_priorities: prios.to_vec(),
            earliest_start_of_highest: start,
        }
    }

    #[test]
    fn fewer_pdb_violations_win_first() {
        assert_eq!(
            pick_one(&[c(1, &[1], None), c(0, &[100, 100], None)]),
            Some(1)
        );
    }

    #[test]
    fn then_the_lowest_highest_priority_victim() {
        assert_eq!(
            pick_one(&[c(0, &[5, 1], None), c(0, &[3, 3, 3], None)]),
            Some(1)
        );
    }

    #[test]
    fn then_the_smallest_sum_then_the_fewest_victims() {
        assert_eq!(
            pick_one(&[c(0, &[3, 3], None), c(0, &[3, 1], None)]),
            Some(1)
        );
        assert_eq!(
            pick_one(&[c(0, &[-5, -5, 0], None), c(0, &[-10, 0], None)]),
            Some(1),
            "negative priorities are shifted so the sum still orders"
        );
        assert_eq!(pick_one(&[c(0, &[], None), c(0, &[0], None)]), Some(0));
    }

    #[test]
    fn then_the_most_recently_started_victims() {
        assert_eq!(
            pick_one(&[c(0, &[1], Some(100)), c(0, &[1], Some(200))]),
            Some(1)
        );
        assert_eq!(
            pick_one(&[c(0, &[1], Some(5)), c(0, &[1], Some(5))]),
            Some(0)
        );
        assert_eq!(pick_one(&[]), None);
    }

    #[test]
    fn the_candidate_count_follows_the_percentage_and_the_floor() {
        assert_eq!(num_candidates(5000, 10, 100), 500);
        assert_eq!(num_candidates(500, 10, 100), 100);
        assert_eq!(num_candidates(30, 10, 100), 30);
        assert_eq!(num_candidates(5000, 0, 0), 0);
    }
}
