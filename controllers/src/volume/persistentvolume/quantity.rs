//! Storage sizes: a `resource.Quantity` string (`10Gi`, `1.5G`, `500M`, `1e3`, `100m`) read as
//! thousandths of a unit, so capacities compare exactly as upstream's `Quantity.Cmp`.

/// A quantity in thousandths of its unit (bytes for storage); None when it does not parse.
pub fn milli_value(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let (negative, number) = match number.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    if !digits.chars().all(|c| c.is_ascii_digit()) || digits.len() > 30 {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    // value = mantissa * 10^exp10 * 2^exp2, in thousandths: exp10 += 3.
    let (mut exp10, exp2): (i32, u32) = match suffix {
        "" => (0, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with(['e', 'E']) => (s[1..].parse().ok()?, 0),
        _ => return None,
    };
    exp10 += 3 - i32::try_from(fraction.len()).ok()?;
    let mut v = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if exp10 >= 0 {
        v = v.checked_mul(10i128.checked_pow(exp10.unsigned_abs())?)?;
    } else {
        // Round up as upstream does when a quantity is finer than the scale.
        let d = 10i128.checked_pow(exp10.unsigned_abs())?;
        v = (v + d - 1) / d;
    }
    Some(if negative { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_and_decimal_suffixes_scale_to_bytes() {
        assert_eq!(milli_value("1Gi"), Some(1_073_741_824_000));
        assert_eq!(milli_value("1G"), Some(1_000_000_000_000));
        assert_eq!(milli_value("1.5Ki"), Some(1_536_000));
        assert_eq!(milli_value("500M"), Some(500_000_000_000));
        assert_eq!(milli_value("100m"), Some(100));
        assert_eq!(milli_value("1e3"), Some(1_000_000));
        assert_eq!(milli_value("42"), Some(42_000));
    }

    #[test]
    fn sizes_in_different_units_compare_by_value() {
        assert!(milli_value("1Gi") > milli_value("1G"));
        assert!(milli_value("1024Mi") == milli_value("1Gi"));
        assert!(milli_value("2Gi") > milli_value("2000Mi"));
    }

    #[test]
    fn garbage_does_not_parse() {
        assert_eq!(milli_value("ten"), None);
        assert_eq!(milli_value("1Xi"), None);
        assert_eq!(milli_value(""), None);
    }
}
