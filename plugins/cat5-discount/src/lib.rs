//! Seed transform 2: adds `discount_price`, the price less 20% for products in
//! category `CAT_5` (compared case-insensitively, so the plugin works before or
//! after `uppercase-category`), and `null` for every other category. The
//! discounted price is computed in decimal and rounded to cents half away
//! from zero (`money.rs` states the rule; the host's native twin includes the
//! same file).
//!
//! A `transform-batch` plugin: it is sent `category` and `price`, and returns
//! `discount_price` alone.

wit_bindgen::generate!({ path: "../../wit", world: "transform-batch" });

mod money;

use pipeline::transform::batch_types::{Cell, RowOutcome, Span};
use pipeline::transform::types::{FieldSpec, FieldType};

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

    fn transform_batch(batch: Batch) -> BatchResult {
        let rows = batch.rows as usize;
        let mut result = BatchResult {
            outcomes: Vec::with_capacity(rows),
            values: Vec::with_capacity(rows),
            data: Vec::new(),
        };
        // The columns are the manifest's `reads`: category, then price.
        for row in batch.values.chunks_exact(batch.columns.len().max(1)) {
            let [category, price] = row else {
                result.outcomes.push(RowOutcome::Fail(
                    "expected the columns category, price".into(),
                ));
                continue;
            };
            let discount_price = match (category, price) {
                (Cell::Text(category), Cell::Double(price))
                    if bytes(&batch.data, *category).is_some_and(|text| {
                        text.eq_ignore_ascii_case(DISCOUNTED_CATEGORY.as_bytes())
                    }) =>
                {
                    Cell::Double(money::percent_of_in_cents(*price, PERCENT_PAID))
                }
                (_, Cell::Double(_)) => Cell::Null,
                (_, Cell::Null) => {
                    result
                        .outcomes
                        .push(RowOutcome::Fail("record has no field `price`".into()));
                    continue;
                }
                _ => {
                    result
                        .outcomes
                        .push(RowOutcome::Fail("field `price` is not a double".into()));
                    continue;
                }
            };
            result.values.push(discount_price);
            result.outcomes.push(RowOutcome::Keep);
        }
        result
    }
}

/// The bytes `span` names in `data` (a text's UTF-8).
fn bytes(data: &[u8], span: Span) -> Option<&[u8]> {
    let start = span.start as usize;
    data.get(start..start.checked_add(span.len as usize)?)
}

export!(Cat5Discount);
