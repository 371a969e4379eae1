//! Connecting to MySQL/MariaDB and making sure the source table exists.
//!
//! The rule: every session of the pipeline runs in UTC, on every connection
//! a pool hands out. `time_zone = '+00:00'` is a `setup` command, which
//! mysql_async runs on every new connection *and after every reset* (the
//! pool resets each returned connection with COM_RESET_CONNECTION, which
//! forgets session variables; an `init` command would hold only until the
//! first reset). So `NOW(6)`, the position and every `DATETIME(6)` read are
//! the same UTC instants whatever the server's or the client's zone; the
//! triggers stamp UTC whatever the *writer's* zone (see [`super::triggers`]).

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool};

use crate::error::{Error, Result};
use crate::source::catalog::TableDescription;
use crate::source::table_check::check_table;
use crate::source::triggers::ensure_triggers;

/// Run on every connection, and again after every reset.
pub const SESSION_IN_UTC: &str = "SET time_zone = '+00:00'";

/// Opens a pool on `url`, creating the database first if it does not exist
/// (only then: a user with `SELECT` on an existing database but no `CREATE`
/// must be able to start, and MariaDB refuses `CREATE DATABASE IF NOT
/// EXISTS` without `CREATE` even when the database exists).
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
    let opts = OptsBuilder::from_opts(opts).setup(vec![SESSION_IN_UTC]);
    Ok(Pool::new(opts))
}

/// MySQL's "Unknown database".
const UNKNOWN_DATABASE: u16 = 1049;

async fn create_database(opts: &Opts, database: &str) -> Result<()> {
    match Conn::new(opts.clone()).await {
        Ok(conn) => return Ok(conn.disconnect().await?),
        Err(mysql_async::Error::Server(error)) if error.code == UNKNOWN_DATABASE => {}
        Err(error) => return Err(error.into()),
    }
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

/// The table the producer tails and the columns that order it.
#[derive(Debug, Clone, Copy)]
pub struct SourceTable<'a> {
    pub table: &'a str,
    /// The key columns (never empty once resolved, see [`ensure_source_table`]).
    pub key_columns: &'a [String],
    pub timestamp_column: &'a str,
}

/// Reads the table from the catalog (creating it first when it is the
/// seed's table and missing, see [`crate::updater::create_seed_table`]),
/// resolves its key (`configured_key`, else the primary key), checks that the
/// table can be tailed (see [`super::table_check`]) and puts the stamping
/// triggers in place (see [`super::triggers`]), without DDL when they already
/// are. Returns the description and the key columns.
pub async fn ensure_source_table(
    conn: &mut Conn,
    table: &str,
    configured_key: &[String],
    timestamp_column: &str,
) -> Result<(TableDescription, Vec<String>)> {
    if !table_exists(conn, table).await? {
        if table != crate::updater::SEED_TABLE {
            let database: Option<String> = conn.query_first("SELECT DATABASE()").await?;
            return Err(Error::config(
                "source.table",
                format!(
                    "table `{table}` does not exist in database `{}`: create it, or set source.table to an existing table (only the seed's `{}` table is created when missing)",
                    database.unwrap_or_default(),
                    crate::updater::SEED_TABLE
                ),
            ));
        }
        crate::updater::create_seed_table(conn, table, configured_key, timestamp_column).await?;
    }
    let description = TableDescription::read(conn, table).await?;
    let key_columns = description.key_columns(configured_key)?;
    let source = SourceTable {
        table,
        key_columns: &key_columns,
        timestamp_column,
    };
    let stamp_type = check_table(conn, source).await?;
    ensure_triggers(conn, source, stamp_type).await?;
    Ok((description, key_columns))
}

/// Whether `table` exists in the connection's database.
pub async fn table_exists(conn: &mut Conn, table: &str) -> Result<bool> {
    let found: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (table,),
        )
        .await?;
    Ok(found.is_some())
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
