//! Container restart back-off as upstream's kubelet applies it: the first restart is
//! immediate, later ones wait `base` doubling up to `max` (10 s to 300 s upstream).

use std::time::Duration;

/// How long to wait before starting attempt `attempt` (1 for the first restart).
pub fn restart_delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    if attempt <= 1 {
        return Duration::ZERO;
    }
    let doublings = (attempt - 2).min(31);
    base.saturating_mul(1u32 << doublings).min(max)
}

/// Upstream's message for a container waiting in `CrashLoopBackOff`.
pub fn message(delay: Duration, container: &str, pod: &str, namespace: &str, uid: &str) -> String {
    format!(
        "back-off {} restarting failed container={container} pod={pod}_{namespace}({uid})",
        go_duration(delay)
    )
}

/// A duration as Go prints it: `10s`, `1m20s`, `5m0s`, `500ms`.
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    if secs < 60 {
        return format!("{secs}s");
    }
    format!("{}m{}s", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(300);

    #[test]
    fn the_first_restart_is_immediate_then_the_delay_doubles_to_the_cap() {
        let delays: Vec<u64> = (1..=8)
            .map(|a| restart_delay(a, BASE, MAX).as_secs())
            .collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(restart_delay(1000, BASE, MAX), MAX);
    }

    #[test]
    fn the_message_names_the_container_and_pod_as_upstream() {
        assert_eq!(
            message(Duration::from_secs(80), "web", "api", "default", "u1"),
            "back-off 1m20s restarting failed container=web pod=api_default(u1)"
        );
    }
}
