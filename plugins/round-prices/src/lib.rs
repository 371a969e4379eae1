//! `price` rounded to a whole number (half away from zero). A
//! `transform-batch` plugin: it is sent `price` alone and returns it.

wit_bindgen::generate!({ path: "../../wit", world: "transform-batch" });

use pipeline::transform::batch_types::{Cell, RowOutcome};
use pipeline::transform::types::{FieldSpec, FieldType};

struct RoundPrices;

impl Guest for RoundPrices {
    fn manifest() -> Manifest {
        Manifest {
            name: "round-prices".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["price".into()],
            writes: vec![FieldSpec {
                name: "price".into(),
                type_: FieldType::Double,
                optional: false,
            }],
        }
    }

    fn transform_batch(batch: Batch) -> BatchResult {
        let values: Vec<Cell> = batch
            .values
            .into_iter()
            .map(|price| match price {
                Cell::Double(price) => Cell::Double(price.round()),
                other => other,
            })
            .collect();
        BatchResult {
            outcomes: vec![RowOutcome::Keep; values.len()],
            values,
            data: Vec::new(),
        }
    }
}

export!(RoundPrices);
