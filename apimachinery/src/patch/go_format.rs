//! Go's `%v` printing of decoded JSON values, so that error messages read as upstream's.

use serde_json::Value;

/// The Go type a decoded JSON value has in upstream (`encoding/json` into `interface{}`).
pub(crate) fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%v` of a value: `map[a:1 b:[x y]]`, strings unquoted, numbers as `float64`.
pub(crate) fn go_value(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// Go's `%v` of a list of values: `[a b]`.
pub(crate) fn go_list(values: &[Value]) -> String {
    let mut out = String::new();
    write_list(&mut out, values);
    out
}

/// Go's `%s` of a value, which only strings satisfy: `%!s(float64=1)` otherwise.
pub(crate) fn go_string(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "%!s(<nil>)".to_owned(),
        other => format!("%!s({}={})", go_type(other), go_value(other)),
    }
}

fn write_list(out: &mut String, values: &[Value]) {
    out.push('[');
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        write_value(out, value);
    }
    out.push(']');
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) => out.push_str(&go_float(number.as_f64().unwrap_or(f64::NAN))),
        Value::String(text) => out.push_str(text),
        Value::Array(values) => write_list(out, values),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_value(out, &map[key.as_str()]);
            }
            out.push(']');
        }
    }
}

/// Go's `%v` of a float64 (`%g` with the shortest digits, exponent from 1e+06 / below 1e-04).
fn go_float(number: f64) -> String {
    if number == 0.0 || !number.is_finite() {
        return format!("{number}");
    }
    // `{:e}` gives the shortest digits, e.g. "1.5e6" or "-8e1".
    let scientific = format!("{number:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    if (-4..6).contains(&exponent) {
        return format!("{number}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_print_with_sorted_keys_and_unquoted_strings() {
        let value = json!({"name": "nginx", "image": "nginx:1.27", "ports": [80, 443]});
        assert_eq!(
            go_value(&value),
            "map[image:nginx:1.27 name:nginx ports:[80 443]]"
        );
    }

    #[test]
    fn floats_print_as_go_prints_float64() {
        assert_eq!(go_float(80.0), "80");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1_000_000.0), "1e+06");
        assert_eq!(go_float(1.5e21), "1.5e+21");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
    }

    #[test]
    fn only_strings_satisfy_percent_s() {
        assert_eq!(go_string(&json!("merge")), "merge");
        assert_eq!(go_string(&json!(1)), "%!s(float64=1)");
    }
}
