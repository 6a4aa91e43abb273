//! A lean HTTPS client for load generation: hyper 1 connections over tokio-rustls, trusting
//! the server's CA and sending the admin bearer token. One [`Conn`] is one TCP+TLS connection
//! (HTTP/1.1 keep-alive, or HTTP/2 shared by clones), so the client adds little beyond the
//! bytes on the wire.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Which HTTP version the connections speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1, one request at a time per connection.
    H1,
    /// HTTP/2, many streams per connection.
    H2,
}

/// Everything needed to open connections to one API server.
#[derive(Clone)]
pub struct Connector {
    addr: SocketAddr,
    tls: TlsConnector,
    authorization: Arc<str>,
    protocol: Protocol,
}

impl Connector {
    /// A connector for `addr`, trusting `ca_pem` and authenticating with `token`.
    pub fn new(
        addr: SocketAddr,
        ca_pem: &[u8],
        token: &str,
        protocol: Protocol,
    ) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            roots.add(cert.context("reading the CA certificate")?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = match protocol {
            Protocol::H1 => vec![b"http/1.1".to_vec()],
            Protocol::H2 => vec![b"h2".to_vec()],
        };
        Ok(Connector {
            addr,
            tls: TlsConnector::from(Arc::new(config)),
            authorization: format!("Bearer {}", token.trim()).into(),
            protocol,
        })
    }

    /// Opens one connection.
    pub async fn connect(&self) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        let tls = self.tls.connect(name, tcp).await.context("TLS handshake")?;
        let io = TokioIo::new(tls);
        let sender = match self.protocol {
            Protocol::H1 => {
                let (sender, conn) = http1::handshake(io).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Sender::H1(sender)
            }
            Protocol::H2 => {
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .initial_stream_window_size(4 << 20)
                    .initial_connection_window_size(16 << 20)
                    .handshake(io)
                    .await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Sender::H2(sender)
            }
        };
        Ok(Conn {
            sender,
            authorization: self.authorization.clone(),
        })
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One open connection. HTTP/2 connections may be cloned to share the connection.
pub struct Conn {
    sender: Sender,
    authorization: Arc<str>,
}

impl Clone for Conn {
    /// Only HTTP/2 connections can be shared; cloning an HTTP/1.1 one panics.
    fn clone(&self) -> Self {
        match &self.sender {
            Sender::H2(s) => Conn {
                sender: Sender::H2(s.clone()),
                authorization: self.authorization.clone(),
            },
            Sender::H1(_) => panic!("an HTTP/1.1 connection cannot be shared"),
        }
    }
}

impl Conn {
    /// Sends a request and returns the response with its body still streaming.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<http::Response<Incoming>> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, &*self.authorization)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "ferrokube-bench");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder.body(Full::new(body.unwrap_or_default()))?;
        let response = match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await?;
                // HTTP/1.1 needs a Host header; the path-only URI has none.
                let mut request = request;
                request
                    .headers_mut()
                    .insert(header::HOST, http::HeaderValue::from_static("127.0.0.1"));
                s.send_request(request).await?
            }
            Sender::H2(s) => {
                let mut request = request;
                *request.uri_mut() = format!("https://127.0.0.1{path}").parse()?;
                s.ready().await?;
                s.send_request(request).await?
            }
        };
        Ok(response)
    }

    /// Sends a request and reads the whole response.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    /// Sends a request and fails unless the status is `expected`.
    pub async fn expect(
        &mut self,
        expected: u16,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> anyhow::Result<Bytes> {
        let (status, bytes) = self.call(method.clone(), path, body).await?;
        if status.as_u16() != expected {
            bail!(
                "{method} {path}: {status} (wanted {expected}): {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(bytes)
    }
}

/// Opens `n` connections: `n` separate ones for HTTP/1.1, or clones of `ceil(n / per_conn)`
/// shared HTTP/2 connections.
pub async fn connections(
    connector: &Connector,
    n: usize,
    per_h2_conn: usize,
) -> anyhow::Result<Vec<Conn>> {
    let mut out = Vec::with_capacity(n);
    match connector.protocol {
        Protocol::H1 => {
            for _ in 0..n {
                out.push(connector.connect().await?);
            }
        }
        Protocol::H2 => {
            let mut shared: Option<Conn> = None;
            for i in 0..n {
                if i % per_h2_conn.max(1) == 0 {
                    shared = Some(connector.connect().await?);
                }
                out.push(shared.as_ref().expect("a connection was opened").clone());
            }
        }
    }
    Ok(out)
}

/// The value of `"resourceVersion":"N"`: its first occurrence in a JSON object (metadata sorts
/// before spec and status, so it is the object's own) without parsing the rest.
pub fn resource_version(json: &[u8]) -> Option<i64> {
    find_string_field(json, "\"resourceVersion\":\"")?
        .parse()
        .ok()
}

/// The string value following `prefix` (which ends with the opening quote).
pub fn find_string_field<'a>(json: &'a [u8], prefix: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(json).ok()?;
    let at = text.find(prefix)? + prefix.len();
    let end = text[at..].find('"')? + at;
    Some(&text[at..end])
}
