//! Per-record cost of the codec: a product record to the wire format and
//! back (the registry is not involved: the schema is already known).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pipeline::codec::{ValueSchema, WireEncoder, record_from_avro};
use pipeline::record::{FieldValue, Record};

fn product(id: i32) -> Record {
    Record::default()
        .with("id", FieldValue::Int(id))
        .with("name", FieldValue::Text(format!("Product {id}")))
        .with("category", FieldValue::Text("cat_5".into()))
        .with("price", FieldValue::Double(123.45))
        .with("last_updated", FieldValue::Long(1_764_064_800_123_456))
}

fn codec(c: &mut Criterion) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/product_value_avro_schema.json");
    let schema = ValueSchema::load(&path).expect("the value schema");
    let encoder = WireEncoder::with_id(&schema, 1);
    let record = product(7);
    let bytes = encoder.encode(&record).expect("encodes");
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema.schema)
        .build()
        .expect("reader");

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_wire_format", |b| {
        b.iter(|| encoder.encode(black_box(&record)))
    });
    group.bench_function("decode_datum_to_record", |b| {
        b.iter(|| {
            let value = reader
                .read_value(&mut black_box(&bytes[5..]))
                .expect("decodes");
            record_from_avro(value, &schema.schema)
        })
    });
    group.bench_function("record_to_json_line", |b| {
        b.iter(|| serde_json::to_string(&black_box(&record).to_json()))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
