//! Seed-style filter: drops records whose `price` is not positive (zero,
//! negative, NaN or null), with the price in the reason; keeps the rest
//! unchanged. A record without a double `price` is a failure, not a drop.
//!
//! A `transform-batch` plugin: it is sent `price` alone and writes nothing.

wit_bindgen::generate!({ path: "../../wit", world: "transform-batch" });

use pipeline::transform::batch_types::Cell;
use pipeline::transform::batch_types::RowOutcome;

struct PriceFilter;

impl Guest for PriceFilter {
    fn manifest() -> Manifest {
        Manifest {
            name: "price-filter".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["price".into()],
            writes: vec![],
        }
    }

    fn transform_batch(batch: Batch) -> BatchResult {
        // One column, `price`: one value per row; no `writes`, so no values back.
        let outcomes = batch.values.iter().map(filter).collect();
        BatchResult {
            outcomes,
            values: Vec::new(),
            data: Vec::new(),
        }
    }
}

fn filter(price: &Cell) -> RowOutcome {
    match price {
        Cell::Double(price) if *price > 0.0 => RowOutcome::Keep,
        Cell::Double(price) => RowOutcome::Drop(format!("price {price} is not positive")),
        Cell::Null => RowOutcome::Drop("price is null".into()),
        _ => RowOutcome::Fail("field `price` is not a double".into()),
    }
}

export!(PriceFilter);
