//! Following the binary log: one record per changed row of the configured
//! tables, in commit order, each to its table's topic.
//!
//! The rule: every row of every rows event of a configured table becomes
//! one record, in log order (the order transactions committed), with no
//! merging; the position moves only at a transaction's commit event (XID,
//! or `COMMIT` for non-transactional tables, a DDL's own event, an XA
//! PREPARE), whichever tables the transaction wrote. Each row's sequence
//! number is `sequence(event start) + row index`, the same on every read of
//! the log, so a transaction re-read after a crash is recognised by the
//! consumers. Every other event that can change a configured table's rows
//! is handled or refused here (see `events`), never passed over.

use std::time::{Duration, Instant};

use futures::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Opts, Value};
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::producer::ProducerCounters;
use crate::record::Record;
use crate::source::binlog::convert::RowConverter;
use crate::source::binlog::events;
use crate::source::binlog::gtid::{self, GtidState};
use crate::source::binlog::position::{BinlogPosition, sequence_at};
use crate::source::binlog::produce::{Chunk, Fields, Operation};
use crate::source::binlog::statements::NameRule;
use crate::source::binlog::tables::TableRoute;
use crate::source::key::KeyColumns;

/// Records handed on per chunk inside a long transaction, so a
/// 100,000-row transaction is acknowledged as it goes (its position is
/// saved only at its commit).
const CHUNK_ROWS: usize = 5000;

/// With nothing of the tables in them, boundaries are saved at most this
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
    /// Whether the server is MariaDB (its GTID events are tracked).
    pub mariadb: bool,
    /// Whether the server's events end in a CRC32 (`binlog_checksum`).
    pub checksums: bool,
    pub database: String,
    /// How the server compares table names (`lower_case_table_names`).
    pub names: NameRule,
    pub fields: Fields<'a>,
    /// The position file, named in errors.
    pub position_path: std::path::PathBuf,
    pub to_acker: &'a mpsc::Sender<Chunk>,
    pub counters: &'a ProducerCounters,
}

/// Where the follower starts: a transaction boundary, the GTID position
/// there (MariaDB, when known: then each saved position carries one) and
/// whether the server is asked for the log by that GTID position or by the
/// file and offset.
#[derive(Debug, Clone)]
pub struct Start {
    pub position: BinlogPosition,
    pub gtid: Option<GtidState>,
    pub by_gtid: bool,
}

impl Follower<'_> {
    /// Streams from `start` until `shutdown` turns true or the connection
    /// fails (a transient error: the caller resumes from the saved position).
    /// Each route's version follows its table's ALTERs (see
    /// `TableVersion::fit`).
    pub async fn follow(
        &self,
        start: &Start,
        routes: &mut [TableRoute],
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
        let by_gtid = start.gtid.as_ref().filter(|_| start.by_gtid);
        if self.mariadb {
            gtid::prepare_replica(&mut conn, by_gtid).await?;
        }
        // By GTID, the server ignores the file and offset and starts with
        // a rotate to the file the GTID position is in.
        let request = BinlogStreamRequest::new(self.server_id)
            .with_filename(start.position.file.as_bytes())
            .with_pos(start.position.offset);
        let mut stream = conn.get_binlog_stream(request).await?;
        let mut state = start.gtid.clone();
        tracing::info!(
            file = %start.position.file,
            offset = start.position.offset,
            gtid = %state.as_ref().map(ToString::to_string).unwrap_or_default(),
            by_gtid = by_gtid.is_some(),
            server_id = self.server_id,
            "following the binary log"
        );
        let mut file = start.position.file.clone();
        let mut seen_format = false;
        let checksums = self.checksums;
        let mut deliveries = Vec::new();
        let mut rows_in_chunk = 0;
        let mut unsaved = false;
        let mut last_save = Instant::now();
        // The transaction being read is one event (MariaDB DDL): that
        // query event is its boundary, no XID or COMMIT follows.
        let mut standalone = false;
        // The transaction being read is an XA one (its rows are logged at
        // XA PREPARE, its outcome later): refused if it writes a table.
        let mut xa = false;
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
                // The acknowledgement task stopped at a record the broker
                // did not take: its error is the run's (see `mod`).
                () = self.to_acker.closed() => return Err(acker_stopped()),
            };
            if *shutdown.borrow() {
                break;
            }
            let event = event
                .ok_or_else(|| {
                    Error::Mysql(mysql_async::Error::Driver(
                        mysql_async::DriverError::ConnectionClosed,
                    ))
                })?
                .map_err(|error| self.refused(error, start, by_gtid.is_some()))?;
            let header = event.header();
            // The server's fake events (the first rotate, its format
            // description) have no place in the log: log_pos 0.
            let event_start =
                u64::from(header.log_pos()).saturating_sub(u64::from(header.event_size()));
            let at = events::At {
                file: &file,
                offset: event_start,
                position_file: &self.position_path,
            };
            let raw_type = header.event_type_raw();
            if raw_type == events::MARIADB_QUERY_COMPRESSED {
                return Err(events::compressed_query(&at));
            }
            if events::MARIADB_ROWS_COMPRESSED.contains(&raw_type) {
                let table = events::rows_table_id(event.data())
                    .and_then(|id| stream.get_tme(id))
                    .and_then(|map| self.route_of(routes, &map.database_name(), &map.table_name()));
                if let Some(index) = table {
                    return Err(events::compressed_rows(routes[index].table(), &at));
                }
                continue;
            }
            if raw_type == gtid::MARIADB_GTID_EVENT {
                standalone = gtid::is_standalone(event.data());
                xa = events::is_prepared_xa(event.data());
                if let Some(state) = &mut state
                    && !state.advance(event.data(), header.server_id())
                {
                    return Err(Error::Binlog(
                        "a MariaDB GTID event too short to hold its GTID".into(),
                    ));
                }
                continue;
            }
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
                // An XA transaction's first part ends at its XA PREPARE
                // (its outcome is a transaction of its own, later).
                Some(EventData::XidEvent(_) | EventData::XaPrepareLogEvent(_)) => true,
                Some(EventData::QueryEvent(query)) => {
                    let statement = query.query();
                    xa |= events::starts_xa(&statement);
                    let truncated =
                        match self.statement(&query.schema(), &statement, routes, &at)? {
                            Some(index) => {
                                let base = sequence_at(&file, event_start)?;
                                self.truncate(
                                    &mut routes[index],
                                    base,
                                    &mut deliveries,
                                    &mut rows_in_chunk,
                                )
                                .await?;
                                unsaved = true;
                                // A TRUNCATE commits on its own (as every DDL).
                                true
                            }
                            None => false,
                        };
                    std::mem::take(&mut standalone)
                        || truncated
                        || statement.trim().eq_ignore_ascii_case("COMMIT")
                }
                Some(EventData::ExecuteLoadQueryEvent(load)) => {
                    self.statement(&load.schema(), &load.query(), routes, &at)?;
                    false
                }
                Some(EventData::RowsEvent(rows)) => {
                    let Some(table_map) = stream.get_tme(rows.table_id()) else {
                        continue;
                    };
                    let Some(index) =
                        self.route_of(routes, &table_map.database_name(), &table_map.table_name())
                    else {
                        continue;
                    };
                    if xa {
                        return Err(events::xa_rows(routes[index].table(), &at));
                    }
                    let route = &mut routes[index];
                    route
                        .version
                        .fit(&self.opts, table_map, &self.position_path)
                        .await?;
                    let route = &*route;
                    let sender = self.fields.sender(route);
                    let base = sequence_at(&file, event_start)?;
                    let changes =
                        changed_rows(&rows, table_map, &route.version.converter, &route.key)?;
                    for (index, row) in changes.into_iter().enumerate() {
                        // A key change is two records for two keys: one
                        // sequence number serves both (the duplicate rule
                        // is per key).
                        for (operation, record) in row {
                            sender
                                .send(record, operation, base + index as i64, &mut deliveries)
                                .await?;
                            rows_in_chunk += 1;
                        }
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
            if boundary {
                xa = false;
            }
            if boundary && (unsaved || last_save.elapsed() >= IDLE_SAVE_INTERVAL) {
                let end = BinlogPosition {
                    file: file.clone(),
                    offset: u64::from(header.log_pos()),
                    gtid: state
                        .as_ref()
                        .filter(|state| !state.is_empty())
                        .map(ToString::to_string),
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

    /// The server's refusal to send the log from the start position (its
    /// error 1236: the position's transactions or file were purged, or the
    /// server never had them) as a start error naming the fix; other
    /// errors as they are (transient: the caller reconnects).
    fn refused(&self, error: mysql_async::Error, start: &Start, by_gtid: bool) -> Error {
        let mysql_async::Error::Server(server) = &error else {
            return error.into();
        };
        if server.code != 1236 {
            return error.into();
        }
        let from = match (&start.gtid, by_gtid) {
            (Some(gtid), true) => format!("GTID position {gtid}"),
            _ => format!("{} offset {}", start.position.file, start.position.offset),
        };
        Error::Binlog(format!(
            "the server cannot send the binary log from the saved {from} (in {}): {}. \
             The changes since are lost to binlog mode. Fix: delete {} to take a new snapshot of the tables \
             (consumers log every row again, with op \"r\"), and keep binary logs longer \
             (binlog_expire_logs_seconds / expire_logs_days) than the producer may be stopped",
            self.position_path.display(),
            server.message,
            self.position_path.display(),
        ))
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
        self.to_acker.send(chunk).await.map_err(|_| acker_stopped())
    }
}

/// The rows of a rows event as records with their operation: the after
/// image of an insert or update, the before image (the row's last state)
/// of a delete. An update that changes the key is, as Debezium has it, a
/// delete of the old key (so its tombstone lets a compacted topic drop it)
/// and an insert of the new one.
fn changed_rows(
    rows: &RowsEventData<'_>,
    table_map: &mysql_async::binlog::events::TableMapEvent<'_>,
    converter: &RowConverter,
    key: &KeyColumns,
) -> Result<Vec<Vec<(Operation, Record)>>> {
    let operation = match rows {
        RowsEventData::WriteRowsEvent(_) | RowsEventData::WriteRowsEventV1(_) => Operation::Insert,
        RowsEventData::DeleteRowsEvent(_) | RowsEventData::DeleteRowsEventV1(_) => {
            Operation::Delete
        }
        _ => Operation::Update,
    };
    let mut changes = Vec::new();
    for row in rows.rows(table_map) {
        let (before, after) = row.map_err(binlog_io)?;
        let change = match operation {
            Operation::Delete => vec![(operation, image(before, converter)?)],
            Operation::Update => {
                let old = image(before, converter)?;
                let new = image(after, converter)?;
                if key.of_record(&old)? == key.of_record(&new)? {
                    vec![(operation, new)]
                } else {
                    vec![(Operation::Delete, old), (Operation::Insert, new)]
                }
            }
            _ => vec![(operation, image(after, converter)?)],
        };
        changes.push(change);
    }
    Ok(changes)
}

/// One row image as a record.
fn image(
    image: Option<mysql_async::binlog::row::BinlogRow>,
    converter: &RowConverter,
) -> Result<Record> {
    let mut image = image.ok_or_else(|| {
        Error::Binlog("a row event without the row's image: binlog_row_image must be FULL".into())
    })?;
    let mut values = Vec::with_capacity(image.len());
    for index in 0..image.len() {
        let value = image.take(index).ok_or_else(|| {
            Error::Binlog("a row image without every column: binlog_row_image must be FULL".into())
        })?;
        values.push(Value::try_from(value).map_err(|error| {
            Error::Binlog(format!(
                "a JSON column could not be read from the log: {error}"
            ))
        })?);
    }
    converter.record(values)
}

/// The task that acknowledges chunks and saves positions.
pub const ACKER: &str = "acknowledgement task";

/// The acknowledgement task ended before the run: it failed, and its error
/// says why.
pub fn acker_stopped() -> Error {
    Error::task_failed(ACKER, "it stopped")
}

fn binlog_io(error: std::io::Error) -> Error {
    Error::Binlog(format!("a binlog event could not be read: {error}"))
}
