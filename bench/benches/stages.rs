//! Per-record cost of each stage the pipeline runs on its own CPU, one
//! Criterion group per process (the end-to-end driver turns these into
//! `stage_costs_ns` of `report.json`, see `bench/src/stages.rs`):
//!
//! - `producer`: a MySQL row (as the binary protocol hands it over) to a
//!   record, the record to the wire format, the message key, the dirty
//!   read's and the lookback scan's key decoding, the late-change
//!   bookkeeping of a sent row, and a 5,000-row batch encoded (key and
//!   value) on one thread and on the encoder pool's two;
//! - `consumer`: the wire format to a record, the record to a log line, a
//!   batch of lines appended to the log, and the log's `fdatasync` before a
//!   commit (per sync, not per record).
//!
//! The plugin chain is `plugin_chain.rs`. The `*_apache_avro` and
//! `json_line_via_map` entries are the code paths these stages replaced,
//! kept here so one run shows before and after side by side.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::writer::datum::GenericDatumWriter;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use mysql_common::constants::ColumnType;
use mysql_common::packets::Column;
use mysql_common::value::Value;
use pipeline::codec::{ValueSchema, WireEncoder, record_from_avro, record_to_avro};
use pipeline::producer::encode::{EncoderPool, encode_chunk};
use pipeline::record::{FieldValue, Record};
use pipeline::sink::{ConsumerLog, LogLine, LogLineRef, RecordJson, SourcePosition};
use pipeline::source::catalog::ColumnKind;
use pipeline::source::key::KeyColumns;
use pipeline::source::key::message_key;
use pipeline::source::late::LateChanges;
use pipeline::source::{KeyPart, Position, SourceRow, Tailer};
use pipeline::timestamp::Timestamp;

/// utf8mb4_general_ci: a text column (63 would be binary, a blob).
const UTF8MB4_GENERAL_CI: u16 = 45;

/// Records per batch: the consumer's default batch size.
const BATCH: usize = 500;

/// Rows per batch: the producer's default `source.batch_size`.
const PRODUCER_BATCH: usize = 5000;

/// `count` product rows from id `first`, one microsecond apart.
fn batch_rows(first: usize, count: usize, template: &Record) -> Vec<SourceRow> {
    (first..first + count)
        .map(|id| SourceRow {
            position: Position {
                timestamp: Timestamp(1_764_064_800_000_000 + id as i64),
                key: vec![KeyPart::Int(id as i64)],
            },
            record: template.clone(),
        })
        .collect()
}

fn product(id: i32) -> Record {
    Record::default()
        .with("id", FieldValue::Int(id))
        .with("name", FieldValue::Text(format!("Product {id}")))
        .with("category", FieldValue::Text("cat_5".into()))
        .with("price", FieldValue::Double(123.45))
        .with("last_updated", FieldValue::Long(1_764_064_800_123_456))
}

fn schema() -> ValueSchema {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/product_value_avro_schema.json");
    ValueSchema::load(&path).expect("the value schema")
}

/// A product row as MariaDB's binary protocol delivers it to the tailer.
fn mysql_row(id: i32) -> mysql_async::Row {
    let text = |name: &str| {
        Column::new(ColumnType::MYSQL_TYPE_VAR_STRING)
            .with_name(name.as_bytes())
            .with_character_set(UTF8MB4_GENERAL_CI)
    };
    let columns: Arc<[Column]> = vec![
        Column::new(ColumnType::MYSQL_TYPE_LONG).with_name(b"id"),
        text("name"),
        text("category"),
        Column::new(ColumnType::MYSQL_TYPE_NEWDECIMAL).with_name(b"price"),
        Column::new(ColumnType::MYSQL_TYPE_DATETIME).with_name(b"last_updated"),
    ]
    .into();
    mysql_common::row::new_row(
        vec![
            Value::Int(i64::from(id)),
            Value::Bytes(format!("Product {id}").into_bytes()),
            Value::Bytes(b"cat_5".to_vec()),
            Value::Bytes(b"123.45".to_vec()),
            Value::Date(2025, 11, 25, 10, 0, 0, 123_456),
        ],
        columns,
    )
}

fn producer(c: &mut Criterion) {
    let schema = schema();
    let encoder = WireEncoder::with_id(&schema, 1);
    let record = product(7);
    let kinds: Vec<(String, ColumnKind)> = [
        ("id", ColumnKind::Int),
        ("name", ColumnKind::Text),
        ("category", ColumnKind::Text),
        ("price", ColumnKind::DecimalAsDouble),
        ("last_updated", ColumnKind::TimestampMicros),
    ]
    .into_iter()
    .map(|(name, kind)| (name.to_owned(), kind))
    .collect();
    let key = KeyColumns::from_kinds(vec![("id".into(), ColumnKind::Int)]);
    let tailer = Tailer::new("product", key, kinds, "last_updated", Duration::ZERO);
    let row = mysql_row(7);
    assert_eq!(
        tailer.convert(row.clone()).expect("converts").record,
        record
    );

    let mut group = c.benchmark_group("producer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("mysql_row_decode", |b| {
        b.iter_batched(
            || row.clone(),
            |row| tailer.convert(black_box(row)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("avro_encode", |b| {
        let mut buffer = Vec::with_capacity(64);
        b.iter(|| {
            buffer.clear();
            encoder.encode_into(black_box(&record), &mut buffer)
        })
    });
    group.bench_function("message_key", |b| {
        let key = vec![KeyPart::Int(12_345)];
        b.iter(|| message_key(black_box(&key)))
    });
    group.bench_function("key_decode", |b| {
        let values = vec![
            Value::Date(2025, 11, 25, 10, 0, 0, 123_456),
            Value::Int(12_345),
        ];
        b.iter_batched(
            || values.clone(),
            |values| tailer.key_position(black_box(values)),
            BatchSize::SmallInput,
        )
    });
    // Each row sent is remembered for the lookback window (a set of keys
    // and a digest per second); measured over catch-up batches of 5,000
    // rows into a window of up to 100,000 keys (only the calls are timed).
    group.throughput(Throughput::Elements(PRODUCER_BATCH as u64));
    group.bench_function("late_note_sent", |b| {
        let id_key = KeyColumns::from_kinds(vec![("id".into(), ColumnKind::Int)]);
        let fresh =
            || LateChanges::new("product", &id_key, "last_updated", Duration::from_secs(60));
        b.iter_custom(|iters| {
            let (mut late, mut spent) = (fresh(), Duration::ZERO);
            for iter in 0..iters as usize {
                let batches = 100_000 / PRODUCER_BATCH;
                if iter % batches == 0 {
                    late = fresh();
                }
                let batch = batch_rows((iter % batches) * PRODUCER_BATCH, PRODUCER_BATCH, &record);
                let started = Instant::now();
                late.note_sent(black_box(&batch));
                spent += started.elapsed();
            }
            spent
        })
    });
    let encoder = std::sync::Arc::new(encoder.clone());
    group.bench_function("encode_batch_1_thread", |b| {
        let rows = batch_rows(0, PRODUCER_BATCH, &record);
        b.iter(|| encode_chunk(&encoder, black_box(&rows)))
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let pool = EncoderPool::new(2).expect("encoder threads");
    group.bench_function("encode_batch_2_threads", |b| {
        b.iter_batched(
            || batch_rows(0, PRODUCER_BATCH, &record),
            |rows| runtime.block_on(pool.encode(&encoder, black_box(rows))),
            BatchSize::LargeInput,
        )
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("avro_encode_apache_avro", |b| {
        b.iter(|| {
            let value = record_to_avro(black_box(&record), &schema.schema).expect("fits");
            let writer = GenericDatumWriter::builder(&schema.schema)
                .validate(false)
                .build()
                .expect("writer");
            let mut bytes = vec![0, 0, 0, 0, 1];
            writer.write_value_ref(&mut bytes, &value).map(|_| bytes)
        })
    });
    group.finish();
}

fn consumer(c: &mut Criterion) {
    let schema = schema();
    let encoder = WireEncoder::with_id(&schema, 1);
    let record = product(7);
    let bytes = encoder.encode(&record).expect("encodes");
    let decoder = pipeline::codec::WireDecoder::knowing(&schema, 1).expect("a decoder");
    assert_eq!(decoder.decode_known(Some(&bytes)), Some(Ok(record.clone())));
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema.schema)
        .build()
        .expect("reader");
    let plugins = "uppercase-category@0.1.0#1a2b3c4d,cat5-discount@0.1.0#5e6f7a8b";
    let position = SourcePosition {
        key: serde_json::json!(7),
        stamp: 1_764_064_800_123_456,
    };
    fn line<'a>(
        plugins: &'a str,
        record: &'a Record,
        position: &'a SourcePosition,
    ) -> LogLineRef<'a> {
        LogLineRef {
            topic: "product_updates",
            partition: 3,
            offset: 17_000,
            member: 2,
            plugins,
            logged_at_us: 1_764_064_800_223_456,
            source: Some(position),
            record: RecordJson(record),
        }
    }

    let mut group = c.benchmark_group("consumer");
    group.throughput(Throughput::Elements(1));
    group.bench_function("wire_decode", |b| {
        b.iter(|| decoder.decode_known(Some(black_box(&bytes))))
    });
    group.bench_function("wire_decode_apache_avro", |b| {
        b.iter(|| {
            let value = reader
                .read_value(&mut black_box(&bytes[5..]))
                .expect("decodes");
            record_from_avro(value, &schema.schema)
        })
    });
    group.bench_function("json_line", |b| {
        let mut buffer = Vec::with_capacity(512);
        b.iter(|| {
            buffer.clear();
            serde_json::to_writer(&mut buffer, &line(plugins, black_box(&record), &position))
        })
    });
    group.bench_function("json_line_via_map", |b| {
        b.iter(|| {
            let owned = LogLine {
                topic: Some("product_updates".into()),
                partition: 3,
                offset: 17_000,
                member: 2,
                plugins: plugins.to_owned(),
                logged_at_us: 1_764_064_800_223_456,
                source: Some(SourcePosition {
                    key: serde_json::json!(7),
                    stamp: 1_764_064_800_123_456,
                }),
                record: black_box(&record).to_json(),
            };
            serde_json::to_string(&owned)
        })
    });

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a temporary directory");
    let path = dir.path().join("consumer_log.json");
    let mut log = ConsumerLog::open(&path, false).expect("log");
    let mut lines = Vec::new();
    for id in 0..BATCH as i32 {
        let record = product(id);
        serde_json::to_writer(&mut lines, &line(plugins, &record, &position)).expect("serializes");
        lines.push(b'\n');
    }
    // Appends are timed; emptying the file every 64 batches (to keep the
    // disk from filling up) is not.
    let appends = |log: &mut ConsumerLog, iters: u64, sync: bool| {
        let mut spent = Duration::ZERO;
        for done in 0..iters {
            if done % 64 == 0 {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|file| file.set_len(0))
                    .expect("truncates");
            }
            let started = Instant::now();
            log.append_lines(black_box(&lines)).expect("appends");
            if sync {
                log.sync().expect("syncs");
            }
            spent += started.elapsed();
        }
        spent
    };
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("log_write", |b| {
        b.iter_custom(|iters| appends(&mut log, iters, false))
    });
    // One sync per commit interval, after a batch's lines: per sync.
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.bench_function("log_sync_per_commit", |b| {
        b.iter_custom(|iters| appends(&mut log, iters, true))
    });
    group.finish();
}

criterion_group!(benches, producer, consumer);
criterion_main!(benches);
