//! The arithmetic of one probe worker, as upstream's `prober/worker.go`: a result only
//! counts once it repeated `successThreshold` (or `failureThreshold`) times in a row, a
//! container is not probed before `initialDelaySeconds` of running, and each kind starts from
//! its own initial result (readiness: failure, liveness: success, startup: unknown).

use std::time::Duration;

/// A probe's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeResult {
    /// The check passed.
    Success,
    /// The check failed (or timed out).
    Failure,
}

/// Which probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// `livenessProbe`: failure restarts the container.
    Liveness,
    /// `readinessProbe`: drives the container's `ready`.
    Readiness,
    /// `startupProbe`: gates the others and drives `started`.
    Startup,
}

impl ProbeKind {
    /// `Liveness`, `Readiness`, `Startup` (event messages).
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Startup => "Startup",
        }
    }

    /// `liveness`, `readiness`, `startup` (annotations, the Killing message).
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Startup => "startup",
        }
    }

    /// The result a container has before its first counted probe.
    pub fn initial(self) -> Option<ProbeResult> {
        match self {
            ProbeKind::Readiness => Some(ProbeResult::Failure),
            ProbeKind::Liveness => Some(ProbeResult::Success),
            ProbeKind::Startup => None,
        }
    }
}

/// A probe's timing fields with the API defaults (period 10 s, timeout 1 s, thresholds 1
/// and 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// `initialDelaySeconds`.
    pub initial_delay: Duration,
    /// `periodSeconds`.
    pub period: Duration,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// `successThreshold`.
    pub success_threshold: u32,
    /// `failureThreshold`.
    pub failure_threshold: u32,
}

fn seconds(v: Option<i32>, default: u64, min: u64) -> Duration {
    Duration::from_secs(
        v.and_then(|v| u64::try_from(v).ok())
            .unwrap_or(default)
            .max(min),
    )
}

impl Timing {
    /// The timing of a probe spec.
    pub fn of(p: &k8s_openapi::api::core::v1::Probe) -> Self {
        Timing {
            initial_delay: seconds(p.initial_delay_seconds, 0, 0),
            period: seconds(p.period_seconds, 10, 1),
            timeout: seconds(p.timeout_seconds, 1, 1),
            success_threshold: p
                .success_threshold
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(1)
                .max(1),
            failure_threshold: p
                .failure_threshold
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(3)
                .max(1),
        }
    }
}

/// The run-length state of one probe worker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    last: Option<ProbeResult>,
    run: u32,
}

impl Counter {
    /// Records one probe outcome; returns the result to publish once it reached its
    /// threshold (every later repetition publishes it again).
    pub fn observe(&mut self, result: ProbeResult, timing: &Timing) -> Option<ProbeResult> {
        if self.last == Some(result) {
            self.run = self.run.saturating_add(1);
        } else {
            self.last = Some(result);
            self.run = 1;
        }
        let threshold = match result {
            ProbeResult::Success => timing.success_threshold,
            ProbeResult::Failure => timing.failure_threshold,
        };
        (self.run >= threshold).then_some(result)
    }

    /// Starts counting afresh (after a published liveness or startup failure).
    pub fn reset(&mut self) {
        *self = Counter::default();
    }
}

/// Whether a container running for `running_for` is past the probe's initial delay.
pub fn past_initial_delay(running_for: Duration, timing: &Timing) -> bool {
    running_for.as_secs() >= timing.initial_delay.as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(success: u32, failure: u32) -> Timing {
        Timing {
            initial_delay: Duration::from_secs(5),
            period: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_threshold: success,
            failure_threshold: failure,
        }
    }

    #[test]
    fn results_count_only_after_their_threshold_in_a_row() {
        let t = timing(2, 3);
        let mut c = Counter::default();
        assert_eq!(c.observe(ProbeResult::Failure, &t), None);
        assert_eq!(c.observe(ProbeResult::Failure, &t), None);
        assert_eq!(c.observe(ProbeResult::Success, &t), None);
        assert_eq!(c.observe(ProbeResult::Failure, &t), None);
        assert_eq!(c.observe(ProbeResult::Failure, &t), None);
        assert_eq!(
            c.observe(ProbeResult::Failure, &t),
            Some(ProbeResult::Failure)
        );
        assert_eq!(
            c.observe(ProbeResult::Failure, &t),
            Some(ProbeResult::Failure)
        );
        assert_eq!(c.observe(ProbeResult::Success, &t), None);
        assert_eq!(
            c.observe(ProbeResult::Success, &t),
            Some(ProbeResult::Success)
        );
    }

    #[test]
    fn probes_wait_out_the_initial_delay_and_start_from_their_kinds_default() {
        let t = timing(1, 1);
        assert!(!past_initial_delay(Duration::from_millis(4900), &t));
        assert!(past_initial_delay(Duration::from_secs(5), &t));
        assert_eq!(ProbeKind::Readiness.initial(), Some(ProbeResult::Failure));
        assert_eq!(ProbeKind::Liveness.initial(), Some(ProbeResult::Success));
        assert_eq!(ProbeKind::Startup.initial(), None);
    }

    #[test]
    fn unset_fields_take_the_api_defaults() {
        let t = Timing::of(&Default::default());
        assert_eq!(t.period, Duration::from_secs(10));
        assert_eq!(t.timeout, Duration::from_secs(1));
        assert_eq!((t.success_threshold, t.failure_threshold), (1, 3));
    }
}
