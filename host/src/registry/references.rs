//! Schema references (Confluent Platform 5.5+): a schema may use named types
//! that live in other subjects, listed as `{name, subject, version}`.
//!
//! The one rule: a schema with references is always parsed **with every type
//! it references, transitively, inlined** at its first use. The inlined
//! schema is self-contained, so its canonical form identifies it (together
//! with the reference list) and compatibility checks compare the referenced
//! types' real definitions rather than only their names.

use std::collections::{BTreeSet, HashMap, HashSet};

use apache_avro::Schema;
use apache_avro::schema::{ArraySchema, MapSchema, Name, UnionSchema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::errors::ApiError;
use super::state::{RegistryState, VersionSelector};

/// How deep references may nest (a reference of a reference of ...).
const MAX_DEPTH: usize = 32;

/// One reference, as stored and as returned: the type `name`, found in
/// `subject` at `version`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SchemaReference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

impl SchemaReference {
    /// Reads one entry of a request's `references` list. `version` -1 (or
    /// "latest") means the subject's latest live version at registration.
    pub fn from_request(value: &Value, state: &RegistryState) -> Result<Self, ApiError> {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::invalid_schema(format!(
                        "each reference needs `name`, `subject` and `version`; got {value}"
                    ))
                })
        };
        let name = text("name")?;
        let subject = text("subject")?;
        let selector = match value.get("version") {
            Some(Value::Number(number)) => VersionSelector::parse(&number.to_string())?,
            Some(Value::String(version)) => VersionSelector::parse(version)?,
            _ => {
                return Err(ApiError::invalid_schema(format!(
                    "reference `{name}` has no version"
                )));
            }
        };
        let version = state
            .version(&subject, selector, false)
            .map_err(|error| {
                ApiError::invalid_schema(format!(
                    "reference `{name}`: subject `{subject}` version {}: {}",
                    match selector {
                        VersionSelector::Latest => "latest".to_owned(),
                        VersionSelector::Number(number) => number.to_string(),
                    },
                    error.message
                ))
            })?
            .version;
        Ok(Self {
            name,
            subject,
            version,
        })
    }
}

impl RegistryState {
    /// The texts of every schema `references` needs, transitively, each once.
    fn referenced_texts(
        &self,
        references: &[SchemaReference],
        seen: &mut BTreeSet<u32>,
        texts: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), ApiError> {
        if depth > MAX_DEPTH {
            return Err(ApiError::invalid_schema(format!(
                "references nest deeper than {MAX_DEPTH} levels"
            )));
        }
        for reference in references {
            let id = self
                .version(
                    &reference.subject,
                    VersionSelector::Number(reference.version),
                    true,
                )
                .map_err(|error| {
                    ApiError::invalid_schema(format!(
                        "reference `{}` ({} version {}): {}",
                        reference.name, reference.subject, reference.version, error.message
                    ))
                })?
                .id;
            if !seen.insert(id) {
                continue;
            }
            let stored = self
                .schemas
                .get(&id)
                .ok_or_else(ApiError::schema_not_found)?;
            self.referenced_texts(&stored.references, seen, texts, depth + 1)?;
            texts.push(stored.schema.clone());
        }
        Ok(())
    }

    /// Parses `text` with its references' types inlined (see the module doc).
    pub fn resolve_schema(
        &self,
        text: &str,
        references: &[SchemaReference],
    ) -> Result<Schema, ApiError> {
        if references.is_empty() {
            return Schema::parse_str(text).map_err(ApiError::invalid_schema);
        }
        let mut texts = Vec::new();
        self.referenced_texts(references, &mut BTreeSet::new(), &mut texts, 0)?;
        let (schema, named) =
            Schema::parse_str_with_list(text, &texts).map_err(ApiError::invalid_schema)?;
        let definitions: HashMap<Name, Schema> = named
            .into_iter()
            .filter_map(|definition| definition.name().cloned().map(|name| (name, definition)))
            .collect();
        inline(&schema, &definitions, &mut HashSet::new()).map_err(ApiError::invalid_schema)
    }

    /// Ids of the stored schemas (of live or soft-deleted versions) that
    /// reference `subject` at `version`, ascending.
    pub fn referenced_by(&self, subject: &str, version: u32) -> Vec<u32> {
        let referencing: BTreeSet<u32> = self
            .subjects
            .values()
            .flat_map(|s| s.versions.iter())
            .filter(|v| {
                self.schemas.get(&v.id).is_some_and(|stored| {
                    stored
                        .references
                        .iter()
                        .any(|r| r.subject == subject && r.version == version)
                })
            })
            .map(|v| v.id)
            .collect();
        referencing.into_iter().collect()
    }
}

/// `schema` with each external named type (`definitions`) written out at its
/// first use, so the result parses and compares on its own.
fn inline(
    schema: &Schema,
    definitions: &HashMap<Name, Schema>,
    defined: &mut HashSet<Name>,
) -> apache_avro::AvroResult<Schema> {
    Ok(match schema {
        Schema::Ref { name } => match definitions.get(name) {
            Some(definition) if defined.insert(name.clone()) => {
                inline(definition, definitions, defined)?
            }
            _ => schema.clone(),
        },
        Schema::Record(record) => {
            defined.insert(record.name.clone());
            let mut record = record.clone();
            for field in &mut record.fields {
                field.schema = inline(&field.schema, definitions, defined)?;
            }
            Schema::Record(record)
        }
        Schema::Enum(inner) => {
            defined.insert(inner.name.clone());
            schema.clone()
        }
        Schema::Fixed(inner) => {
            defined.insert(inner.name.clone());
            schema.clone()
        }
        Schema::Array(array) => Schema::Array(ArraySchema {
            items: Box::new(inline(&array.items, definitions, defined)?),
            attributes: array.attributes.clone(),
        }),
        Schema::Map(map) => Schema::Map(MapSchema {
            types: Box::new(inline(&map.types, definitions, defined)?),
            attributes: map.attributes.clone(),
        }),
        Schema::Union(union) => {
            let variants = union
                .variants()
                .iter()
                .map(|variant| inline(variant, definitions, defined))
                .collect::<apache_avro::AvroResult<Vec<_>>>()?;
            Schema::Union(UnionSchema::new(variants)?)
        }
        other => other.clone(),
    })
}
