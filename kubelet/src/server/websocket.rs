//! The WebSocket protocol (RFC 6455) as far as the streaming endpoints need it: the handshake
//! answer, framing (client frames are masked, server frames are not), fragmented messages,
//! ping / pong and close. The Kubernetes channel protocols (`v4.channel.k8s.io`,
//! `v5.channel.k8s.io`) prefix each binary message with its channel byte.

use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The GUID the handshake's accept key is derived with.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Frame opcodes.
pub mod opcode {
    /// A continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A text message.
    pub const TEXT: u8 = 0x1;
    /// A binary message.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{}{GUID}", key.trim()).as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// One frame, encoded (`mask` for a client's frames).
pub fn encode_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= usize::from(u16::MAX) => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A whole message read from the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A binary (or text) message's bytes.
    Data(Vec<u8>),
    /// A ping with its payload (answer with a pong).
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// The peer closes.
    Close,
}

/// The largest message accepted (stdin chunks and resize events are small).
const MAX_MESSAGE: u64 = 16 << 20;

async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<(bool, u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await?;
    let fin = head[0] & 0x80 != 0;
    let op = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7f {
        126 => u64::from(r.read_u16().await?),
        127 => r.read_u64().await?,
        n => u64::from(n),
    };
    if len > MAX_MESSAGE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "websocket frame too large",
        ));
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0u8; usize::try_from(len).unwrap_or(0)];
    r.read_exact(&mut payload).await?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok((fin, op, payload))
}

/// Reads the next message, joining fragments; None at the end of the stream.
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<Message>> {
    let mut data = Vec::new();
    loop {
        let (fin, op, payload) = match read_frame(r).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        };
        match op {
            opcode::PING => return Ok(Some(Message::Ping(payload))),
            opcode::PONG => return Ok(Some(Message::Pong)),
            opcode::CLOSE => return Ok(Some(Message::Close)),
            opcode::TEXT | opcode::BINARY | opcode::CONTINUATION => {
                data.extend_from_slice(&payload);
                if fin {
                    return Ok(Some(Message::Data(data)));
                }
            }
            _ => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("unknown websocket opcode {op}"),
                ));
            }
        }
    }
}

/// Writes one unmasked frame (the server's side).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    opcode: u8,
    payload: &[u8],
) -> std::io::Result<()> {
    w.write_all(&encode_frame(opcode, payload, None)).await?;
    w.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_rfc_6455s_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[tokio::test]
    async fn masked_and_fragmented_frames_read_back_as_one_message() {
        let mut wire = encode_frame(opcode::BINARY, b"\x01hel", Some([1, 2, 3, 4]));
        wire[0] &= 0x7f; // not the final fragment
        wire.extend(encode_frame(
            opcode::CONTINUATION,
            b"lo",
            Some([9, 8, 7, 6]),
        ));
        let long = vec![7u8; 70_000];
        wire.extend(encode_frame(opcode::BINARY, &long, None));
        wire.extend(encode_frame(opcode::CLOSE, b"", Some([0, 0, 0, 0])));
        let mut r = &wire[..];
        assert_eq!(
            read_message(&mut r).await.unwrap(),
            Some(Message::Data(b"\x01hello".to_vec()))
        );
        assert_eq!(
            read_message(&mut r).await.unwrap(),
            Some(Message::Data(long))
        );
        assert_eq!(read_message(&mut r).await.unwrap(), Some(Message::Close));
        assert_eq!(read_message(&mut r).await.unwrap(), None);
    }
}
