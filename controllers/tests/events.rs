//! Events as the controllers write them, read back the way `kubectl describe` reads them.

use std::time::Duration;

use anyhow::Result;
use ferrokube_controllers::events::{EventType, Recorder};
use ferrokube_tests::{Cluster, eventually};
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identical_event_bumps_the_count_of_the_first() -> Result<()> {
    let cluster = Cluster::start()?;
    let client = cluster.client().await?;
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("subject".into());
    let cm = Api::<ConfigMap>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &cm)
        .await?;
    let recorder = Recorder::new(client.clone(), "test-controller", None);
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    recorder.publish(
        &cm,
        EventType::Warning,
        "FailedCreate",
        "Error creating: nope".into(),
    );
    let list = || async {
        anyhow::Ok(
            events
                .list(&ListParams::default())
                .await?
                .items
                .into_iter()
                .filter(|e| e.involved_object.uid == cm.uid())
                .collect::<Vec<_>>(),
        )
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while list().await?.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    recorder.publish(
        &cm,
        EventType::Warning,
        "FailedCreate",
        "Error creating: nope".into(),
    );
    recorder.publish(&cm, EventType::Normal, "Other", "something else".into());
    let mut found = Vec::new();
    while tokio::time::Instant::now() < deadline {
        found = list().await?;
        if found.len() == 2 && found.iter().any(|e| e.count == Some(2)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed: Vec<&Event> = found
        .iter()
        .filter(|e| e.reason.as_deref() == Some("FailedCreate"))
        .collect();
    assert_eq!(failed.len(), 1, "{found:?}");
    assert_eq!(failed[0].count, Some(2));
    assert_eq!(failed[0].type_.as_deref(), Some("Warning"));
    assert_eq!(
        failed[0]
            .source
            .as_ref()
            .and_then(|s| s.component.as_deref()),
        Some("test-controller")
    );
    let described = eventually(
        "describe to list the event",
        Duration::from_secs(10),
        || {
            cluster
                .kubectl_ok(&["describe", "configmap", "subject"])
                .ok()
                .filter(|d| d.contains("Error creating: nope"))
        },
    )?;
    assert!(described.contains("x2"), "{described}");
    Ok(())
}
