//! `kubectl explain` works against the documents, served over plain HTTP on loopback together
//! with the legacy discovery documents kubectl reads first.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::thread;

use ferrokube_openapi::OpenApi;
use serde_json::{Map, json};

const KUBECTL: &str = "/usr/bin/kubectl";

/// Answers one request per connection, then closes it.
fn answer(stream: TcpStream, api: &OpenApi) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or(target);
    let body: Option<Vec<u8>> = match path {
        "/api" => Some(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
                .to_string()
                .into_bytes(),
        ),
        "/apis" => Some(
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
                .to_string()
                .into_bytes(),
        ),
        "/api/v1" => Some(
            json!({
                "kind": "APIResourceList",
                "groupVersion": "v1",
                "resources": [{
                    "name": "pods",
                    "singularName": "pod",
                    "namespaced": true,
                    "kind": "Pod",
                    "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
                    "shortNames": ["po"],
                }],
            })
            .to_string()
            .into_bytes(),
        ),
        "/openapi/v2" => Some(api.v2().to_vec()),
        "/openapi/v3" => Some(api.v3_index().to_string().into_bytes()),
        other => other
            .strip_prefix("/openapi/v3/")
            .and_then(|group_version| api.v3(group_version))
            .map(|(bytes, _)| bytes.to_vec()),
    };
    let mut stream = stream;
    match body {
        Some(body) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        None => write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?,
    }
    stream.flush()
}

#[test]
fn kubectl_explain_describes_pod_containers() {
    let api = Arc::new(OpenApi::new(&common::handful(), Map::new()).expect("the documents build"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let served = Arc::clone(&api);
    // The thread ends with the test process.
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let served = Arc::clone(&served);
            thread::spawn(move || answer(stream, &served));
        }
    });

    let home = tempfile::tempdir().expect("a temporary home");
    let output = Command::new(KUBECTL)
        .args([
            "explain",
            "pods.spec.containers",
            "--server",
            &format!("http://{address}"),
            "--request-timeout=20s",
        ])
        .env("KUBECONFIG", "/dev/null")
        .env("HOME", home.path())
        .output()
        .expect("kubectl runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kubectl failed: {stderr}\n{stdout}"
    );
    assert!(stdout.contains("KIND:       Pod"), "{stdout}");
    assert!(stdout.contains("VERSION:    v1"), "{stdout}");
    assert!(
        stdout.contains("FIELD: containers <[]Container>"),
        "{stdout}"
    );
    assert!(stdout.contains("name\t<string> -required-"), "{stdout}");
    assert!(stdout.contains("ports\t<[]ContainerPort>"), "{stdout}");
    assert!(
        stdout.contains("List of containers belonging to the pod."),
        "{stdout}"
    );
}
