//! Following the binary log: one record per changed row of the table, in
//! commit order.
//!
//! The rule: every row of every rows event of the configured table becomes
//! one record, in log order (the order transactions committed), with no
//! merging; the position moves only at a transaction's commit event (XID,
//! or `COMMIT` for non-transactional tables). Each row's sequence number is
//! `sequence(event start) + row index`, the same on every read of the log,
//! so a transaction re-read after a crash is recognised by the consumers.

use std::time::{Duration, Instant};

use futures::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Opts, Value};
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::producer::ProducerCounters;
use crate::source::binlog::alter::TableVersion;
use crate::source::binlog::convert::RowConverter;
use crate::source::binlog::position::{BinlogPosition, sequence_at};
use crate::source::binlog::produce::{Chunk, Operation, Sender};

/// Records handed on per chunk inside a long transaction, so a
/// 100,000-row transaction is acknowledged as it goes (its position is
/// saved only at its commit).
const CHUNK_ROWS: usize = 5000;

/// With nothing of the table in them, boundaries are saved at most this
/// often (other tables' transactions would otherwise cost an fsync each).
const IDLE_SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// How often the server sends a heartbeat on an idle log.
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(2);

/// No event and no heartbeat for this long: the connection is dead; the
/// follower reconnects from the saved position.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the follower needs.
pub struct Follower<'a> {
    pub opts: Opts,
    pub server_id: u32,
    /// Whether the server's events end in a CRC32 (`binlog_checksum`).
    pub checksums: bool,
    pub database: String,
    pub table: String,
    pub sender: Sender<'a>,
    /// The position file, named in errors.
    pub position_path: std::path::PathBuf,
    pub to_acker: &'a mpsc::Sender<Chunk>,
    pub counters: &'a ProducerCounters,
}

impl Follower<'_> {
    /// Streams from `start` until `shutdown` turns true or the connection
    /// fails (a transient error: the caller resumes from the saved position).
    /// `version` follows the table's ALTERs (see [`TableVersion::fit`]).
    pub async fn follow(
        &self,
        start: &BinlogPosition,
        version: &mut TableVersion,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        let mut conn = Conn::new(self.opts.clone()).await?;
        // The server sends a heartbeat when it has nothing else for this
        // long (nanoseconds), so a connection that died silently is noticed
        // (see HEARTBEAT_TIMEOUT) instead of waited on forever.
        conn.query_drop(format!(
            "SET @master_heartbeat_period = {}",
            HEARTBEAT_PERIOD.as_nanos()
        ))
        .await?;
        let request = BinlogStreamRequest::new(self.server_id)
            .with_filename(start.file.as_bytes())
            .with_pos(start.offset);
        let mut stream = conn.get_binlog_stream(request).await?;
        tracing::info!(file = %start.file, offset = start.offset, server_id = self.server_id, "following the binary log");
        let mut file = start.file.clone();
        let mut seen_format = false;
        let checksums = self.checksums;
        let mut deliveries = Vec::new();
        let mut rows_in_chunk = 0;
        let mut unsaved = false;
        let mut last_save = Instant::now();
        loop {
            let event = tokio::select! {
                event = tokio::time::timeout(HEARTBEAT_TIMEOUT, stream.next()) => match event {
                    Ok(event) => event,
                    Err(_elapsed) => {
                        return Err(Error::Mysql(mysql_async::Error::Driver(
                            mysql_async::DriverError::ConnectionClosed,
                        )));
                    }
                },
                _ = shutdown.changed() => None,
            };
            if *shutdown.borrow() {
                break;
            }
            let event = event.ok_or_else(|| {
                Error::Mysql(mysql_async::Error::Driver(
                    mysql_async::DriverError::ConnectionClosed,
                ))
            })??;
            let header = event.header();
            let boundary = match event.read_data().map_err(binlog_io)? {
                Some(EventData::RotateEvent(rotate)) => {
                    // The server's first (fake) rotate comes before any
                    // format description, so the reader cannot know the
                    // events carry a CRC32: it is left on the name.
                    let name = rotate.name_raw();
                    let name = match name.len().checked_sub(4) {
                        Some(cut) if !seen_format && checksums => &name[..cut],
                        _ => name,
                    };
                    file = String::from_utf8_lossy(name).into_owned();
                    false
                }
                Some(EventData::FormatDescriptionEvent(_)) => {
                    seen_format = true;
                    false
                }
                Some(EventData::XidEvent(_)) => true,
                Some(EventData::QueryEvent(query)) => {
                    query.query().trim().eq_ignore_ascii_case("COMMIT")
                }
                Some(EventData::RowsEvent(rows)) => {
                    let Some(table_map) = stream.get_tme(rows.table_id()) else {
                        continue;
                    };
                    if table_map.database_name() != self.database
                        || table_map.table_name() != self.table
                    {
                        continue;
                    }
                    version
                        .fit(&self.opts, table_map, &self.position_path)
                        .await?;
                    let sender = Sender {
                        encoder: &version.encoder,
                        ..self.sender
                    };
                    let event_start = u64::from(header.log_pos()) - u64::from(header.event_size());
                    let base = sequence_at(&file, event_start)?;
                    let (operation, changes) = changed_rows(&rows, table_map, &version.converter)?;
                    for (index, record) in changes.into_iter().enumerate() {
                        sender
                            .send(record, operation, base + index as i64, &mut deliveries)
                            .await?;
                        rows_in_chunk += 1;
                    }
                    unsaved = true;
                    if rows_in_chunk >= CHUNK_ROWS {
                        self.hand_on(None, &mut deliveries, &mut rows_in_chunk)
                            .await?;
                    }
                    false
                }
                _ => false,
            };
            if boundary && (unsaved || last_save.elapsed() >= IDLE_SAVE_INTERVAL) {
                let end = BinlogPosition {
                    file: file.clone(),
                    offset: u64::from(header.log_pos()),
                };
                self.hand_on(Some(end), &mut deliveries, &mut rows_in_chunk)
                    .await?;
                unsaved = false;
                last_save = Instant::now();
            }
        }
        // Stopping inside a transaction: its records are on their way, its
        // position is not saved; the restart re-reads it (consumers skip).
        if !deliveries.is_empty() {
            self.hand_on(None, &mut deliveries, &mut rows_in_chunk)
                .await?;
        }
        Ok(())
    }

    async fn hand_on(
        &self,
        end: Option<BinlogPosition>,
        deliveries: &mut Vec<rdkafka::producer::DeliveryFuture>,
        rows: &mut usize,
    ) -> Result<()> {
        self.counters.add_read(*rows);
        let chunk = Chunk {
            end,
            deliveries: std::mem::take(deliveries),
            rows: std::mem::take(rows),
        };
        self.to_acker
            .send(chunk)
            .await
            .map_err(|_| Error::task_failed("acknowledgement task", "it stopped"))
    }
}

/// The operation of a rows event and its rows as records: the after image
/// of an insert or update, the before image (the row's last state) of a
/// delete.
fn changed_rows(
    rows: &RowsEventData<'_>,
    table_map: &mysql_async::binlog::events::TableMapEvent<'_>,
    converter: &RowConverter,
) -> Result<(Operation, Vec<crate::record::Record>)> {
    let operation = match rows {
        RowsEventData::WriteRowsEvent(_) | RowsEventData::WriteRowsEventV1(_) => Operation::Insert,
        RowsEventData::DeleteRowsEvent(_) | RowsEventData::DeleteRowsEventV1(_) => {
            Operation::Delete
        }
        _ => Operation::Update,
    };
    let mut records = Vec::new();
    for row in rows.rows(table_map) {
        let (before, after) = row.map_err(binlog_io)?;
        let image = if operation == Operation::Delete {
            before
        } else {
            after
        };
        let mut image = image.ok_or_else(|| {
            Error::Binlog(
                "a row event without the row's image: binlog_row_image must be FULL".into(),
            )
        })?;
        let mut values = Vec::with_capacity(image.len());
        for index in 0..image.len() {
            let value = image.take(index).ok_or_else(|| {
                Error::Binlog(
                    "a row image without every column: binlog_row_image must be FULL".into(),
                )
            })?;
            values.push(Value::try_from(value).map_err(|error| {
                Error::Binlog(format!(
                    "a JSON column could not be read from the log: {error}"
                ))
            })?);
        }
        records.push(converter.record(values)?);
    }
    Ok((operation, records))
}

fn binlog_io(error: std::io::Error) -> Error {
    Error::Binlog(format!("a binlog event could not be read: {error}"))
}
