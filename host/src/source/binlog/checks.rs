//! What binlog mode needs from the server, checked before anything is read
//! (binary log on, ROW, FULL image, not compressed, privileges, position kept).
//!
//! The rule: the producer refuses to start (exit code 2, with the setting or
//! statement that fixes it) unless the server writes every row change in
//! full to a binary log this user may read, and the saved position is still
//! on the server. Reading a log that could miss changes, or silently
//! re-snapshot after a purge, would break "every change, once".

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::error::{Error, Result};
use crate::source::binlog::position::BinlogPosition;

/// The server's binary-log settings, as read at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogSettings {
    pub log_bin: bool,
    pub format: String,
    pub row_image: String,
    /// MariaDB's `log_bin_compress` (absent on MySQL: off).
    pub compressed: bool,
}

/// Reads the settings and refuses any that would lose changes.
pub async fn check_settings(conn: &mut Conn) -> Result<BinlogSettings> {
    let (log_bin, format, row_image): (i64, String, String) = conn
        .query_first("SELECT @@GLOBAL.log_bin, @@GLOBAL.binlog_format, @@GLOBAL.binlog_row_image")
        .await?
        .ok_or_else(|| Error::Binlog("the server returned no binlog settings".into()))?;
    let compressed: Option<(String, String)> = conn
        .query_first("SHOW GLOBAL VARIABLES LIKE 'log_bin_compress'")
        .await?;
    let settings = BinlogSettings {
        log_bin: log_bin != 0,
        format,
        row_image,
        compressed: compressed
            .is_some_and(|(_, value)| value.eq_ignore_ascii_case("ON") || value == "1"),
    };
    refuse_settings(&settings)?;
    Ok(settings)
}

/// The fix for each setting that would lose changes (pure, for tests).
pub fn refuse_settings(settings: &BinlogSettings) -> Result<()> {
    if !settings.log_bin {
        return Err(Error::Binlog(
            "the server's binary log is off (log_bin = 0): start it with --log-bin --binlog-format=ROW --server-id=N \
             (scripts/services.sh starts such a MariaDB on port 3307), or use source.mode = \"timestamp\""
                .into(),
        ));
    }
    if !settings.format.eq_ignore_ascii_case("ROW") {
        return Err(Error::Binlog(format!(
            "binlog_format is {}, not ROW: statement-based events do not carry the rows changed. \
             Fix: SET GLOBAL binlog_format = 'ROW' (and binlog_format=ROW in the server's config; \
             sessions opened before keep their format until they reconnect)",
            settings.format
        )));
    }
    if !settings.row_image.eq_ignore_ascii_case("FULL") {
        return Err(Error::Binlog(format!(
            "binlog_row_image is {}, not FULL: updates and deletes would carry only some columns. \
             Fix: SET GLOBAL binlog_row_image = 'FULL' (and binlog_row_image=FULL in the server's config)",
            settings.row_image
        )));
    }
    if settings.compressed {
        return Err(Error::Binlog(
            "log_bin_compress is ON: MariaDB writes compressed row and query events, which binlog mode cannot \
             decode (skipping them would lose the rows they change). \
             Fix: SET GLOBAL log_bin_compress = OFF (and log_bin_compress=OFF in the server's config)"
                .into(),
        ));
    }
    Ok(())
}

/// Refuses a user that may not read the binary log: REPLICATION SLAVE to
/// stream it, REPLICATION CLIENT (MariaDB 10.5+: BINLOG MONITOR) to list
/// the logs and read the position.
pub async fn check_privileges(conn: &mut Conn) -> Result<()> {
    let (user,): (String,) = conn
        .query_first("SELECT CURRENT_USER()")
        .await?
        .ok_or_else(|| Error::Binlog("CURRENT_USER() returned no row".into()))?;
    let grants: Vec<String> = conn.query("SHOW GRANTS FOR CURRENT_USER()").await?;
    let missing = missing_privileges(&grants);
    if missing.is_empty() {
        return Ok(());
    }
    let account = match user.rsplit_once('@') {
        Some((name, host)) => format!("'{name}'@'{host}'"),
        None => format!("'{user}'"),
    };
    Err(Error::Binlog(format!(
        "the user {user} lacks {} on *.*, needed to read the binary log. Fix: GRANT {} ON *.* TO {account}",
        missing.join(" and "),
        missing.join(", ")
    )))
}

/// The replication privileges that `grants` (SHOW GRANTS lines) lack.
pub fn missing_privileges(grants: &[String]) -> Vec<&'static str> {
    let global: Vec<String> = grants
        .iter()
        .map(|line| line.to_ascii_uppercase())
        .filter(|line| line.contains(" ON *.* "))
        .collect();
    let has = |names: &[&str]| {
        global.iter().any(|line| {
            line.contains("ALL PRIVILEGES") || names.iter().any(|name| line.contains(name))
        })
    };
    let mut missing = Vec::new();
    if !has(&["REPLICATION SLAVE", "REPLICATION REPLICA"]) {
        missing.push("REPLICATION SLAVE");
    }
    if !has(&["REPLICATION CLIENT", "BINLOG MONITOR", "SUPER"]) {
        missing.push("REPLICATION CLIENT");
    }
    missing
}

/// Refuses key columns that no unique index makes unique together:
/// records are keyed by them (one key's changes in order on one partition,
/// the members' duplicate rule) and the snapshot pages through the table by
/// them, so two rows sharing a key would be mixed up or skipped. Any unique
/// index whose columns are all key columns will do.
pub async fn check_unique_key(conn: &mut Conn, table: &str, key: &[String]) -> Result<()> {
    let placeholders = vec!["?"; key.len()].join(", ");
    let mut params: Vec<mysql_async::Value> = vec![table.into()];
    params.extend(key.iter().map(|column| column.as_str().into()));
    let unique: Option<u8> = conn
        .exec_first(
            format!(
                "SELECT 1 FROM information_schema.STATISTICS
                 WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0
                 GROUP BY INDEX_NAME HAVING SUM(COLUMN_NAME IN ({placeholders})) = COUNT(*)
                 LIMIT 1"
            ),
            params,
        )
        .await?;
    if unique.is_some() {
        return Ok(());
    }
    let list = key
        .iter()
        .map(|column| crate::source::mysql::quote_identifier(column))
        .collect::<Vec<_>>()
        .join(", ");
    Err(Error::Binlog(format!(
        "the key ({list}) of table `{table}` has no unique index over it: records are keyed by it and the snapshot pages by it. \
         Fix: ALTER TABLE {} ADD UNIQUE ({list}), or set source.key_columns to the table's primary key",
        crate::source::mysql::quote_identifier(table),
    )))
}

/// The binary logs the server still has, oldest first.
pub async fn binary_logs(conn: &mut Conn) -> Result<Vec<String>> {
    let rows: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| row.get::<String, _>(0))
        .collect())
}

/// Refuses a saved position whose file the server has purged: the changes
/// between it and the oldest log still there are gone.
pub async fn check_not_purged(
    conn: &mut Conn,
    position: &BinlogPosition,
    position_file: &std::path::Path,
) -> Result<()> {
    let logs = binary_logs(conn).await?;
    if logs.contains(&position.file) {
        return Ok(());
    }
    Err(Error::Binlog(format!(
        "the saved position {} offset {} (in {}) is in a binary log the server no longer has (it keeps {}): \
         the changes since are lost to binlog mode. Fix: delete {} to take a new snapshot of the table \
         (consumers log every row again, with op \"r\"), and keep binary logs longer \
         (binlog_expire_logs_seconds / expire_logs_days) than the producer may be stopped",
        position.file,
        position.offset,
        position_file.display(),
        match (logs.first(), logs.last()) {
            (Some(first), Some(last)) => format!("{first} to {last}"),
            _ => "none".into(),
        },
        position_file.display(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(log_bin: bool, format: &str, image: &str) -> BinlogSettings {
        BinlogSettings {
            log_bin,
            format: format.into(),
            row_image: image.into(),
            compressed: false,
        }
    }

    #[test]
    fn each_bad_setting_names_its_fix() {
        assert!(refuse_settings(&settings(true, "ROW", "FULL")).is_ok());
        let off = refuse_settings(&settings(false, "ROW", "FULL")).unwrap_err();
        assert!(off.to_string().contains("--log-bin"), "{off}");
        let mixed = refuse_settings(&settings(true, "MIXED", "FULL")).unwrap_err();
        assert!(
            mixed.to_string().contains("binlog_format = 'ROW'"),
            "{mixed}"
        );
        let minimal = refuse_settings(&settings(true, "ROW", "MINIMAL")).unwrap_err();
        assert!(
            minimal.to_string().contains("binlog_row_image = 'FULL'"),
            "{minimal}"
        );
        assert!(off.is_bad_input());
        let compressed = BinlogSettings {
            compressed: true,
            ..settings(true, "ROW", "FULL")
        };
        let refused = refuse_settings(&compressed).unwrap_err();
        assert!(
            refused.to_string().contains("log_bin_compress = OFF"),
            "{refused}"
        );
    }

    #[test]
    fn grants_are_read_from_global_lines_only() {
        let lines = |text: &[&str]| text.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(
            missing_privileges(&lines(&[
                "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`"
            ]))
            .is_empty()
        );
        assert!(
            missing_privileges(&lines(&[
                "GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `cdc`@`%`"
            ]))
            .is_empty()
        );
        assert_eq!(
            missing_privileges(&lines(&[
                "GRANT USAGE ON *.* TO `cdc`@`%`",
                "GRANT ALL PRIVILEGES ON `test`.* TO `cdc`@`%`"
            ])),
            ["REPLICATION SLAVE", "REPLICATION CLIENT"]
        );
    }
}
