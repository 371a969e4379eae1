//! Exact decimals between their text (`-12.3400`) and Avro's `decimal`
//! (the unscaled integer, big-endian two's complement, scale in the schema).
//!
//! The rule: no digit is ever rounded. A value with more fraction digits
//! than the schema's scale (or more digits than its precision) is refused,
//! never cut; fewer fraction digits are padded with zeros.

use num_bigint::BigInt;

/// The unscaled bytes of `text` at `scale`; `Err` says why it does not fit.
pub fn unscaled_bytes(text: &str, precision: usize, scale: usize) -> Result<Vec<u8>, String> {
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(format!("`{text}` is not a decimal number"));
    }
    let significant = fraction.trim_end_matches('0');
    if significant.len() > scale {
        return Err(format!("`{text}` has more than {scale} fraction digits"));
    }
    let mut unscaled = whole.trim_start_matches('0').to_owned();
    unscaled.push_str(fraction);
    for _ in fraction.len()..scale {
        unscaled.push('0');
    }
    unscaled.truncate(unscaled.len() - fraction.len().saturating_sub(scale));
    let unscaled = unscaled.trim_start_matches('0');
    if unscaled.len() > precision {
        return Err(format!("`{text}` has more than {precision} digits"));
    }
    let value = if unscaled.is_empty() {
        BigInt::from(0)
    } else {
        BigInt::parse_bytes(unscaled.as_bytes(), 10)
            .ok_or_else(|| format!("`{text}` is not a decimal number"))?
    };
    Ok(if negative { -value } else { value }.to_signed_bytes_be())
}

/// The text of the unscaled big-endian two's complement `bytes` at `scale`.
pub fn text_of(bytes: &[u8], scale: usize) -> String {
    let value = BigInt::from_signed_bytes_be(bytes);
    let negative = value.sign() == num_bigint::Sign::Minus;
    let mut digits = value.magnitude().to_string();
    if scale > 0 {
        if digits.len() <= scale {
            digits = format!("{}{digits}", "0".repeat(scale + 1 - digits.len()));
        }
        digits.insert(digits.len() - scale, '.');
    }
    if negative {
        digits.insert(0, '-');
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip_exactly() {
        for (text, scale, expected) in [
            ("12.34", 4, "12.3400"),
            ("-0.0001", 4, "-0.0001"),
            ("0", 2, "0.00"),
            ("99999999.9999", 4, "99999999.9999"),
            ("18446744073709551615", 0, "18446744073709551615"),
            ("-5", 0, "-5"),
        ] {
            let bytes = unscaled_bytes(text, 20, scale).unwrap();
            assert_eq!(text_of(&bytes, scale), expected, "{text}");
        }
    }

    #[test]
    fn digits_are_refused_not_rounded() {
        assert!(unscaled_bytes("1.23456", 12, 4).is_err());
        assert!(unscaled_bytes("123", 2, 0).is_err());
        assert!(unscaled_bytes("abc", 12, 4).is_err());
        assert!(unscaled_bytes("1.20000", 12, 4).is_ok());
    }
}
