//! Test and bench fixture: `cat5-discount` as it was written against the first
//! version of the interface, the `transform` world (every record as named
//! fields), kept unchanged: the host must still load and run a plugin built
//! that way (`plugin_chain` checks it gives the batch-world seed's output),
//! and the bench measures it side by side with the batch world.
//!
//! Seed transform 2: adds `discount_price`, the price less 20% for products in
//! category `CAT_5` (compared case-insensitively, so the plugin works before or
//! after `uppercase-category`), and `null` for every other category. The
//! discounted price is computed in decimal and rounded to cents half away
//! from zero (`money.rs` states the rule; the host's native twin includes the
//! same file).

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

#[path = "../../cat5-discount/src/money.rs"]
mod money;

use pipeline::transform::types::{Field, FieldSpec, FieldType, Value};

const DISCOUNTED_CATEGORY: &str = "CAT_5";
/// The share of the price that is paid: 20% off.
const PERCENT_PAID: u8 = 80;

struct Cat5Discount;

impl Guest for Cat5Discount {
    fn manifest() -> Manifest {
        Manifest {
            name: "cat5-discount".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["category".into(), "price".into()],
            writes: vec![FieldSpec {
                name: "discount_price".into(),
                type_: FieldType::Double,
                optional: true,
            }],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(add_discount_price).collect()
    }
}

fn add_discount_price(mut row: Row) -> Outcome {
    let category = row
        .fields
        .iter()
        .find(|f| f.name == "category")
        .map(|f| &f.value);
    let price = row
        .fields
        .iter()
        .find(|f| f.name == "price")
        .map(|f| &f.value);
    let discount_price = match (category, price) {
        (Some(Value::Text(category)), Some(Value::Double(price)))
            if category.eq_ignore_ascii_case(DISCOUNTED_CATEGORY) =>
        {
            Value::Double(money::percent_of_in_cents(*price, PERCENT_PAID))
        }
        (_, Some(Value::Double(_))) => Value::Null,
        (_, None) => return Outcome::Fail("record has no field `price`".into()),
        (_, Some(_)) => return Outcome::Fail("field `price` is not a double".into()),
    };
    match row.fields.iter_mut().find(|f| f.name == "discount_price") {
        Some(field) => field.value = discount_price,
        None => row.fields.push(Field {
            name: "discount_price".into(),
            value: discount_price,
        }),
    }
    Outcome::Keep(row)
}

export!(Cat5Discount);
