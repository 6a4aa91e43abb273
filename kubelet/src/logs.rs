//! Container logs in the CRI log format, one record a line:
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>` (`F` ends a line, `P` is a part of
//! a longer one). [`append`] writes records (the `sim` runtime's containers log through it);
//! [`read`] streams a log file to a client with the semantics of upstream's
//! `kuberuntime/logs`: `tailLines` counts records from the end of the file, records older than
//! `since` are skipped, `limitBytes` cuts the output (timestamps included), `timestamps`
//! prefixes every line with its time in RFC3339Nano with nine digits, and `follow` keeps
//! reading until the container stops running.
//!
//! The pure part ([`parse_line`], [`tail_start`], [`LogFormatter`]) is unit-tested here.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Which standard stream a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStream {
    /// The stream's name in the CRI log format.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// One parsed record of a CRI log file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord<'a> {
    /// When the runtime read it from the container.
    pub timestamp: Timestamp,
    /// The stream it came from.
    pub stream: LogStream,
    /// Whether it is a part of a longer line (tag `P`); the line goes on in the next record.
    pub partial: bool,
    /// The content, without the line's newline.
    pub content: &'a [u8],
}

/// Parses one record (a file line without its `\n`); None when it is not in the CRI format.
pub fn parse_line(line: &[u8]) -> Option<LogRecord<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let ts = std::str::from_utf8(parts.next()?).ok()?;
    let timestamp: Timestamp = ts.parse().ok()?;
    let stream = match parts.next()? {
        b"stdout" => LogStream::Stdout,
        b"stderr" => LogStream::Stderr,
        _ => return None,
    };
    let tags = parts.next()?;
    let partial = tags.split(|b| *b == b':').any(|t| t == b"P");
    Some(LogRecord {
        timestamp,
        stream,
        partial,
        content: parts.next().unwrap_or_default(),
    })
}

/// A timestamp in RFC3339Nano, trailing zeros of the fraction trimmed (as runtimes write).
pub fn rfc3339_nano(ts: Timestamp) -> String {
    let base = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = ts.subsec_nanosecond();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// A timestamp with all nine fraction digits, as the kubelet prefixes lines with
/// `timestamps=true` (upstream's `RFC3339NanoFixed`).
pub fn rfc3339_nano_fixed(ts: Timestamp) -> String {
    format!(
        "{}.{:09}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ts.subsec_nanosecond()
    )
}

/// One full-line record for `content` (which must not contain a newline).
pub fn format_record(ts: Timestamp, stream: LogStream, content: &str) -> String {
    format!("{} {} F {content}\n", rfc3339_nano(ts), stream.as_str())
}

/// Appends one full-line record per line of `text` to the log file at `path`, creating it
/// and its directory.
pub async fn append(path: &Path, stream: LogStream, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut records = String::new();
    for line in text.lines() {
        records.push_str(&format_record(Timestamp::now(), stream, line));
    }
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    f.write_all(records.as_bytes()).await?;
    f.flush().await
}

/// Where, in the file contents `data`, the last `n` records start (upstream's
/// `FindTailLineStartIndex`): 0 when the file has `n` records or fewer, the end for `n = 0`.
pub fn tail_start(data: &[u8], n: u64) -> usize {
    if n == 0 {
        return data.len();
    }
    // A trailing newline ends the last record; it does not start another.
    let end = if data.last() == Some(&b'\n') {
        data.len() - 1
    } else {
        data.len()
    };
    let mut seen = 0;
    for (i, b) in data[..end].iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

/// What to show of a container's log (the kubelet's view of `PodLogOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// `tailLines`: only the last N records.
    pub tail_lines: Option<u64>,
    /// `sinceSeconds` / `sinceTime`, resolved: skip records older than this.
    pub since: Option<Timestamp>,
    /// `limitBytes`: stop after this many bytes of output.
    pub limit_bytes: Option<u64>,
    /// `timestamps`: prefix each line with its time.
    pub timestamps: bool,
    /// `follow`: keep streaming while the container runs.
    pub follow: bool,
}

/// Whether to go on after a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// More may be written.
    Continue,
    /// `limitBytes` is reached: stop.
    Done,
}

/// Turns records into the bytes a client reads, applying `since`, `timestamps` and
/// `limitBytes`.
#[derive(Debug)]
pub struct LogFormatter {
    options: LogOptions,
    written: u64,
    at_line_start: bool,
}

impl LogFormatter {
    /// A formatter for `options`.
    pub fn new(options: LogOptions) -> Self {
        LogFormatter {
            options,
            written: 0,
            at_line_start: true,
        }
    }

    /// Formats one file line (without its `\n`) into `out`. Lines not in the CRI format are
    /// skipped, as upstream does.
    pub fn push(&mut self, line: &[u8], out: &mut Vec<u8>) -> Flow {
        if self.limit_reached() {
            return Flow::Done;
        }
        let Some(record) = parse_line(line) else {
            return Flow::Continue;
        };
        if self.options.since.is_some_and(|s| record.timestamp < s) {
            return Flow::Continue;
        }
        let mut text = Vec::with_capacity(record.content.len() + 32);
        if self.options.timestamps && self.at_line_start {
            text.extend_from_slice(rfc3339_nano_fixed(record.timestamp).as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(record.content);
        if !record.partial {
            text.push(b'\n');
        }
        self.at_line_start = !record.partial;
        if let Some(limit) = self.options.limit_bytes {
            let left = limit.saturating_sub(self.written);
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(text.len());
            text.truncate(take);
        }
        self.written += text.len() as u64;
        out.extend_from_slice(&text);
        if self.limit_reached() {
            Flow::Done
        } else {
            Flow::Continue
        }
    }

    fn limit_reached(&self) -> bool {
        self.options.limit_bytes.is_some_and(|l| self.written >= l)
    }
}

/// How often a followed log file is polled for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(100);
/// How often a follower asks whether the container still runs.
const STATE_CHECK: Duration = Duration::from_millis(500);

/// Streams the log file at `path` into `out` per `options`; with `follow` it goes on until
/// `running` answers false (then reads what is left) or the receiver is dropped.
pub async fn read<F, Fut>(
    path: &Path,
    options: LogOptions,
    out: mpsc::Sender<Bytes>,
    mut running: F,
) -> std::io::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut file = tokio::fs::File::open(path).await?;
    let mut data = Vec::new();
    file.read_to_end(&mut data).await?;
    let start = options.tail_lines.map_or(0, |n| tail_start(&data, n));
    let follow = options.follow;
    let mut formatter = LogFormatter::new(options);
    let mut pending: Vec<u8> = data[start..].to_vec();
    let mut offset = data.len() as u64;
    drop(data);
    let mut last_check = tokio::time::Instant::now();
    let mut stopping = false;
    loop {
        // Emit every complete line in `pending`.
        let mut chunk = Vec::new();
        let mut consumed = 0;
        let mut done = false;
        while let Some(nl) = pending[consumed..].iter().position(|b| *b == b'\n') {
            let line = &pending[consumed..consumed + nl];
            consumed += nl + 1;
            if formatter.push(line, &mut chunk) == Flow::Done {
                done = true;
                break;
            }
        }
        pending.drain(..consumed);
        if !chunk.is_empty() && out.send(Bytes::from(chunk)).await.is_err() {
            return Ok(());
        }
        if done || !follow || stopping {
            return Ok(());
        }
        // Wait for more.
        loop {
            file.seek(std::io::SeekFrom::Start(offset)).await?;
            let mut more = Vec::new();
            file.read_to_end(&mut more).await?;
            if !more.is_empty() {
                offset += more.len() as u64;
                pending.extend_from_slice(&more);
                break;
            }
            if out.is_closed() {
                return Ok(());
            }
            if last_check.elapsed() >= STATE_CHECK {
                last_check = tokio::time::Instant::now();
                if !running().await {
                    // One last read for what the container wrote before it stopped.
                    stopping = true;
                    file.seek(std::io::SeekFrom::Start(offset)).await?;
                    let mut rest = Vec::new();
                    file.read_to_end(&mut rest).await?;
                    offset += rest.len() as u64;
                    pending.extend_from_slice(&rest);
                    break;
                }
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "2026-01-02T03:04:05.1Z stdout F one\n\
                       2026-01-02T03:04:06Z stderr F two\n\
                       2026-01-02T03:04:07.000000123Z stdout P thr\n\
                       2026-01-02T03:04:07.5Z stdout F ee\n";

    fn render(options: LogOptions, data: &str) -> String {
        let start = options
            .tail_lines
            .map_or(0, |n| tail_start(data.as_bytes(), n));
        let mut f = LogFormatter::new(options);
        let mut out = Vec::new();
        for line in data[start..].lines() {
            if f.push(line.as_bytes(), &mut out) == Flow::Done {
                break;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn records_parse_with_their_stream_and_partial_tag() {
        let r = parse_line(b"2026-01-02T03:04:05.1Z stderr P hello world").unwrap();
        assert_eq!(r.stream, LogStream::Stderr);
        assert!(r.partial);
        assert_eq!(r.content, b"hello world");
        assert_eq!(
            parse_line(b"2026-01-02T03:04:05Z stdout F")
                .unwrap()
                .content,
            b""
        );
        assert!(parse_line(b"not a log line").is_none());
    }

    #[test]
    fn partial_records_join_into_one_line() {
        assert_eq!(render(LogOptions::default(), LOG), "one\ntwo\nthree\n");
    }

    #[test]
    fn tail_counts_records_from_the_end() {
        let tail = |n| LogOptions {
            tail_lines: Some(n),
            ..Default::default()
        };
        assert_eq!(render(tail(1), LOG), "ee\n");
        assert_eq!(render(tail(3), LOG), "two\nthree\n");
        assert_eq!(render(tail(10), LOG), "one\ntwo\nthree\n");
        assert_eq!(render(tail(0), LOG), "");
    }

    #[test]
    fn since_skips_older_records() {
        let opts = LogOptions {
            since: Some("2026-01-02T03:04:06Z".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(render(opts, LOG), "two\nthree\n");
    }

    #[test]
    fn timestamps_prefix_each_line_with_nine_fraction_digits() {
        let opts = LogOptions {
            timestamps: true,
            ..Default::default()
        };
        assert_eq!(
            render(opts, LOG),
            "2026-01-02T03:04:05.100000000Z one\n\
             2026-01-02T03:04:06.000000000Z two\n\
             2026-01-02T03:04:07.000000123Z three\n"
        );
    }

    #[test]
    fn limit_bytes_cuts_the_output_mid_line() {
        let opts = LogOptions {
            limit_bytes: Some(6),
            ..Default::default()
        };
        assert_eq!(render(opts, LOG), "one\ntw");
    }

    #[test]
    fn written_records_read_back() {
        let ts: Timestamp = "2026-01-02T03:04:05.120Z".parse().unwrap();
        let line = format_record(ts, LogStream::Stdout, "hi there");
        assert_eq!(line, "2026-01-02T03:04:05.12Z stdout F hi there\n");
        let r = parse_line(line.trim_end().as_bytes()).unwrap();
        assert_eq!((r.timestamp, r.content), (ts, &b"hi there"[..]));
    }
}
