//! Test fixture: a hostile `transform-batch` plugin, the attacks on the
//! batch world's own paths (its output values, their spans of the result's
//! `data`, its limits). It reads `id`, `price` and `name` and writes them
//! back unchanged (`name` copied into the result's `data`), except for the
//! records whose `id` is one of the attack numbers below:
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
//! | 116 | `name` as a span starting at the end of the result's `data`       |
//! | 117 | `name` as a span whose start + len overflows a u32 (wraps to 0)   |
//! | 118 | `name` as a span of bytes that are not UTF-8                      |
//! | 119 | 200,000 extra spans (a span count far above the record count)     |
//! | 120 | `name` as a span cutting a UTF-8 character in two                 |
//! | 121 | panics (a trap: the batch is bisected)                            |

wit_bindgen::generate!({ path: "../../wit", world: "transform-batch" });

use pipeline::transform::batch_types::{Cell, RowOutcome, Span};
use pipeline::transform::types::{FieldSpec, FieldType};

struct HostileBatch;

/// `bytes` appended to `data`, as a span.
fn push(data: &mut Vec<u8>, bytes: &[u8]) -> Span {
    let start = data.len() as u32;
    data.extend_from_slice(bytes);
    Span {
        start,
        len: bytes.len() as u32,
    }
}

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
            reads: vec!["id".into(), "price".into(), "name".into()],
            writes: vec![
                write("id", FieldType::Int),
                write("price", FieldType::Double),
                write("name", FieldType::Text),
            ],
        }
    }

    fn transform_batch(batch: Batch) -> BatchResult {
        let mut result = BatchResult {
            outcomes: Vec::new(),
            values: Vec::new(),
            data: Vec::new(),
        };
        // Values whose span must start where the result's data ends, once
        // every row has written its bytes.
        let mut past_the_end = Vec::new();
        for row in batch.values.chunks_exact(3) {
            let (id, price) = (row[0], row[1]);
            let name = match row[2] {
                Cell::Text(span) => {
                    let at = span.start as usize..(span.start + span.len) as usize;
                    Cell::Text(push(&mut result.data, &batch.data[at]))
                }
                other => other,
            };
            let number = match id {
                Cell::Int(id) => id,
                _ => 0,
            };
            let keep = |result: &mut BatchResult, id, price, name| {
                result.values.extend([id, price, name]);
                result.outcomes.push(RowOutcome::Keep);
            };
            match number {
                101 => {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                    keep(&mut result, id, price, name);
                }
                104 => {
                    keep(&mut result, id, price, name);
                    let text = push(&mut result.data, &[b's'; 64 * 1024]);
                    for _ in 0..512 {
                        result.values.push(Cell::Text(text));
                    }
                }
                105 => result
                    .outcomes
                    .push(RowOutcome::Fail("x".repeat(1_000_000))),
                106 => {
                    for _ in 0..300_000 {
                        result.outcomes.push(RowOutcome::Drop(String::new()));
                    }
                    keep(&mut result, id, price, name);
                }
                107 => keep(&mut result, id, Cell::Double(f64::NAN), name),
                108 => keep(&mut result, id, Cell::Double(f64::INFINITY), name),
                112 => keep(&mut result, Cell::Null, price, name),
                113 => loop {
                    std::hint::black_box(&price);
                },
                114 => {
                    let hoard = std::hint::black_box(vec![7u8; 1 << 30]);
                    keep(&mut result, id, Cell::Double(f64::from(hoard[12])), name);
                }
                115 => {
                    result.values.push(id);
                    result.outcomes.push(RowOutcome::Keep);
                }
                116 => {
                    past_the_end.push(result.values.len() + 2);
                    keep(
                        &mut result,
                        id,
                        price,
                        Cell::Text(Span { start: 0, len: 1 }),
                    );
                }
                117 => {
                    let wraps = Span {
                        start: u32::MAX - 1,
                        len: 2,
                    };
                    keep(&mut result, id, price, Cell::Text(wraps));
                }
                118 => {
                    let not_utf8 = push(&mut result.data, b"ok\xff\xfe");
                    keep(&mut result, id, price, Cell::Text(not_utf8));
                }
                119 => {
                    keep(&mut result, id, price, name);
                    for _ in 0..200_000 {
                        result.values.push(Cell::Text(Span { start: 0, len: 0 }));
                    }
                }
                120 => {
                    let mut cut = push(&mut result.data, "é".as_bytes());
                    cut.len = 1;
                    keep(&mut result, id, price, Cell::Text(cut));
                }
                121 => panic!("attack 121"),
                _ => keep(&mut result, id, price, name),
            }
        }
        let end = result.data.len() as u32;
        for at in past_the_end {
            result.values[at] = Cell::Text(Span { start: end, len: 1 });
        }
        result
    }
}

export!(HostileBatch);
