//! The triggers that stamp every change of the source table.
//!
//! The rule: the stamp is the UTC instant of the write, taken by the server
//! (never the writer's session zone, never a value the writer supplied), and
//! an update's stamp is strictly later than the row's previous one. The
//! stamp column belongs to the pipeline.
//!
//! * `SYSDATE(6)`, the moment the row is written, not `NOW(6)`, the moment
//!   its statement began: an update that waited for a row lock would
//!   otherwise be stamped seconds in the past. `SYSDATE` is in the *writer's*
//!   session zone, so the trigger converts it: `CONVERT_TZ(SYSDATE(6),
//!   @@session.time_zone, '+00:00')` works for `SYSTEM`, offsets and named
//!   zones (`COALESCE` falls back to `UTC_TIMESTAMP(6)` should a zone not
//!   convert). A `TIMESTAMP(6)` column stores instants itself, so there the
//!   session-zone `SYSDATE(6)` is right as it is.
//! * Under statement-based binlog replication SYSDATE is unsafe; MariaDB's
//!   default MIXED format logs such rows by value. A server started with
//!   `--sysdate-is-now` loses the lock-wait protection.
//!
//! Starting must never freeze the table: `CREATE TRIGGER` and `DROP TRIGGER`
//! need an exclusive metadata lock, which waits for every open transaction
//! on the table (even a read-only one) while every later statement on the
//! table queues behind it. So the triggers are looked up in
//! `information_schema.TRIGGERS` first and nothing is changed when they are in
//! place (every start but the first); when DDL is needed it runs with
//! `lock_wait_timeout` = 1 s and is retried with a logged backoff, so the
//! application's statements wait at most a second per attempt.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, ServerError};

use crate::error::{Error, Result};
use crate::source::mysql::{SourceTable, quote_identifier};
use crate::source::table_check::StampType;

/// The triggers' version, part of their names: a deployment with older
/// triggers gets these and the old ones are dropped.
const VERSION: &str = "v3";

/// Names of earlier versions, dropped when found.
const OBSOLETE: [&str; 4] = [
    "stamp_insert",
    "stamp_update",
    "stamp_insert_v2",
    "stamp_update_v2",
];

/// How long one DDL attempt may wait for the table's metadata lock.
const DDL_LOCK_WAIT_SECONDS: u32 = 1;

const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;

/// The statements that put this version's triggers on `source`.
fn create_statements(source: SourceTable<'_>, stamp_type: StampType) -> [(String, String); 2] {
    let table = quote_identifier(source.table);
    let stamp = quote_identifier(source.timestamp_column);
    let now = match stamp_type {
        StampType::Datetime => {
            "COALESCE(CONVERT_TZ(SYSDATE(6), @@session.time_zone, '+00:00'), UTC_TIMESTAMP(6))"
        }
        StampType::Timestamp => "SYSDATE(6)",
    };
    let insert = format!("{}_stamp_insert_{VERSION}", source.table);
    let update = format!("{}_stamp_update_{VERSION}", source.table);
    [
        (
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} BEFORE INSERT ON {table} FOR EACH ROW
                 SET NEW.{stamp} = {now}",
                quote_identifier(&insert)
            ),
            insert,
        ),
        (
            format!(
                "CREATE TRIGGER IF NOT EXISTS {} BEFORE UPDATE ON {table} FOR EACH ROW
                 SET NEW.{stamp} = GREATEST({now}, OLD.{stamp} + INTERVAL 1 MICROSECOND)",
                quote_identifier(&update)
            ),
            update,
        ),
    ]
}

/// The DDL still needed on `source` given the triggers it has: none when
/// this version's are there and no older one is.
fn needed_ddl(source: SourceTable<'_>, stamp_type: StampType, present: &[String]) -> Vec<String> {
    let mut ddl: Vec<String> = create_statements(source, stamp_type)
        .into_iter()
        .filter(|(_, name)| !present.contains(name))
        .map(|(statement, _)| statement)
        .collect();
    // Dropped after the new ones exist: for a moment both run, in creation
    // order, so the new trigger's stamp is the one that stays.
    for old in OBSOLETE {
        let name = format!("{}_{old}", source.table);
        if present.contains(&name) {
            ddl.push(format!(
                "DROP TRIGGER IF EXISTS {}",
                quote_identifier(&name)
            ));
        }
    }
    ddl
}

/// Puts this version's triggers on `source`, changing nothing when they are
/// already in place.
pub async fn ensure_triggers(
    conn: &mut Conn,
    source: SourceTable<'_>,
    stamp_type: StampType,
) -> Result<()> {
    let present: Vec<String> = conn
        .exec(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS
             WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?",
            (source.table,),
        )
        .await?;
    let ddl = needed_ddl(source, stamp_type, &present);
    if ddl.is_empty() {
        return Ok(());
    }
    tracing::info!(
        table = source.table,
        statements = ddl.len(),
        "installing the stamping triggers ({VERSION})"
    );
    conn.query_drop(format!(
        "SET SESSION lock_wait_timeout = {DDL_LOCK_WAIT_SECONDS}"
    ))
    .await?;
    let outcome = run_without_stalling(conn, source.table, &ddl).await;
    conn.query_drop("SET SESSION lock_wait_timeout = DEFAULT")
        .await?;
    outcome
}

/// Runs `ddl` (idempotent statements) until all succeed, giving up each
/// attempt after `lock_wait_timeout` and retrying with a growing pause.
async fn run_without_stalling(conn: &mut Conn, table: &str, ddl: &[String]) -> Result<()> {
    let mut pause = Duration::from_secs(1);
    let mut attempt = 1u32;
    'attempts: loop {
        for statement in ddl {
            match conn.query_drop(statement.as_str()).await {
                Ok(()) => {}
                Err(mysql_async::Error::Server(ServerError { code, .. }))
                    if code == ER_LOCK_WAIT_TIMEOUT =>
                {
                    tracing::warn!(
                        table,
                        attempt,
                        retry_in_s = pause.as_secs(),
                        "an open transaction holds the table's metadata lock; the trigger DDL gave up after {DDL_LOCK_WAIT_SECONDS} s so the application's statements do not queue behind it, and will try again"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                    attempt += 1;
                    continue 'attempts;
                }
                Err(error) => return Err(Error::Mysql(error)),
            }
        }
        return Ok(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: SourceTable<'static> = SourceTable {
        table: "t",
        key_columns: &[],
        timestamp_column: "ts",
    };

    #[test]
    fn nothing_to_do_when_this_version_is_in_place() {
        let present = ["t_stamp_insert_v3".to_owned(), "t_stamp_update_v3".into()];
        assert!(needed_ddl(SOURCE, StampType::Datetime, &present).is_empty());
    }

    #[test]
    fn older_versions_are_replaced_new_first() {
        let present = ["t_stamp_insert_v2".to_owned(), "t_stamp_update_v2".into()];
        let ddl = needed_ddl(SOURCE, StampType::Datetime, &present);
        assert_eq!(ddl.len(), 4);
        assert!(ddl[0].contains("`t_stamp_insert_v3`") && ddl[0].contains("CONVERT_TZ"));
        assert!(ddl[1].contains("`t_stamp_update_v3`"));
        assert!(ddl[2].starts_with("DROP TRIGGER IF EXISTS `t_stamp_insert_v2`"));
    }

    #[test]
    fn a_timestamp_column_is_stamped_in_the_session_zone() {
        let ddl = needed_ddl(SOURCE, StampType::Timestamp, &[]);
        assert!(!ddl[0].contains("CONVERT_TZ") && ddl[0].contains("SYSDATE(6)"));
    }
}
