//! One SPDY/3.1 session over a connection, for either side: the server's (`kubectl
//! port-forward` opens streams with `SYN_STREAM`; each is handed out as an [`IncomingStream`]
//! with its headers, its data and a [`StreamWriter`] to answer with: `SYN_REPLY`, data, `FIN`,
//! `RST_STREAM`) and the client's ([`Session::open`] opens a stream, its data goes where the
//! caller says, and the same [`StreamWriter`] writes on it and half-closes it with `FIN`).
//! Entry points: [`serve`] and [`connect`]. Pings are echoed; settings and window updates are
//! read and ignored (the Go SPDY peers of Kubernetes do not enforce flow control). One task
//! reads, one writes, so frames go out in the order they are asked for and header blocks share
//! one zlib stream per direction.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tracing::debug;

use super::frame::{self, FLAG_FIN, Frame, read_frame};
use super::headers::{HeaderCompression, HeaderCompressor, HeaderDecompressor, Headers};

/// The largest data frame written (the peer reads any size; this keeps frames interleaved).
const MAX_DATA_FRAME: usize = 32 << 10;

/// Data frames buffered per stream before the reader waits for the stream's consumer.
const STREAM_BUFFER: usize = 64;

/// The session has ended: nothing more can be written.
#[derive(Debug, thiserror::Error)]
#[error("the SPDY session is closed")]
pub struct SessionClosed;

/// What the writer task is asked to send; header blocks are compressed there, in order.
enum Outgoing {
    /// A frame as it is.
    Frame(Frame),
    /// A `SYN_STREAM` or `SYN_REPLY` whose header block is still to be compressed.
    WithHeaders(Frame, Headers),
}

/// Where the data of each open stream goes, shared by the reader and [`Session::open`].
type Routes = Arc<Mutex<HashMap<u32, mpsc::Sender<Bytes>>>>;

fn routes(routes: &Routes) -> std::sync::MutexGuard<'_, HashMap<u32, mpsc::Sender<Bytes>>> {
    routes.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes on one stream of the session.
#[derive(Clone)]
pub struct StreamWriter {
    stream_id: u32,
    out: mpsc::Sender<Outgoing>,
}

impl StreamWriter {
    /// The stream's id.
    pub fn stream_id(&self) -> u32 {
        self.stream_id
    }

    /// Accepts the stream (`SYN_REPLY`, no headers): the peer waits for it.
    pub async fn reply(&self) -> Result<(), SessionClosed> {
        self.out
            .send(Outgoing::WithHeaders(
                Frame::SynReply {
                    stream_id: self.stream_id,
                    flags: 0,
                    headers: Vec::new(),
                },
                Vec::new(),
            ))
            .await
            .map_err(|_| SessionClosed)
    }

    /// Sends bytes on the stream.
    pub async fn write(&self, data: &[u8]) -> Result<(), SessionClosed> {
        for chunk in data.chunks(MAX_DATA_FRAME) {
            self.send(Frame::Data {
                stream_id: self.stream_id,
                flags: 0,
                data: Bytes::copy_from_slice(chunk),
            })
            .await?;
        }
        Ok(())
    }

    /// Ends this side of the stream (an empty data frame with `FIN`).
    pub async fn close(&self) -> Result<(), SessionClosed> {
        self.send(Frame::Data {
            stream_id: self.stream_id,
            flags: FLAG_FIN,
            data: Bytes::new(),
        })
        .await
    }

    /// Ends the stream abnormally (`RST_STREAM`).
    pub async fn reset(&self, status: u32) -> Result<(), SessionClosed> {
        self.send(Frame::RstStream {
            stream_id: self.stream_id,
            status,
        })
        .await
    }

    async fn send(&self, frame: Frame) -> Result<(), SessionClosed> {
        self.out
            .send(Outgoing::Frame(frame))
            .await
            .map_err(|_| SessionClosed)
    }
}

/// A stream the peer opened.
pub struct IncomingStream {
    /// Its id.
    pub stream_id: u32,
    /// The headers of its `SYN_STREAM`.
    pub headers: Headers,
    /// What the peer sends on it; ends at the peer's `FIN` or `RST_STREAM`.
    pub data: mpsc::Receiver<Bytes>,
    /// Writes back on it.
    pub writer: StreamWriter,
}

/// A running session.
pub struct Session {
    /// The streams the peer opens, in order.
    pub incoming: mpsc::Receiver<IncomingStream>,
    /// Turns true once the session has ended: the connection ended or failed, or
    /// [`Session::close`] was called.
    pub closed: watch::Receiver<bool>,
    /// Ends the session from this side.
    closing: Arc<watch::Sender<bool>>,
    out: mpsc::Sender<Outgoing>,
    routes: Routes,
}

impl Session {
    /// Opens stream `stream_id` (odd for a client) with `headers`; what the peer sends on it
    /// goes to `data` until its `FIN`, its `RST_STREAM` or the end of the session (None: the
    /// peer's data is dropped).
    pub async fn open(
        &self,
        stream_id: u32,
        headers: Headers,
        data: Option<mpsc::Sender<Bytes>>,
    ) -> Result<StreamWriter, SessionClosed> {
        if let Some(data) = data {
            // Routed before the SYN_STREAM leaves, so no answer can arrive first.
            routes(&self.routes).insert(stream_id, data);
        }
        if self
            .out
            .send(Outgoing::WithHeaders(
                Frame::SynStream {
                    stream_id,
                    associated_to: 0,
                    priority: 0,
                    flags: 0,
                    headers: Vec::new(),
                },
                headers,
            ))
            .await
            .is_err()
        {
            routes(&self.routes).remove(&stream_id);
            return Err(SessionClosed);
        }
        Ok(StreamWriter {
            stream_id,
            out: self.out.clone(),
        })
    }

    /// Ends the session: the connection is closed and every stream's data ends.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }
}

/// Serves a session on `io` (the upgraded connection, or the byte stream tunneled in a
/// WebSocket), its header blocks compressed with the SPDY/3 dictionary.
pub fn serve<IO>(io: IO) -> Session
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    start(io, HeaderCompression::Dictionary)
}

/// Starts the client's side of a session on `io` (an upgraded connection); the header
/// blocks it writes are compressed as `compression` says.
pub fn connect<IO>(io: IO, compression: HeaderCompression) -> Session
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    start(io, compression)
}

/// Runs the reader and the writer task of a session on `io`.
fn start<IO>(io: IO, compression: HeaderCompression) -> Session
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(io);
    let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(64);
    let (incoming_tx, incoming) = mpsc::channel(16);
    let (closed_tx, closed) = watch::channel(false);
    let closing = Arc::new(closed_tx);
    let routes_map: Routes = Arc::default();

    let mut writer_closed = closed.clone();
    let writer_closing = closing.clone();
    tokio::spawn(async move {
        let mut compressor = HeaderCompressor::with(compression);
        loop {
            let msg = tokio::select! {
                m = out_rx.recv() => match m {
                    Some(m) => m,
                    None => break,
                },
                _ = writer_closed.wait_for(|c| *c) => break,
            };
            let frame = match msg {
                Outgoing::Frame(frame) => frame,
                Outgoing::WithHeaders(mut frame, headers) => {
                    let block = match compressor.compress(&headers) {
                        Ok(block) => block,
                        Err(e) => {
                            debug!(error = %e, "SPDY header block not sent");
                            break;
                        }
                    };
                    if let Frame::SynStream { headers, .. } | Frame::SynReply { headers, .. } =
                        &mut frame
                    {
                        *headers = block;
                    }
                    frame
                }
            };
            if writer.write_all(&frame.encode()).await.is_err() || writer.flush().await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
        // A connection that cannot be written to has ended: the reader stops too.
        writer_closing.send_replace(true);
    });

    let out = out_tx.clone();
    let streams = routes_map.clone();
    let reader_closing = closing.clone();
    let mut closing_rx = closed.clone();
    tokio::spawn(async move {
        let mut decompressor = HeaderDecompressor::new();
        loop {
            let frame = tokio::select! {
                f = read_frame(&mut reader) => f,
                _ = closing_rx.wait_for(|c| *c) => break,
            };
            let frame = match frame {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    debug!(error = %e, "SPDY session ended");
                    break;
                }
            };
            match frame {
                Frame::SynStream {
                    stream_id,
                    flags,
                    headers,
                    ..
                } => {
                    let headers = match decompressor.decompress(&headers) {
                        Ok(h) => h,
                        Err(e) => {
                            debug!(error = %e, "SPDY session ended");
                            let _ = out
                                .send(Outgoing::Frame(Frame::GoAway {
                                    last_good_stream_id: stream_id,
                                    status: frame::status::PROTOCOL_ERROR,
                                }))
                                .await;
                            break;
                        }
                    };
                    let (data_tx, data) = mpsc::channel(STREAM_BUFFER);
                    if flags & FLAG_FIN == 0 {
                        routes(&streams).insert(stream_id, data_tx);
                    }
                    let stream = IncomingStream {
                        stream_id,
                        headers,
                        data,
                        writer: StreamWriter {
                            stream_id,
                            out: out.clone(),
                        },
                    };
                    if incoming_tx.send(stream).await.is_err() {
                        break;
                    }
                }
                Frame::SynReply { headers, .. } | Frame::Headers { headers, .. } => {
                    // Read only to keep the zlib stream in step.
                    if decompressor.decompress(&headers).is_err() {
                        break;
                    }
                }
                Frame::Data {
                    stream_id,
                    flags,
                    data,
                } => {
                    let route = routes(&streams).get(&stream_id).cloned();
                    if let Some(tx) = route
                        && !data.is_empty()
                        && tx.send(data).await.is_err()
                    {
                        // The consumer is gone; later data is dropped.
                        routes(&streams).remove(&stream_id);
                    }
                    if flags & FLAG_FIN != 0 {
                        routes(&streams).remove(&stream_id);
                    }
                }
                Frame::RstStream { stream_id, .. } => {
                    routes(&streams).remove(&stream_id);
                }
                Frame::Ping { id } => {
                    let _ = out.send(Outgoing::Frame(Frame::Ping { id })).await;
                }
                Frame::GoAway { .. } => break,
                Frame::Settings { .. } | Frame::WindowUpdate { .. } | Frame::Unknown { .. } => {}
            }
        }
        routes(&streams).clear();
        reader_closing.send_replace(true);
    });

    Session {
        incoming,
        closed,
        closing,
        out: out_tx,
        routes: routes_map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn header(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_stream_is_opened_replied_to_and_carries_data_both_ways() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let mut session = serve(server);
        let (mut client_r, mut client_w) = tokio::io::split(client);
        let mut compressor = HeaderCompressor::new();
        let headers = header(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]);
        let syn = Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers: compressor.compress(&headers).unwrap(),
        };
        client_w.write_all(&syn.encode()).await.unwrap();
        client_w
            .write_all(&Frame::Ping { id: 7 }.encode())
            .await
            .unwrap();
        let data = Frame::Data {
            stream_id: 1,
            flags: FLAG_FIN,
            data: Bytes::from_static(b"hello"),
        };
        client_w.write_all(&data.encode()).await.unwrap();

        let mut stream = session.incoming.recv().await.unwrap();
        assert_eq!(stream.stream_id, 1);
        assert_eq!(stream.headers, headers);
        assert_eq!(
            stream.data.recv().await.unwrap(),
            Bytes::from_static(b"hello")
        );
        assert_eq!(stream.data.recv().await, None, "FIN ends the data");
        stream.writer.reply().await.unwrap();
        stream.writer.write(b"world").await.unwrap();
        stream.writer.close().await.unwrap();

        let mut decompressor = HeaderDecompressor::new();
        let mut frames = Vec::new();
        while frames.len() < 4 {
            frames.push(read_frame(&mut client_r).await.unwrap().unwrap());
        }
        assert_eq!(frames[0], Frame::Ping { id: 7 });
        let Frame::SynReply {
            stream_id: 1,
            headers,
            ..
        } = &frames[1]
        else {
            panic!("expected a SYN_REPLY, got {:?}", frames[1]);
        };
        assert!(decompressor.decompress(headers).unwrap().is_empty());
        assert_eq!(
            frames[2],
            Frame::Data {
                stream_id: 1,
                flags: 0,
                data: Bytes::from_static(b"world")
            }
        );
        assert_eq!(
            frames[3],
            Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: Bytes::new()
            }
        );

        // The client hanging up ends the session, and the server's side closes too.
        client_w.shutdown().await.unwrap();
        session.closed.wait_for(|c| *c).await.unwrap();
        let mut rest = Vec::new();
        client_r.read_to_end(&mut rest).await.unwrap();
    }

    #[tokio::test]
    async fn a_client_opens_streams_half_closes_them_and_ends_the_session() {
        let (client, server) = tokio::io::duplex(1 << 16);
        let mut server = serve(server);
        let client = connect(client, HeaderCompression::Stored);
        let (error_tx, mut error) = mpsc::channel(4);
        let error_writer = client
            .open(1, header(&[("streamtype", "error")]), Some(error_tx))
            .await
            .unwrap();
        let stdin = client
            .open(3, header(&[("streamtype", "stdin")]), None)
            .await
            .unwrap();
        assert_eq!((error_writer.stream_id(), stdin.stream_id()), (1, 3));
        stdin.write(b"input").await.unwrap();
        stdin.close().await.unwrap();

        let error_stream = server.incoming.recv().await.unwrap();
        assert_eq!(error_stream.headers, header(&[("streamtype", "error")]));
        let mut stdin_stream = server.incoming.recv().await.unwrap();
        assert_eq!(stdin_stream.stream_id, 3);
        assert_eq!(
            stdin_stream.data.recv().await,
            Some(Bytes::from_static(b"input"))
        );
        assert_eq!(stdin_stream.data.recv().await, None, "stdin is half-closed");
        error_stream.writer.reply().await.unwrap();
        error_stream.writer.write(b"status").await.unwrap();
        error_stream.writer.close().await.unwrap();
        assert_eq!(error.recv().await, Some(Bytes::from_static(b"status")));
        assert_eq!(error.recv().await, None, "FIN ends the stream's data");

        client.close();
        server.closed.wait_for(|c| *c).await.unwrap();
        assert!(*client.closed.borrow());
    }
}
