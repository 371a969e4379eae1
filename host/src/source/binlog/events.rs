//! The binary log's events that are not plain row events, each handled or
//! refused.
//!
//! The rule: **an event that can change a configured table's rows becomes
//! records, or stops the producer (exit code 2) naming the event, the
//! table and the fix, before anything of its transaction is produced**, so
//! the position stays before it and nothing the logs lack is believed
//! mirrored. Handled: `TRUNCATE` (a truncate record per partition, see
//! `produce::Sender::truncate`). Refused when met: a row-changing statement
//! (a session with `binlog_format = STATEMENT` or `MIXED`), an XA
//! transaction (its rows arrive at `XA PREPARE`, before it is known whether
//! it commits), MariaDB's compressed events (`log_bin_compress = ON`, which
//! mysql_common cannot decode; also refused at start, see `checks`). Passed
//! over: events of other tables and events that change no rows.

use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::source::binlog::statements::{self, Statement, TableName};
use crate::source::binlog::stream::Follower;
use crate::source::binlog::tables::TableRoute;

/// MariaDB's `QUERY_COMPRESSED_EVENT`.
pub const MARIADB_QUERY_COMPRESSED: u8 = 165;

/// MariaDB's compressed rows events: write, update, delete, in their v1
/// (166–168) and v2 (169–171) forms.
pub const MARIADB_ROWS_COMPRESSED: std::ops::RangeInclusive<u8> = 166..=171;

/// The GTID event flag of a transaction ended by `XA PREPARE`
/// (MariaDB's `FL_PREPARED_XA`).
const MARIADB_FLAG_PREPARED_XA: u8 = 0x40;

/// Whether a MariaDB GTID event's body starts an XA transaction that is
/// prepared (its outcome logged later, by `XA COMMIT` or `XA ROLLBACK`).
pub fn is_prepared_xa(gtid_body: &[u8]) -> bool {
    gtid_body
        .get(12)
        .is_some_and(|flags| flags & MARIADB_FLAG_PREPARED_XA != 0)
}

/// Whether a statement starts an XA transaction (MySQL logs `XA START` as
/// a query event; MariaDB flags its GTID event, see [`is_prepared_xa`]).
pub fn starts_xa(statement: &str) -> bool {
    let mut words = statement.split_whitespace();
    words
        .next()
        .is_some_and(|word| word.eq_ignore_ascii_case("XA"))
        && words.next().is_some_and(|word| {
            word.eq_ignore_ascii_case("START") || word.eq_ignore_ascii_case("BEGIN")
        })
}

/// The table id a compressed rows event is of: its first six bytes, as in
/// every rows event.
pub fn rows_table_id(body: &[u8]) -> Option<u64> {
    let bytes = body.get(..6)?;
    Some(
        bytes
            .iter()
            .rev()
            .fold(0u64, |id, byte| (id << 8) | u64::from(*byte)),
    )
}

/// Where an event is, for messages.
pub struct At<'a> {
    pub file: &'a str,
    pub offset: u64,
    pub position_file: &'a Path,
}

impl At<'_> {
    fn place(&self) -> String {
        format!("{} offset {}", self.file, self.offset)
    }

    /// The way past the event once its cause is fixed: the position saved
    /// is before it, so a restart stops at it again.
    fn way_past(&self) -> String {
        format!(
            "Then delete {} to take a new snapshot of the tables (the saved position is before this event, \
             so a restart would stop here again)",
            self.position_file.display()
        )
    }
}

/// A compressed rows event of configured table `table`.
pub fn compressed_rows(table: &str, at: &At<'_>) -> Error {
    Error::Binlog(format!(
        "a compressed rows event (MariaDB log_bin_compress = ON) of table `{table}` at {}: \
         compressed row events cannot be decoded, and skipping it would lose the rows it changed. \
         Fix: SET GLOBAL log_bin_compress = OFF (and log_bin_compress=OFF in the server's config). {}",
        at.place(),
        at.way_past()
    ))
}

/// A compressed query event: its statement cannot be read, so whether it
/// truncates or writes a configured table cannot be known.
pub fn compressed_query(at: &At<'_>) -> Error {
    Error::Binlog(format!(
        "a compressed query event (MariaDB log_bin_compress = ON) at {}: its statement cannot be read, \
         and it may truncate or write a configured table. \
         Fix: SET GLOBAL log_bin_compress = OFF (and log_bin_compress=OFF in the server's config). {}",
        at.place(),
        at.way_past()
    ))
}

/// A row-changing statement logged as a statement, naming `table`.
pub fn statement_rows(verb: &str, table: &TableName, statement: &str, at: &At<'_>) -> Error {
    let mut shown: String = statement.chars().take(200).collect();
    if shown.len() < statement.len() {
        shown.push('…');
    }
    Error::Binlog(format!(
        "an {verb} of table `{}` is logged as a statement, not as rows, at {} ({shown:?}): \
         the session that ran it had binlog_format = STATEMENT or MIXED, so the rows it changed are not in the log. \
         Fix: never set a session's binlog_format to anything but ROW for writes to the configured tables \
         (revoke SUPER/BINLOG ADMIN from the writers; SET GLOBAL binlog_format = 'ROW'). {}",
        table.name,
        at.place(),
        at.way_past()
    ))
}

/// Rows of configured table `table` in an XA transaction.
pub fn xa_rows(table: &str, at: &At<'_>) -> Error {
    Error::Binlog(format!(
        "an XA transaction writes table `{table}` at {}: its rows are logged at XA PREPARE, before it is known \
         whether XA COMMIT or XA ROLLBACK follows, and binlog mode does not hold them back, so a rolled-back \
         transaction would be logged as if it happened. Nothing of it was produced. \
         Fix: write `{table}` without XA, or with XA COMMIT … ONE PHASE (logged as an ordinary transaction). {}",
        at.place(),
        at.way_past()
    ))
}

impl Follower<'_> {
    /// The route of `database`.`table`, if it is a configured table (names
    /// compared as the server's `lower_case_table_names` has them).
    pub(super) fn route_of(
        &self,
        routes: &[TableRoute],
        database: &str,
        table: &str,
    ) -> Option<usize> {
        if !self.names.same(database, &self.database) {
            return None;
        }
        routes
            .iter()
            .position(|route| self.names.same(route.table(), table))
    }

    /// What a logged statement does to the configured tables: the route a
    /// `TRUNCATE` empties, or a refusal of a row-changing statement naming
    /// one (see `statements`).
    pub(super) fn statement(
        &self,
        schema: &str,
        statement: &str,
        routes: &[TableRoute],
        at: &At<'_>,
    ) -> Result<Option<usize>> {
        let configured = |name: &TableName| {
            routes.iter().position(|route| {
                self.names
                    .names(name, schema, &self.database, route.table())
            })
        };
        match statements::classify(statement) {
            Statement::Truncate(name) => Ok(configured(&name)),
            Statement::WritesRows { verb, tables } => {
                match tables.iter().find(|name| configured(name).is_some()) {
                    Some(name) => Err(statement_rows(verb, name, statement, at)),
                    None => Ok(None),
                }
            }
            Statement::Other => Ok(None),
        }
    }

    /// Produces a truncate of `route`'s table (see `Sender::truncate`),
    /// registering the truncate schema on first use.
    pub(super) async fn truncate(
        &self,
        route: &mut TableRoute,
        sequence: i64,
        deliveries: &mut Vec<rdkafka::producer::DeliveryFuture>,
        rows: &mut usize,
    ) -> Result<()> {
        let encoder = route.truncate_encoder(&self.fields).await?;
        let partitions = partition_count(self.fields.producer, route.topic())?;
        let route = &*route;
        self.fields
            .sender(route)
            .truncate(&encoder, route.table(), partitions, sequence, deliveries)
            .await?;
        *rows += 1;
        tracing::info!(
            table = route.table(),
            partitions,
            sequence,
            "TRUNCATE: a truncate record on every partition"
        );
        Ok(())
    }
}

/// The number of partitions `topic` has now (a truncate goes to each).
fn partition_count(producer: &rdkafka::producer::FutureProducer, topic: &str) -> Result<i32> {
    use rdkafka::producer::Producer;
    let metadata = tokio::task::block_in_place(|| {
        producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(10))
    })?;
    let count = metadata
        .topics()
        .iter()
        .find(|found| found.name() == topic)
        .map_or(0, |found| found.partitions().len());
    i32::try_from(count)
        .ok()
        .filter(|count| *count > 0)
        .ok_or_else(|| {
            Error::Kafka(rdkafka::error::KafkaError::MetadataFetch(
                rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xa_is_seen_in_the_gtid_flags_and_in_xa_start() {
        // seq_no (8), domain (4), flags: FL_PREPARED_XA | transactional | parallel.
        let mut body = vec![6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x4c];
        assert!(is_prepared_xa(&body));
        body[12] = 0x0c;
        assert!(!is_prepared_xa(&body));
        assert!(starts_xa("XA START 'x1'"));
        assert!(starts_xa("xa   begin X'31'"));
        assert!(!starts_xa("XA END 'x1'"));
        assert!(!starts_xa("XAVIER"));
    }

    #[test]
    fn the_table_id_of_a_rows_event_is_six_bytes_little_endian() {
        assert_eq!(rows_table_id(&[0x17, 0, 0, 0, 0, 0, 1, 0]), Some(23));
        assert_eq!(rows_table_id(&[1, 2, 3, 4, 5, 6]), Some(0x0605_0403_0201));
        assert_eq!(rows_table_id(&[1, 2]), None);
    }
}
