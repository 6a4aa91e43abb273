//! `kubectl describe` of a deployment and a pod: the fields kubectl reads from the objects
//! and the events it finds for them through field selectors.

mod kubectl_support;

use anyhow::Result;
use ferrokube_tests::Cluster;
use kubectl_support::{WEB_STACK, jsonpath, pod, quiet, quiet_stdin};

/// The value printed after `label:` on its line of `describe` output.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{label}:")))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label}: in\n{out}"))
}

#[test]
fn describe_deployment_shows_its_spec_and_pod_template() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], WEB_STACK)?;
    quiet(&c, &["scale", "deployment/web", "--replicas=2"])?;
    let out = quiet(&c, &["describe", "deployment", "web"])?;
    assert_eq!(field(&out, "Name"), "web");
    assert_eq!(field(&out, "Namespace"), "default");
    assert_eq!(field(&out, "Labels"), "app=web");
    assert!(
        out.contains("\n                        tier=front\n"),
        "{out}"
    );
    assert_eq!(field(&out, "Selector"), "app=web");
    assert_eq!(
        field(&out, "Replicas"),
        "2 desired | 0 updated | 0 total | 0 available | 0 unavailable"
    );
    assert_eq!(field(&out, "StrategyType"), "RollingUpdate");
    assert_eq!(field(&out, "MinReadySeconds"), "0");
    assert_eq!(
        field(&out, "RollingUpdateStrategy"),
        "25% max unavailable, 25% max surge"
    );
    // The last-applied annotation is hidden, as upstream does.
    assert_eq!(field(&out, "Annotations"), "<none>");
    for line in [
        "Pod Template:",
        "   nginx:",
        "    Image:      nginx:1.25",
        "      MODE:        prod",
        "      LEVEL:       info",
    ] {
        assert!(out.lines().any(|l| l == line), "no line {line:?} in\n{out}");
    }
    assert_eq!(field(&out, "Events"), "<none>");
    Ok(())
}

#[test]
fn describe_pod_shows_its_state_defaults_and_events() -> Result<()> {
    let c = Cluster::start()?;
    quiet_stdin(&c, &["apply", "-f", "-"], &pod("web-0", "app: web"))?;
    let uid = jsonpath(&c, "pod/web-0", "{.metadata.uid}")?;
    let event = format!(
        "apiVersion: v1\nkind: Event\nmetadata: {{name: web-0.1}}\ninvolvedObject: {{apiVersion: v1, kind: Pod, name: web-0, namespace: default, uid: {uid}}}\nreason: FailedScheduling\nmessage: '0/0 nodes are available'\ntype: Warning\nsource: {{component: default-scheduler}}\ncount: 1\n"
    );
    quiet_stdin(&c, &["create", "-f", "-"], &event)?;
    // An event about another object stays out of this pod's description.
    let other = event
        .replace("web-0.1", "other.1")
        .replace("name: web-0,", "name: other,")
        .replace(&uid, "00000000-0000-0000-0000-000000000000");
    quiet_stdin(&c, &["create", "-f", "-"], &other)?;

    let out = quiet(&c, &["describe", "pod", "web-0"])?;
    assert_eq!(field(&out, "Name"), "web-0");
    assert_eq!(field(&out, "Namespace"), "default");
    assert_eq!(field(&out, "Service Account"), "default");
    assert_eq!(field(&out, "Node"), "<none>");
    assert_eq!(field(&out, "Labels"), "app=web");
    assert_eq!(field(&out, "Status"), "Pending");
    assert_eq!(field(&out, "QoS Class"), "BestEffort");
    assert!(
        out.contains("Containers:\n  main:\n    Image:        busybox\n"),
        "{out}"
    );
    // Admission mounted the service account token.
    assert!(
        out.contains("/var/run/secrets/kubernetes.io/serviceaccount from kube-api-access-"),
        "{out}"
    );
    assert!(
        field(&out, "Tolerations")
            .starts_with("node.kubernetes.io/not-ready:NoExecute op=Exists for 300s"),
        "{out}"
    );

    let events = out
        .split("\nEvents:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no events table in\n{out}"));
    let rows: Vec<Vec<&str>> = events
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        ["Type", "Reason", "Age", "From", "Message"],
        "{events}"
    );
    assert_eq!(rows.len(), 3, "one event, for this pod only: {events}");
    assert_eq!(
        rows[2][..4],
        [
            "Warning",
            "FailedScheduling",
            "<unknown>",
            "default-scheduler"
        ],
        "{events}"
    );
    assert!(
        events
            .lines()
            .nth(2)
            .is_some_and(|l| l.ends_with("0/0 nodes are available")),
        "{events}"
    );
    Ok(())
}

#[test]
fn describe_by_label_selector_describes_each_match() -> Result<()> {
    let c = Cluster::start()?;
    for name in ["a", "b"] {
        quiet_stdin(&c, &["apply", "-f", "-"], &pod(name, "group: g"))?;
    }
    quiet_stdin(&c, &["apply", "-f", "-"], &pod("c", "group: h"))?;
    let out = quiet(&c, &["describe", "pods", "-l", "group=g"])?;
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Name:"))
        .map(str::trim)
        .collect();
    assert_eq!(names, ["a", "b"]);
    Ok(())
}
