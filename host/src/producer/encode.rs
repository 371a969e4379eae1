//! Encoding a batch (message key, Avro, wire format) on several threads.
//!
//! The rule: **a batch's records come out in the order they went in,
//! whatever thread encoded them.** The batch is cut into consecutive chunks;
//! each chunk's result is put in its own slot (its place in the batch,
//! [`InOrder`]) and the batch is handed on only once every slot is filled,
//! slot by slot. So librdkafka receives the records in the order the reader
//! read them (each key's and each partition's order is the read order, as
//! with one thread), and the acknowledgement task sees the batches in that
//! order too, which is what lets it save a position only after everything
//! before it was acknowledged.
//!
//! The reading task encodes the first chunk itself while the pool's threads
//! encode the others; `source.encoder_threads` counts both. A batch too
//! small to be worth a hand-over ([`MIN_CHUNK`] rows a chunk) is encoded on
//! the reading task alone.

use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::codec::WireEncoder;
use crate::error::{Error, Result};
use crate::source::SourceRow;
use crate::source::key::write_message_key;

/// Fewer rows than this per chunk: not handed to another thread (a
/// hand-over costs about as much as encoding a few dozen rows).
pub const MIN_CHUNK: usize = 256;

/// Encoded records back to back: one allocation per chunk, not two per
/// record. Record `i` is `bytes[start..key_end]` (its message key) and
/// `bytes[key_end..end]` (its wire-format value), `start` the previous
/// record's `end`.
#[derive(Debug, Default)]
pub struct Encoded {
    bytes: Vec<u8>,
    ends: Vec<(usize, usize)>,
}

impl Encoded {
    fn with_capacity(records: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(records * 96),
            ends: Vec::with_capacity(records),
        }
    }

    /// Appends one record's key and value.
    pub fn push(&mut self, key: &[u8], value: &[u8]) {
        self.bytes.extend_from_slice(key);
        let key_end = self.bytes.len();
        self.bytes.extend_from_slice(value);
        self.ends.push((key_end, self.bytes.len()));
    }

    /// How many records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each record's `(key, value)`, in order.
    pub fn records(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut start = 0;
        self.ends.iter().map(move |&(key_end, end)| {
            let record = (&self.bytes[start..key_end], &self.bytes[key_end..end]);
            start = end;
            record
        })
    }
}

/// `rows` encoded with `encoder`, each keyed by its message key (see
/// `source::key::message_key`).
pub fn encode_chunk(encoder: &WireEncoder, rows: &[SourceRow]) -> Result<Encoded> {
    let mut encoded = Encoded::with_capacity(rows.len());
    for row in rows {
        write_message_key(&row.position.key, &mut encoded.bytes);
        let key_end = encoded.bytes.len();
        encoder.encode_into(&row.record, &mut encoded.bytes)?;
        encoded.ends.push((key_end, encoded.bytes.len()));
    }
    Ok(encoded)
}

/// A chunk that did not encode: the error and its rows, so the caller can
/// read the table's columns again and encode them once more.
pub type Failed = (Error, Vec<SourceRow>);

/// Results that arrive in any order, handed on in the order of their
/// places: the re-sequencing step of the rule above.
#[derive(Debug)]
pub struct InOrder<T> {
    slots: Vec<Option<T>>,
}

impl<T> InOrder<T> {
    /// `places` empty slots.
    pub fn new(places: usize) -> Self {
        Self {
            slots: (0..places).map(|_| None).collect(),
        }
    }

    /// Puts the result of place `place`.
    pub fn put(&mut self, place: usize, result: T) {
        if let Some(slot) = self.slots.get_mut(place) {
            *slot = Some(result);
        }
    }

    /// Every result in place order, once all are in; else `None`.
    pub fn into_ordered(self) -> Option<Vec<T>> {
        self.slots.into_iter().collect()
    }
}

/// One chunk for a pool thread.
struct Job {
    encoder: Arc<WireEncoder>,
    rows: Vec<SourceRow>,
    place: usize,
    reply: mpsc::UnboundedSender<(usize, std::result::Result<Encoded, Failed>)>,
}

/// The threads that encode all chunks but the first.
pub struct EncoderPool {
    jobs: Option<std_mpsc::Sender<Job>>,
    helpers: usize,
}

impl EncoderPool {
    /// `threads` encoding threads in all, the caller's included (so
    /// `threads - 1` are started).
    pub fn new(threads: usize) -> Result<Self> {
        let helpers = threads.saturating_sub(1);
        if helpers == 0 {
            return Ok(Self {
                jobs: None,
                helpers,
            });
        }
        let (jobs, queue) = std_mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..helpers {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("encoder-{index}"))
                .spawn(move || {
                    loop {
                        // The lock is held only to take a job, not to run it.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let result = encode_chunk(&job.encoder, &job.rows)
                            .map_err(|error| (error, job.rows));
                        // The rows (when encoded) are freed here, off the reader.
                        let _ = job.reply.send((job.place, result));
                    }
                })
                .map_err(|error| Error::task_failed("starting an encoder thread", error))?;
        }
        Ok(Self {
            jobs: Some(jobs),
            helpers,
        })
    }

    /// The chunks of `rows` (consecutive, in order), each encoded or failed.
    pub async fn encode(
        &self,
        encoder: &Arc<WireEncoder>,
        mut rows: Vec<SourceRow>,
    ) -> Result<Vec<std::result::Result<Encoded, Failed>>> {
        let chunks = (rows.len() / MIN_CHUNK).clamp(1, self.helpers + 1);
        let Some(jobs) = self.jobs.as_ref().filter(|_| chunks > 1) else {
            let result = encode_chunk(encoder, &rows).map_err(|error| (error, rows));
            return Ok(vec![result]);
        };
        let size = rows.len().div_ceil(chunks);
        // Cut from the back, so each chunk moves out without copying rows.
        let mut tails = Vec::with_capacity(chunks - 1);
        while rows.len() > size {
            let at = (rows.len() - 1) / size * size;
            tails.push(rows.split_off(at));
        }
        let (reply, mut replies) = mpsc::unbounded_channel();
        let mut in_order = InOrder::new(tails.len() + 1);
        let mut sent = 0;
        for (place, chunk) in tails.into_iter().rev().enumerate() {
            let job = Job {
                encoder: Arc::clone(encoder),
                rows: chunk,
                place: place + 1,
                reply: reply.clone(),
            };
            jobs.send(job)
                .map_err(|_| Error::task_failed("encoder threads", "they stopped"))?;
            sent += 1;
        }
        drop(reply);
        let first = encode_chunk(encoder, &rows).map_err(|error| (error, rows));
        in_order.put(0, first);
        for _ in 0..sent {
            let (place, result) = replies
                .recv()
                .await
                .ok_or_else(|| Error::task_failed("encoder thread", "it stopped mid-chunk"))?;
            in_order.put(place, result);
        }
        in_order
            .into_ordered()
            .ok_or_else(|| Error::task_failed("encoder threads", "a chunk went missing"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ValueSchema;
    use crate::record::{FieldValue, Record};
    use crate::source::{KeyPart, Position};
    use crate::timestamp::Timestamp;

    #[test]
    fn results_come_out_in_place_order_whatever_order_they_arrive_in() {
        let mut in_order = InOrder::new(4);
        for place in [2, 0, 3] {
            in_order.put(place, place * 10);
        }
        let mut missing_one = InOrder::new(2);
        missing_one.put(1, 1);
        assert_eq!(
            missing_one.into_ordered(),
            None,
            "not before every slot is in"
        );
        in_order.put(1, 10);
        assert_eq!(in_order.into_ordered(), Some(vec![0, 10, 20, 30]));
    }

    fn schema() -> ValueSchema {
        ValueSchema::parse(
            r#"{"type":"record","name":"T","fields":[
                {"name":"id","type":"int"},{"name":"seq","type":"long"}]}"#,
        )
        .expect("schema")
    }

    fn encoder() -> Arc<WireEncoder> {
        Arc::new(WireEncoder::with_id(&schema(), 3))
    }

    /// Rows of one key (`id` 7), `seq` counting up: the order of a key's
    /// changes as the reader read them.
    fn one_key_rows(count: i64) -> Vec<SourceRow> {
        (0..count)
            .map(|seq| SourceRow {
                position: Position {
                    timestamp: Timestamp(seq),
                    key: vec![KeyPart::Int(7)],
                },
                record: Record::default()
                    .with("id", FieldValue::Int(7))
                    .with("seq", FieldValue::Long(seq)),
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_keys_rows_spread_over_threads_come_out_in_read_order() {
        let pool = EncoderPool::new(4).expect("pool");
        let encoder = encoder();
        // One decoder for all (each builds an HTTP client for the registry).
        let decoder = crate::codec::WireDecoder::knowing(&schema(), 3).expect("decoder");
        for rows in [1, MIN_CHUNK - 1, 2 * MIN_CHUNK + 1, 4 * MIN_CHUNK, 20_001] {
            let chunks = pool
                .encode(&encoder, one_key_rows(rows as i64))
                .await
                .expect("encodes");
            let expected_chunks = (rows / MIN_CHUNK).clamp(1, 4);
            assert_eq!(chunks.len(), expected_chunks, "{rows} rows");
            let mut seen = Vec::with_capacity(rows);
            for chunk in chunks {
                let chunk = chunk.map_err(|(error, _)| error).expect("chunk encodes");
                for (key, value) in chunk.records() {
                    assert_eq!(key, b"7");
                    let record = seq_of(&decoder, value);
                    seen.push(record);
                }
            }
            let expected: Vec<i64> = (0..rows as i64).collect();
            assert_eq!(
                seen, expected,
                "{rows} rows: the key's changes out of order"
            );
        }
    }

    /// The `seq` of a `{id: int, seq: long}` record in the wire format.
    fn seq_of(decoder: &crate::codec::WireDecoder, value: &[u8]) -> i64 {
        match decoder.decode_known(Some(value)) {
            Some(Ok(record)) => match record.get("seq") {
                Some(FieldValue::Long(seq)) => *seq,
                other => panic!("seq is {other:?}"),
            },
            other => panic!("did not decode: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_chunk_that_does_not_fit_comes_back_with_its_rows() {
        let pool = EncoderPool::new(2).expect("pool");
        let mut rows = one_key_rows(2 * MIN_CHUNK as i64);
        rows[MIN_CHUNK + 3].record = Record::default()
            .with("id", FieldValue::Text("not an int".into()))
            .with("seq", FieldValue::Long(0));
        let chunks = pool.encode(&encoder(), rows).await.expect("encodes");
        assert!(chunks[0].is_ok());
        match &chunks[1] {
            Err((_, rows)) => assert_eq!(rows.len(), MIN_CHUNK),
            Ok(_) => panic!("a text id encoded as an int"),
        }
    }
}
