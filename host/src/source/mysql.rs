//! Connecting to MySQL/MariaDB and making sure the source table exists.
//!
//! Every session runs in UTC (`time_zone = '+00:00'`) so `DATETIME(6)` values,
//! `NOW(6)` and `SYSDATE(6)` are all the same
//! instant on every host, whatever the server's or client's local zone.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool};

use crate::error::{Error, Result};

/// Opens a pool on `url`, creating the database first if it does not exist.
pub async fn connect(url: &str) -> Result<Pool> {
    let opts = Opts::from_url(url).map_err(|error| {
        Error::config(
            "mysql.url",
            format!("`{url}` is not a MySQL URL ({error}); expected mysql://user:password@host:port/database"),
        )
    })?;
    if let Some(database) = opts.db_name() {
        create_database(&opts, database).await?;
    }
    let opts = OptsBuilder::from_opts(opts).init(vec!["SET time_zone = '+00:00'"]);
    Ok(Pool::new(opts))
}

async fn create_database(opts: &Opts, database: &str) -> Result<()> {
    let server_only = OptsBuilder::from_opts(opts.clone()).db_name(None::<String>);
    let mut conn = Conn::new(server_only).await?;
    conn.query_drop(format!(
        "CREATE DATABASE IF NOT EXISTS {}",
        quote_identifier(database)
    ))
    .await?;
    conn.disconnect().await?;
    Ok(())
}

/// Creates the product table, its position index and the triggers that stamp
/// every change with the current time and keep each row's stamp strictly
/// increasing.
///
/// The update trigger is what makes "the latest state of every changed row" sound
/// under clock skew: an update whose clock is not later than the row's
/// previous stamp (a clock step back, or two updates in one microsecond)
/// still gets a later stamp, so the tailer can never mistake a change for one
/// it already sent. It applies to every writer, not only ours.
///
/// The stamp is `SYSDATE(6)`, the moment the row is written, not `NOW(6)`,
/// the moment its statement began: a statement that waited seconds for a lock
/// would otherwise write a row stamped seconds in the past, behind rows the
/// tailer had already passed. (Under statement-based binlog replication
/// SYSDATE is unsafe; MariaDB's default MIXED format logs such rows by value.
/// A server started with `--sysdate-is-now` loses this protection.)
///
/// The triggers carry a version in their name so that a deployment with the
/// older `NOW(6)` triggers gets these (both run for a moment; the later stamp
/// wins) and the old ones are dropped.
pub async fn ensure_product_table(conn: &mut Conn, table: &str) -> Result<()> {
    let quoted = quote_identifier(table);
    conn.query_drop(format!(
        "CREATE TABLE IF NOT EXISTS {quoted} (
            id INT NOT NULL PRIMARY KEY,
            name VARCHAR(255) NOT NULL,
            category VARCHAR(64) NOT NULL,
            price DECIMAL(12,2) NOT NULL,
            last_updated DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
            KEY position (last_updated, id)
        ) ENGINE=InnoDB"
    ))
    .await?;
    // An insert stamped in the past (a backfill, a loader replaying old data)
    // would land behind the tailer's position and never be read.
    let on_insert = quote_identifier(&format!("{table}_stamp_insert_v2"));
    conn.query_drop(format!(
        "CREATE TRIGGER IF NOT EXISTS {on_insert} BEFORE INSERT ON {quoted} FOR EACH ROW
         SET NEW.last_updated = GREATEST(SYSDATE(6), COALESCE(NEW.last_updated, SYSDATE(6)))"
    ))
    .await?;
    let on_update = quote_identifier(&format!("{table}_stamp_update_v2"));
    conn.query_drop(format!(
        "CREATE TRIGGER IF NOT EXISTS {on_update} BEFORE UPDATE ON {quoted} FOR EACH ROW
         SET NEW.last_updated = GREATEST(SYSDATE(6), NEW.last_updated, OLD.last_updated + INTERVAL 1 MICROSECOND)"
    ))
    .await?;
    for old in ["stamp_insert", "stamp_update"] {
        let old = quote_identifier(&format!("{table}_{old}"));
        conn.query_drop(format!("DROP TRIGGER IF EXISTS {old}"))
            .await?;
    }
    Ok(())
}

/// Quotes a table or database name for MySQL (backticks, doubled inside).
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::quote_identifier;

    #[test]
    fn identifiers_are_quoted_safely() {
        assert_eq!(quote_identifier("product"), "`product`");
        assert_eq!(quote_identifier("a`b"), "`a``b`");
    }
}
