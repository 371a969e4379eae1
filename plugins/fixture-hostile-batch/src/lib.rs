//! Test fixture: a hostile `transform-batch` plugin, the attacks on the
//! batch world's own paths (its output values, its limits). It reads `id`
//! and `price` and writes them back unchanged, except for the records whose
//! `id` is one of the attack numbers below:
//!
//! | id  | attack                                                            |
//! |-----|-------------------------------------------------------------------|
//! | 101 | `std::thread::sleep` for an hour                                  |
//! | 104 | 512 extra values spanning one 64 KiB text (32 MiB if copied each) |
//! | 105 | `fail` with a 1 MB reason                                         |
//! | 106 | 300,000 extra outcomes                                            |
//! | 107 | NaN for `price`                                                   |
//! | 108 | +infinity for `price`                                             |
//! | 112 | null for the key `id`                                             |
//! | 113 | an endless loop                                                   |
//! | 114 | allocates 1 GiB                                                   |
//! | 115 | one value too few                                                 |

wit_bindgen::generate!({ path: "../../wit", world: "transform-batch" });

use pipeline::transform::batch_types::{Cell, RowOutcome, Span};
use pipeline::transform::types::{FieldSpec, FieldType};

struct HostileBatch;

impl Guest for HostileBatch {
    fn manifest() -> Manifest {
        let write = |name: &str, type_| FieldSpec {
            name: name.into(),
            type_,
            optional: false,
        };
        Manifest {
            name: "fixture-hostile-batch".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["id".into(), "price".into()],
            writes: vec![
                write("id", FieldType::Int),
                write("price", FieldType::Double),
            ],
        }
    }

    fn transform_batch(batch: Batch) -> BatchResult {
        let mut result = BatchResult {
            outcomes: Vec::new(),
            values: Vec::new(),
            data: Vec::new(),
        };
        for row in batch.values.chunks_exact(2) {
            let (id, price) = (row[0], row[1]);
            let number = match id {
                Cell::Int(id) => id,
                _ => 0,
            };
            let keep = |result: &mut BatchResult, id, price| {
                result.values.push(id);
                result.values.push(price);
                result.outcomes.push(RowOutcome::Keep);
            };
            match number {
                101 => {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                    keep(&mut result, id, price);
                }
                104 => {
                    keep(&mut result, id, price);
                    let start = result.data.len() as u32;
                    result.data.extend(std::iter::repeat_n(b's', 64 * 1024));
                    for _ in 0..512 {
                        result.values.push(Cell::Text(Span {
                            start,
                            len: 64 * 1024,
                        }));
                    }
                }
                105 => result
                    .outcomes
                    .push(RowOutcome::Fail("x".repeat(1_000_000))),
                106 => {
                    for _ in 0..300_000 {
                        result.outcomes.push(RowOutcome::Drop(String::new()));
                    }
                    keep(&mut result, id, price);
                }
                107 => keep(&mut result, id, Cell::Double(f64::NAN)),
                108 => keep(&mut result, id, Cell::Double(f64::INFINITY)),
                112 => keep(&mut result, Cell::Null, price),
                113 => loop {
                    std::hint::black_box(&price);
                },
                114 => {
                    let hoard = std::hint::black_box(vec![7u8; 1 << 30]);
                    keep(&mut result, id, Cell::Double(f64::from(hoard[12])));
                }
                115 => {
                    result.values.push(id);
                    result.outcomes.push(RowOutcome::Keep);
                }
                _ => keep(&mut result, id, price),
            }
        }
        result
    }
}

export!(HostileBatch);
