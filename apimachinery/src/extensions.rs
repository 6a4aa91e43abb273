//! The `x-kubernetes-*` OpenAPI extensions of the Kubernetes v1.33 built-in types, as a static
//! table of facts taken from the upstream Go types (`patchStrategy` / `patchMergeKey` struct tags
//! and the `+listType`, `+listMapKey`, `+mapType` and `+structType` markers).
//!
//! Definitions are named as in the upstream OpenAPI document (and in k8s-openapi's schemars
//! names), e.g. `io.k8s.api.core.v1.PodSpec`; properties by their JSON name. Look a property up
//! with [`property`] and a definition's own map type with [`definition_struct_type`]. Only
//! properties that carry at least one extension are listed.

/// The `x-kubernetes-*` extensions of one property of a built-in type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyExtensions {
    /// `x-kubernetes-patch-strategy`: "merge", "retainKeys", "merge,retainKeys" or "replace".
    pub patch_strategy: Option<&'static str>,
    /// `x-kubernetes-patch-merge-key`: the field that identifies an item of a merged list.
    pub patch_merge_key: Option<&'static str>,
    /// `x-kubernetes-list-type`: "atomic", "set" or "map".
    pub list_type: Option<&'static str>,
    /// `x-kubernetes-list-map-keys`: the keys of a `map` list, in declaration order.
    pub list_map_keys: &'static [&'static str],
    /// `x-kubernetes-map-type` (from `+mapType` or a field-level `+structType`): "atomic" or
    /// "granular".
    pub map_type: Option<&'static str>,
}

/// The extensions of one definition: its own map type and those of its properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefinitionExtensions {
    /// The OpenAPI definition name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub name: &'static str,
    /// `x-kubernetes-map-type` of the definition itself (`+structType=atomic`).
    pub struct_type: Option<&'static str>,
    /// The properties that carry extensions, sorted by JSON name.
    pub properties: &'static [(&'static str, PropertyExtensions)],
}

/// Returns the extensions of `property` (a JSON name) of `definition`, if it has any.
pub fn property(definition: &str, property: &str) -> Option<&'static PropertyExtensions> {
    let properties = definition_extensions(definition)?.properties;
    properties
        .binary_search_by(|(name, _)| (*name).cmp(property))
        .ok()
        .map(|index| &properties[index].1)
}

/// Returns the `x-kubernetes-map-type` upstream puts on `definition` itself ("atomic" for the
/// types marked `+structType=atomic`, such as `io.k8s.api.core.v1.LocalObjectReference`).
pub fn definition_struct_type(definition: &str) -> Option<&'static str> {
    definition_extensions(definition)?.struct_type
}

/// Returns everything the table knows about `definition`.
pub fn definition_extensions(definition: &str) -> Option<&'static DefinitionExtensions> {
    DEFINITIONS
        .binary_search_by(|entry| entry.name.cmp(definition))
        .ok()
        .map(|index| &DEFINITIONS[index])
}

/// Every definition of the table, sorted by name (to decorate a whole OpenAPI document).
pub fn definitions() -> &'static [DefinitionExtensions] {
    DEFINITIONS
}

const fn ext(
    patch_strategy: Option<&'static str>,
    patch_merge_key: Option<&'static str>,
    list_type: Option<&'static str>,
    list_map_keys: &'static [&'static str],
    map_type: Option<&'static str>,
) -> PropertyExtensions {
    PropertyExtensions {
        patch_strategy,
        patch_merge_key,
        list_type,
        list_map_keys,
        map_type,
    }
}

const ATOMIC_LIST: PropertyExtensions = ext(None, None, Some("atomic"), &[], None);
const SET_LIST: PropertyExtensions = ext(None, None, Some("set"), &[], None);
const ATOMIC_MAP: PropertyExtensions = ext(None, None, None, &[], Some("atomic"));
const GRANULAR_MAP: PropertyExtensions = ext(None, None, None, &[], Some("granular"));

const fn def(
    name: &'static str,
    properties: &'static [(&'static str, PropertyExtensions)],
) -> DefinitionExtensions {
    DefinitionExtensions {
        name,
        struct_type: None,
        properties,
    }
}

const fn atomic(
    name: &'static str,
    properties: &'static [(&'static str, PropertyExtensions)],
) -> DefinitionExtensions {
    DefinitionExtensions {
        name,
        struct_type: Some("atomic"),
        properties,
    }
}

/// Extracted from k8s.io/api, k8s.io/apimachinery (meta/v1), k8s.io/apiextensions-apiserver and
/// k8s.io/kube-aggregator at v0.33.13, for the group versions k8s-openapi serves with `v1_33`.
/// Sorted by name (byte order), each definition's properties too.
static DEFINITIONS: &[DefinitionExtensions] = &[
    atomic(
        "io.k8s.api.admissionregistration.v1.MatchResources",
        &[
            ("excludeResourceRules", ATOMIC_LIST),
            ("resourceRules", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.MutatingWebhook",
        &[
            ("admissionReviewVersions", ATOMIC_LIST),
            (
                "matchConditions",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("rules", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration",
        &[(
            "webhooks",
            ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
        )],
    ),
    atomic(
        "io.k8s.api.admissionregistration.v1.NamedRuleWithOperations",
        &[
            ("apiGroups", ATOMIC_LIST),
            ("apiVersions", ATOMIC_LIST),
            ("operations", ATOMIC_LIST),
            ("resourceNames", ATOMIC_LIST),
            ("resources", ATOMIC_LIST),
        ],
    ),
    atomic("io.k8s.api.admissionregistration.v1.ParamKind", &[]),
    atomic("io.k8s.api.admissionregistration.v1.ParamRef", &[]),
    def(
        "io.k8s.api.admissionregistration.v1.Rule",
        &[
            ("apiGroups", ATOMIC_LIST),
            ("apiVersions", ATOMIC_LIST),
            ("resources", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.RuleWithOperations",
        &[
            ("apiGroups", ATOMIC_LIST),
            ("apiVersions", ATOMIC_LIST),
            ("operations", ATOMIC_LIST),
            ("resources", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.TypeChecking",
        &[("expressionWarnings", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpec",
        &[("validationActions", SET_LIST)],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicySpec",
        &[
            ("auditAnnotations", ATOMIC_LIST),
            (
                "matchConditions",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("validations", ATOMIC_LIST),
            (
                "variables",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.ValidatingAdmissionPolicyStatus",
        &[("conditions", ext(None, None, Some("map"), &["type"], None))],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.ValidatingWebhook",
        &[
            ("admissionReviewVersions", ATOMIC_LIST),
            (
                "matchConditions",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("rules", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration",
        &[(
            "webhooks",
            ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
        )],
    ),
    atomic("io.k8s.api.admissionregistration.v1.Variable", &[]),
    atomic(
        "io.k8s.api.admissionregistration.v1alpha1.MatchResources",
        &[
            ("excludeResourceRules", ATOMIC_LIST),
            ("resourceRules", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1alpha1.MutatingAdmissionPolicySpec",
        &[
            (
                "matchConditions",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("mutations", ATOMIC_LIST),
            ("variables", ATOMIC_LIST),
        ],
    ),
    atomic(
        "io.k8s.api.admissionregistration.v1alpha1.NamedRuleWithOperations",
        &[
            ("apiGroups", ATOMIC_LIST),
            ("apiVersions", ATOMIC_LIST),
            ("operations", ATOMIC_LIST),
            ("resourceNames", ATOMIC_LIST),
            ("resources", ATOMIC_LIST),
        ],
    ),
    atomic("io.k8s.api.admissionregistration.v1alpha1.ParamKind", &[]),
    atomic("io.k8s.api.admissionregistration.v1alpha1.ParamRef", &[]),
    def(
        "io.k8s.api.admissionregistration.v1alpha1.TypeChecking",
        &[("expressionWarnings", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.admissionregistration.v1alpha1.ValidatingAdmissionPolicyBindingSpec",
        &[("validationActions", SET_LIST)],
    ),
    def(
        "io.k8s.api.admissionregistration.v1alpha1.ValidatingAdmissionPolicySpec",
        &[
            ("auditAnnotations", ATOMIC_LIST),
            (
                "matchConditions",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("validations", ATOMIC_LIST),
            (
                "variables",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1alpha1.ValidatingAdmissionPolicyStatus",
        &[("conditions", ext(None, None, Some("map"), &["type"], None))],
    ),
    atomic(
        "io.k8s.api.admissionregistration.v1beta1.MatchResources",
        &[
            ("excludeResourceRules", ATOMIC_LIST),
            ("resourceRules", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1beta1.MutatingWebhook",
        &[
            ("admissionReviewVersions", ATOMIC_LIST),
            (
                "matchConditions",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("rules", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1beta1.MutatingWebhookConfiguration",
        &[(
            "webhooks",
            ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
        )],
    ),
    atomic(
        "io.k8s.api.admissionregistration.v1beta1.NamedRuleWithOperations",
        &[
            ("apiGroups", ATOMIC_LIST),
            ("apiVersions", ATOMIC_LIST),
            ("operations", ATOMIC_LIST),
            ("resourceNames", ATOMIC_LIST),
            ("resources", ATOMIC_LIST),
        ],
    ),
    atomic("io.k8s.api.admissionregistration.v1beta1.ParamKind", &[]),
    atomic("io.k8s.api.admissionregistration.v1beta1.ParamRef", &[]),
    def(
        "io.k8s.api.admissionregistration.v1beta1.TypeChecking",
        &[("expressionWarnings", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicyBindingSpec",
        &[("validationActions", SET_LIST)],
    ),
    def(
        "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicySpec",
        &[
            ("auditAnnotations", ATOMIC_LIST),
            (
                "matchConditions",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("validations", ATOMIC_LIST),
            (
                "variables",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1beta1.ValidatingAdmissionPolicyStatus",
        &[("conditions", ext(None, None, Some("map"), &["type"], None))],
    ),
    def(
        "io.k8s.api.admissionregistration.v1beta1.ValidatingWebhook",
        &[
            ("admissionReviewVersions", ATOMIC_LIST),
            (
                "matchConditions",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("rules", ATOMIC_LIST),
            ("sideEffects", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.admissionregistration.v1beta1.ValidatingWebhookConfiguration",
        &[(
            "webhooks",
            ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
        )],
    ),
    atomic("io.k8s.api.admissionregistration.v1beta1.Variable", &[]),
    def(
        "io.k8s.api.apiserverinternal.v1alpha1.ServerStorageVersion",
        &[
            ("decodableVersions", SET_LIST),
            ("servedVersions", SET_LIST),
        ],
    ),
    def(
        "io.k8s.api.apiserverinternal.v1alpha1.StorageVersionStatus",
        &[
            ("conditions", ext(None, None, Some("map"), &["type"], None)),
            (
                "storageVersions",
                ext(None, None, Some("map"), &["apiServerID"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.apps.v1.DaemonSetStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.apps.v1.DeploymentSpec",
        &[("strategy", ext(Some("retainKeys"), None, None, &[], None))],
    ),
    def(
        "io.k8s.api.apps.v1.DeploymentStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.apps.v1.StatefulSetSpec",
        &[("volumeClaimTemplates", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.apps.v1.StatefulSetStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.authentication.v1.TokenRequestSpec",
        &[("audiences", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.authentication.v1.TokenReviewSpec",
        &[("audiences", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.authentication.v1.TokenReviewStatus",
        &[("audiences", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.authentication.v1.UserInfo",
        &[("groups", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.authorization.v1.FieldSelectorAttributes",
        &[("requirements", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.authorization.v1.LabelSelectorAttributes",
        &[("requirements", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.authorization.v1.NonResourceRule",
        &[("nonResourceURLs", ATOMIC_LIST), ("verbs", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.authorization.v1.ResourceRule",
        &[
            ("apiGroups", ATOMIC_LIST),
            ("resourceNames", ATOMIC_LIST),
            ("resources", ATOMIC_LIST),
            ("verbs", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.authorization.v1.SubjectAccessReviewSpec",
        &[("groups", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.authorization.v1.SubjectRulesReviewStatus",
        &[
            ("nonResourceRules", ATOMIC_LIST),
            ("resourceRules", ATOMIC_LIST),
        ],
    ),
    atomic("io.k8s.api.autoscaling.v1.CrossVersionObjectReference", &[]),
    def(
        "io.k8s.api.autoscaling.v2.HPAScalingRules",
        &[("policies", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec",
        &[("metrics", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
        &[
            (
                "conditions",
                ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
            ),
            ("currentMetrics", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.batch.v1.CronJobStatus",
        &[("active", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.batch.v1.JobStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("atomic"), &[], None),
        )],
    ),
    def(
        "io.k8s.api.batch.v1.PodFailurePolicy",
        &[("rules", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
        &[("values", SET_LIST)],
    ),
    def(
        "io.k8s.api.batch.v1.PodFailurePolicyRule",
        &[("onPodConditions", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.batch.v1.SuccessPolicy",
        &[("rules", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.batch.v1.UncountedTerminatedPods",
        &[("failed", SET_LIST), ("succeeded", SET_LIST)],
    ),
    def(
        "io.k8s.api.certificates.v1.CertificateSigningRequestSpec",
        &[
            ("groups", ATOMIC_LIST),
            ("request", ATOMIC_LIST),
            ("usages", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.certificates.v1.CertificateSigningRequestStatus",
        &[
            ("certificate", ATOMIC_LIST),
            ("conditions", ext(None, None, Some("map"), &["type"], None)),
        ],
    ),
    def(
        "io.k8s.api.certificates.v1beta1.CertificateSigningRequestSpec",
        &[
            ("groups", ATOMIC_LIST),
            ("request", ATOMIC_LIST),
            ("usages", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.certificates.v1beta1.CertificateSigningRequestStatus",
        &[
            ("certificate", ATOMIC_LIST),
            ("conditions", ext(None, None, Some("map"), &["type"], None)),
        ],
    ),
    def(
        "io.k8s.api.core.v1.AvoidPods",
        &[("preferAvoidPods", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.Capabilities",
        &[("add", ATOMIC_LIST), ("drop", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.CephFSPersistentVolumeSource",
        &[("monitors", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.CephFSVolumeSource",
        &[("monitors", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ComponentStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    atomic("io.k8s.api.core.v1.ConfigMapKeySelector", &[]),
    def(
        "io.k8s.api.core.v1.ConfigMapProjection",
        &[("items", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ConfigMapVolumeSource",
        &[("items", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.Container",
        &[
            ("args", ATOMIC_LIST),
            ("command", ATOMIC_LIST),
            (
                "env",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("envFrom", ATOMIC_LIST),
            (
                "ports",
                ext(
                    Some("merge"),
                    Some("containerPort"),
                    Some("map"),
                    &["containerPort", "protocol"],
                    None,
                ),
            ),
            ("resizePolicy", ATOMIC_LIST),
            (
                "volumeDevices",
                ext(
                    Some("merge"),
                    Some("devicePath"),
                    Some("map"),
                    &["devicePath"],
                    None,
                ),
            ),
            (
                "volumeMounts",
                ext(
                    Some("merge"),
                    Some("mountPath"),
                    Some("map"),
                    &["mountPath"],
                    None,
                ),
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.ContainerImage",
        &[("names", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ContainerStatus",
        &[
            (
                "allocatedResourcesStatus",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            (
                "volumeMounts",
                ext(
                    Some("merge"),
                    Some("mountPath"),
                    Some("map"),
                    &["mountPath"],
                    None,
                ),
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.DownwardAPIProjection",
        &[("items", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.DownwardAPIVolumeSource",
        &[("items", ATOMIC_LIST)],
    ),
    atomic("io.k8s.api.core.v1.EndpointAddress", &[]),
    atomic("io.k8s.api.core.v1.EndpointPort", &[]),
    def(
        "io.k8s.api.core.v1.EndpointSubset",
        &[
            ("addresses", ATOMIC_LIST),
            ("notReadyAddresses", ATOMIC_LIST),
            ("ports", ATOMIC_LIST),
        ],
    ),
    def("io.k8s.api.core.v1.Endpoints", &[("subsets", ATOMIC_LIST)]),
    def(
        "io.k8s.api.core.v1.EphemeralContainer",
        &[
            ("args", ATOMIC_LIST),
            ("command", ATOMIC_LIST),
            (
                "env",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("envFrom", ATOMIC_LIST),
            (
                "ports",
                ext(
                    Some("merge"),
                    Some("containerPort"),
                    Some("map"),
                    &["containerPort", "protocol"],
                    None,
                ),
            ),
            ("resizePolicy", ATOMIC_LIST),
            (
                "volumeDevices",
                ext(
                    Some("merge"),
                    Some("devicePath"),
                    Some("map"),
                    &["devicePath"],
                    None,
                ),
            ),
            (
                "volumeMounts",
                ext(
                    Some("merge"),
                    Some("mountPath"),
                    Some("map"),
                    &["mountPath"],
                    None,
                ),
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.EphemeralContainerCommon",
        &[
            ("args", ATOMIC_LIST),
            ("command", ATOMIC_LIST),
            (
                "env",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("envFrom", ATOMIC_LIST),
            (
                "ports",
                ext(
                    Some("merge"),
                    Some("containerPort"),
                    Some("map"),
                    &["containerPort", "protocol"],
                    None,
                ),
            ),
            ("resizePolicy", ATOMIC_LIST),
            (
                "volumeDevices",
                ext(
                    Some("merge"),
                    Some("devicePath"),
                    Some("map"),
                    &["devicePath"],
                    None,
                ),
            ),
            (
                "volumeMounts",
                ext(
                    Some("merge"),
                    Some("mountPath"),
                    Some("map"),
                    &["mountPath"],
                    None,
                ),
            ),
        ],
    ),
    def("io.k8s.api.core.v1.ExecAction", &[("command", ATOMIC_LIST)]),
    def(
        "io.k8s.api.core.v1.FCVolumeSource",
        &[("targetWWNs", ATOMIC_LIST), ("wwids", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.HTTPGetAction",
        &[("httpHeaders", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.HostAlias",
        &[("hostnames", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ISCSIPersistentVolumeSource",
        &[("portals", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ISCSIVolumeSource",
        &[("portals", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.LimitRangeSpec",
        &[("limits", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.LinuxContainerUser",
        &[("supplementalGroups", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.LoadBalancerIngress",
        &[("ports", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.LoadBalancerStatus",
        &[("ingress", ATOMIC_LIST)],
    ),
    atomic("io.k8s.api.core.v1.LocalObjectReference", &[]),
    def(
        "io.k8s.api.core.v1.NamespaceSpec",
        &[("finalizers", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.NamespaceStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.core.v1.NodeAffinity",
        &[(
            "preferredDuringSchedulingIgnoredDuringExecution",
            ATOMIC_LIST,
        )],
    ),
    atomic(
        "io.k8s.api.core.v1.NodeSelector",
        &[("nodeSelectorTerms", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.NodeSelectorRequirement",
        &[("values", ATOMIC_LIST)],
    ),
    atomic(
        "io.k8s.api.core.v1.NodeSelectorTerm",
        &[
            ("matchExpressions", ATOMIC_LIST),
            ("matchFields", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.core.v1.NodeSpec",
        &[
            ("podCIDRs", ext(Some("merge"), None, Some("set"), &[], None)),
            ("taints", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.core.v1.NodeStatus",
        &[
            (
                "addresses",
                ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
            ),
            (
                "conditions",
                ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
            ),
            ("images", ATOMIC_LIST),
            ("runtimeHandlers", ATOMIC_LIST),
            ("volumesAttached", ATOMIC_LIST),
            ("volumesInUse", ATOMIC_LIST),
        ],
    ),
    atomic("io.k8s.api.core.v1.ObjectFieldSelector", &[]),
    atomic("io.k8s.api.core.v1.ObjectReference", &[]),
    def(
        "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
        &[("accessModes", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
        &[
            ("accessModes", ATOMIC_LIST),
            ("allocatedResourceStatuses", GRANULAR_MAP),
            (
                "conditions",
                ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.PersistentVolumeSpec",
        &[
            ("accessModes", ATOMIC_LIST),
            ("claimRef", GRANULAR_MAP),
            ("mountOptions", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.core.v1.PodAffinity",
        &[
            (
                "preferredDuringSchedulingIgnoredDuringExecution",
                ATOMIC_LIST,
            ),
            (
                "requiredDuringSchedulingIgnoredDuringExecution",
                ATOMIC_LIST,
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.PodAffinityTerm",
        &[
            ("matchLabelKeys", ATOMIC_LIST),
            ("mismatchLabelKeys", ATOMIC_LIST),
            ("namespaces", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.core.v1.PodAntiAffinity",
        &[
            (
                "preferredDuringSchedulingIgnoredDuringExecution",
                ATOMIC_LIST,
            ),
            (
                "requiredDuringSchedulingIgnoredDuringExecution",
                ATOMIC_LIST,
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.PodDNSConfig",
        &[
            ("nameservers", ATOMIC_LIST),
            ("options", ATOMIC_LIST),
            ("searches", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.core.v1.PodExecOptions",
        &[("command", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.PodPortForwardOptions",
        &[("ports", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.PodSecurityContext",
        &[
            ("supplementalGroups", ATOMIC_LIST),
            ("sysctls", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.core.v1.PodSpec",
        &[
            (
                "containers",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            (
                "ephemeralContainers",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            (
                "hostAliases",
                ext(Some("merge"), Some("ip"), Some("map"), &["ip"], None),
            ),
            (
                "imagePullSecrets",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            (
                "initContainers",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("nodeSelector", ATOMIC_MAP),
            ("readinessGates", ATOMIC_LIST),
            (
                "resourceClaims",
                ext(
                    Some("merge,retainKeys"),
                    Some("name"),
                    Some("map"),
                    &["name"],
                    None,
                ),
            ),
            (
                "schedulingGates",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
            ("tolerations", ATOMIC_LIST),
            (
                "topologySpreadConstraints",
                ext(
                    Some("merge"),
                    Some("topologyKey"),
                    Some("map"),
                    &["topologyKey", "whenUnsatisfiable"],
                    None,
                ),
            ),
            (
                "volumes",
                ext(
                    Some("merge,retainKeys"),
                    Some("name"),
                    Some("map"),
                    &["name"],
                    None,
                ),
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.PodStatus",
        &[
            (
                "conditions",
                ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
            ),
            ("containerStatuses", ATOMIC_LIST),
            ("ephemeralContainerStatuses", ATOMIC_LIST),
            (
                "hostIPs",
                ext(Some("merge"), Some("ip"), Some("atomic"), &[], None),
            ),
            ("initContainerStatuses", ATOMIC_LIST),
            (
                "podIPs",
                ext(Some("merge"), Some("ip"), Some("map"), &["ip"], None),
            ),
            (
                "resourceClaimStatuses",
                ext(
                    Some("merge,retainKeys"),
                    Some("name"),
                    Some("map"),
                    &["name"],
                    None,
                ),
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.ProjectedVolumeSource",
        &[("sources", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.RBDPersistentVolumeSource",
        &[("monitors", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.RBDVolumeSource",
        &[("monitors", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ReplicationControllerSpec",
        &[("selector", ATOMIC_MAP)],
    ),
    def(
        "io.k8s.api.core.v1.ReplicationControllerStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    atomic("io.k8s.api.core.v1.ResourceFieldSelector", &[]),
    def(
        "io.k8s.api.core.v1.ResourceQuotaSpec",
        &[("scopes", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ResourceRequirements",
        &[("claims", ext(None, None, Some("map"), &["name"], None))],
    ),
    def(
        "io.k8s.api.core.v1.ResourceStatus",
        &[(
            "resources",
            ext(None, None, Some("map"), &["resourceID"], None),
        )],
    ),
    atomic(
        "io.k8s.api.core.v1.ScopeSelector",
        &[("matchExpressions", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ScopedResourceSelectorRequirement",
        &[("values", ATOMIC_LIST)],
    ),
    atomic("io.k8s.api.core.v1.SecretKeySelector", &[]),
    def(
        "io.k8s.api.core.v1.SecretProjection",
        &[("items", ATOMIC_LIST)],
    ),
    atomic("io.k8s.api.core.v1.SecretReference", &[]),
    def(
        "io.k8s.api.core.v1.SecretVolumeSource",
        &[("items", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.ServiceAccount",
        &[
            ("imagePullSecrets", ATOMIC_LIST),
            (
                "secrets",
                ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.core.v1.ServiceSpec",
        &[
            ("clusterIPs", ATOMIC_LIST),
            ("externalIPs", ATOMIC_LIST),
            ("ipFamilies", ATOMIC_LIST),
            ("loadBalancerSourceRanges", ATOMIC_LIST),
            (
                "ports",
                ext(
                    Some("merge"),
                    Some("port"),
                    Some("map"),
                    &["port", "protocol"],
                    None,
                ),
            ),
            ("selector", ATOMIC_MAP),
        ],
    ),
    def(
        "io.k8s.api.core.v1.ServiceStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.core.v1.TopologySelectorLabelRequirement",
        &[("values", ATOMIC_LIST)],
    ),
    atomic(
        "io.k8s.api.core.v1.TopologySelectorTerm",
        &[("matchLabelExpressions", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.core.v1.TopologySpreadConstraint",
        &[("matchLabelKeys", ATOMIC_LIST)],
    ),
    atomic("io.k8s.api.core.v1.TypedLocalObjectReference", &[]),
    def(
        "io.k8s.api.discovery.v1.Endpoint",
        &[("addresses", SET_LIST)],
    ),
    def(
        "io.k8s.api.discovery.v1.EndpointHints",
        &[("forNodes", ATOMIC_LIST), ("forZones", ATOMIC_LIST)],
    ),
    atomic("io.k8s.api.discovery.v1.EndpointPort", &[]),
    def(
        "io.k8s.api.discovery.v1.EndpointSlice",
        &[("endpoints", ATOMIC_LIST), ("ports", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.flowcontrol.v1.FlowSchemaSpec",
        &[("rules", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.flowcontrol.v1.FlowSchemaStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.flowcontrol.v1.NonResourcePolicyRule",
        &[("nonResourceURLs", SET_LIST), ("verbs", SET_LIST)],
    ),
    def(
        "io.k8s.api.flowcontrol.v1.PolicyRulesWithSubjects",
        &[
            ("nonResourceRules", ATOMIC_LIST),
            ("resourceRules", ATOMIC_LIST),
            ("subjects", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.flowcontrol.v1.PriorityLevelConfigurationStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.flowcontrol.v1.ResourcePolicyRule",
        &[
            ("apiGroups", SET_LIST),
            ("namespaces", SET_LIST),
            ("resources", SET_LIST),
            ("verbs", SET_LIST),
        ],
    ),
    def(
        "io.k8s.api.networking.v1.HTTPIngressRuleValue",
        &[("paths", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.IPBlock",
        &[("except", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.IngressLoadBalancerIngress",
        &[("ports", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.IngressLoadBalancerStatus",
        &[("ingress", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.IngressSpec",
        &[("rules", ATOMIC_LIST), ("tls", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.IngressTLS",
        &[("hosts", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.NetworkPolicyEgressRule",
        &[("ports", ATOMIC_LIST), ("to", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.NetworkPolicyIngressRule",
        &[("from", ATOMIC_LIST), ("ports", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.NetworkPolicySpec",
        &[
            ("egress", ATOMIC_LIST),
            ("ingress", ATOMIC_LIST),
            ("policyTypes", ATOMIC_LIST),
        ],
    ),
    atomic("io.k8s.api.networking.v1.ServiceBackendPort", &[]),
    def(
        "io.k8s.api.networking.v1.ServiceCIDRSpec",
        &[("cidrs", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1.ServiceCIDRStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.networking.v1beta1.HTTPIngressRuleValue",
        &[("paths", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1beta1.IngressLoadBalancerIngress",
        &[("ports", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1beta1.IngressLoadBalancerStatus",
        &[("ingress", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1beta1.IngressSpec",
        &[("rules", ATOMIC_LIST), ("tls", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1beta1.IngressTLS",
        &[("hosts", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1beta1.ServiceCIDRSpec",
        &[("cidrs", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.networking.v1beta1.ServiceCIDRStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.node.v1.Scheduling",
        &[("nodeSelector", ATOMIC_MAP), ("tolerations", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
        &[("selector", ext(Some("replace"), None, None, &[], None))],
    ),
    def(
        "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.rbac.v1.AggregationRule",
        &[("clusterRoleSelectors", ATOMIC_LIST)],
    ),
    def("io.k8s.api.rbac.v1.ClusterRole", &[("rules", ATOMIC_LIST)]),
    def(
        "io.k8s.api.rbac.v1.ClusterRoleBinding",
        &[("subjects", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.rbac.v1.PolicyRule",
        &[
            ("apiGroups", ATOMIC_LIST),
            ("nonResourceURLs", ATOMIC_LIST),
            ("resourceNames", ATOMIC_LIST),
            ("resources", ATOMIC_LIST),
            ("verbs", ATOMIC_LIST),
        ],
    ),
    def("io.k8s.api.rbac.v1.Role", &[("rules", ATOMIC_LIST)]),
    def(
        "io.k8s.api.rbac.v1.RoleBinding",
        &[("subjects", ATOMIC_LIST)],
    ),
    atomic("io.k8s.api.rbac.v1.RoleRef", &[]),
    atomic("io.k8s.api.rbac.v1.Subject", &[]),
    def(
        "io.k8s.api.resource.v1alpha3.AllocatedDeviceStatus",
        &[("conditions", ext(None, None, Some("map"), &["type"], None))],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.BasicDevice",
        &[("consumesCounters", ATOMIC_LIST), ("taints", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceAllocationConfiguration",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceAllocationResult",
        &[("config", ATOMIC_LIST), ("results", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceClaim",
        &[
            ("config", ATOMIC_LIST),
            ("constraints", ATOMIC_LIST),
            ("requests", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceClaimConfiguration",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceClassSpec",
        &[("config", ATOMIC_LIST), ("selectors", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceConstraint",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceRequest",
        &[
            ("firstAvailable", ATOMIC_LIST),
            ("selectors", ATOMIC_LIST),
            ("tolerations", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceRequestAllocationResult",
        &[("tolerations", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceSubRequest",
        &[("selectors", ATOMIC_LIST), ("tolerations", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.DeviceTaintSelector",
        &[("selectors", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.NetworkDeviceData",
        &[("ips", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.ResourceClaimStatus",
        &[
            (
                "devices",
                ext(None, None, Some("map"), &["driver", "device", "pool"], None),
            ),
            (
                "reservedFor",
                ext(Some("merge"), Some("uid"), Some("map"), &["uid"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.resource.v1alpha3.ResourceSliceSpec",
        &[("devices", ATOMIC_LIST), ("sharedCounters", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.AllocatedDeviceStatus",
        &[("conditions", ext(None, None, Some("map"), &["type"], None))],
    ),
    def(
        "io.k8s.api.resource.v1beta1.BasicDevice",
        &[("consumesCounters", ATOMIC_LIST), ("taints", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceAllocationConfiguration",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceAllocationResult",
        &[("config", ATOMIC_LIST), ("results", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceClaim",
        &[
            ("config", ATOMIC_LIST),
            ("constraints", ATOMIC_LIST),
            ("requests", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceClaimConfiguration",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceClassSpec",
        &[("config", ATOMIC_LIST), ("selectors", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceConstraint",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceRequest",
        &[
            ("firstAvailable", ATOMIC_LIST),
            ("selectors", ATOMIC_LIST),
            ("tolerations", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceRequestAllocationResult",
        &[("tolerations", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.DeviceSubRequest",
        &[("selectors", ATOMIC_LIST), ("tolerations", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.NetworkDeviceData",
        &[("ips", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta1.ResourceClaimStatus",
        &[
            (
                "devices",
                ext(None, None, Some("map"), &["driver", "device", "pool"], None),
            ),
            (
                "reservedFor",
                ext(Some("merge"), Some("uid"), Some("map"), &["uid"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.resource.v1beta1.ResourceSliceSpec",
        &[("devices", ATOMIC_LIST), ("sharedCounters", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.AllocatedDeviceStatus",
        &[("conditions", ext(None, None, Some("map"), &["type"], None))],
    ),
    def(
        "io.k8s.api.resource.v1beta2.Device",
        &[("consumesCounters", ATOMIC_LIST), ("taints", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceAllocationConfiguration",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceAllocationResult",
        &[("config", ATOMIC_LIST), ("results", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceClaim",
        &[
            ("config", ATOMIC_LIST),
            ("constraints", ATOMIC_LIST),
            ("requests", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceClaimConfiguration",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceClassSpec",
        &[("config", ATOMIC_LIST), ("selectors", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceConstraint",
        &[("requests", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceRequest",
        &[("firstAvailable", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceRequestAllocationResult",
        &[("tolerations", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.DeviceSubRequest",
        &[("selectors", ATOMIC_LIST), ("tolerations", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.ExactDeviceRequest",
        &[("selectors", ATOMIC_LIST), ("tolerations", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.NetworkDeviceData",
        &[("ips", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.resource.v1beta2.ResourceClaimStatus",
        &[
            (
                "devices",
                ext(None, None, Some("map"), &["driver", "device", "pool"], None),
            ),
            (
                "reservedFor",
                ext(Some("merge"), Some("uid"), Some("map"), &["uid"], None),
            ),
        ],
    ),
    def(
        "io.k8s.api.resource.v1beta2.ResourceSliceSpec",
        &[("devices", ATOMIC_LIST), ("sharedCounters", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.storage.v1.CSIDriverSpec",
        &[
            ("tokenRequests", ATOMIC_LIST),
            ("volumeLifecycleModes", SET_LIST),
        ],
    ),
    def(
        "io.k8s.api.storage.v1.CSINodeDriver",
        &[("topologyKeys", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.storage.v1.CSINodeSpec",
        &[(
            "drivers",
            ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
        )],
    ),
    def(
        "io.k8s.api.storage.v1.StorageClass",
        &[
            ("allowedTopologies", ATOMIC_LIST),
            ("mountOptions", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.storage.v1beta1.CSIDriverSpec",
        &[
            ("tokenRequests", ATOMIC_LIST),
            ("volumeLifecycleModes", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.storage.v1beta1.CSINodeDriver",
        &[("topologyKeys", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.api.storage.v1beta1.CSINodeSpec",
        &[(
            "drivers",
            ext(Some("merge"), Some("name"), Some("map"), &["name"], None),
        )],
    ),
    def(
        "io.k8s.api.storage.v1beta1.StorageClass",
        &[
            ("allowedTopologies", ATOMIC_LIST),
            ("mountOptions", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.api.storagemigration.v1alpha1.StorageVersionMigrationList",
        &[(
            "items",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.api.storagemigration.v1alpha1.StorageVersionMigrationStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ConversionRequest",
        &[("objects", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.ConversionResponse",
        &[("convertedObjects", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionNames",
        &[("categories", ATOMIC_LIST), ("shortNames", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec",
        &[("versions", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus",
        &[
            ("conditions", ext(None, None, Some("map"), &["type"], None)),
            ("storedVersions", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionVersion",
        &[
            ("additionalPrinterColumns", ATOMIC_LIST),
            ("selectableFields", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        &[
            ("allOf", ATOMIC_LIST),
            ("anyOf", ATOMIC_LIST),
            ("enum", ATOMIC_LIST),
            ("oneOf", ATOMIC_LIST),
            ("required", ATOMIC_LIST),
            ("x-kubernetes-list-map-keys", ATOMIC_LIST),
            (
                "x-kubernetes-validations",
                ext(Some("merge"), Some("rule"), Some("map"), &["rule"], None),
            ),
        ],
    ),
    def(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.WebhookConversion",
        &[("conversionReviewVersions", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroup",
        &[
            ("serverAddressByClientCIDRs", ATOMIC_LIST),
            ("versions", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIGroupList",
        &[("groups", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIResource",
        &[("categories", ATOMIC_LIST), ("shortNames", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList",
        &[("resources", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.APIVersions",
        &[
            ("serverAddressByClientCIDRs", ATOMIC_LIST),
            ("versions", ATOMIC_LIST),
        ],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ApplyOptions",
        &[("dryRun", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.CreateOptions",
        &[("dryRun", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
        &[("dryRun", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.FieldSelectorRequirement",
        &[("values", ATOMIC_LIST)],
    ),
    atomic(
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
        &[("matchExpressions", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
        &[("values", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        &[
            (
                "finalizers",
                ext(Some("merge"), None, Some("set"), &[], None),
            ),
            ("managedFields", ATOMIC_LIST),
            (
                "ownerReferences",
                ext(Some("merge"), Some("uid"), Some("map"), &["uid"], None),
            ),
        ],
    ),
    atomic("io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference", &[]),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.PatchOptions",
        &[("dryRun", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.RootPaths",
        &[("paths", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status",
        &[("details", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.StatusDetails",
        &[("causes", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.Table",
        &[("columnDefinitions", ATOMIC_LIST), ("rows", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.TableRow",
        &[("conditions", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.apimachinery.pkg.apis.meta.v1.UpdateOptions",
        &[("dryRun", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceSpec",
        &[("caBundle", ATOMIC_LIST)],
    ),
    def(
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus",
        &[(
            "conditions",
            ext(Some("merge"), Some("type"), Some("map"), &["type"], None),
        )],
    ),
];
