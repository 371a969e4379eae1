wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::Value;

struct RoundPrices;

impl Guest for RoundPrices {
    fn manifest() -> Manifest {
        Manifest {
            name: "round-prices".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["price".into()],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        rows.into_iter()
            .map(|mut row| {
                for field in &mut row.fields {
                    if let ("price", Value::Double(price)) = (field.name.as_str(), &field.value) {
                        field.value = Value::Double(price.round());
                    }
                }
                Outcome::Keep(row)
            })
            .collect()
    }
}

export!(RoundPrices);
