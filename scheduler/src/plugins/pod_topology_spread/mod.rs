//! PodTopologySpread (PreFilter, Filter, PreScore, Score; weight 2): spreads matching pods
//! across topology domains — `DoNotSchedule` constraints filter ([`filtering`]),
//! `ScheduleAnyway` constraints and the system defaults score ([`scoring`], arithmetic in
//! [`spread`]), with `maxSkew`, `minDomains`, node inclusion policies and `matchLabelKeys`
//! as upstream ([`common`]); the matching pods per domain are kept between cycles and
//! recounted only on the nodes that changed ([`counting`]).

pub mod common;
pub mod counting;
pub mod filtering;
pub mod scoring;
pub mod spread;

use std::sync::Arc;

use k8s_openapi::api::core::v1::TopologySpreadConstraint;

use crate::framework::{Handle, Plugin, PluginSet};
use crate::listers::Listers;

/// The plugin's name.
pub const NAME: &str = "PodTopologySpread";

/// The plugin.
pub struct PodTopologySpread {
    /// Services and controllers, for the default selector.
    pub listers: Listers,
    /// Constraints applied to pods that have none.
    pub default_constraints: Vec<TopologySpreadConstraint>,
    /// Whether those are the system defaults (`defaultingType: System`).
    pub system_defaulted: bool,
    /// Matching pods per domain of recently scheduled constraint sets.
    pub tallies: counting::Tallies,
}

impl PodTopologySpread {
    /// The plugin with `defaultConstraints` / `defaultingType` from its arguments (JSON as
    /// in `PodTopologySpreadArgs`), the system defaults when none are given.
    pub fn with_args(listers: Listers, args: Option<&serde_json::Value>) -> Self {
        let defaulting_type = args
            .and_then(|a| a.get("defaultingType"))
            .and_then(|t| t.as_str())
            .unwrap_or("System");
        if defaulting_type == "List" {
            let default_constraints = args
                .and_then(|a| a.get("defaultConstraints"))
                .and_then(|c| serde_json::from_value(c.clone()).ok())
                .unwrap_or_default();
            return PodTopologySpread {
                listers,
                default_constraints,
                system_defaulted: false,
                tallies: Default::default(),
            };
        }
        PodTopologySpread {
            listers,
            default_constraints: common::system_default_constraints(),
            system_defaulted: true,
            tallies: Default::default(),
        }
    }
}

/// Builds the plugin.
pub fn new(handle: &Handle) -> PluginSet {
    let p = Arc::new(PodTopologySpread::with_args(
        handle.listers.clone(),
        handle.plugin_args(NAME),
    ));
    PluginSet {
        pre_filter: Some(p.clone()),
        filter: Some(p.clone()),
        pre_score: Some(p.clone()),
        score: Some(p),
        ..Default::default()
    }
}

impl Plugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        NAME
    }
}

#[cfg(test)]
mod tests;
