//! Leader election on a `coordination.k8s.io/v1` Lease, as upstream's
//! `client-go/tools/leaderelection`: acquire when the lease is free or its holder has not
//! renewed within the lease duration (as observed locally), renew every retry period, give up
//! leadership when renewing fails for the renew deadline, release on shutdown.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::Error;

/// Upstream's durations: `--leader-elect-lease-duration`, `--leader-elect-renew-deadline`,
/// `--leader-elect-retry-period`.
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    /// The Lease's namespace (`--leader-elect-resource-namespace`, default `kube-system`).
    pub namespace: String,
    /// The Lease's name (`--leader-elect-resource-name`).
    pub name: String,
    /// This candidate's identity (upstream: `<hostname>_<uuid>`).
    pub identity: String,
    /// How long a lease is valid without renewal (default 15 s).
    pub lease_duration: Duration,
    /// How long the leader keeps trying to renew before it gives up (default 10 s).
    pub renew_deadline: Duration,
    /// How often candidates retry and the leader renews (default 2 s).
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// A config with upstream's default durations.
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        LeaderElectionConfig {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self.lease_duration <= self.renew_deadline {
            return Err(Error::LeaderElection(
                "leaseDuration must be greater than renewDeadline".into(),
            ));
        }
        if self.renew_deadline.as_secs_f64() <= 1.2 * self.retry_period.as_secs_f64() {
            return Err(Error::LeaderElection(
                "renewDeadline must be greater than retryPeriod*JitterFactor".into(),
            ));
        }
        if self.identity.is_empty() {
            return Err(Error::LeaderElection("identity must not be empty".into()));
        }
        Ok(())
    }
}

/// A candidate for leadership of one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    /// The last lease record seen and when it was seen (local clock), as upstream tracks it.
    observed: Option<(LeaseSpec, Instant)>,
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

impl LeaderElector {
    /// A candidate using `client`.
    pub fn new(client: kube::Client, config: LeaderElectionConfig) -> Result<Self, Error> {
        config.check()?;
        let api = Api::namespaced(client, &config.namespace);
        Ok(LeaderElector {
            api,
            config,
            observed: None,
        })
    }

    /// Campaigns until leader, then keeps the lease. The returned receiver turns `true` when
    /// this candidate leads and `false` when it loses the lease (upstream components exit then).
    /// The campaign stops, releasing the lease if held, when `shutdown` resolves; aborting the
    /// returned task stops it without releasing, as a crashed process would.
    pub fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (watch::Receiver<bool>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            tokio::pin!(shutdown);
            let mut leading = false;
            let mut last_renew = Instant::now();
            // As upstream's JitterUntil, the first attempt is immediate.
            let mut first = true;
            loop {
                let wait = if std::mem::take(&mut first) {
                    Duration::ZERO
                } else if leading {
                    self.config.retry_period
                } else {
                    jittered(self.config.retry_period)
                };
                tokio::select! {
                    _ = &mut shutdown => {
                        if leading {
                            self.release().await;
                        }
                        let _ = tx.send(false);
                        return;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
                match self.try_acquire_or_renew().await {
                    Ok(true) => {
                        last_renew = Instant::now();
                        if !leading {
                            info!(lease = %self.config.name, identity = %self.config.identity, "successfully acquired lease");
                            leading = true;
                            let _ = tx.send(true);
                        }
                    }
                    Ok(false) | Err(_)
                        if leading && last_renew.elapsed() < self.config.renew_deadline => {}
                    Ok(false) | Err(_) if leading => {
                        warn!(lease = %self.config.name, "failed to renew lease within the renew deadline; leadership lost");
                        leading = false;
                        let _ = tx.send(false);
                    }
                    Ok(false) => {}
                    Err(e) => debug!(error = %e, "error retrieving resource lock"),
                }
            }
        });
        (rx, task)
    }

    /// One attempt, as upstream's `tryAcquireOrRenew`: true when this candidate holds the lease.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let me = self.config.identity.clone();
        let duration = self.config.lease_duration.as_secs() as i32;
        let existing = match self.api.get_opt(&self.config.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.config.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(me.clone()),
                        lease_duration_seconds: Some(duration),
                        acquire_time: Some(now()),
                        renew_time: Some(now()),
                        lease_transitions: Some(0),
                        ..Default::default()
                    }),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(created) => {
                        self.observed = created.spec.map(|s| (s, Instant::now()));
                        Ok(true)
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                };
            }
            Some(l) => l,
        };
        let spec = existing.spec.clone().unwrap_or_default();
        if self.observed.as_ref().map(|(s, _)| s) != Some(&spec) {
            self.observed = Some((spec.clone(), Instant::now()));
        }
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let observed_at = self
            .observed
            .as_ref()
            .map(|(_, t)| *t)
            .unwrap_or_else(Instant::now);
        let held_by_other = !holder.is_empty() && holder != me;
        let lease_len =
            Duration::from_secs(spec.lease_duration_seconds.unwrap_or(duration).max(0) as u64);
        if held_by_other && observed_at.elapsed() < lease_len {
            return Ok(false);
        }
        let mut new_spec = spec.clone();
        if holder != me {
            new_spec.acquire_time = Some(now());
            new_spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        new_spec.holder_identity = Some(me);
        new_spec.lease_duration_seconds = Some(duration);
        new_spec.renew_time = Some(now());
        let mut updated = existing;
        updated.spec = Some(new_spec);
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &updated)
            .await
        {
            Ok(l) => {
                self.observed = l.spec.map(|s| (s, Instant::now()));
                Ok(true)
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up (upstream's ReleaseOnCancel): empty holder, 1 s duration.
    async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.config.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        spec.acquire_time = Some(now());
        if let Err(e) = self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            warn!(error = %e, "failed to release lease");
        }
    }
}

/// Upstream's `wait.Jitter(retryPeriod, 1.2)`: a duration in [d, 2.2d).
fn jittered(d: Duration) -> Duration {
    d.mul_f64(1.0 + 1.2 * rand::random::<f64>())
}
