//! Seed-style filter: drops records whose `price` is not positive (zero,
//! negative, NaN or null), with the price in the reason; keeps the rest
//! unchanged. A record without a double `price` is a failure, not a drop.

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::Value;

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

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter().map(filter).collect()
    }
}

fn filter(row: Row) -> Outcome {
    match row
        .fields
        .iter()
        .find(|field| field.name == "price")
        .map(|field| &field.value)
    {
        Some(Value::Double(price)) if *price > 0.0 => Outcome::Keep(row),
        Some(Value::Double(price)) => Outcome::Drop(format!("price {price} is not positive")),
        Some(Value::Null) => Outcome::Drop("price is null".into()),
        Some(_) => Outcome::Fail("field `price` is not a double".into()),
        None => Outcome::Fail("record has no field `price`".into()),
    }
}

export!(PriceFilter);
