//! Which NoExecute taints a pod tolerates and for how long (upstream's
//! `GetMatchingTolerations` and `getMinTolerationTime`). Pure.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// Whether `toleration` tolerates `taint` (upstream's `Toleration.ToleratesTaint`).
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect = toleration.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() && effect != taint.effect {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or_default();
    let operator = toleration.operator.as_deref().unwrap_or_default();
    if key != taint.key && !(key.is_empty() && operator == "Exists") {
        return false;
    }
    match operator {
        "Exists" => true,
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or_default()
                == taint.value.as_deref().unwrap_or_default()
        }
        _ => false,
    }
}

/// What a pod's tolerations say about a node's NoExecute taints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No NoExecute taint: nothing to do (cancel a scheduled deletion).
    Untainted,
    /// Some taint is not tolerated: delete now.
    DeleteNow,
    /// Every taint is tolerated forever.
    Tolerated,
    /// Delete once the shortest matching `tolerationSeconds` has passed.
    DeleteAfter(Duration),
}

/// The verdict for a pod with `tolerations` on a node with NoExecute `taints`.
pub fn verdict(taints: &[Taint], tolerations: &[Toleration]) -> Verdict {
    if taints.is_empty() {
        return Verdict::Untainted;
    }
    let mut used = Vec::new();
    for taint in taints {
        match tolerations.iter().find(|t| tolerates(t, taint)) {
            Some(t) => used.push(t),
            None => return Verdict::DeleteNow,
        }
    }
    let min = used
        .iter()
        .filter_map(|t| t.toleration_seconds)
        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
        .min();
    match min {
        None => Verdict::Tolerated,
        Some(d) => Verdict::DeleteAfter(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str) -> Taint {
        Taint {
            key: key.into(),
            effect: "NoExecute".into(),
            ..Default::default()
        }
    }

    fn tol(key: &str, seconds: Option<i64>) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: seconds,
            ..Default::default()
        }
    }

    #[test]
    fn an_untolerated_taint_means_deletion_now() {
        assert_eq!(verdict(&[taint("a")], &[]), Verdict::DeleteNow);
        assert_eq!(
            verdict(&[taint("a"), taint("b")], &[tol("a", None)]),
            Verdict::DeleteNow
        );
    }

    #[test]
    fn the_shortest_matching_toleration_seconds_wins() {
        let tols = [tol("a", Some(60)), tol("b", Some(5)), tol("c", Some(1))];
        assert_eq!(
            verdict(&[taint("a"), taint("b")], &tols),
            Verdict::DeleteAfter(Duration::from_secs(5))
        );
        assert_eq!(
            verdict(&[taint("a")], &[tol("a", Some(-3))]),
            Verdict::DeleteAfter(Duration::ZERO)
        );
    }

    #[test]
    fn tolerations_without_seconds_tolerate_forever() {
        assert_eq!(
            verdict(&[taint("a")], &[tol("a", None)]),
            Verdict::Tolerated
        );
        let everything = Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert_eq!(verdict(&[taint("x")], &[everything]), Verdict::Tolerated);
        assert_eq!(verdict(&[], &[]), Verdict::Untainted);
    }
}
