//! Test fixture: a hostile plugin. Every record passes through unchanged,
//! except the records whose `id` is one of the attack numbers below, on which
//! it attacks the host. Each attack must cost the host at most the plugin's
//! limits and fail (or, for printing, pass) only its own record.
//!
//! | id  | attack                                                           |
//! |-----|------------------------------------------------------------------|
//! | 101 | `std::thread::sleep` for an hour                                 |
//! | 102 | `wasi:io/poll.poll` on an hour-long monotonic-clock subscription  |
//! | 103 | blocks on a `subscribe-instant` pollable an hour ahead            |
//! | 104 | one outcome with 512 fields sharing one 1 MiB text (512 MiB copied) |
//! | 105 | `fail` with a 1 MB reason                                         |
//! | 106 | 300,000 extra outcomes                                            |
//! | 107 | NaN in the first double field                                     |
//! | 108 | +infinity in the first double field                               |
//! | 109 | prints 1 MiB to stdout and stderr, then keeps the record          |
//! | 110 | asks `wasi:random` for 1 GiB of bytes                             |
//! | 111 | `drop` with a 100 kB reason (under the output cap)                |
//! | 112 | removes the `id` field                                            |

wit_bindgen::generate!({ path: "../../wit", world: "transform" });

use pipeline::transform::types::{Field, Value};

const HOUR_NS: i64 = 3_600_000_000_000;

#[link(wasm_import_module = "wasi:clocks/monotonic-clock@0.2.4")]
unsafe extern "C" {
    #[link_name = "subscribe-duration"]
    fn subscribe_duration(nanos: i64) -> i32;
    #[link_name = "subscribe-instant"]
    fn subscribe_instant(when: i64) -> i32;
    #[link_name = "now"]
    fn monotonic_now() -> i64;
}

#[link(wasm_import_module = "wasi:io/poll@0.2.4")]
unsafe extern "C" {
    #[link_name = "[method]pollable.block"]
    fn pollable_block(pollable: i32);
    #[link_name = "poll"]
    fn poll(list: *const i32, len: usize, result: *mut [usize; 2]);
}

#[link(wasm_import_module = "wasi:random/random@0.2.4")]
unsafe extern "C" {
    #[link_name = "get-random-bytes"]
    fn get_random_bytes(len: i64, result: *mut [usize; 2]);
}

struct Hostile;

impl Guest for Hostile {
    fn manifest() -> Manifest {
        Manifest {
            name: "fixture-hostile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            reads: vec!["id".into()],
            writes: vec![],
        }
    }

    fn transform(rows: Vec<Row>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(rows.len());
        for row in rows {
            let outcome = match id(&row) {
                101 => {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                    Outcome::Keep(row)
                }
                102 => {
                    // SAFETY: plain WASI calls; `result` is a valid out-pointer.
                    unsafe {
                        let pollable = subscribe_duration(HOUR_NS);
                        let mut result = [0usize; 2];
                        poll(&pollable, 1, &mut result);
                    }
                    Outcome::Keep(row)
                }
                103 => {
                    // SAFETY: plain WASI calls.
                    unsafe { pollable_block(subscribe_instant(monotonic_now() + HOUR_NS)) };
                    Outcome::Keep(row)
                }
                104 => Outcome::Keep(shared_buffer_row(row)),
                105 => Outcome::Fail("x".repeat(1_000_000)),
                106 => {
                    for _ in 0..300_000 {
                        outcomes.push(Outcome::Drop(String::new()));
                    }
                    Outcome::Keep(row)
                }
                107 => Outcome::Keep(with_first_double(row, f64::NAN)),
                108 => Outcome::Keep(with_first_double(row, f64::INFINITY)),
                109 => {
                    let text = "y".repeat(1 << 20);
                    println!("{text}");
                    eprintln!("{text}");
                    Outcome::Keep(row)
                }
                110 => {
                    let mut result = [0usize; 2];
                    // SAFETY: a plain WASI call; `result` is a valid out-pointer.
                    unsafe { get_random_bytes(1 << 30, &mut result) };
                    Outcome::Keep(row)
                }
                111 => Outcome::Drop("z".repeat(100_000)),
                112 => {
                    let mut row = row;
                    row.fields.retain(|field| field.name != "id");
                    Outcome::Keep(row)
                }
                _ => Outcome::Keep(row),
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}

/// `row` plus 512 text fields whose bytes are all one 1 MiB buffer: 1 MiB of
/// guest memory that a host copying each field would turn into 512 MiB.
fn shared_buffer_row(mut row: Row) -> Row {
    let mut buffer = std::mem::ManuallyDrop::new("s".repeat(1 << 20));
    let (ptr, len, capacity) = (buffer.as_mut_ptr(), buffer.len(), buffer.capacity());
    for n in 0..512 {
        // SAFETY: deliberately aliased (this plugin is an attack); the
        // strings are only read by the host when the result is lifted.
        let alias = unsafe { String::from_raw_parts(ptr, len, capacity) };
        row.fields.push(Field {
            name: format!("shared_{n}"),
            value: Value::Text(alias),
        });
    }
    row
}

fn with_first_double(mut row: Row, value: f64) -> Row {
    if let Some(field) = row
        .fields
        .iter_mut()
        .find(|field| matches!(field.value, Value::Double(_)))
    {
        field.value = Value::Double(value);
    }
    row
}

fn id(row: &Row) -> i64 {
    match row
        .fields
        .iter()
        .find(|field| field.name == "id")
        .map(|field| &field.value)
    {
        Some(Value::Int(id)) => i64::from(*id),
        Some(Value::Long(id)) => *id,
        _ => 0,
    }
}

export!(Hostile);
