//! Container probes as upstream's prober (`pkg/kubelet/prober/`): one worker per container
//! and probe kind (startup, liveness, readiness) probes every `periodSeconds` after
//! `initialDelaySeconds`, with `exec` (the runtime's `ExecSync`), `httpGet`, `tcpSocket` or
//! `grpc` (`grpc.health.v1.Health/Check` over h2c), each bounded by `timeoutSeconds`; a result
//! counts once it repeated `successThreshold` / `failureThreshold` times
//! ([`super::probe_timing`]). Every failed probe is an `Unhealthy` warning event
//! (`Liveness probe failed: ...`). Results feed the container's `started` and `ready`
//! ([`PodProbes::status`]); a published liveness or startup failure is acted on by the pod
//! worker ([`PodProbes::failed`]): the container is killed and restarted per `restartPolicy`.
//!
//! Entry point: [`PodProbes`], one per pod worker.
//!
//! On the `sim` runtime there is no process and no pod network: `exec` probes go to the sim
//! runtime's `ExecSync` (which succeeds while the container runs), network probes succeed, and
//! a pod annotation injects an outcome: `sim.ferrokube.io/probe-<container>-<kind>: fail`
//! (kind `liveness`, `readiness` or `startup`) makes that probe fail, `pass` makes it pass.
//! The annotation is read at every probe, so a test can flip it on a running pod.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokube_controllers::events::{EventType, Recorder};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;
use tracing::debug;

use super::probe_timing::{Counter, ProbeKind, ProbeResult, Timing, past_initial_delay};
use crate::runtime::{ContainerState, ContainerStatus, Runtime};

/// The annotation prefix that injects probe outcomes on the sim runtime.
pub const SIM_PROBE_ANNOTATION_PREFIX: &str = "sim.ferrokube.io/probe-";

/// What probe workers need from the node and the pod worker.
#[derive(Clone)]
pub struct ProbeDeps {
    /// The container runtime (`exec` probes).
    pub runtime: Arc<dyn Runtime>,
    /// Whether the runtime is simulated (network probes cannot reach anything).
    pub simulated: bool,
    /// Writes `Unhealthy` events.
    pub recorder: Recorder,
    /// The pod's latest object.
    pub pods: watch::Receiver<Option<Arc<Pod>>>,
}

/// (container name, kind) -> (container id, published result).
type Results = HashMap<(String, ProbeKind), (String, ProbeResult)>;

#[derive(Debug, Default)]
struct Shared {
    results: Mutex<Results>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Results> {
        self.results.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn result(&self, name: &str, kind: ProbeKind, id: &str) -> Option<ProbeResult> {
        self.lock()
            .get(&(name.to_string(), kind))
            .filter(|(i, _)| i == id)
            .map(|(_, r)| *r)
    }

    fn publish(&self, name: &str, kind: ProbeKind, id: &str, result: ProbeResult) {
        let previous = self
            .lock()
            .insert((name.to_string(), kind), (id.to_string(), result));
        if previous != Some((id.to_string(), result)) {
            self.changed.notify_one();
        }
    }
}

/// A container's probe-derived status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeStatus {
    /// `started`: the startup probe passed (or there is none and the container runs).
    pub started: bool,
    /// `ready`: started, and the readiness probe passed (or there is none).
    pub ready: bool,
}

/// The probe workers of one pod.
#[derive(Debug, Default)]
pub struct PodProbes {
    shared: Arc<Shared>,
    workers: HashMap<(String, ProbeKind), (String, AbortHandle)>,
}

fn probe_of(c: &Container, kind: ProbeKind) -> Option<&Probe> {
    match kind {
        ProbeKind::Liveness => c.liveness_probe.as_ref(),
        ProbeKind::Readiness => c.readiness_probe.as_ref(),
        ProbeKind::Startup => c.startup_probe.as_ref(),
    }
}

const KINDS: [ProbeKind; 3] = [
    ProbeKind::Startup,
    ProbeKind::Liveness,
    ProbeKind::Readiness,
];

impl Drop for PodProbes {
    fn drop(&mut self) {
        self.stop();
    }
}

impl PodProbes {
    /// Starts workers for running containers' probes and stops those of containers that no
    /// longer run (or were replaced).
    pub fn sync(
        &mut self,
        deps: &ProbeDeps,
        pod: &Pod,
        containers: &[ContainerStatus],
        pod_ip: &str,
    ) {
        let spec = pod.spec.clone().unwrap_or_default();
        let mut wanted: HashMap<(String, ProbeKind), String> = HashMap::new();
        for c in &spec.containers {
            let Some(latest) = containers.iter().rev().find(|s| s.name == c.name) else {
                continue;
            };
            let ContainerState::Running { started_at } = latest.state else {
                continue;
            };
            for kind in KINDS {
                let Some(probe) = probe_of(c, kind) else {
                    continue;
                };
                let key = (c.name.clone(), kind);
                wanted.insert(key.clone(), latest.id.clone());
                if self
                    .workers
                    .get(&key)
                    .is_some_and(|(id, _)| *id == latest.id)
                {
                    continue;
                }
                if let Some((_, old)) = self.workers.remove(&key) {
                    old.abort();
                }
                let worker = ProbeWorker {
                    deps: deps.clone(),
                    shared: self.shared.clone(),
                    container: c.clone(),
                    container_id: latest.id.clone(),
                    started_at,
                    kind,
                    probe: probe.clone(),
                    timing: Timing::of(probe),
                    pod_ip: pod_ip.to_string(),
                };
                let handle = tokio::spawn(worker.run()).abort_handle();
                self.workers.insert(key, (latest.id.clone(), handle));
            }
        }
        self.workers.retain(|key, (id, handle)| {
            let keep = wanted.get(key) == Some(id);
            if !keep {
                handle.abort();
            }
            keep
        });
    }

    /// Resolves when a published result changed (the pod worker then syncs).
    pub async fn changed(&self) {
        self.shared.changed.notified().await;
    }

    /// `started` and `ready` of container `spec` whose latest runtime container is `id`.
    pub fn status(&self, spec: &Container, id: &str, running: bool) -> ProbeStatus {
        let started = running
            && (spec.startup_probe.is_none()
                || self.shared.result(&spec.name, ProbeKind::Startup, id)
                    == Some(ProbeResult::Success));
        let ready = started
            && (spec.readiness_probe.is_none()
                || self.shared.result(&spec.name, ProbeKind::Readiness, id)
                    == Some(ProbeResult::Success));
        ProbeStatus { started, ready }
    }

    /// The probe (liveness or startup) whose published failure says container `name`
    /// (runtime container `id`) must be restarted.
    pub fn failed(&self, name: &str, id: &str) -> Option<ProbeKind> {
        [ProbeKind::Liveness, ProbeKind::Startup]
            .into_iter()
            .find(|k| self.shared.result(name, *k, id) == Some(ProbeResult::Failure))
    }

    /// Stops every worker.
    pub fn stop(&mut self) {
        for (_, (_, handle)) in self.workers.drain() {
            handle.abort();
        }
    }
}

/// One container's probe of one kind.
struct ProbeWorker {
    deps: ProbeDeps,
    shared: Arc<Shared>,
    container: Container,
    container_id: String,
    started_at: Timestamp,
    kind: ProbeKind,
    probe: Probe,
    timing: Timing,
    pod_ip: String,
}

impl ProbeWorker {
    async fn run(self) {
        if let Some(initial) = self.kind.initial() {
            self.shared
                .publish(&self.container.name, self.kind, &self.container_id, initial);
        }
        let mut counter = Counter::default();
        loop {
            let gated = self.kind != ProbeKind::Startup
                && self.container.startup_probe.is_some()
                && self
                    .shared
                    .result(&self.container.name, ProbeKind::Startup, &self.container_id)
                    != Some(ProbeResult::Success);
            let running_for = Timestamp::now()
                .duration_since(self.started_at)
                .unsigned_abs();
            if gated {
                tokio::time::sleep(self.timing.period.min(Duration::from_secs(1))).await;
                continue;
            }
            if !past_initial_delay(running_for, &self.timing) {
                let left = self.timing.initial_delay.saturating_sub(running_for);
                tokio::time::sleep(left.max(Duration::from_millis(10))).await;
                continue;
            }
            let pod = self.deps.pods.borrow().clone();
            let Some(pod) = pod else {
                return;
            };
            let (result, output) = self.probe_once(&pod).await;
            if result == ProbeResult::Failure {
                super::events::publish(
                    &self.deps.recorder,
                    pod.as_ref(),
                    &self.container.name,
                    EventType::Warning,
                    "Unhealthy",
                    format!("{} probe failed: {output}", self.kind.title()),
                );
            }
            if let Some(published) = counter.observe(result, &self.timing) {
                self.shared.publish(
                    &self.container.name,
                    self.kind,
                    &self.container_id,
                    published,
                );
                match (self.kind, published) {
                    // On hold until the container is restarted (a new worker comes with it).
                    (ProbeKind::Liveness | ProbeKind::Startup, ProbeResult::Failure) => return,
                    (ProbeKind::Startup, ProbeResult::Success) => return,
                    _ => {}
                }
            }
            tokio::time::sleep(self.timing.period).await;
        }
    }

    async fn probe_once(&self, pod: &Pod) -> (ProbeResult, String) {
        if self.deps.simulated {
            let key = format!(
                "{SIM_PROBE_ANNOTATION_PREFIX}{}-{}",
                self.container.name,
                self.kind.name()
            );
            match pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(&key))
                .map(String::as_str)
            {
                Some("fail") => {
                    return (ProbeResult::Failure, format!("simulated failure ({key})"));
                }
                Some("pass") => return (ProbeResult::Success, String::new()),
                _ => {}
            }
            if self.probe.exec.is_none() {
                return (ProbeResult::Success, String::new());
            }
        }
        let timeout = self.timing.timeout;
        if let Some(exec) = &self.probe.exec {
            let command = exec.command.clone().unwrap_or_default();
            return match self
                .deps
                .runtime
                .exec_sync(&self.container_id, &command, timeout)
                .await
            {
                Ok(r) if r.exit_code == 0 => (ProbeResult::Success, String::new()),
                Ok(r) => {
                    let mut out = String::from_utf8_lossy(&r.stdout).into_owned();
                    out.push_str(&String::from_utf8_lossy(&r.stderr));
                    (ProbeResult::Failure, out.trim_end().to_string())
                }
                Err(e) => (ProbeResult::Failure, e.to_string()),
            };
        }
        if let Some(http) = &self.probe.http_get {
            return match http_get(http, &self.container, &self.pod_ip, timeout).await {
                Ok(code) if (200..400).contains(&code) => (ProbeResult::Success, String::new()),
                Ok(code) => (
                    ProbeResult::Failure,
                    format!("HTTP probe failed with statuscode: {code}"),
                ),
                Err(e) => (ProbeResult::Failure, e),
            };
        }
        if let Some(tcp) = &self.probe.tcp_socket {
            let host = tcp.host.clone().unwrap_or_else(|| self.pod_ip.clone());
            let port = match resolve_port(&tcp.port, &self.container) {
                Ok(p) => p,
                Err(e) => return (ProbeResult::Failure, e),
            };
            let address = format!("{}:{port}", host_for_url(&host));
            return match tokio::time::timeout(timeout, TcpStream::connect(&address)).await {
                Ok(Ok(_)) => (ProbeResult::Success, String::new()),
                Ok(Err(e)) => (ProbeResult::Failure, format!("dial tcp {address}: {e}")),
                Err(_) => (
                    ProbeResult::Failure,
                    format!("dial tcp {address}: i/o timeout"),
                ),
            };
        }
        if let Some(grpc) = &self.probe.grpc {
            let service = grpc.service.clone().unwrap_or_default();
            let address = format!("{}:{}", host_for_url(&self.pod_ip), grpc.port);
            return match tokio::time::timeout(timeout, grpc_check(&address, &service)).await {
                Ok(Ok(())) => (ProbeResult::Success, String::new()),
                Ok(Err(e)) => (ProbeResult::Failure, e),
                Err(_) => (
                    ProbeResult::Failure,
                    format!(
                        "timeout: health rpc did not complete within {}s",
                        timeout.as_secs()
                    ),
                ),
            };
        }
        debug!(container = %self.container.name, "probe has no handler");
        (ProbeResult::Success, String::new())
    }
}

fn host_for_url(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// A probe or hook port: a number, or the name of one of the container's ports.
pub(crate) fn resolve_port(port: &IntOrString, container: &Container) -> Result<i32, String> {
    match port {
        IntOrString::Int(p) => Ok(*p),
        IntOrString::String(s) => match s.parse::<i32>() {
            Ok(p) => Ok(p),
            Err(_) => container
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .map(|p| p.container_port)
                .ok_or_else(|| format!("couldn't find port: {s} in {}", container.name)),
        },
    }
}

/// Sends `GET` as the kubelet's prober does (`User-Agent: kube-probe/1.33`) and returns the
/// status code.
pub(crate) async fn http_get(
    action: &HTTPGetAction,
    container: &Container,
    pod_ip: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let scheme = action.scheme.as_deref().unwrap_or("HTTP");
    let host = action.host.clone().unwrap_or_else(|| pod_ip.to_string());
    let port = resolve_port(&action.port, container)?;
    let path = action.path.clone().unwrap_or_else(|| "/".into());
    let path = if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    };
    let url = format!(
        "{}://{}:{port}{path}",
        scheme.to_lowercase(),
        host_for_url(&host)
    );
    let https = scheme.eq_ignore_ascii_case("HTTPS");
    if !https && !scheme.eq_ignore_ascii_case("HTTP") {
        return Err(format!(
            "Get \"{url}\": unsupported protocol scheme {scheme:?}"
        ));
    }
    let address = format!("{}:{port}", host_for_url(&host));
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    let mut has_host = false;
    let mut has_agent = false;
    let mut has_accept = false;
    for h in action.http_headers.iter().flatten() {
        has_host |= h.name.eq_ignore_ascii_case("host");
        has_agent |= h.name.eq_ignore_ascii_case("user-agent");
        has_accept |= h.name.eq_ignore_ascii_case("accept");
        request.push_str(&format!("{}: {}\r\n", h.name, h.value));
    }
    if !has_host {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    if !has_agent {
        request.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has_accept {
        request.push_str("Accept: */*\r\n");
    }
    request.push_str("Connection: close\r\n\r\n");
    let exchange = async {
        let stream = TcpStream::connect(&address).await?;
        if https {
            // As upstream's prober: TLS without verifying the serving certificate.
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(std::io::Error::other)?;
            let tls = tokio_rustls::TlsConnector::from(insecure_tls_config()?)
                .connect(name, stream)
                .await?;
            status_line(tls, &request).await
        } else {
            status_line(stream, &request).await
        }
    };
    let head = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => return Err(format!("Get \"{url}\": dial tcp {address}: {e}")),
        Err(_) => {
            return Err(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            ));
        }
    };
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))
}

/// Sends `request` and reads until the end of the status line.
async fn status_line<S>(mut stream: S, request: &str) -> std::io::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(request.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 4096 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

/// A TLS client that accepts any serving certificate (probes do not verify, as upstream).
fn insecure_tls_config() -> std::io::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts every server certificate; signatures are still checked.
#[derive(Debug)]
struct AnyServerCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `grpc.health.v1.Health/Check` for `service` over h2c: Ok when the answer is `SERVING`.
async fn grpc_check(address: &str, service: &str) -> Result<(), String> {
    use tonic::codegen::http::uri::PathAndQuery;
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .map_err(|e| e.to_string())?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("failed to connect service {address:?} within the timeout: {e}"))?;
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.map_err(|e| e.to_string())?;
    // HealthCheckRequest { string service = 1; }
    let mut request = Vec::with_capacity(service.len() + 2);
    if !service.is_empty() {
        request.push(0x0a);
        request.push(u8::try_from(service.len()).map_err(|_| "service name too long")?);
        request.extend_from_slice(service.as_bytes());
    }
    let response = client
        .unary(
            tonic::Request::new(request),
            PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            RawCodec,
        )
        .await
        .map_err(|s| format!("health rpc probe failed: {s}"))?
        .into_inner();
    // HealthCheckResponse { ServingStatus status = 1; } with SERVING = 1.
    if response.as_slice() == [0x08, 0x01] {
        Ok(())
    } else {
        let status = match response.as_slice() {
            [0x08, 2, ..] => "NOT_SERVING",
            [0x08, 3, ..] => "SERVICE_UNKNOWN",
            _ => "UNKNOWN",
        };
        Err(format!("service unhealthy (responded with {status:?})"))
    }
}

/// A gRPC codec passing message bytes through unchanged.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Self::Item,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Self::Error> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, Self::Error> {
        use bytes::Buf;
        let mut out = vec![0u8; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ContainerPort, HTTPHeader};
    use tokio::net::TcpListener;

    /// A one-request HTTP server answering `status`; returns its port and the request it got.
    async fn serve_once(status: u16) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let response = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
            stream.write_all(response.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&request).into_owned()
        });
        (port, handle)
    }

    #[tokio::test]
    async fn http_probes_send_the_kubelets_request_and_read_the_status_code() {
        let (port, request) = serve_once(503).await;
        let container = Container {
            name: "web".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: i32::from(port),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let action = HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String("http".into()),
            http_headers: Some(vec![HTTPHeader {
                name: "X-Probe".into(),
                value: "yes".into(),
            }]),
            ..Default::default()
        };
        let code = http_get(&action, &container, "127.0.0.1", Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(code, 503);
        let request = request.await.unwrap();
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("User-Agent: kube-probe/1.33\r\n"));
        assert!(request.contains("X-Probe: yes\r\n"));
    }

    #[tokio::test]
    async fn https_probes_do_not_verify_the_serving_certificate() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(stream).await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = tls.read(&mut buf).await.unwrap();
            tls.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
            tls.shutdown().await.ok();
        });
        let action = HTTPGetAction {
            scheme: Some("HTTPS".into()),
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        };
        let code = http_get(
            &action,
            &Container::default(),
            "127.0.0.1",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(code, 204);
    }

    #[test]
    fn named_ports_resolve_through_the_containers_ports() {
        let container = Container {
            name: "web".into(),
            ports: Some(vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }]),
            ..Default::default()
        };
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &container),
            Ok(8080)
        );
        assert_eq!(resolve_port(&IntOrString::Int(81), &container), Ok(81));
        assert!(resolve_port(&IntOrString::String("grpc".into()), &container).is_err());
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_failure_with_the_dial_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let action = HTTPGetAction {
            port: IntOrString::Int(i32::from(port)),
            ..Default::default()
        };
        let err = http_get(
            &action,
            &Container::default(),
            "127.0.0.1",
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            err.contains("connection refused") || err.contains("Connection refused"),
            "{err}"
        );
    }
}
