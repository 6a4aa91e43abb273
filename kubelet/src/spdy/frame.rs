//! SPDY/3.1 frames on the wire: control frames (`SYN_STREAM`, `SYN_REPLY`, `RST_STREAM`,
//! `SETTINGS`, `PING`, `GOAWAY`, `HEADERS`, `WINDOW_UPDATE`) and data frames. Header blocks
//! stay compressed here; the session inflates them with its per-direction zlib context.

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The protocol version carried by control frames.
pub const VERSION: u16 = 3;

/// `FLAG_FIN`: the sender's half of the stream ends with this frame.
pub const FLAG_FIN: u8 = 0x01;
/// `FLAG_UNIDIRECTIONAL` on `SYN_STREAM`: the recipient does not answer with data.
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;

/// The largest frame payload accepted (the length field allows 16 MiB).
pub const MAX_PAYLOAD: usize = 1 << 24;

/// `RST_STREAM` status codes.
pub mod status {
    /// `PROTOCOL_ERROR`.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// `INVALID_STREAM`.
    pub const INVALID_STREAM: u32 = 2;
    /// `REFUSED_STREAM`.
    pub const REFUSED_STREAM: u32 = 3;
    /// `CANCEL`.
    pub const CANCEL: u32 = 5;
    /// `STREAM_IN_USE`.
    pub const STREAM_IN_USE: u32 = 8;
}

/// Control frame types.
mod kind {
    pub const SYN_STREAM: u16 = 1;
    pub const SYN_REPLY: u16 = 2;
    pub const RST_STREAM: u16 = 3;
    pub const SETTINGS: u16 = 4;
    pub const PING: u16 = 6;
    pub const GOAWAY: u16 = 7;
    pub const HEADERS: u16 = 8;
    pub const WINDOW_UPDATE: u16 = 9;
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed or ended mid-frame.
    #[error("reading a SPDY frame: {0}")]
    Read(#[from] std::io::Error),
    /// The frame is not valid SPDY/3.1.
    #[error("invalid SPDY frame: {0}")]
    Invalid(String),
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Opens a stream; `headers` is the compressed header block.
    SynStream {
        /// The new stream's id (odd when the client opens it).
        stream_id: u32,
        /// The stream it is associated with (0 for none).
        associated_to: u32,
        /// Priority, 0 (highest) to 7.
        priority: u8,
        /// `FLAG_FIN`, `FLAG_UNIDIRECTIONAL`.
        flags: u8,
        /// The compressed header block.
        headers: Vec<u8>,
    },
    /// Accepts a stream; `headers` is the compressed header block.
    SynReply {
        /// The stream answered.
        stream_id: u32,
        /// `FLAG_FIN`.
        flags: u8,
        /// The compressed header block.
        headers: Vec<u8>,
    },
    /// Ends a stream abnormally.
    RstStream {
        /// The stream.
        stream_id: u32,
        /// Why ([`status`]).
        status: u32,
    },
    /// Session settings: (flags, id, value) entries.
    Settings {
        /// `FLAG_SETTINGS_CLEAR_SETTINGS`.
        flags: u8,
        /// The entries.
        entries: Vec<(u8, u32, u32)>,
    },
    /// A liveness check; the recipient echoes it.
    Ping {
        /// The ping's id.
        id: u32,
    },
    /// The sender will open no more streams.
    GoAway {
        /// The last stream the sender acted on.
        last_good_stream_id: u32,
        /// Why.
        status: u32,
    },
    /// More headers for a stream.
    Headers {
        /// The stream.
        stream_id: u32,
        /// `FLAG_FIN`.
        flags: u8,
        /// The compressed header block.
        headers: Vec<u8>,
    },
    /// Flow control credit.
    WindowUpdate {
        /// The stream (0 for the session).
        stream_id: u32,
        /// Bytes added to the window.
        delta: u32,
    },
    /// Stream data.
    Data {
        /// The stream.
        stream_id: u32,
        /// `FLAG_FIN`.
        flags: u8,
        /// The bytes.
        data: Bytes,
    },
    /// A control frame of a type this module does not know (skipped, as the draft says).
    Unknown {
        /// Its type.
        kind: u16,
    },
}

fn control(kind: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&kind.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

fn id_and_block(stream_id: u32, block: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(4 + block.len());
    p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
    p.extend_from_slice(block);
    p
}

impl Frame {
    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                flags,
                headers,
            } => {
                let mut p = Vec::with_capacity(10 + headers.len());
                p.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                p.extend_from_slice(&(associated_to & 0x7fff_ffff).to_be_bytes());
                p.push((priority & 0x07) << 5);
                p.push(0);
                p.extend_from_slice(headers);
                control(kind::SYN_STREAM, *flags, &p)
            }
            Frame::SynReply {
                stream_id,
                flags,
                headers,
            } => control(kind::SYN_REPLY, *flags, &id_and_block(*stream_id, headers)),
            Frame::Headers {
                stream_id,
                flags,
                headers,
            } => control(kind::HEADERS, *flags, &id_and_block(*stream_id, headers)),
            Frame::RstStream { stream_id, status } => {
                let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(kind::RST_STREAM, 0, &p)
            }
            Frame::Settings { flags, entries } => {
                let mut p = (entries.len() as u32).to_be_bytes().to_vec();
                for (f, id, value) in entries {
                    p.push(*f);
                    p.extend_from_slice(&id.to_be_bytes()[1..]);
                    p.extend_from_slice(&value.to_be_bytes());
                }
                control(kind::SETTINGS, *flags, &p)
            }
            Frame::Ping { id } => control(kind::PING, 0, &id.to_be_bytes()),
            Frame::GoAway {
                last_good_stream_id,
                status,
            } => {
                let mut p = (last_good_stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend_from_slice(&status.to_be_bytes());
                control(kind::GOAWAY, 0, &p)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                let mut p = (stream_id & 0x7fff_ffff).to_be_bytes().to_vec();
                p.extend_from_slice(&(delta & 0x7fff_ffff).to_be_bytes());
                control(kind::WINDOW_UPDATE, 0, &p)
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
                out.push(*flags);
                out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                out.extend_from_slice(data);
                out
            }
            Frame::Unknown { kind } => control(*kind, 0, &[]),
        }
    }

    /// Parses one frame from its 8-byte head and its payload.
    pub fn decode(head: [u8; 8], payload: Vec<u8>) -> Result<Frame, FrameError> {
        let word = |p: &[u8], at: usize| -> Result<u32, FrameError> {
            p.get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| FrameError::Invalid("control frame too short".into()))
        };
        let flags = head[4];
        if head[0] & 0x80 == 0 {
            let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            return Ok(Frame::Data {
                stream_id,
                flags,
                data: Bytes::from(payload),
            });
        }
        let version = u16::from_be_bytes([head[0] & 0x7f, head[1]]);
        if version != VERSION {
            return Err(FrameError::Invalid(format!(
                "unsupported SPDY version {version}"
            )));
        }
        let kind = u16::from_be_bytes([head[2], head[3]]);
        let p = &payload;
        let id = |at| word(p, at).map(|w| w & 0x7fff_ffff);
        Ok(match kind {
            kind::SYN_STREAM => {
                if p.len() < 10 {
                    return Err(FrameError::Invalid("SYN_STREAM too short".into()));
                }
                Frame::SynStream {
                    stream_id: id(0)?,
                    associated_to: id(4)?,
                    priority: p[8] >> 5,
                    flags,
                    headers: p[10..].to_vec(),
                }
            }
            kind::SYN_REPLY => Frame::SynReply {
                stream_id: id(0)?,
                flags,
                headers: p[4..].to_vec(),
            },
            kind::HEADERS => Frame::Headers {
                stream_id: id(0)?,
                flags,
                headers: p[4..].to_vec(),
            },
            kind::RST_STREAM => Frame::RstStream {
                stream_id: id(0)?,
                status: word(p, 4)?,
            },
            kind::SETTINGS => {
                let n = word(p, 0)? as usize;
                if p.len() < 4 + n * 8 {
                    return Err(FrameError::Invalid("SETTINGS too short".into()));
                }
                let entries = (0..n)
                    .map(|i| {
                        let e = &p[4 + i * 8..12 + i * 8];
                        (
                            e[0],
                            u32::from_be_bytes([0, e[1], e[2], e[3]]),
                            u32::from_be_bytes([e[4], e[5], e[6], e[7]]),
                        )
                    })
                    .collect();
                Frame::Settings { flags, entries }
            }
            kind::PING => Frame::Ping { id: word(p, 0)? },
            kind::GOAWAY => Frame::GoAway {
                last_good_stream_id: id(0)?,
                // SPDY/3 added the status; tolerate its absence.
                status: word(p, 4).unwrap_or(0),
            },
            kind::WINDOW_UPDATE => Frame::WindowUpdate {
                stream_id: id(0)?,
                delta: word(p, 4)? & 0x7fff_ffff,
            },
            kind => Frame::Unknown { kind },
        })
    }
}

/// Reads the next frame; None when the connection ends between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Frame>, FrameError> {
    let mut head = [0u8; 8];
    match r.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len > MAX_PAYLOAD {
        return Err(FrameError::Invalid(format!("frame of {len} bytes")));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Frame::decode(head, payload).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_frame_type_round_trips_in_order_on_one_connection() {
        let frames = [
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 3,
                flags: FLAG_FIN,
                headers: vec![1, 2, 3],
            },
            Frame::SynReply {
                stream_id: 3,
                flags: 0,
                headers: vec![9],
            },
            Frame::RstStream {
                stream_id: 5,
                status: status::CANCEL,
            },
            Frame::Settings {
                flags: 0,
                entries: vec![(0, 7, 65536), (1, 4, 100)],
            },
            Frame::Ping { id: 1 },
            Frame::GoAway {
                last_good_stream_id: 7,
                status: 0,
            },
            Frame::Headers {
                stream_id: 1,
                flags: 0,
                headers: vec![],
            },
            Frame::WindowUpdate {
                stream_id: 1,
                delta: 4096,
            },
            Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n"),
            },
            Frame::Data {
                stream_id: 5,
                flags: 0,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream_id: 1,
                flags: FLAG_FIN,
                data: Bytes::new(),
            },
            Frame::Ping { id: 7 },
        ];
        let wire: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let mut r = &wire[..];
        for frame in frames {
            assert_eq!(read_frame(&mut r).await.unwrap(), Some(frame));
        }
        assert!(r.is_empty());
        assert_eq!(read_frame(&mut r).await.unwrap(), None);
    }

    #[test]
    fn frames_are_laid_out_as_the_draft_says() {
        // Control frames: version, type, flags, 24-bit length, payload.
        assert_eq!(
            Frame::Ping { id: 1 }.encode(),
            [0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0, 0, 0, 1]
        );
        assert_eq!(
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::new()
            }
            .encode(),
            [0, 0, 0, 3, 1, 0, 0, 0]
        );
        assert_eq!(
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                flags: 0,
                headers: vec![1, 2, 3],
            }
            .encode(),
            [
                0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x0d, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 2,
                3
            ]
        );
    }

    #[tokio::test]
    async fn other_versions_and_a_cut_off_frame_are_errors() {
        let mut wire = Frame::Ping { id: 1 }.encode();
        wire[1] = 2;
        assert!(read_frame(&mut &wire[..]).await.is_err());
        let wire = Frame::Ping { id: 1 }.encode();
        assert!(read_frame(&mut &wire[..10]).await.is_err());
        assert!(read_frame(&mut &[][..]).await.unwrap().is_none());
    }
}
