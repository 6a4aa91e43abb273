//! The connection to the runtime's streaming server that CRI `Exec` and `Attach` both answer
//! with a URL on (containerd's, `http://127.0.0.1:<port>/exec/<token>` or `/attach/<token>`).
//! Entry point: [`connect`], which turns the connection into an [`ExecSession`].
//!
//! Two transports, both with the `v4.channel.k8s.io` stream protocol, which containerd 1.6's
//! streaming server speaks:
//! - WebSocket (channels 0 stdin, 1 stdout, 2 stderr, 3 the final `Status`, 4 resize) when no
//!   stdin is streamed. WebSocket `v4` has no way to close stdin alone: a command reading
//!   stdin to its end would only end when the whole connection does, and then its output and
//!   exit status are lost.
//! - SPDY/3.1 ([`super::spdy`], on [`crate::spdy`]) when stdin is streamed: each stream is its own SPDY stream, so
//!   stdin is half-closed with a FIN while stdout and the status still arrive (what upstream's
//!   kubelet and kubectl use towards the runtime). `kubectl cp` to a pod (`tar -xf -`, which
//!   reads stdin to its end) depends on it.

use base64::Engine;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::runtime::{ExecSession, RuntimeError, TerminalSize};
use crate::server::websocket::{self, Message, opcode};

/// The stream protocol asked of the streaming server.
pub const PROTOCOL: &str = "v4.channel.k8s.io";

/// Channel bytes of the WebSocket transport.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;

/// Largest response head read from the streaming server.
const MAX_HEAD: usize = 16 << 10;

/// Which standard streams a session carries (as the CRI request asked for them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Streams {
    /// Standard input.
    pub stdin: bool,
    /// Standard output.
    pub stdout: bool,
    /// Standard error (never with a TTY).
    pub stderr: bool,
    /// A TTY, so a resize stream.
    pub tty: bool,
}

impl Streams {
    /// The streams to ask the runtime for: with a TTY, stdout and stderr are one stream and
    /// the runtime refuses a separate stderr.
    pub fn new(stdin: bool, stdout: bool, stderr: bool, tty: bool) -> Self {
        Streams {
            stdin,
            stdout,
            stderr: stderr && !tty,
            tty,
        }
    }
}

/// A failed streaming step of the CRI call `call`.
pub fn stream_error(call: &'static str, message: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Call {
        call,
        message: format!("streaming: {message}"),
    }
}

/// Connects to the streaming server's `url` for the CRI call `call` (`Exec`, `Attach`) and
/// relays `streams` in the background.
pub async fn connect(
    call: &'static str,
    url: &str,
    streams: Streams,
) -> Result<ExecSession, RuntimeError> {
    let (authority, path) =
        split_url(url).ok_or_else(|| stream_error(call, format!("unsupported URL {url:?}")))?;
    let mut tcp = TcpStream::connect(&authority)
        .await
        .map_err(|e| stream_error(call, format!("connect to {authority}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    if streams.stdin {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: Upgrade\r\n\
             Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {PROTOCOL}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        tcp.write_all(head.as_bytes())
            .await
            .map_err(|e| stream_error(call, format!("send the upgrade request: {e}")))?;
        let answer = read_head(call, &mut tcp).await?;
        check_status(&answer).map_err(|e| stream_error(call, e))?;
        return super::spdy::start(tcp, streams)
            .await
            .map_err(|e| stream_error(call, e));
    }
    upgrade_to_websocket(call, &mut tcp, &authority, &path).await?;
    Ok(pump(tcp, streams))
}

/// Opens a WebSocket with the [`PROTOCOL`] stream protocol to the streaming server's `url`
/// for the CRI call `call`.
pub async fn open_websocket(call: &'static str, url: &str) -> Result<TcpStream, RuntimeError> {
    let (authority, path) =
        split_url(url).ok_or_else(|| stream_error(call, format!("unsupported URL {url:?}")))?;
    let mut tcp = TcpStream::connect(&authority)
        .await
        .map_err(|e| stream_error(call, format!("connect to {authority}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    upgrade_to_websocket(call, &mut tcp, &authority, &path).await?;
    Ok(tcp)
}

/// The WebSocket handshake on a connected `tcp`.
async fn upgrade_to_websocket(
    call: &'static str,
    tcp: &mut TcpStream,
    authority: &str,
    path: &str,
) -> Result<(), RuntimeError> {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {PROTOCOL}\r\nOrigin: http://{authority}\r\n\r\n"
    );
    tcp.write_all(head.as_bytes())
        .await
        .map_err(|e| stream_error(call, format!("send the upgrade request: {e}")))?;
    let answer = read_head(call, tcp).await?;
    check_upgrade(&answer, &key).map_err(|e| stream_error(call, e))
}

/// `http://host:port/path` as (`host:port`, `/path`).
pub fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (!authority.is_empty()).then(|| (authority.to_string(), path.to_string()))
}

/// Reads the HTTP response head, byte by byte so nothing after it is consumed.
async fn read_head(call: &'static str, tcp: &mut TcpStream) -> Result<String, RuntimeError> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Err(stream_error(call, "response head too large"));
        }
        let b = tcp
            .read_u8()
            .await
            .map_err(|e| stream_error(call, format!("read the upgrade answer: {e}")))?;
        head.push(b);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Checks the server switched protocols.
fn check_status(head: &str) -> Result<(), String> {
    let status = head.split("\r\n").next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("101") {
        Ok(())
    } else {
        Err(format!("the streaming server answered {status:?}"))
    }
}

/// Checks the server switched protocols to a WebSocket with our key.
pub fn check_upgrade(head: &str, key: &str) -> Result<(), String> {
    check_status(head)?;
    let want = websocket::accept_key(key);
    let accepted = head
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == want
        });
    if accepted {
        Ok(())
    } else {
        Err("the streaming server did not accept the WebSocket key".into())
    }
}

/// The exit code a `v4` status message gives: 0 on `Success`, the `ExitCode` cause of a
/// `NonZeroExitCode` failure, else 1 (upstream's default for other failures).
pub fn exit_code(status: &[u8]) -> i32 {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(status) else {
        return 1;
    };
    if v["status"] == "Success" {
        return 0;
    }
    v["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["reason"] == "ExitCode")
        .and_then(|c| c["message"].as_str())
        .and_then(|m| m.parse().ok())
        .unwrap_or(1)
}

/// A masked client frame carrying `data` on `channel`.
pub fn channel_frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(data.len() + 1);
    payload.push(channel);
    payload.extend_from_slice(data);
    websocket::encode_frame(opcode::BINARY, &payload, Some(rand::random()))
}

/// Forwards what arrives on `rx` as frames made by `frame` until either side ends (or the
/// returned task is aborted).
pub fn forward<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
    frames: mpsc::Sender<Vec<u8>>,
    frame: impl Fn(T) -> Vec<u8> + Send + 'static,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(item) = rx.recv().await {
            if frames.send(frame(item)).await.is_err() {
                return;
            }
        }
    })
}

/// Starts the one writer of a WebSocket connection: frames queued on the returned sender go
/// out in order, masked as a client's are; when every sender is gone the connection is shut.
pub fn spawn_writer(mut writer: OwnedWriteHalf) -> (mpsc::Sender<Vec<u8>>, JoinHandle<()>) {
    let (frames_tx, mut frames) = mpsc::channel::<Vec<u8>>(16);
    let task = tokio::spawn(async move {
        while let Some(frame) = frames.recv().await {
            if writer.write_all(&frame).await.is_err() || writer.flush().await.is_err() {
                return;
            }
        }
        let _ = writer.shutdown().await;
    });
    (frames_tx, task)
}

/// The next data message from the streaming server, answering pings on `frames`; None once
/// the connection has ended.
pub async fn next_data(
    reader: &mut OwnedReadHalf,
    frames: &mpsc::Sender<Vec<u8>>,
) -> Option<Vec<u8>> {
    loop {
        match websocket::read_message(reader).await {
            Ok(Some(Message::Data(data))) => return Some(data),
            Ok(Some(Message::Ping(p))) => {
                let pong = websocket::encode_frame(opcode::PONG, &p, Some(rand::random()));
                let _ = frames.send(pong).await;
            }
            Ok(Some(Message::Pong)) => {}
            Ok(Some(Message::Close)) | Ok(None) => return None,
            Err(e) => {
                debug!(error = %e, "stream from the runtime ended");
                return None;
            }
        }
    }
}

/// Closes the connection normally and waits for the writer to send what is queued.
pub async fn close(frames: mpsc::Sender<Vec<u8>>, writer: JoinHandle<()>) {
    let close =
        websocket::encode_frame(opcode::CLOSE, &1000u16.to_be_bytes(), Some(rand::random()));
    let _ = frames.send(close).await;
    drop(frames);
    let _ = writer.await;
}

/// Runs a WebSocket connection in the background: frames to and from the streaming server
/// become the session's channels.
fn pump(tcp: TcpStream, streams: Streams) -> ExecSession {
    let (mut reader, writer) = tcp.into_split();
    // The one writer: stdin chunks, resizes and pongs.
    let (frames_tx, write_task) = spawn_writer(writer);
    let (stdout_tx, stdout) = mpsc::channel(64);
    let (stderr_tx, stderr) = mpsc::channel(64);
    let (exit_tx, exit_code_rx) = oneshot::channel();
    let stdin = streams.stdin.then(|| {
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        drop(forward(rx, frames_tx.clone(), |chunk| {
            channel_frame(STDIN, &chunk)
        }));
        tx
    });
    let resize = streams.tty.then(|| {
        let (tx, rx) = mpsc::channel::<TerminalSize>(4);
        drop(forward(rx, frames_tx.clone(), |size| {
            channel_frame(RESIZE, &size.to_json())
        }));
        tx
    });
    tokio::spawn(async move {
        let mut code = None;
        loop {
            let data = tokio::select! {
                d = next_data(&mut reader, &frames_tx) => d,
                // The session was dropped (its client went away): close the connection.
                () = stdout_tx.closed() => break,
            };
            let Some(data) = data else { break };
            let Some((&channel, rest)) = data.split_first() else {
                continue;
            };
            let chunk = Bytes::copy_from_slice(rest);
            match channel {
                STDOUT => {
                    let _ = stdout_tx.send(chunk).await;
                }
                STDERR => {
                    let _ = stderr_tx.send(chunk).await;
                }
                ERROR if !rest.is_empty() => code = Some(exit_code(rest)),
                _ => {}
            }
        }
        drop((stdout_tx, stderr_tx));
        // A stream that closed without a status ended without an error: exit code 0.
        let _ = exit_tx.send(code.unwrap_or(0));
        close(frames_tx, write_task).await;
    });
    ExecSession {
        stdin,
        stdout,
        stderr,
        exit_code: exit_code_rx,
        resize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streaming_url_splits_into_address_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:35123/exec/AbC"),
            Some(("127.0.0.1:35123".into(), "/exec/AbC".into()))
        );
        assert_eq!(split_url("https://x/exec"), None);
    }

    #[test]
    fn only_a_switch_with_our_key_is_an_upgrade() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                  Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(check_upgrade(ok, key), Ok(()));
        assert!(check_upgrade("HTTP/1.1 400 Bad Request\r\n\r\n", key).is_err());
        let wrong = ok.replace("s3pP", "AAAA");
        assert!(check_upgrade(&wrong, key).is_err());
    }

    #[test]
    fn exit_codes_come_from_the_v4_status() {
        assert_eq!(exit_code(br#"{"metadata":{},"status":"Success"}"#), 0);
        let failed = br#"{"status":"Failure","reason":"NonZeroExitCode",
            "details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
        assert_eq!(exit_code(failed), 3);
        assert_eq!(exit_code(br#"{"status":"Failure","message":"boom"}"#), 1);
    }

    #[tokio::test]
    async fn a_resize_goes_to_the_runtime_on_channel_4() {
        let (tx, rx) = mpsc::channel(1);
        let (frames_tx, mut frames) = mpsc::channel(1);
        forward(rx, frames_tx, |size: TerminalSize| {
            channel_frame(RESIZE, &size.to_json())
        });
        tx.send(TerminalSize {
            width: 120,
            height: 40,
        })
        .await
        .unwrap();
        let frame = frames.recv().await.unwrap();
        let mut r = &frame[..];
        let Some(Message::Data(data)) = websocket::read_message(&mut r).await.unwrap() else {
            panic!("not a data message");
        };
        assert_eq!(data[0], RESIZE);
        assert_eq!(&data[1..], br#"{"Width":120,"Height":40}"#);
    }
}
