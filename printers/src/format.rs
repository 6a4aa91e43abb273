//! Shared cell formatting: reading fields out of JSON objects, ages, label and selector strings,
//! resource quantities and container lists, each written the way upstream's printers write them.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde_json::{Map, Value};

/// Walks `path` into `value`, giving `Value::Null` when any step is missing.
pub(crate) fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter()
        .fold(value, |v, key| v.get(*key).unwrap_or(&Value::Null))
}

/// The string at `path`, or `""` when it is missing or not a string.
pub(crate) fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    at(value, path).as_str().unwrap_or("")
}

/// The string at `path` when it is present (even empty), like a Go `*string`.
pub(crate) fn opt_text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).as_str()
}

/// The integer at `path`, or 0 when missing.
pub(crate) fn int(value: &Value, path: &[&str]) -> i64 {
    let v = at(value, path);
    v.as_i64()
        .or_else(|| v.as_f64().map(|f| f as i64))
        .unwrap_or(0)
}

/// The boolean at `path`, or `false` when missing.
pub(crate) fn flag(value: &Value, path: &[&str]) -> bool {
    at(value, path).as_bool().unwrap_or(false)
}

/// The array at `path`, or an empty slice.
pub(crate) fn list<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path).as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The number of entries in the map at `path` (0 when missing).
pub(crate) fn map_len(value: &Value, path: &[&str]) -> usize {
    at(value, path).as_object().map_or(0, Map::len)
}

/// The object's `metadata.name`.
pub(crate) fn name(obj: &Value) -> &str {
    text(obj, &["metadata", "name"])
}

/// Whether `metadata.deletionTimestamp` is set.
pub(crate) fn is_deleting(obj: &Value) -> bool {
    !at(obj, &["metadata", "deletionTimestamp"]).is_null()
}

/// Parses an RFC 3339 timestamp (metav1.Time or MicroTime); `None` for missing or malformed.
pub(crate) fn timestamp(value: &Value) -> Option<Timestamp> {
    value.as_str().and_then(|s| s.parse::<Timestamp>().ok())
}

/// `translateTimestampSince`: the age of `value` at `now`, or `<unknown>` when unset.
pub(crate) fn age(value: &Value, now: Timestamp) -> String {
    match timestamp(value) {
        Some(ts) => age_since(ts, now),
        None => "<unknown>".to_string(),
    }
}

/// The human duration from `ts` to `now`.
pub(crate) fn age_since(ts: Timestamp, now: Timestamp) -> String {
    human_duration(now.duration_since(ts).as_nanos())
}

/// The AGE cell of an object: the age of its `metadata.creationTimestamp`.
pub(crate) fn creation_age(obj: &Value, now: Timestamp) -> Value {
    Value::from(age(at(obj, &["metadata", "creationTimestamp"]), now))
}

/// `duration.HumanDuration`: a duration (in nanoseconds) with about two significant figures.
pub fn human_duration(nanos: i128) -> String {
    const SECOND: i128 = 1_000_000_000;
    const MINUTE: i128 = 60 * SECOND;
    const HOUR: i128 = 60 * MINUTE;
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / MINUTE;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / HOUR;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// `labels.FormatLabels`: `k=v` pairs sorted by key, or `<none>`.
pub(crate) fn format_labels(map: &Value) -> String {
    let pairs: Vec<String> = map
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// `metav1.LabelSelectorAsSelector(..).String()`; `Err` for a malformed selector.
/// A missing or empty selector renders as the empty string.
pub(crate) fn label_selector_string(selector: &Value) -> Result<String, ()> {
    if selector.is_null() {
        return Ok(String::new());
    }
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
        for (k, v) in labels {
            requirements.push((k.clone(), format!("{k}={}", v.as_str().unwrap_or(""))));
        }
    }
    for expr in list(selector, &["matchExpressions"]) {
        let key = text(expr, &["key"]);
        let mut values: Vec<&str> = list(expr, &["values"])
            .iter()
            .filter_map(Value::as_str)
            .collect();
        values.sort_unstable();
        let rendered = match text(expr, &["operator"]) {
            "In" if !values.is_empty() => format!("{key} in ({})", values.join(",")),
            "NotIn" if !values.is_empty() => format!("{key} notin ({})", values.join(",")),
            "Exists" if values.is_empty() => key.to_string(),
            "DoesNotExist" if values.is_empty() => format!("!{key}"),
            _ => return Err(()),
        };
        requirements.push((key.to_string(), rendered));
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(requirements
        .into_iter()
        .map(|(_, r)| r)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: the selector string, `<none>` when empty, `<error>` when malformed.
pub(crate) fn format_label_selector(selector: &Value) -> String {
    match label_selector_string(selector) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(()) => "<error>".to_string(),
    }
}

/// `layoutContainerCells`: container names and images, each comma-joined.
pub(crate) fn container_cells(containers: &[Value]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| text(c, &["name"])).collect();
    let images: Vec<&str> = containers.iter().map(|c| text(c, &["image"])).collect();
    (names.join(","), images.join(","))
}

/// `intstr.IntOrString.String()`.
pub(crate) fn int_or_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// `strings.Join(sets.NewString(items).List(), ",")`: sorted, de-duplicated, comma-joined.
pub(crate) fn sorted_set_join<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(",")
}

/// `listWithMoreString`: the first `max` entries, `+ N more...` for the rest, `<unset>` if none.
pub(crate) fn list_with_more(list: &[String], count: usize, max: usize) -> String {
    let ret = list.join(",");
    if count > max {
        format!("{ret} + {} more...", count - max)
    } else if ret.is_empty() {
        "<unset>".to_string()
    } else {
        ret
    }
}

/// `net.JoinHostPort`: brackets around IPv6 hosts.
pub(crate) fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `printBool`: `True` / `False`.
pub(crate) fn print_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// `printBoolPtr`: `True` / `False`, or `<unset>` when missing.
pub(crate) fn print_bool_ptr(value: &Value) -> &'static str {
    value.as_bool().map_or("<unset>", print_bool)
}

/// `resource.Quantity.String()` for a quantity held as JSON: its canonical form
/// (`1024Mi` -> `1Gi`, `1000m` -> `1`, `0.5` -> `500m`). Missing quantities print as `0`.
pub(crate) fn quantity(value: &Value) -> String {
    match value {
        Value::String(s) => canonical_quantity(s),
        Value::Number(n) => canonical_quantity(&n.to_string()),
        _ => "0".to_string(),
    }
}

/// Like [`quantity`], but a missing quantity prints as `<nil>` (a nil `*Quantity`).
pub(crate) fn quantity_ptr(value: &Value) -> String {
    if value.is_null() {
        "<nil>".to_string()
    } else {
        quantity(value)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum QuantityFormat {
    BinarySi,
    DecimalSi,
    DecimalExponent,
}

/// Rewrites a quantity string into the canonical form upstream's `Quantity.String()` gives;
/// anything it cannot parse (or that overflows) is returned unchanged.
pub fn canonical_quantity(input: &str) -> String {
    parse_quantity_nanos(input)
        .map(|(nanos, format)| format_quantity(nanos, format))
        .unwrap_or_else(|| input.to_string())
}

/// Parses a quantity into nano-units (rounded up, as upstream rounds below 1n) and its format.
fn parse_quantity_nanos(input: &str) -> Option<(i128, QuantityFormat)> {
    let s = input.trim();
    let (negative, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{frac}");
    let mut mantissa: i128 = digits.trim_start_matches('0').parse().unwrap_or(0);
    if digits.trim_start_matches('0').len() > 30 {
        return None;
    }
    let mut exp10: i32 = -(frac.len() as i32);
    let mut pow1024: u32 = 0;
    let format = match suffix {
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            pow1024 = match suffix {
                "Ki" => 1,
                "Mi" => 2,
                "Gi" => 3,
                "Ti" => 4,
                "Pi" => 5,
                _ => 6,
            };
            QuantityFormat::BinarySi
        }
        "n" | "u" | "m" | "" | "k" | "M" | "G" | "T" | "P" | "E" => {
            exp10 += match suffix {
                "n" => -9,
                "u" => -6,
                "m" => -3,
                "" => 0,
                "k" => 3,
                "M" => 6,
                "G" => 9,
                "T" => 12,
                "P" => 15,
                _ => 18,
            };
            QuantityFormat::DecimalSi
        }
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let e: i32 = rest.parse().ok()?;
            exp10 += e;
            QuantityFormat::DecimalExponent
        }
    };
    for _ in 0..pow1024 {
        mantissa = mantissa.checked_mul(1024)?;
    }
    let scale = exp10 + 9;
    let mut nanos = mantissa;
    if scale >= 0 {
        for _ in 0..scale {
            nanos = nanos.checked_mul(10)?;
        }
    } else {
        let divisor = 10i128.checked_pow(scale.unsigned_abs())?;
        let rounded_up = nanos % divisor != 0;
        nanos = nanos / divisor + i128::from(rounded_up);
    }
    // Keep within what upstream's int64 fast path represents comfortably.
    if nanos > i128::from(i64::MAX) * 1_000_000_000 {
        return None;
    }
    Some((if negative { -nanos } else { nanos }, format))
}

fn format_quantity(nanos: i128, format: QuantityFormat) -> String {
    const NANO: i128 = 1_000_000_000;
    if nanos == 0 {
        return "0".to_string();
    }
    if format == QuantityFormat::BinarySi && nanos % NANO == 0 && (nanos / NANO).abs() >= 1024 {
        let mut amount = nanos / NANO;
        let mut power = 0;
        while power < 6 && amount % 1024 == 0 {
            amount /= 1024;
            power += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
        return format!("{amount}{suffix}");
    }
    let mut amount = nanos;
    let mut exponent: i32 = -9;
    while amount % 10 == 0 {
        amount /= 10;
        exponent += 1;
    }
    match exponent.rem_euclid(3) {
        1 => {
            amount *= 10;
            exponent -= 1;
        }
        2 => {
            amount *= 100;
            exponent -= 2;
        }
        _ => {}
    }
    let suffix = if format == QuantityFormat::DecimalExponent {
        if exponent == 0 {
            String::new()
        } else {
            format!("e{exponent}")
        }
    } else {
        match exponent {
            -9 => "n".to_string(),
            -6 => "u".to_string(),
            -3 => "m".to_string(),
            0 => String::new(),
            3 => "k".to_string(),
            6 => "M".to_string(),
            9 => "G".to_string(),
            12 => "T".to_string(),
            15 => "P".to_string(),
            18 => "E".to_string(),
            e => format!("e{e}"),
        }
    };
    format!("{amount}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn human_durations_keep_about_two_significant_figures() {
        let s = 1_000_000_000i128;
        assert_eq!(human_duration(-2 * s), "<invalid>");
        assert_eq!(human_duration(-s / 2), "0s");
        assert_eq!(human_duration(45 * s), "45s");
        assert_eq!(human_duration(119 * s), "119s");
        assert_eq!(human_duration(303 * s), "5m3s");
        assert_eq!(human_duration(300 * s), "5m");
        assert_eq!(human_duration(179 * 60 * s), "179m");
        assert_eq!(human_duration(3 * 3600 * s), "3h");
        assert_eq!(human_duration((3 * 3600 + 20 * 60) * s), "3h20m");
        assert_eq!(human_duration(47 * 3600 * s), "47h");
        assert_eq!(human_duration(51 * 3600 * s), "2d3h");
        assert_eq!(human_duration(48 * 3600 * s), "2d");
        assert_eq!(human_duration(400 * 86400 * s), "400d");
        assert_eq!(human_duration((3 * 365 + 10) * 86400 * s), "3y10d");
        assert_eq!(human_duration(5 * 365 * 86400 * s), "5y");
        assert_eq!(human_duration(9 * 365 * 86400 * s), "9y");
    }

    #[test]
    fn quantities_print_in_canonical_form() {
        assert_eq!(canonical_quantity("10Gi"), "10Gi");
        assert_eq!(canonical_quantity("1024Mi"), "1Gi");
        assert_eq!(canonical_quantity("1.5Gi"), "1536Mi");
        assert_eq!(canonical_quantity("512"), "512");
        assert_eq!(canonical_quantity("1000m"), "1");
        assert_eq!(canonical_quantity("1500m"), "1500m");
        assert_eq!(canonical_quantity("0.5"), "500m");
        assert_eq!(canonical_quantity("1000"), "1k");
        assert_eq!(canonical_quantity("1e3"), "1e3");
        assert_eq!(canonical_quantity("0"), "0");
        assert_eq!(canonical_quantity("100M"), "100M");
        assert_eq!(canonical_quantity("not-a-quantity"), "not-a-quantity");
        assert_eq!(quantity(&Value::Null), "0");
        assert_eq!(quantity_ptr(&Value::Null), "<nil>");
    }

    #[test]
    fn selectors_render_sorted_requirements() {
        let selector = json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "env", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "Exists"}
            ]
        });
        assert_eq!(
            format_label_selector(&selector),
            "app=web,!env,tier in (a,b),zone"
        );
        assert_eq!(format_label_selector(&json!({})), "<none>");
        assert_eq!(
            format_label_selector(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]})),
            "<error>"
        );
        assert_eq!(format_labels(&json!({"b": "2", "a": "1"})), "a=1,b=2");
        assert_eq!(format_labels(&Value::Null), "<none>");
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
    }
}
