//! Money in decimal: a percentage of a price, rounded to cents, computed on
//! the price's decimal text rather than on binary floating point.
//!
//! The one rule: the price is the decimal number its shortest round-trip text
//! says (Rust's `{}` of the `f64`, e.g. `1.29375`), the percentage is applied
//! exactly, the result is rounded to cents **half away from zero** (`1.035`
//! becomes `1.04`, `-1.035` becomes `-1.04`), and the answer is the `f64`
//! nearest that decimal. `(price * 0.8 * 100.0).round() / 100.0` on doubles
//! follows no rule: 1.29375 gives 1.03 (80% is exactly 1.035) while
//! 1000000.15625 gives 800000.13.
//!
//! This file has no dependencies: the `cat5-discount` plugin compiles it as a
//! module, and the host's native twin (`host/src/plugin/native.rs`) includes
//! the same file by path, so both give identical results and its tests run on
//! the host (`cargo test -p host --lib money`).

/// `price × percent / 100`, rounded to cents half away from zero, as the
/// nearest `f64`. A price that is not finite (never stored by MySQL) comes
/// back as the plain floating-point product.
pub fn percent_of_in_cents(price: f64, percent: u8) -> f64 {
    if !price.is_finite() {
        return price * f64::from(percent) / 100.0;
    }
    let text = format!("{price}");
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    // The price as an integer of decimal digits (most significant first) and
    // the number of them after the point.
    let mut digits: Vec<u8> = whole
        .bytes()
        .chain(fraction.bytes())
        .map(|b| b - b'0')
        .collect();
    multiply(&mut digits, u32::from(percent));
    let scale = fraction.len() + 2; // the "/ 100" of the percentage
    // Round to cents: drop the places beyond two, rounding half away from
    // zero (on the magnitude: the first dropped digit decides), or pad to two.
    if scale > 2 {
        let dropped = scale - 2;
        let first_dropped = if digits.len() >= dropped {
            digits[digits.len() - dropped]
        } else {
            0 // the whole magnitude is below the first dropped place
        };
        digits.truncate(digits.len().saturating_sub(dropped));
        if first_dropped >= 5 {
            add_one(&mut digits);
        }
    } else {
        digits.resize(digits.len() + (2 - scale), 0);
    }
    // `digits` now counts cents; `<cents>e-2` parses (correctly rounded) to
    // the f64 nearest the decimal.
    let mut cents_text = String::with_capacity(digits.len() + 5);
    if negative {
        cents_text.push('-');
    }
    if digits.is_empty() {
        cents_text.push('0');
    }
    cents_text.extend(digits.iter().map(|digit| char::from(b'0' + digit)));
    cents_text.push_str("e-2");
    cents_text.parse().unwrap_or(f64::NAN)
}

/// `digits *= factor`, in place (big-endian base-10 digits).
fn multiply(digits: &mut Vec<u8>, factor: u32) {
    let mut carry = 0u32;
    for digit in digits.iter_mut().rev() {
        let product = u32::from(*digit) * factor + carry;
        *digit = (product % 10) as u8;
        carry = product / 10;
    }
    while carry > 0 {
        digits.insert(0, (carry % 10) as u8);
        carry /= 10;
    }
}

/// `digits += 1`, in place.
fn add_one(digits: &mut Vec<u8>) {
    for digit in digits.iter_mut().rev() {
        if *digit == 9 {
            *digit = 0;
        } else {
            *digit += 1;
            return;
        }
    }
    digits.insert(0, 1);
}

#[cfg(test)]
mod tests {
    use super::percent_of_in_cents;

    /// The f64 nearest `cents / 100`: both are exact in f64 below 2^53 and
    /// IEEE division rounds correctly, so this is an independent reference.
    fn nearest(cents: i64) -> f64 {
        cents as f64 / 100.0
    }

    #[test]
    fn half_cents_round_away_from_zero() {
        assert_eq!(percent_of_in_cents(1.29375, 80), 1.04); // 1.035
        assert_eq!(percent_of_in_cents(-1.29375, 80), -1.04);
        assert_eq!(percent_of_in_cents(1000000.15625, 80), 800000.13); // 800000.125
        assert_eq!(percent_of_in_cents(1.29374, 80), 1.03); // 1.034992
        assert_eq!(percent_of_in_cents(0.00625, 80), 0.01); // 0.005
        assert_eq!(percent_of_in_cents(0.006, 80), 0.0); // 0.0048
        assert_eq!(percent_of_in_cents(0.0, 80), 0.0);
        assert_eq!(percent_of_in_cents(40.86, 80), 32.69); // 32.688
        assert_eq!(percent_of_in_cents(12.5, 80), 10.0);
        assert_eq!(percent_of_in_cents(99.99, 80), 79.99); // 79.992
        assert_eq!(percent_of_in_cents(1e20, 80), 8e19);
        assert_eq!(percent_of_in_cents(1e-300, 80), 0.0);
        assert!(percent_of_in_cents(f64::NAN, 80).is_nan());
        assert_eq!(percent_of_in_cents(f64::INFINITY, 80), f64::INFINITY);
    }

    #[test]
    fn agrees_with_integer_arithmetic_over_a_large_range() {
        // Prices with up to five decimals: k / 100000. Their shortest text is
        // that decimal, so 80% of it is k * 8 / 10^6 exactly, and half-up
        // cents are (k * 8 + 5000) / 10000 in integers.
        let check = |k: i64| {
            let price: f64 = format!("{}.{:05}", k / 100_000, k % 100_000)
                .parse()
                .unwrap();
            let expected = nearest((k * 8 + 5_000) / 10_000);
            assert_eq!(percent_of_in_cents(price, 80), expected, "price {price}");
            assert_eq!(percent_of_in_cents(-price, 80), -expected, "price -{price}");
        };
        for k in 0..500_000 {
            check(k);
        }
        // Then up to 10^10 (15 significant digits, still exact as text) in
        // wide steps whose odd size walks through every last-digit residue.
        let mut k = 500_000i64;
        while k < 1_000_000_000_000_000 {
            check(k);
            k += 999_999_937;
        }
    }

    #[test]
    fn cents_prices_discount_as_the_seed_expects() {
        // Every price in whole cents below 10,000.00: 80% has at most three
        // decimals, the last even, so no half case and the result is the
        // nearest cents.
        for cents in 0..1_000_000i64 {
            let price = nearest(cents);
            let expected = nearest((cents * 80 + 50) / 100);
            assert_eq!(percent_of_in_cents(price, 80), expected, "price {price}");
        }
    }
}
