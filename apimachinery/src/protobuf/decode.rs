//! The protobuf wire format (varints, fixed32/64, length-delimited fields, packed repeated
//! scalars) read against the schema table into `serde_json::Value`s, as upstream's JSON encoding
//! of the same Go object would print them.

use base64::Engine;
use serde_json::{Map, Number, Value};

use super::{CONTENT_TYPE, Field, Kind, MAGIC, MAX_DEPTH, Message, ProtobufError, Special};

/// Decodes a Kubernetes protobuf body (`k8s\0` + `runtime.Unknown`) into the object's JSON,
/// with `apiVersion` and `kind` taken from the envelope.
pub fn decode(body: &[u8]) -> Result<Value, ProtobufError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError::BadMagic)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    let mut content_encoding = String::new();
    let mut content_type = String::new();
    let mut r = Reader::new(envelope, "runtime.Unknown");
    while let Some((tag, value)) = r.next_field()? {
        match (tag, value) {
            (1, Wire::Len(type_meta)) => {
                let mut tm = Reader::new(type_meta, "runtime.TypeMeta");
                while let Some((tag, value)) = tm.next_field()? {
                    match (tag, value) {
                        (1, Wire::Len(b)) => api_version = lossy(b),
                        (2, Wire::Len(b)) => kind = lossy(b),
                        (1 | 2, w) => return Err(envelope_wire("runtime.TypeMeta", tag, &w)),
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(b)) => raw = b,
            (3, Wire::Len(b)) => content_encoding = lossy(b),
            (4, Wire::Len(b)) => content_type = lossy(b),
            (1..=4, w) => return Err(envelope_wire("runtime.Unknown", tag, &w)),
            _ => {}
        }
    }
    if !content_encoding.is_empty() {
        return Err(ProtobufError::ContentEncoding(content_encoding));
    }
    if !content_type.is_empty() && content_type != CONTENT_TYPE {
        return Err(ProtobufError::ContentType(content_type));
    }
    if kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    let message =
        super::message_for_kind(&api_version, &kind).ok_or_else(|| ProtobufError::UnknownKind {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    let mut object = decode_with(message, raw, 0)?;
    if let Value::Object(map) = &mut object {
        map.insert("apiVersion".into(), Value::String(api_version));
        map.insert("kind".into(), Value::String(kind));
    }
    Ok(object)
}

/// Decodes one message of the OpenAPI definition `definition` (no magic, no envelope).
pub fn decode_message(definition: &str, bytes: &[u8]) -> Result<Value, ProtobufError> {
    let message = super::message(definition)
        .ok_or_else(|| ProtobufError::UnknownDefinition(definition.to_string()))?;
    decode_with(message, bytes, 0)
}

fn envelope_wire(message: &'static str, tag: u32, w: &Wire<'_>) -> ProtobufError {
    let json = match (message, tag) {
        ("runtime.TypeMeta", 1) => "apiVersion",
        ("runtime.TypeMeta", _) => "kind",
        (_, 1) => "typeMeta",
        (_, 2) => "raw",
        (_, 3) => "contentEncoding",
        _ => "contentType",
    };
    ProtobufError::WireType {
        message,
        tag,
        json,
        wire_type: w.wire_type(),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One field's payload as it sits on the wire.
#[derive(Clone, Copy, Debug)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Len(&'a [u8]),
    /// Kubernetes has no fixed32 fields; the four bytes are skipped.
    Fixed32,
}

impl Wire<'_> {
    fn wire_type(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Len(_) => 2,
            Wire::Fixed32 => 5,
        }
    }
}

/// A cursor over one message's bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            message,
        }
    }

    fn truncated(&self) -> ProtobufError {
        ProtobufError::Truncated(format!(
            "{} ends in the middle of a field at byte {}",
            self.message, self.pos
        ))
    }

    fn varint(&mut self) -> Result<u64, ProtobufError> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(self.truncated());
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(ProtobufError::Invalid(format!(
            "a varint in {} is longer than 10 bytes",
            self.message
        )))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtobufError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.truncated())?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], ProtobufError> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// The next field: its number and payload; `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u32, Wire<'a>)>, ProtobufError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| {
            ProtobufError::Invalid(format!("field number {} in {}", key >> 3, self.message))
        })?;
        if tag == 0 {
            return Err(ProtobufError::Invalid(format!(
                "field number 0 in {}",
                self.message
            )));
        }
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.fixed::<8>()?)),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| self.truncated())?;
                Wire::Len(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            other => {
                return Err(ProtobufError::Invalid(format!(
                    "field {tag} of {} has wire type {other}, which Kubernetes does not use",
                    self.message
                )));
            }
        };
        Ok(Some((tag, wire)))
    }
}

fn decode_with(
    message: &'static Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Value, ProtobufError> {
    if depth > MAX_DEPTH {
        return Err(ProtobufError::TooDeep);
    }
    match message.special {
        Special::None => decode_object(message, bytes, depth).map(Value::Object),
        special => decode_special(message, special, bytes, depth),
    }
}

fn decode_object(
    message: &'static Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Map<String, Value>, ProtobufError> {
    let mut out = Map::new();
    let mut r = Reader::new(bytes, message.name);
    while let Some((tag, wire)) = r.next_field()? {
        // Unknown fields are skipped, as proto2 decoders do.
        let Some(field) = message.field(tag) else {
            continue;
        };
        match field.kind {
            Kind::Inline(name) => {
                let inner = lookup(name)?;
                let Wire::Len(b) = wire else {
                    return Err(wire_error(message, field, &wire));
                };
                if let Value::Object(m) = decode_with(inner, b, depth + 1)? {
                    for (k, v) in m {
                        merge_into(&mut out, k, v);
                    }
                }
            }
            Kind::Map(key_kind, value_kind) => {
                let Wire::Len(entry) = wire else {
                    return Err(wire_error(message, field, &wire));
                };
                let (k, v) = decode_entry(message, field, key_kind, value_kind, entry, depth)?;
                let key = match k {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let map = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(m) = map {
                    m.insert(key, v);
                }
            }
            kind if field.repeated => {
                let items = out
                    .entry(field.json)
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(items) = items else {
                    continue;
                };
                match (packable(kind), wire) {
                    (true, Wire::Len(packed)) => {
                        let mut p = Reader::new(packed, message.name);
                        while p.pos < packed.len() {
                            let w = match kind {
                                Kind::Double => Wire::Fixed64(u64::from_le_bytes(p.fixed::<8>()?)),
                                _ => Wire::Varint(p.varint()?),
                            };
                            items.push(scalar(message, field, kind, &w, depth)?);
                        }
                    }
                    (_, w) => items.push(scalar(message, field, kind, &w, depth)?),
                }
            }
            kind => {
                let v = scalar(message, field, kind, &wire, depth)?;
                if field.omit_empty && is_zero(&v) {
                    out.remove(field.json);
                } else {
                    merge_into(&mut out, field.json.to_string(), v);
                }
            }
        }
    }
    Ok(out)
}

/// Sets `key` to `v`; a message that arrives twice is merged as protobuf merges it.
fn merge_into(out: &mut Map<String, Value>, key: String, v: Value) {
    match (out.get_mut(&key), v) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (k, v) in new {
                merge_into(old, k, v);
            }
        }
        (_, v) => {
            out.insert(key, v);
        }
    }
}

/// Whether a scalar holds its Go zero value (`""`, `0`, `false`).
fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

fn packable(kind: Kind) -> bool {
    matches!(kind, Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Double)
}

fn lookup(name: &str) -> Result<&'static Message, ProtobufError> {
    super::message(name).ok_or_else(|| ProtobufError::UnknownDefinition(name.to_string()))
}

fn wire_error(message: &'static Message, field: &'static Field, wire: &Wire<'_>) -> ProtobufError {
    ProtobufError::WireType {
        message: message.name,
        tag: field.tag,
        json: field.json,
        wire_type: wire.wire_type(),
    }
}

/// One value of a non-map field.
fn scalar(
    message: &'static Message,
    field: &'static Field,
    kind: Kind,
    wire: &Wire<'_>,
    depth: usize,
) -> Result<Value, ProtobufError> {
    Ok(match (kind, *wire) {
        (Kind::String, Wire::Len(b)) => Value::String(lossy(b)),
        (Kind::Bytes, Wire::Len(b)) => Value::String(base64_encode(b)),
        (Kind::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        // Truncation is what Go's generated decoder does with an oversized int32.
        (Kind::Int32, Wire::Varint(v)) => Value::from(v as i32),
        (Kind::Int64, Wire::Varint(v)) => Value::from(v as i64),
        (Kind::Double, Wire::Fixed64(v)) => {
            let f = f64::from_bits(v);
            Number::from_f64(f).map(Value::Number).ok_or_else(|| {
                ProtobufError::Unrepresentable(format!(
                    "field {} of {} is {f}, which JSON cannot hold",
                    field.json, message.name
                ))
            })?
        }
        (Kind::Message(name), Wire::Len(b)) => decode_with(lookup(name)?, b, depth + 1)?,
        _ => return Err(wire_error(message, field, wire)),
    })
}

fn decode_entry(
    message: &'static Message,
    field: &'static Field,
    key_kind: &'static Kind,
    value_kind: &'static Kind,
    entry: &[u8],
    depth: usize,
) -> Result<(Value, Value), ProtobufError> {
    let mut key = None;
    let mut value = None;
    let mut r = Reader::new(entry, message.name);
    while let Some((tag, wire)) = r.next_field()? {
        match tag {
            1 => key = Some(scalar(message, field, *key_kind, &wire, depth)?),
            2 => value = Some(scalar(message, field, *value_kind, &wire, depth)?),
            _ => {}
        }
    }
    // A missing key or value is the zero value of its kind, as in Go.
    let zero = |kind: &Kind| -> Result<Value, ProtobufError> {
        Ok(match kind {
            Kind::String | Kind::Bytes => Value::String(String::new()),
            Kind::Bool => Value::Bool(false),
            Kind::Int32 | Kind::Int64 => Value::from(0),
            Kind::Double => Value::from(0.0),
            Kind::Message(name) | Kind::Inline(name) => decode_with(lookup(name)?, &[], depth + 1)?,
            Kind::Map(..) => Value::Object(Map::new()),
        })
    };
    let key = match key {
        Some(k) => k,
        None => zero(key_kind)?,
    };
    let value = match value {
        Some(v) => v,
        None => zero(value_kind)?,
    };
    Ok((key, value))
}

fn base64_encode(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The raw fields of a small special message, by number; the last occurrence wins except for
/// the repeated ones, which collect.
struct Raw<'a> {
    fields: Vec<(u32, Wire<'a>)>,
}

impl<'a> Raw<'a> {
    fn read(message: &'static Message, bytes: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut fields = Vec::new();
        let mut r = Reader::new(bytes, message.name);
        while let Some(f) = r.next_field()? {
            fields.push(f);
        }
        Ok(Raw { fields })
    }

    fn last(&self, tag: u32) -> Option<Wire<'a>> {
        self.fields
            .iter()
            .rev()
            .find(|(t, _)| *t == tag)
            .map(|(_, w)| *w)
    }

    fn all(&self, tag: u32) -> impl Iterator<Item = Wire<'a>> + '_ {
        self.fields
            .iter()
            .filter(move |(t, _)| *t == tag)
            .map(|(_, w)| *w)
    }
}

fn decode_special(
    message: &'static Message,
    special: Special,
    bytes: &[u8],
    depth: usize,
) -> Result<Value, ProtobufError> {
    let raw = Raw::read(message, bytes)?;
    let field = |tag: u32| {
        message.field(tag).ok_or_else(|| {
            ProtobufError::UnknownDefinition(format!("{} field {tag}", message.name))
        })
    };
    let value = |tag: u32| -> Result<Option<Value>, ProtobufError> {
        match raw.last(tag) {
            None => Ok(None),
            Some(w) => {
                let f = field(tag)?;
                scalar(message, f, f.kind, &w, depth).map(Some)
            }
        }
    };
    let list = |tag: u32| -> Result<Vec<Value>, ProtobufError> {
        let f = field(tag)?;
        raw.all(tag)
            .map(|w| scalar(message, f, f.kind, &w, depth))
            .collect()
    };
    let int = |tag: u32| -> Result<i64, ProtobufError> {
        Ok(value(tag)?.and_then(|v| v.as_i64()).unwrap_or(0))
    };
    Ok(match special {
        Special::None => decode_object(message, bytes, depth).map(Value::Object)?,
        Special::Quantity => value(1)?.unwrap_or_else(|| Value::String("0".into())),
        Special::IntOrString => {
            if int(1)? == 1 {
                value(3)?.unwrap_or_else(|| Value::String(String::new()))
            } else {
                value(2)?.unwrap_or_else(|| Value::from(0))
            }
        }
        Special::Time | Special::MicroTime if bytes.is_empty() => Value::Null,
        Special::Time => Value::String(rfc3339(int(1)?, int(2)?, false)?),
        Special::MicroTime => Value::String(rfc3339(int(1)?, int(2)?, true)?),
        Special::Duration => Value::String(go_duration(int(1)?)),
        Special::RawJson => match raw.last(1) {
            Some(Wire::Len(b)) if !b.is_empty() => embedded(message, b)?,
            Some(w @ (Wire::Varint(_) | Wire::Fixed32 | Wire::Fixed64(_))) => {
                return Err(wire_error(message, field(1)?, &w));
            }
            _ => Value::Null,
        },
        Special::StringList => Value::Array(list(1)?),
        Special::SchemaOrArray => {
            let schemas = list(2)?;
            if schemas.is_empty() {
                value(1)?.unwrap_or(Value::Null)
            } else {
                Value::Array(schemas)
            }
        }
        Special::SchemaOrBool => match value(2)? {
            Some(schema) => schema,
            None => Value::Bool(value(1)?.and_then(|v| v.as_bool()).unwrap_or(false)),
        },
        Special::SchemaOrStringArray => {
            let strings = list(2)?;
            if strings.is_empty() {
                value(1)?.unwrap_or(Value::Null)
            } else {
                Value::Array(strings)
            }
        }
    })
}

/// Raw bytes that hold JSON, or a nested protobuf object (a `RawExtension` in a protobuf body).
fn embedded(message: &'static Message, b: &[u8]) -> Result<Value, ProtobufError> {
    if b.starts_with(MAGIC) {
        return decode(b);
    }
    serde_json::from_slice(b).map_err(|source| ProtobufError::EmbeddedJson {
        message: message.name,
        source,
    })
}

/// RFC 3339 in UTC as Go's `metav1.Time` (seconds) and `metav1.MicroTime` (microseconds) print.
fn rfc3339(seconds: i64, nanos: i64, micros: bool) -> Result<String, ProtobufError> {
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    let secs = total.div_euclid(1_000_000_000);
    let frac = total.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return Err(ProtobufError::Unrepresentable(format!(
            "Time.MarshalJSON: year {y} outside of range [0,9999]"
        )));
    }
    let (hh, mm, ss) = (sod / 3600, sod % 3600 / 60, sod % 60);
    Ok(if micros {
        format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:06}Z",
            frac / 1000
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    })
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i128) -> (i128, i128, i128) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    (y, m, d)
}

/// A duration in nanoseconds as Go's `time.Duration.String` prints it (`1h0m0s`, `1.5s`,
/// `300ms`, `0s`).
pub(crate) fn go_duration(nanos: i64) -> String {
    let neg = nanos < 0;
    let mut u = nanos.unsigned_abs();
    let mut out = String::new();
    if u == 0 {
        return "0s".into();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let frac = fraction(&mut u, prec);
        out.push_str(&format!("{u}{frac}{unit}"));
    } else {
        let frac = fraction(&mut u, 9);
        let (h, m, s) = (u / 3600, u / 60 % 60, u % 60);
        if h > 0 {
            out.push_str(&format!("{h}h{m}m"));
        } else if u >= 60 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&format!("{s}{frac}s"));
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// Splits off the last `prec` decimal digits of `u` as `.ddd` without trailing zeros (empty when
/// they are all zero), leaving the integer part in `u`.
fn fraction(u: &mut u64, prec: u32) -> String {
    let scale = 10u64.pow(prec);
    let frac = *u % scale;
    *u /= scale;
    if frac == 0 {
        return String::new();
    }
    let digits = format!("{frac:0width$}", width = prec as usize);
    format!(".{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_as_go_prints_them() {
        let s = 1_000_000_000;
        for (nanos, want) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (300_000_000, "300ms"),
            (1_500_000_000, "1.5s"),
            (90 * s, "1m30s"),
            (3600 * s, "1h0m0s"),
            (-(3723 * s), "-1h2m3s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(go_duration(nanos), want, "{nanos}ns");
        }
    }

    #[test]
    fn times_print_in_utc_to_the_second_or_microsecond() {
        assert_eq!(rfc3339(0, 0, false).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(1_700_000_000, 123_456_789, true).unwrap(),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            rfc3339(951_782_400, 0, false).unwrap(),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(rfc3339(-1, 0, false).unwrap(), "1969-12-31T23:59:59Z");
        assert!(rfc3339(i64::MAX, 0, false).is_err());
    }
}
