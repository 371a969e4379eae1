//! The value schema while the producer runs: registered at start, and again
//! when the table changes shape (`ALTER TABLE` adds, drops or widens a
//! column).
//!
//! The rule: **a record is only ever encoded under a schema registered under
//! the registry's compatibility rules.** When a batch does not fit the
//! current schema (a field it lacks, a field count that differs, a value the
//! field's type cannot hold), the catalog is read again, the schema derived
//! again (or, with `source.value_schema_file`, widened by the new columns) and
//! registered; a registry that refuses the new version as incompatible stops
//! the producer with the change that caused it, since every retry would be
//! refused the same way.

use std::sync::Arc;

use mysql_async::Pool;
use schema_registry_converter::async_impl::schema_registry::SrSettings;

use crate::codec::{ValueSchema, WireEncoder};
use crate::config::SourceConfig;
use crate::error::{Error, Result};
use crate::producer::encode::{Encoded, EncoderPool};
use crate::record::Record;
use crate::retry::with_backoff;
use crate::source::catalog::TableDescription;
use crate::source::{SourceRow, Tailer};

/// The current schema version and its encoder.
pub struct TableSchema {
    settings: SrSettings,
    subject: String,
    schema: ValueSchema,
    encoder: Arc<WireEncoder>,
}

impl TableSchema {
    /// Registers `schema` under `subject`.
    pub async fn register(
        settings: SrSettings,
        subject: String,
        schema: ValueSchema,
    ) -> Result<Self> {
        let encoder = Arc::new(register(&settings, &subject, &schema).await?);
        Ok(Self {
            settings,
            subject,
            schema,
            encoder,
        })
    }

    /// Whether `record` has exactly this schema's fields (a derived schema)
    /// or only fields it has (a configured file, which may name fewer).
    fn fits(&self, source: &SourceConfig, record: &Record) -> bool {
        self.encoder.covers(record)
            && (source.value_schema_file.is_some()
                || record.fields.len() == self.schema.field_names.len())
    }

    /// Each row in the wire format; reads the catalog and registers a new
    /// version first when the rows show the table changed.
    pub async fn encode(
        &mut self,
        pool: &Pool,
        source: &SourceConfig,
        tailer: &mut Tailer,
        rows: &[SourceRow],
    ) -> Result<Vec<Vec<u8>>> {
        let mut refreshed = false;
        if rows
            .first()
            .is_some_and(|row| !self.fits(source, &row.record))
        {
            self.refresh(pool, source, tailer, &rows[0].record).await?;
            refreshed = true;
        }
        let mut payloads = Vec::with_capacity(rows.len());
        for row in rows {
            match self.encoder.encode(&row.record) {
                Ok(payload) => payloads.push(payload),
                Err(error) if !refreshed => {
                    tracing::info!(%error, "a value does not fit the schema; reading the table's columns again");
                    self.refresh(pool, source, tailer, &row.record).await?;
                    refreshed = true;
                    payloads.push(self.encoder.encode(&row.record)?);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(payloads)
    }

    /// [`Self::encode`] on `encoders`' threads, each record with its message
    /// key, in the rows' order. A chunk with a value that does not fit goes
    /// through [`Self::encode`] again (reading the catalog, registering a new
    /// version); the chunks that fit stay encoded under the version they fit.
    pub async fn encode_batch(
        &mut self,
        pool: &Pool,
        source: &SourceConfig,
        tailer: &mut Tailer,
        rows: Vec<SourceRow>,
        encoders: &EncoderPool,
    ) -> Result<Vec<Encoded>> {
        if rows
            .first()
            .is_some_and(|row| !self.fits(source, &row.record))
        {
            self.refresh(pool, source, tailer, &rows[0].record).await?;
        }
        let chunks = encoders.encode(&self.encoder, rows).await?;
        let mut encoded = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            match chunk {
                Ok(chunk) => encoded.push(chunk),
                Err((error, rows)) => {
                    tracing::info!(%error, "a value does not fit the schema; reading the table's columns again");
                    let payloads = self.encode(pool, source, tailer, &rows).await?;
                    let mut again = Encoded::default();
                    let mut key = Vec::new();
                    for (row, payload) in rows.iter().zip(payloads) {
                        key.clear();
                        crate::source::key::write_message_key(&row.position.key, &mut key);
                        again.push(&key, &payload);
                    }
                    encoded.push(again);
                }
            }
        }
        Ok(encoded)
    }

    async fn refresh(
        &mut self,
        pool: &Pool,
        source: &SourceConfig,
        tailer: &mut Tailer,
        sample: &Record,
    ) -> Result<()> {
        let description = with_backoff("MySQL", || async {
            let mut conn = pool.get_conn().await?;
            TableDescription::read(&mut conn, &source.table).await
        })
        .await?;
        tailer.set_kinds(description.kinds(source.decimal_handling));
        let schema = match &source.value_schema_file {
            None => description.value_schema(source)?,
            Some(_) => {
                match self
                    .schema
                    .widened_with(&description.catalog_types(source.decimal_handling), sample)?
                {
                    Some(widened) => widened,
                    None => return Ok(()),
                }
            }
        };
        if schema.schema.canonical_form() == self.schema.schema.canonical_form() {
            return Ok(());
        }
        tracing::info!(fields = ?schema.field_names, "the table changed shape; registering a new schema version");
        self.encoder = Arc::new(register(&self.settings, &self.subject, &schema).await?);
        self.schema = schema;
        Ok(())
    }
}

/// Registers `schema`, waiting out a registry that is away; an
/// incompatible version (HTTP 409) is a permanent error naming the way out.
pub(crate) async fn register(
    settings: &SrSettings,
    subject: &str,
    schema: &ValueSchema,
) -> Result<WireEncoder> {
    let outcome = with_backoff("the schema registry", || async {
        match WireEncoder::register(settings, subject, schema).await {
            Err(Error::Registry(message)) if message.contains("409") => Ok(Err(message)),
            other => other.map(Ok),
        }
    })
    .await?;
    outcome.map_err(|message| {
        Error::Source(format!(
            "the table's new shape is not compatible with the schema versions registered under `{subject}` ({message}); \
             nothing after the change was produced. New schema: {}. Fix: make the change compatible \
             (add columns as NULL, widen rather than narrow types), or set the subject's compatibility \
             (PUT /config/{subject}) to NONE if every consumer can read both versions, then start again",
            schema.text
        ))
    })
}
