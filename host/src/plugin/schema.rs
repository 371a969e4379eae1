//! The fields a plugin may expect: the value schema's, plus whatever earlier
//! plugins in the chain declared in `writes`.

use apache_avro::Schema;

use super::bindings;
use crate::error::{Error, Result};
use crate::record::FieldValue;

/// A field's type, as plugins see it (Avro's primitives; logical types are
/// their underlying primitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Text,
    Bytes,
}

impl FieldType {
    /// The name used in messages, matching [`FieldValue::type_name`].
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Boolean => "boolean",
            FieldType::Int => "int",
            FieldType::Long => "long",
            FieldType::Float => "float",
            FieldType::Double => "double",
            FieldType::Text => "string",
            FieldType::Bytes => "bytes",
        }
    }

    /// The type of a value, `None` for null.
    pub fn of(value: &FieldValue) -> Option<Self> {
        Some(match value {
            FieldValue::Null => return None,
            FieldValue::Boolean(_) => FieldType::Boolean,
            FieldValue::Int(_) => FieldType::Int,
            FieldValue::Long(_) => FieldType::Long,
            FieldValue::Float(_) => FieldType::Float,
            FieldValue::Double(_) => FieldType::Double,
            // Plugins get decimals as their text (see `plugin::convert`).
            FieldValue::Text(_) | FieldValue::Decimal(_) => FieldType::Text,
            FieldValue::Bytes(_) => FieldType::Bytes,
        })
    }

    pub(crate) fn to_wit(self) -> bindings::FieldType {
        match self {
            FieldType::Boolean => bindings::FieldType::Boolean,
            FieldType::Int => bindings::FieldType::Int,
            FieldType::Long => bindings::FieldType::Long,
            FieldType::Float => bindings::FieldType::Float,
            FieldType::Double => bindings::FieldType::Double,
            FieldType::Text => bindings::FieldType::Text,
            FieldType::Bytes => bindings::FieldType::Bytes,
        }
    }

    pub(crate) fn from_wit(ty: bindings::FieldType) -> Self {
        match ty {
            bindings::FieldType::Boolean => FieldType::Boolean,
            bindings::FieldType::Int => FieldType::Int,
            bindings::FieldType::Long => FieldType::Long,
            bindings::FieldType::Float => FieldType::Float,
            bindings::FieldType::Double => FieldType::Double,
            bindings::FieldType::Text => FieldType::Text,
            bindings::FieldType::Bytes => FieldType::Bytes,
        }
    }
}

/// One field: name, type, and whether it may be null.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: String,
    pub ty: FieldType,
    pub optional: bool,
}

/// The value schema's fields, in order, and which of them make the key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaFields(Vec<FieldSpec>, Vec<String>);

impl SchemaFields {
    /// From `(name, type, optional)` triples, in schema order.
    pub fn new<S: Into<String>>(fields: impl IntoIterator<Item = (S, FieldType, bool)>) -> Self {
        Self(
            fields
                .into_iter()
                .map(|(name, ty, optional)| FieldSpec {
                    name: name.into(),
                    ty,
                    optional,
                })
                .collect(),
            Vec::new(),
        )
    }

    /// The same fields, with `column` as the key: no plugin may declare it
    /// optional, and every kept row must carry it, not null.
    pub fn with_key(self, column: impl Into<String>) -> Self {
        self.with_keys([column.into()])
    }

    /// The same fields, with `columns` as the (composite) key.
    pub fn with_keys(mut self, columns: impl IntoIterator<Item = String>) -> Self {
        self.1 = columns.into_iter().collect();
        self
    }

    /// The key's columns (empty when the key is unknown).
    pub fn keys(&self) -> &[String] {
        &self.1
    }

    /// Whether `name` is one of the key's columns.
    pub fn is_key(&self, name: &str) -> bool {
        self.1.iter().any(|key| key == name)
    }

    /// From an Avro record schema: `["null", T]` unions are optional `T`,
    /// logical types map to their underlying primitive.
    pub fn from_avro(schema: &Schema) -> Result<Self> {
        let Schema::Record(record) = schema else {
            return Err(Error::Source(
                "the value schema must be an Avro record".into(),
            ));
        };
        let mut fields = Vec::with_capacity(record.fields.len());
        for field in &record.fields {
            let (ty, optional) = avro_type(&field.schema).ok_or_else(|| {
                Error::Source(format!(
                    "field `{}` has a type plugins cannot take",
                    field.name
                ))
            })?;
            fields.push(FieldSpec {
                name: field.name.clone(),
                ty,
                optional,
            });
        }
        Ok(Self(fields, Vec::new()))
    }

    /// The fields, in order.
    pub fn fields(&self) -> &[FieldSpec] {
        &self.0
    }

    /// The field called `name`.
    pub fn get(&self, name: &str) -> Option<&FieldSpec> {
        self.0.iter().find(|field| field.name == name)
    }

    /// Adds `spec`, or replaces the field of the same name in place.
    pub fn upsert(&mut self, spec: FieldSpec) {
        match self.0.iter_mut().find(|field| field.name == spec.name) {
            Some(field) => *field = spec,
            None => self.0.push(spec),
        }
    }
}

fn avro_type(schema: &Schema) -> Option<(FieldType, bool)> {
    let ty = match schema {
        Schema::Boolean => FieldType::Boolean,
        Schema::Int | Schema::Date | Schema::TimeMillis => FieldType::Int,
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => FieldType::Long,
        Schema::Float => FieldType::Float,
        Schema::Double => FieldType::Double,
        // A decimal crosses the WIT boundary as its exact text.
        Schema::String | Schema::Uuid(_) | Schema::Enum(_) | Schema::Decimal(_) => FieldType::Text,
        Schema::Bytes | Schema::Fixed(_) => FieldType::Bytes,
        Schema::Union(union) => {
            let variants = union.variants();
            let mut others = variants
                .iter()
                .filter(|variant| !matches!(variant, Schema::Null));
            let inner = others.next()?;
            if others.next().is_some() || variants.len() != 2 {
                return None;
            }
            return avro_type(inner).map(|(ty, _)| (ty, true));
        }
        _ => return None,
    };
    Some((ty, false))
}
