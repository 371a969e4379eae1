//! The two seed transforms in plain Rust, the reference point for what the
//! sandbox costs (the bench crate's wasm-vs-native ratio and the plugin
//! chain micro-benchmark). Same input, same output as the seed plugins
//! `uppercase-category` then `cat5-discount`; use it through
//! [`super::PluginChain::native_seed`].

use super::chain::ChainOutcome;
use crate::record::{FieldValue, Record};

/// The plugin's own decimal arithmetic, the same file, so both round alike.
#[path = "../../../plugins/cat5-discount/src/money.rs"]
mod money;

/// The versions text of the native chain.
pub const VERSIONS: &str = "uppercase-category@native,cat5-discount@native";

const DISCOUNTED_CATEGORY: &str = "CAT_5";
/// The share of the price that is paid: 20% off.
const PERCENT_PAID: u8 = 80;

/// Both seed transforms, in chain order.
pub fn seed(record: Record) -> ChainOutcome {
    match uppercase_category(record).and_then(cat5_discount) {
        Ok(record) => ChainOutcome::Keep(record),
        Err(failure) => ChainOutcome::Failed(failure),
    }
}

/// `category` upper-cased by Unicode's full case mapping (`café_5` becomes
/// `CAFÉ_5`, `straße` becomes `STRASSE`), as Python's `str.upper()` does.
pub fn uppercase_category(mut record: Record) -> Result<Record, super::DeadLetter> {
    let fail = |reason: &str| failure("uppercase-category", reason);
    match record
        .fields
        .iter_mut()
        .find(|field| field.name == "category")
    {
        Some(field) => match &mut field.value {
            FieldValue::Text(category) => *category = category.to_uppercase(),
            FieldValue::Null => {}
            _ => return Err(fail("field `category` is not text")),
        },
        None => return Err(fail("record has no field `category`")),
    }
    Ok(record)
}

/// `discount_price`: price less 20%, in decimal, rounded to cents half away
/// from zero, for category CAT_5; null otherwise.
pub fn cat5_discount(mut record: Record) -> Result<Record, super::DeadLetter> {
    let fail = |reason: &str| failure("cat5-discount", reason);
    let discount_price = match (record.get("category"), record.get("price")) {
        (Some(FieldValue::Text(category)), Some(FieldValue::Double(price)))
            if category.eq_ignore_ascii_case(DISCOUNTED_CATEGORY) =>
        {
            FieldValue::Double(money::percent_of_in_cents(*price, PERCENT_PAID))
        }
        (_, Some(FieldValue::Double(_))) => FieldValue::Null,
        (_, None) => return Err(fail("record has no field `price`")),
        (_, Some(_)) => return Err(fail("field `price` is not a double")),
    };
    record.set("discount_price", discount_price);
    Ok(record)
}

fn failure(plugin: &str, reason: &str) -> super::DeadLetter {
    super::DeadLetter {
        plugin: plugin.to_owned(),
        version: format!("{plugin}@native"),
        reason: reason.to_owned(),
    }
}
