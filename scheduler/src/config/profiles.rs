//! Turning the file's profiles into [`Profile`]s: upstream's default plugins, changed by
//! `multiPoint` and then per extension point (`disabled` first, `*` for all, then `enabled`),
//! with weights; and the `pluginConfig` arguments checked against each plugin's schema.

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;

use super::ConfigError;
use super::v1::{PluginSetConfig, Plugins, ProfileConfig};
use crate::framework::{EnabledPlugin, Profile};
use crate::plugins::default_preemption::DefaultPreemptionArgs;
use crate::plugins::node_resources_fit::NodeResourcesFitArgs;
use crate::plugins::{self, default_profile};

/// Extension points a plugin can be limited to, with the names the file uses.
pub const EXTENSION_POINTS: [&str; 10] = [
    "preEnqueue",
    "preFilter",
    "filter",
    "postFilter",
    "preScore",
    "score",
    "reserve",
    "permit",
    "preBind",
    "bind",
];

/// One profile ready to build: the plugins, their arguments and the profile's share of
/// nodes to score.
#[derive(Clone, Debug)]
pub struct ProfileSpec {
    /// The plugins in order, with their weights and the extension points they skip.
    pub profile: Profile,
    /// `pluginConfig[].args` by plugin name.
    pub args: HashMap<String, serde_json::Value>,
    /// The profile's `percentageOfNodesToScore`, if it sets one.
    pub percentage_of_nodes_to_score: Option<u32>,
}

fn invalid(field: String, message: impl Into<String>) -> ConfigError {
    ConfigError::ValidateConfig {
        field,
        message: message.into(),
    }
}

fn points(p: &Plugins) -> [(&'static str, &PluginSetConfig); 12] {
    [
        ("preEnqueue", &p.pre_enqueue),
        ("queueSort", &p.queue_sort),
        ("preFilter", &p.pre_filter),
        ("filter", &p.filter),
        ("postFilter", &p.post_filter),
        ("preScore", &p.pre_score),
        ("score", &p.score),
        ("reserve", &p.reserve),
        ("permit", &p.permit),
        ("preBind", &p.pre_bind),
        ("bind", &p.bind),
        ("postBind", &p.post_bind),
    ]
}

/// The default profile changed by `plugins`; `field` is the path of `plugins` for errors.
pub fn merge_plugins(
    scheduler_name: &str,
    plugins_cfg: Option<&Plugins>,
    field: &str,
) -> Result<Profile, ConfigError> {
    let mut profile = default_profile(scheduler_name);
    let Some(cfg) = plugins_cfg else {
        return Ok(profile);
    };
    let registry = plugins::registry();
    let known = |name: &str, path: String| {
        if name == "*" || registry.contains_key(name) || name == "PrioritySort" {
            Ok(())
        } else {
            Err(invalid(
                path,
                format!("Invalid value: {name:?}: plugin does not exist"),
            ))
        }
    };
    let list = &mut profile.plugins;
    let excluded = &mut profile.excluded;
    let mp = &cfg.multi_point;
    for (i, d) in mp.disabled.iter().enumerate() {
        known(&d.name, format!("{field}.multiPoint.disabled[{i}].name"))?;
        if d.name == "*" {
            list.clear();
        } else {
            list.retain(|p| p.name != d.name);
        }
    }
    for (i, e) in mp.enabled.iter().enumerate() {
        known(&e.name, format!("{field}.multiPoint.enabled[{i}].name"))?;
        match list.iter_mut().find(|p| p.name == e.name) {
            Some(p) => {
                if let Some(w) = e.weight {
                    p.weight = w;
                }
            }
            None => list.push(EnabledPlugin {
                name: e.name.clone(),
                weight: e.weight.unwrap_or(1),
            }),
        }
    }
    for (point, set) in points(cfg) {
        let enabled_here: BTreeSet<&str> = set.enabled.iter().map(|e| e.name.as_str()).collect();
        for (i, d) in set.disabled.iter().enumerate() {
            known(&d.name, format!("{field}.{point}.disabled[{i}].name"))?;
            if d.name == "*" {
                for p in list.iter() {
                    if !enabled_here.contains(p.name.as_str()) {
                        excluded.insert((p.name.clone(), point.to_string()));
                    }
                }
            } else {
                excluded.insert((d.name.clone(), point.to_string()));
            }
        }
        for (i, e) in set.enabled.iter().enumerate() {
            known(&e.name, format!("{field}.{point}.enabled[{i}].name"))?;
            if let Some(w) = e.weight
                && !(0..=100).contains(&w)
            {
                return Err(invalid(
                    format!("{field}.{point}.enabled[{i}].weight"),
                    format!("Invalid value: {w}: must be in the range [0, 100]"),
                ));
            }
            excluded.remove(&(e.name.clone(), point.to_string()));
            match list.iter_mut().find(|p| p.name == e.name) {
                Some(p) => {
                    if point == "score"
                        && let Some(w) = e.weight
                    {
                        p.weight = w;
                    }
                }
                None => {
                    list.push(EnabledPlugin {
                        name: e.name.clone(),
                        weight: e.weight.unwrap_or(1),
                    });
                    for other in EXTENSION_POINTS.iter().filter(|p| **p != point) {
                        excluded.insert((e.name.clone(), other.to_string()));
                    }
                }
            }
        }
    }
    Ok(profile)
}

/// Decodes `args` as `T`, reporting the failing field under `field`.
fn decode<T: DeserializeOwned>(args: &serde_json::Value, field: &str) -> Result<T, ConfigError> {
    let mut v = args.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("kind");
        o.remove("apiVersion");
    }
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            field.to_string()
        } else {
            format!("{field}.{path}")
        };
        invalid(at, e.into_inner().to_string())
    })
}

/// Checks one plugin's arguments against its schema and upstream's validation.
fn validate_args(name: &str, args: &serde_json::Value, field: &str) -> Result<(), ConfigError> {
    let in_args = |r: Result<(), String>| {
        r.map_err(|m| {
            let (path, msg) = m.split_once(": ").unwrap_or(("", m.as_str()));
            invalid(format!("{field}.{path}"), msg.to_string())
        })
    };
    match name {
        "NodeResourcesFit" => in_args(decode::<NodeResourcesFitArgs>(args, field)?.validate()),
        "DefaultPreemption" => in_args(decode::<DefaultPreemptionArgs>(args, field)?.validate()),
        _ => {
            if !args.is_object() && !args.is_null() {
                return Err(invalid(field.to_string(), "must be an object"));
            }
            Ok(())
        }
    }
}

/// Builds and validates one profile (`index` for error paths).
pub fn build_profile(
    index: usize,
    p: &ProfileConfig,
    single: bool,
) -> Result<ProfileSpec, ConfigError> {
    let field = format!("profiles[{index}]");
    let name = match &p.scheduler_name {
        Some(n) if !n.is_empty() => n.clone(),
        None if single => crate::config::DEFAULT_SCHEDULER_NAME.to_string(),
        _ => {
            return Err(invalid(format!("{field}.schedulerName"), "Required value"));
        }
    };
    let profile = merge_plugins(&name, p.plugins.as_ref(), &format!("{field}.plugins"))?;
    let mut args = HashMap::new();
    let registry = plugins::registry();
    for (i, pc) in p.plugin_config.iter().enumerate() {
        let at = format!("{field}.pluginConfig[{i}]");
        if !registry.contains_key(pc.name.as_str()) {
            return Err(invalid(
                format!("{at}.name"),
                format!("Invalid value: {:?}: plugin does not exist", pc.name),
            ));
        }
        if args.contains_key(&pc.name) {
            return Err(invalid(at, format!("Duplicate value: {:?}", pc.name)));
        }
        validate_args(&pc.name, &pc.args, &format!("{at}.args"))?;
        let mut v = pc.args.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("kind");
            o.remove("apiVersion");
        }
        args.insert(pc.name.clone(), v);
    }
    let percentage = match p.percentage_of_nodes_to_score {
        None => None,
        Some(v) if (0..=100).contains(&v) => Some(v as u32),
        Some(v) => {
            return Err(invalid(
                format!("{field}.percentageOfNodesToScore"),
                format!("Invalid value: {v}: not in valid range [0-100]"),
            ));
        }
    };
    Ok(ProfileSpec {
        profile,
        args,
        percentage_of_nodes_to_score: percentage,
    })
}
