//! Leader election against the real API server: one candidate leads, a second takes over
//! within the lease duration when the first dies, and at once when the first releases.

use std::time::Duration;

use ferrokube_component::leader::{LeaderElectionConfig, LeaderElector};
use ferrokube_tests::Cluster;
use k8s_openapi::api::coordination::v1::Lease;
use tokio::sync::watch;

fn fast(identity: &str) -> LeaderElectionConfig {
    LeaderElectionConfig {
        lease_duration: Duration::from_secs(3),
        renew_deadline: Duration::from_secs(2),
        retry_period: Duration::from_millis(500),
        ..LeaderElectionConfig::new("kube-system", "test-controller", identity)
    }
}

async fn wait_for(rx: &mut watch::Receiver<bool>, want: bool, why: &str) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(15), rx.wait_for(|v| *v == want))
        .await
        .map_err(|_| anyhow::anyhow!("timed out waiting for {why}"))??;
    Ok(())
}

async fn holder(client: &kube::Client) -> anyhow::Result<(Option<String>, Option<i32>)> {
    let lease: Lease = kube::Api::namespaced(client.clone(), "kube-system")
        .get("test-controller")
        .await?;
    let spec = lease.spec.unwrap_or_default();
    Ok((spec.holder_identity, spec.lease_transitions))
}

#[tokio::test]
async fn a_second_candidate_takes_over_when_the_leader_dies() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let (mut a, a_task) =
        LeaderElector::new(client.clone(), fast("a"))?.run(std::future::pending());
    wait_for(&mut a, true, "a to lead").await?;
    let (mut b, _b_task) =
        LeaderElector::new(client.clone(), fast("b"))?.run(std::future::pending());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!*b.borrow(), "b must not lead while a renews");
    a_task.abort();
    wait_for(&mut b, true, "b to take over after the lease expires").await?;
    assert_eq!(holder(&client).await?, (Some("b".into()), Some(1)));
    Ok(())
}

#[tokio::test]
async fn a_released_lease_is_taken_without_waiting_for_it_to_expire() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let (stop_a, stopped) = tokio::sync::oneshot::channel::<()>();
    let (mut a, a_task) = LeaderElector::new(client.clone(), fast("a"))?.run(async move {
        let _ = stopped.await;
    });
    wait_for(&mut a, true, "a to lead").await?;
    let _ = stop_a.send(());
    a_task.await?;
    assert_eq!(
        holder(&client).await?.0,
        None,
        "a released the lease on shutdown"
    );
    let (mut b, _b_task) =
        LeaderElector::new(client.clone(), fast("b"))?.run(std::future::pending());
    wait_for(&mut b, true, "b to take the released lease").await?;
    assert_eq!(holder(&client).await?.0.as_deref(), Some("b"));
    Ok(())
}
