//! SPDY/3 header blocks: the name/value block layout (a 32-bit pair count, then each name and
//! value with a 32-bit length; several values of one name joined by NUL), and its zlib
//! compression with the dictionary the SPDY/3 draft prescribes, or (for peers such as
//! containerd's streaming server, whose inflater reads any zlib stream) as stored, uncompressed
//! deflate blocks without a dictionary. Each direction of a session keeps one zlib context for
//! all of its header blocks, each block ending in a sync flush.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Why a header block could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// The zlib stream could not be inflated.
    #[error("decompressing a SPDY header block: {0}")]
    Decompress(String),
    /// The block could not be deflated.
    #[error("compressing a SPDY header block: {0}")]
    Compress(String),
    /// The inflated block is not a valid name/value block.
    #[error("malformed SPDY header block: {0}")]
    Malformed(&'static str),
}

/// The names the dictionary lists, each with a 32-bit length prefix (SPDY/3 draft, 2.6.10.1).
const DICTIONARY_NAMES: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's tail: status codes, reason phrases, dates and common values, unprefixed.
const DICTIONARY_TAIL: &str = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

/// The SPDY/3 zlib dictionary (1423 bytes).
pub fn dictionary() -> Vec<u8> {
    let mut out = Vec::with_capacity(1423);
    for name in DICTIONARY_NAMES {
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    out
}

/// Header names and values in order; names are lower case on the wire.
pub type Headers = Vec<(String, String)>;

/// The first value of `name` (case-insensitive) in `headers`.
pub fn get<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.split('\0').next().unwrap_or_default())
}

/// The uncompressed name/value block for `headers`.
pub fn encode_block(headers: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Reads an uncompressed name/value block.
pub fn decode_block(mut block: &[u8]) -> Result<Headers, HeaderError> {
    fn take<'a>(block: &mut &'a [u8], n: usize) -> Result<&'a [u8], HeaderError> {
        if block.len() < n {
            return Err(HeaderError::Malformed("truncated"));
        }
        let (head, rest) = block.split_at(n);
        *block = rest;
        Ok(head)
    }
    fn length(block: &mut &[u8]) -> Result<usize, HeaderError> {
        let b = take(block, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    let count = length(&mut block)?;
    let mut out = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let n = length(&mut block)?;
        let name = take(&mut block, n)?;
        let n = length(&mut block)?;
        let value = take(&mut block, n)?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| HeaderError::Malformed("name"))?;
        let value =
            String::from_utf8(value.to_vec()).map_err(|_| HeaderError::Malformed("value"))?;
        out.push((name.to_ascii_lowercase(), value));
    }
    Ok(out)
}

/// How the header blocks one side writes are compressed (any inflater reads either).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HeaderCompression {
    /// Deflated with the SPDY/3 dictionary, as the draft prescribes (and Go's framer writes).
    #[default]
    Dictionary,
    /// Stored deflate blocks without a dictionary: the block's bytes appear verbatim.
    Stored,
}

/// One direction's compressor: every block written shares its zlib stream.
pub struct HeaderCompressor {
    zlib: Compress,
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    /// A compressor primed with the SPDY/3 dictionary.
    pub fn new() -> Self {
        Self::with(HeaderCompression::Dictionary)
    }

    /// A compressor writing its blocks as `compression` says.
    pub fn with(compression: HeaderCompression) -> Self {
        let zlib = match compression {
            HeaderCompression::Dictionary => {
                let mut zlib = Compress::new(Compression::default(), true);
                // A fresh deflate stream always accepts a dictionary.
                let _ = zlib.set_dictionary(&dictionary());
                zlib
            }
            HeaderCompression::Stored => Compress::new(Compression::none(), true),
        };
        HeaderCompressor { zlib }
    }

    /// The compressed block for `headers`, ending in a sync flush.
    pub fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>, HeaderError> {
        let plain = encode_block(headers);
        let mut out = Vec::with_capacity(plain.len() + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(plain.len() + 64);
            }
            let before = self.zlib.total_in();
            self.zlib
                .compress_vec(&plain[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| HeaderError::Compress(e.to_string()))?;
            consumed += (self.zlib.total_in() - before) as usize;
            // A sync flush is complete once input is used up and output space was left over.
            if consumed == plain.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// One direction's decompressor: every block read continues its zlib stream.
pub struct HeaderDecompressor {
    zlib: Decompress,
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    /// A decompressor that supplies the SPDY/3 dictionary when the stream asks for it.
    pub fn new() -> Self {
        HeaderDecompressor {
            zlib: Decompress::new(true),
        }
    }

    /// The headers of one compressed block.
    pub fn decompress(&mut self, compressed: &[u8]) -> Result<Headers, HeaderError> {
        let mut out: Vec<u8> = Vec::with_capacity(compressed.len() * 4 + 256);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(out.capacity().max(1024));
            }
            let before = self.zlib.total_in();
            let result =
                self.zlib
                    .decompress_vec(&compressed[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.zlib.total_in() - before) as usize;
            match result {
                Ok(Status::StreamEnd) => break,
                Ok(_) => {
                    if consumed == compressed.len() && out.len() < out.capacity() {
                        break;
                    }
                }
                Err(e) if e.needs_dictionary().is_some() => {
                    self.zlib
                        .set_dictionary(&dictionary())
                        .map_err(|e| HeaderError::Decompress(e.to_string()))?;
                }
                Err(e) => return Err(HeaderError::Decompress(e.to_string())),
            }
        }
        decode_block(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_dictionary_is_the_spdy3_drafts() {
        let d = dictionary();
        assert_eq!(d.len(), 1423);
        assert_eq!(&d[..11], b"\0\0\0\x07options");
        assert!(d.ends_with(b",*,enq=0."));
        // The zlib stream names its dictionary by its Adler-32.
        let mut c = HeaderCompressor::new();
        let block = c.compress(&headers(&[("port", "80")])).unwrap();
        assert_eq!(block[0] & 0x0f, 8, "deflate");
        assert_ne!(block[1] & 0x20, 0, "FDICT is set");
    }

    #[test]
    fn blocks_round_trip_through_one_stream_per_direction() {
        let mut c = HeaderCompressor::new();
        let mut d = HeaderDecompressor::new();
        let first = headers(&[("streamtype", "error"), ("port", "80"), ("requestid", "0")]);
        let second = headers(&[("streamtype", "data"), ("port", "80"), ("requestid", "0")]);
        let a = c.compress(&first).unwrap();
        let b = c.compress(&second).unwrap();
        assert_eq!(d.decompress(&a).unwrap(), first);
        assert_eq!(d.decompress(&b).unwrap(), second);
        assert_eq!(
            d.decompress(&c.compress(&Vec::new()).unwrap()).unwrap(),
            Vec::new()
        );
    }

    #[test]
    fn names_are_lower_cased_and_the_first_value_is_read() {
        let block = encode_block(&headers(&[("StreamType", "data\0other")]));
        let decoded = decode_block(&block).unwrap();
        assert_eq!(decoded[0].0, "streamtype");
        assert_eq!(get(&decoded, "STREAMTYPE"), Some("data"));
        assert!(decode_block(&block[..block.len() - 1]).is_err());
    }

    #[test]
    fn stored_header_blocks_are_one_zlib_stream_without_a_dictionary() {
        /// The empty stored block a sync flush ends with.
        const SYNC_FLUSH: [u8; 5] = [0x00, 0x00, 0x00, 0xff, 0xff];
        let mut c = HeaderCompressor::with(HeaderCompression::Stored);
        let stdin = headers(&[("streamtype", "stdin")]);
        let block = encode_block(&stdin);
        assert_eq!(block.len(), 4 + 4 + 10 + 4 + 5);
        let first = c.compress(&stdin).unwrap();
        // Deflate, 32 KiB window, no preset dictionary; (0x78 << 8 | 0x01) % 31 == 0.
        assert_eq!(&first[..2], &[0x78, 0x01]);
        assert_eq!((0x78u32 << 8 | 0x01) % 31, 0);
        // One stored block (not final), its length and the length's complement, the block.
        assert_eq!(&first[2..7], &[0x00, 27, 0, !27u8, 0xff]);
        assert_eq!(&first[7..7 + block.len()], &block[..]);
        assert_eq!(&first[7 + block.len()..], &SYNC_FLUSH);
        // Later blocks continue the stream: no second zlib header.
        let second = c.compress(&stdin).unwrap();
        assert_eq!(second.len(), block.len() + 5 + SYNC_FLUSH.len());
        // The SPDY decompressor reads them, needing no dictionary.
        let mut d = HeaderDecompressor::new();
        assert_eq!(d.decompress(&first).unwrap(), stdin);
        assert_eq!(d.decompress(&second).unwrap(), stdin);
    }
}
