//! The SPDY/3.1 transport of CRI `Exec` and `Attach` towards the runtime's streaming server,
//! as far as the `v4.channel.k8s.io` stream protocol needs it, on the crate's SPDY session
//! ([`crate::spdy::session::connect`]): the client opens one stream per standard stream
//! (`SYN_STREAM` with a `streamtype` header: `error`, `stdin`, `stdout`, `stderr`, `resize`),
//! writes stdin and resize events as data, and half-closes stdin with an empty `FIN` data
//! frame, so a command reading stdin to its end (`tar -xf -`) sees its end while its output
//! and exit status still arrive. The error stream's `FIN` (or the server's `GOAWAY`, sent once
//! it wrote the status) ends the session.
//!
//! Our header blocks are stored (uncompressed) deflate blocks
//! ([`HeaderCompression::Stored`]), which any inflater reads without SPDY's preset dictionary.

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use super::streaming::{Streams, exit_code};
use crate::runtime::{ExecSession, TerminalSize};
use crate::spdy::headers::{HeaderCompression, Headers};
use crate::spdy::session;

/// Stream ids the client opens (odd, ascending).
const ERROR_STREAM: u32 = 1;
const STDIN_STREAM: u32 = 3;
const STDOUT_STREAM: u32 = 5;
const STDERR_STREAM: u32 = 7;
const RESIZE_STREAM: u32 = 9;

/// The headers opening a stream of `stream_type`.
fn stream_headers(stream_type: &str) -> Headers {
    vec![("streamtype".to_string(), stream_type.to_string())]
}

/// Opens the streams on an upgraded connection and relays them in the background.
pub async fn start(tcp: TcpStream, streams: Streams) -> Result<ExecSession, String> {
    let session = session::connect(tcp, HeaderCompression::Stored);
    let (status_tx, status_rx) = mpsc::channel::<Bytes>(16);
    let (stdout_tx, stdout) = mpsc::channel(64);
    let (stderr_tx, stderr) = mpsc::channel(64);
    let opened = async {
        session
            .open(ERROR_STREAM, stream_headers("error"), Some(status_tx))
            .await?;
        let stdin = if streams.stdin {
            let writer = session.open(STDIN_STREAM, stream_headers("stdin"), None);
            Some(writer.await?)
        } else {
            None
        };
        if streams.stdout {
            let route = Some(stdout_tx.clone());
            session
                .open(STDOUT_STREAM, stream_headers("stdout"), route)
                .await?;
        }
        if streams.stderr && !streams.tty {
            let route = Some(stderr_tx.clone());
            session
                .open(STDERR_STREAM, stream_headers("stderr"), route)
                .await?;
        }
        let resize = if streams.tty {
            let writer = session.open(RESIZE_STREAM, stream_headers("resize"), None);
            Some(writer.await?)
        } else {
            None
        };
        Ok::<_, session::SessionClosed>((stdin, resize))
    };
    let (stdin_writer, resize_writer) = match opened.await {
        Ok(writers) => writers,
        Err(e) => {
            session.close();
            return Err(format!("open the SPDY streams: {e}"));
        }
    };
    let stdin = stdin_writer.map(|writer| {
        let (tx, mut rx) = mpsc::channel::<Bytes>(16);
        tokio::spawn(async move {
            while let Some(chunk) = rx.recv().await {
                if writer.write(&chunk).await.is_err() {
                    return;
                }
            }
            // The session dropped stdin: the command sees its end.
            let _ = writer.close().await;
        });
        tx
    });
    let resize = resize_writer.map(|writer| {
        let (tx, mut rx) = mpsc::channel::<TerminalSize>(4);
        tokio::spawn(async move {
            while let Some(size) = rx.recv().await {
                let mut json = size.to_json();
                json.push(b'\n');
                if writer.write(&json).await.is_err() {
                    return;
                }
            }
        });
        tx
    });
    let (exit_tx, exit_code_rx) = oneshot::channel();
    tokio::spawn(async move {
        let status = relay(status_rx, &stdout_tx).await;
        // Closing the connection ends the stdin and resize forwarders too.
        session.close();
        drop((stdout_tx, stderr_tx));
        // A session that ended without a status ended without an error: exit code 0.
        let _ = exit_tx.send(if status.is_empty() {
            0
        } else {
            exit_code(&status)
        });
    });
    Ok(ExecSession {
        stdin,
        stdout,
        stderr,
        exit_code: exit_code_rx,
        resize,
    })
}

/// Waits until the server is done (the error stream ended, with the session at the latest)
/// or the exec session was dropped; returns what the error stream carried.
async fn relay(mut status_rx: mpsc::Receiver<Bytes>, stdout: &mpsc::Sender<Bytes>) -> Vec<u8> {
    let mut status = Vec::new();
    loop {
        tokio::select! {
            chunk = status_rx.recv() => match chunk {
                Some(chunk) => status.extend_from_slice(&chunk),
                None => return status,
            },
            // The session was dropped (its client went away): close the connection.
            () = stdout.closed() => return status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spdy::headers::get;

    #[tokio::test]
    async fn exec_streams_are_opened_and_stdin_is_half_closed() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut server = session::serve(tcp);
            let mut opened = Vec::new();
            for _ in 0..3 {
                opened.push(server.incoming.recv().await.unwrap());
            }
            let kinds: Vec<_> = opened
                .iter()
                .map(|s| {
                    (
                        s.stream_id,
                        get(&s.headers, "streamtype").unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(
                kinds,
                [
                    (1, "error".into()),
                    (3, "stdin".into()),
                    (5, "stdout".into())
                ]
            );
            let mut stdin = opened.remove(1);
            let mut input = Vec::new();
            while let Some(chunk) = stdin.data.recv().await {
                input.extend_from_slice(&chunk);
            }
            opened[1].writer.write(&input).await.unwrap();
            let status = br#"{"status":"Failure","reason":"NonZeroExitCode",
                "details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
            opened[0].writer.write(status).await.unwrap();
            opened[0].writer.close().await.unwrap();
            server.closed.wait_for(|c| *c).await.unwrap();
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let streams = Streams {
            stdin: true,
            stdout: true,
            ..Streams::default()
        };
        let mut exec = start(tcp, streams).await.unwrap();
        let stdin = exec.stdin.take().unwrap();
        stdin.send(Bytes::from_static(b"echo")).await.unwrap();
        drop(stdin);
        assert_eq!(exec.stdout.recv().await, Some(Bytes::from_static(b"echo")));
        assert_eq!(exec.exit_code.await.unwrap(), 3);
        assert_eq!(exec.stdout.recv().await, None);
        server.await.unwrap();
    }
}
