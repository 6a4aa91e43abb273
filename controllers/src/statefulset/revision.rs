//! A StatefulSet's revisions, as upstream's `getStatefulSetRevisions`, `newRevision`,
//! `ApplyRevision` and `truncateHistory`: each distinct pod template is a ControllerRevision
//! holding the strategic-merge patch `{"spec":{"template":{..., "$patch":"replace"}}}` that
//! restores it (so `kubectl rollout undo statefulset` can apply it as is). The update revision
//! is the one equal to the current template (an older equal one is renumbered as the newest —
//! a rollback), the current revision is the one `status.currentRevision` names.

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kube::api::{Api, DeleteParams};
use kube::{Resource, ResourceExt};
use serde_json::json;
use tracing::debug;

use super::{Context, controller_ref, identity};
use crate::{Error, api_message, history, is_not_found};

/// Upstream's default `revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;

/// Upstream's `getPatch`: the patch that puts `set`'s template back.
pub fn patch(set: &StatefulSet) -> serde_json::Value {
    let template = set
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let mut template = serde_json::to_value(template).unwrap_or_else(|_| json!({}));
    if let Some(obj) = template.as_object_mut() {
        obj.insert("$patch".into(), json!("replace"));
    }
    json!({"spec": {"template": template}})
}

/// Upstream's `ApplyRevision`: `set` with the template the revision holds.
pub fn apply(set: &StatefulSet, revision: &ControllerRevision) -> Result<StatefulSet, Error> {
    let mut template = history::data(revision)
        .get("spec")
        .and_then(|s| s.get("template"))
        .cloned()
        .unwrap_or_else(|| json!({}));
    if let Some(obj) = template.as_object_mut() {
        obj.remove("$patch");
    }
    let template: PodTemplateSpec = serde_json::from_value(template).map_err(|e| {
        Error::InvalidObject(format!(
            "revision {} holds no pod template: {e}",
            revision.name_any()
        ))
    })?;
    let mut out = set.clone();
    if let Some(spec) = out.spec.as_mut() {
        spec.template = template;
    }
    Ok(out)
}

/// Upstream's `newRevision`: a revision numbered `number` of `set`'s template, labelled with
/// the template's labels and annotated with the set's annotations.
pub fn new_revision(
    set: &StatefulSet,
    number: i64,
    collision_count: i32,
) -> Result<ControllerRevision, Error> {
    let labels = set
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let mut cr = history::new_revision(
        &set.namespace().unwrap_or_default(),
        controller_ref(set),
        &labels,
        patch(set),
        number,
        collision_count,
    )?;
    if !set.annotations().is_empty() {
        cr.metadata.annotations = Some(set.annotations().clone());
    }
    Ok(cr)
}

/// The revisions `set` owns (its informer's view), sorted; orphans matching the selector are
/// adopted first, as upstream's `adoptOrphanRevisions`.
pub async fn list(
    ctx: &Context,
    set: &StatefulSet,
    selector: &kube::core::Selector,
) -> Result<Vec<ControllerRevision>, Error> {
    use kube::core::SelectorExt;
    let ns = set.namespace();
    let uid = set.uid().unwrap_or_default();
    let api: Api<ControllerRevision> =
        Api::namespaced(ctx.client.clone(), &ns.clone().unwrap_or_default());
    let candidates: Vec<Arc<ControllerRevision>> = ctx
        .revisions
        .state_filter(|r| r.namespace() == ns && selector.matches(r.labels()));
    let mut out = Vec::new();
    for r in candidates {
        match crate::pod_util::controller_of(&r.metadata) {
            Some(owner) if owner.uid == uid => out.push((*r).clone()),
            Some(_) => {}
            None if set.meta().deletion_timestamp.is_none() => {
                let patch = json!({"metadata": {
                    "ownerReferences": [controller_ref(set)],
                    "uid": r.uid(),
                }});
                match api
                    .patch(
                        &r.name_any(),
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Strategic(&patch),
                    )
                    .await
                {
                    Ok(adopted) => out.push(adopted),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(Error::UpdateRevision(api_message(&e))),
                }
            }
            None => {}
        }
    }
    history::sort(&mut out);
    Ok(out)
}

/// The current and update revisions and the collision count (upstream's
/// `getStatefulSetRevisions`); may create a revision or renumber an old one.
pub async fn current_and_update(
    ctx: &Context,
    set: &StatefulSet,
    revisions: &[ControllerRevision],
) -> Result<(ControllerRevision, ControllerRevision, i32), Error> {
    let api: Api<ControllerRevision> =
        Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    let mut collision_count = set
        .status
        .as_ref()
        .and_then(|s| s.collision_count)
        .unwrap_or(0);
    let candidate = new_revision(set, history::next_revision(revisions), collision_count)?;
    let equal = history::find_equal(revisions, &candidate);
    let update = match (equal.last(), revisions.last()) {
        (Some(eq), Some(last)) if history::equal(last, eq) => last.clone(),
        (Some(eq), _) => history::renumber(&api, eq, candidate.revision).await?,
        (None, _) => {
            history::create(&api, &set.name_any(), &candidate, &mut collision_count).await?
        }
    };
    let current_name = set
        .status
        .as_ref()
        .and_then(|s| s.current_revision.clone())
        .unwrap_or_default();
    let current = revisions
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some(current_name.as_str()))
        .cloned()
        .unwrap_or_else(|| update.clone());
    Ok((current, update, collision_count))
}

/// Upstream's `truncateHistory`: deletes the oldest revisions that neither the status nor any
/// pod uses, beyond `revisionHistoryLimit`.
pub async fn truncate(
    ctx: &Context,
    set: &StatefulSet,
    pods: &[Arc<Pod>],
    revisions: &[ControllerRevision],
    current: &str,
    update: &str,
) -> Result<(), Error> {
    let mut live: HashSet<&str> = [current, update].into();
    live.extend(pods.iter().map(|p| identity::pod_revision(p)));
    let old: Vec<&ControllerRevision> = revisions
        .iter()
        .filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or_default()))
        .collect();
    let limit = set
        .spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
        .max(0) as usize;
    if old.len() <= limit {
        return Ok(());
    }
    let api: Api<ControllerRevision> =
        Api::namespaced(ctx.client.clone(), &set.namespace().unwrap_or_default());
    for r in &old[..old.len() - limit] {
        debug!(revision = %r.name_any(), "deleting old revision");
        match api.delete(&r.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::DeleteRevision(api_message(&e))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::StatefulSetSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn set(image: &str) -> StatefulSet {
        StatefulSet {
            spec: Some(StatefulSetSpec {
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "c".into(),
                            image: Some(image.into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                },
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_revision_restores_the_template_it_was_made_from() {
        let old = set("nginx:1");
        let rev = ControllerRevision {
            data: Some(k8s_openapi::apimachinery::pkg::runtime::RawExtension(
                patch(&old),
            )),
            ..Default::default()
        };
        assert_eq!(
            history::data(&rev)["spec"]["template"]["$patch"],
            json!("replace")
        );
        let restored = apply(&set("nginx:2"), &rev).unwrap();
        assert_eq!(restored.spec, old.spec);
    }
}
