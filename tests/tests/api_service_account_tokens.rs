//! Service account tokens as users meet them: `kubectl create token` issues one, it
//! authenticates as the service account (`kubectl auth whoami`), a TokenReview says who it
//! belongs to, and it stops working when its service account or bound pod is gone.

use std::path::PathBuf;

use anyhow::Result;
use ferrokube_tests::{Cluster, eventually};
use std::time::Duration;

/// Writes a kubeconfig for this cluster that authenticates with `token` alone.
fn token_kubeconfig(c: &Cluster, name: &str, token: &str) -> Result<PathBuf> {
    let server = c.kubectl_ok(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ])?;
    let ca = c.kubectl_ok(&[
        "config",
        "view",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority-data}",
    ])?;
    let path = c.scratch().join(format!("{name}.kubeconfig"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {token}\n"
        ),
    )?;
    Ok(path)
}

fn as_token(c: &Cluster, kubeconfig: &PathBuf, args: &[&str]) -> std::process::Output {
    c.kubectl()
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .expect("kubectl runs")
}

#[test]
fn a_created_token_authenticates_as_its_service_account() -> Result<()> {
    let c = Cluster::start()?;
    c.kubectl_ok(&["create", "serviceaccount", "builder"])?;
    let token = c.kubectl_ok(&[
        "create",
        "token",
        "builder",
        "--audience",
        "https://kubernetes.default.svc.cluster.local",
    ])?;
    let kc = token_kubeconfig(&c, "builder", token.trim())?;
    let out = as_token(
        &c,
        &kc,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username} {.status.userInfo.groups}",
        ],
    );
    let who = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        who.starts_with("system:serviceaccount:default:builder "),
        "{who}"
    );
    assert!(who.contains("system:serviceaccounts:default"), "{who}");
    let out = as_token(
        &c,
        &kc,
        &["get", "serviceaccounts", "builder", "-o", "name"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "serviceaccount/builder"
    );
    let can = as_token(&c, &kc, &["auth", "can-i", "list", "pods"]);
    assert_eq!(String::from_utf8_lossy(&can.stdout).trim(), "yes");
    Ok(())
}

#[test]
fn a_token_review_names_the_user_and_a_forged_token_is_refused() -> Result<()> {
    let c = Cluster::start()?;
    let token = c.kubectl_ok(&["create", "token", "default"])?;
    let review = format!(
        "{{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{{\"token\":\"{}\"}}}}",
        token.trim()
    );
    // kubectl validates TokenReview bodies client-side against /openapi/v2 (protobuf, not served yet).
    let out = c.kubectl_stdin(
        &[
            "create",
            "--validate=false",
            "-f",
            "-",
            "-o",
            "jsonpath={.status.authenticated} {.status.user.username}",
        ],
        &review,
    )?;
    assert_eq!(out, "true system:serviceaccount:default:default");
    let mut forged: Vec<String> = token.trim().split('.').map(String::from).collect();
    forged[2] = forged[2].chars().rev().collect();
    let kc = token_kubeconfig(&c, "forged", &forged.join("."))?;
    let out = as_token(&c, &kc, &["get", "pods"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unauthorized"), "{err}");
    Ok(())
}

#[test]
fn a_token_dies_with_its_service_account_and_with_its_bound_pod() -> Result<()> {
    let c = Cluster::start()?;
    c.kubectl_ok(&["create", "serviceaccount", "short-lived"])?;
    let token = c.kubectl_ok(&["create", "token", "short-lived"])?;
    let kc = token_kubeconfig(&c, "sa", token.trim())?;
    assert!(as_token(&c, &kc, &["get", "pods"]).status.success());
    c.kubectl_ok(&["delete", "serviceaccount", "short-lived"])?;
    eventually(
        "the token is refused once its service account is deleted",
        Duration::from_secs(10),
        || (!as_token(&c, &kc, &["get", "pods"]).status.success()).then_some(()),
    )?;

    c.kubectl_ok(&["run", "holder", "--image=busybox", "--restart=Never"])?;
    let token = c.kubectl_ok(&[
        "create",
        "token",
        "default",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "holder",
    ])?;
    let kc = token_kubeconfig(&c, "pod", token.trim())?;
    let out = as_token(
        &c,
        &kc,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.extra.authentication\\.kubernetes\\.io/pod-name}",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[\"holder\"]");
    c.kubectl_ok(&["delete", "pod", "holder", "--grace-period=0", "--force"])?;
    eventually(
        "the token is refused once its pod is deleted",
        Duration::from_secs(10),
        || (!as_token(&c, &kc, &["get", "pods"]).status.success()).then_some(()),
    )?;
    Ok(())
}

#[test]
fn bad_token_requests_get_the_upstream_errors() -> Result<()> {
    let c = Cluster::start()?;
    let err = c.kubectl_err(&["create", "token", "default", "--duration", "1m"])?;
    assert!(
        err.contains("may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let err = c.kubectl_err(&["create", "token", "nobody"])?;
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );
    let err = c.kubectl_err(&[
        "create",
        "token",
        "default",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "ghost",
    ])?;
    assert!(err.contains("pods \"ghost\" not found"), "{err}");
    let jwks = c.kubectl_ok(&["get", "--raw", "/openid/v1/jwks"])?;
    let jwks: serde_json::Value = serde_json::from_str(&jwks)?;
    assert_eq!(jwks["keys"][0]["alg"], "ES256");
    let conf = c.kubectl_ok(&["get", "--raw", "/.well-known/openid-configuration"])?;
    assert!(
        conf.contains(
            "\"jwks_uri\":\"https://kubernetes.default.svc.cluster.local/openid/v1/jwks\""
        ),
        "{conf}"
    );
    Ok(())
}
