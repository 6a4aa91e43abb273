//! Deleting a namespace's content (upstream's `namespacedResourcesDeleter`): every namespaced
//! resource that discovery lists with the `delete` verb is emptied with `deletecollection`
//! (or, where that is not served, by deleting each object), then listed again to see what
//! remains and which finalizers hold it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, ListParams};
use tracing::debug;

use super::conditions::ContentTotals;
use super::{Context, Error};
use crate::garbagecollector::resources::{Resolved, Resources};

/// Upstream's default wait for objects that carry finalizers.
pub const FINALIZER_ESTIMATE: Duration = Duration::from_secs(15);

/// The outcome of one pass over a namespace's content.
#[derive(Debug, Default)]
pub struct Pass {
    /// How long until what remains should be gone (zero: nothing remains).
    pub estimate: Duration,
    /// What remains, for the conditions.
    pub totals: ContentTotals,
    /// Resource types whose deletion failed, with the reason.
    pub errors: Vec<String>,
}

/// The namespaced resources to empty, from discovery.
pub async fn deletable_resources(ctx: &Context) -> Result<Vec<Resolved>, Error> {
    let resources = Resources::discover(&ctx.client)
        .await
        .map_err(Error::Discover)?;
    Ok(resources
        .preferred_supporting(&["delete"])
        .into_iter()
        .filter(|r| r.namespaced)
        .collect())
}

/// Deletes everything in `namespace` once, and reports what is left.
pub async fn delete_all_content(
    ctx: &Context,
    namespace: &str,
    deleted_at: jiff::Timestamp,
    resources: &[Resolved],
) -> Pass {
    let mut pass = Pass::default();
    for r in resources {
        let gvr = format!(
            "{}/{}, Resource={}",
            r.resource.group, r.resource.version, r.resource.plural
        );
        match delete_resource(ctx, r, namespace, deleted_at).await {
            Ok((estimate, remaining, finalizers)) => {
                pass.estimate = pass.estimate.max(estimate);
                if remaining > 0 {
                    let key = format!("{}.{}", r.resource.plural, r.resource.group);
                    pass.totals.remaining.insert(key, remaining);
                }
                for (f, n) in finalizers {
                    *pass.totals.finalizers.entry(f).or_default() += n;
                }
            }
            Err(e) => pass.errors.push(format!("{e} for gvr: {gvr}")),
        }
    }
    pass
}

type ResourceOutcome = (Duration, usize, Vec<(String, usize)>);

async fn delete_resource(
    ctx: &Context,
    r: &Resolved,
    namespace: &str,
    deleted_at: jiff::Timestamp,
) -> Result<ResourceOutcome, Error> {
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), namespace, &r.resource);
    let background = DeleteParams::background();
    if r.supports(&["deletecollection"]) {
        api.delete_collection(&background, &ListParams::default())
            .await
            .map_err(|e| Error::DeleteContent(crate::api_message(&e)))?;
    } else if r.supports(&["list"]) {
        let items = api
            .list(&ListParams::default())
            .await
            .map_err(|e| Error::DeleteContent(crate::api_message(&e)))?;
        for item in items {
            let name = item.metadata.name.unwrap_or_default();
            match api.delete(&name, &background).await {
                Ok(_) => {}
                Err(e) if crate::is_not_found(&e) => {}
                Err(e) => return Err(Error::DeleteContent(crate::api_message(&e))),
            }
        }
    }
    if !r.supports(&["list"]) {
        return Ok((Duration::ZERO, 0, Vec::new()));
    }
    let left = api
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::DeleteContent(crate::api_message(&e)))?;
    if left.items.is_empty() {
        return Ok((Duration::ZERO, 0, Vec::new()));
    }
    let mut finalizers: Vec<(String, usize)> = Vec::new();
    for item in &left.items {
        for f in item.metadata.finalizers.iter().flatten() {
            match finalizers.iter_mut().find(|(x, _)| x == f) {
                Some((_, n)) => *n += 1,
                None => finalizers.push((f.clone(), 1)),
            }
        }
    }
    let estimate = if r.resource.group.is_empty() && r.resource.plural == "pods" {
        pods_estimate(ctx, namespace, deleted_at).await?
    } else {
        Duration::ZERO
    };
    debug!(resource = %r.key(), remaining = left.items.len(), "content remains");
    if estimate > Duration::ZERO {
        return Ok((estimate, left.items.len(), finalizers));
    }
    if !finalizers.is_empty() {
        return Ok((FINALIZER_ESTIMATE, left.items.len(), finalizers));
    }
    Err(Error::DeleteContent(format!(
        "unexpected items still remain in namespace: {namespace}"
    )))
}

/// Upstream's `estimateGracefulTerminationForPods`: the longest grace period of a pod that
/// is not yet finished, counted from the namespace's deletion.
async fn pods_estimate(
    ctx: &Context,
    namespace: &str,
    deleted_at: jiff::Timestamp,
) -> Result<Duration, Error> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let list = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| Error::DeleteContent(crate::api_message(&e)))?;
    let grace = list
        .items
        .iter()
        .filter(|p| {
            !matches!(
                p.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
        })
        .filter_map(|p| p.spec.as_ref()?.termination_grace_period_seconds)
        .max()
        .unwrap_or(0)
        .max(0);
    let ends = deleted_at + jiff::SignedDuration::from_secs(grace);
    let left = ends.duration_since(jiff::Timestamp::now());
    Ok(Duration::try_from(left)
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_secs(1)))
}
