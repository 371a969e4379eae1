//! The registry's data and the rules that change it, free of HTTP and disk.
//!
//! Schema ids are global and never reused: the same schema (compared by its
//! Avro Parsing Canonical Form, so whitespace and key order do not matter)
//! gets the same id in every subject. Versions are per subject, never reused
//! either; a soft delete only marks a version, a permanent one removes it.
//! A schema with references is identified by its canonical form with the
//! referenced types inlined *and* its reference list (`references.rs`); a
//! version that another schema references cannot be removed permanently.

use std::collections::BTreeMap;

use apache_avro::Schema;
use serde::{Deserialize, Serialize};

use super::compatibility::{CompatibilityLevel, incompatibilities};
use super::errors::ApiError;
use super::references::SchemaReference;

/// Everything the registry knows; saved whole on every change.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RegistryState {
    /// The id the next new schema gets (ids start at 1).
    pub next_id: u32,
    /// Schema text by global id, as first registered.
    pub schemas: BTreeMap<u32, StoredSchema>,
    pub subjects: BTreeMap<String, Subject>,
    pub global_compatibility: CompatibilityLevel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSchema {
    pub schema: String,
    pub canonical_form: String,
    /// The named types it uses from other subjects (absent in older files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<SchemaReference>,
}

impl StoredSchema {
    fn is(&self, schema: &ParsedSchema) -> bool {
        self.canonical_form == schema.canonical_form && self.references == schema.references
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subject {
    pub versions: Vec<SubjectVersion>,
    pub compatibility: Option<CompatibilityLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectVersion {
    pub version: u32,
    pub id: u32,
    pub deleted: bool,
}

/// Which version a request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Number(u32),
}

impl VersionSelector {
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        if text == "latest" || text == "-1" {
            return Ok(Self::Latest);
        }
        match text.parse::<u32>() {
            Ok(number) if number >= 1 && number <= i32::MAX as u32 => Ok(Self::Number(number)),
            _ => Err(ApiError::invalid_version(text)),
        }
    }
}

/// A schema as a request sent it, parsed (references inlined) and checked.
pub struct ParsedSchema {
    pub text: String,
    pub schema: Schema,
    pub canonical_form: String,
    pub references: Vec<SchemaReference>,
}

impl ParsedSchema {
    /// A schema without references.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        let schema = Schema::parse_str(text).map_err(ApiError::invalid_schema)?;
        let canonical_form = schema.canonical_form();
        Ok(Self {
            text: text.to_string(),
            schema,
            canonical_form,
            references: Vec::new(),
        })
    }
}

impl RegistryState {
    /// Parses a request's schema, resolving its `references` against this state.
    pub fn parse_schema(
        &self,
        text: &str,
        references: &[serde_json::Value],
    ) -> Result<ParsedSchema, ApiError> {
        if references.is_empty() {
            return ParsedSchema::parse(text);
        }
        let references = references
            .iter()
            .map(|reference| SchemaReference::from_request(reference, self))
            .collect::<Result<Vec<_>, _>>()?;
        let schema = self.resolve_schema(text, &references)?;
        Ok(ParsedSchema {
            text: text.to_string(),
            canonical_form: schema.canonical_form(),
            schema,
            references,
        })
    }

    /// The stored schema `id`.
    pub fn stored(&self, id: u32) -> Result<&StoredSchema, ApiError> {
        self.schemas.get(&id).ok_or_else(ApiError::schema_not_found)
    }

    fn subject(&self, name: &str, include_deleted: bool) -> Result<&Subject, ApiError> {
        self.subjects
            .get(name)
            .filter(|subject| include_deleted || subject.versions.iter().any(|v| !v.deleted))
            .ok_or_else(|| ApiError::subject_not_found(name))
    }

    /// Names of subjects with at least one live version (or any, with `include_deleted`).
    pub fn subject_names(&self, include_deleted: bool) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(_, s)| !s.versions.is_empty())
            .filter(|(_, s)| include_deleted || s.versions.iter().any(|v| !v.deleted))
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub fn version_numbers(&self, name: &str, include_deleted: bool) -> Result<Vec<u32>, ApiError> {
        let subject = self.subject(name, include_deleted)?;
        Ok(subject
            .versions
            .iter()
            .filter(|v| include_deleted || !v.deleted)
            .map(|v| v.version)
            .collect())
    }

    pub fn version(
        &self,
        name: &str,
        selector: VersionSelector,
        include_deleted: bool,
    ) -> Result<&SubjectVersion, ApiError> {
        let subject = self.subject(name, include_deleted)?;
        let mut candidates = subject
            .versions
            .iter()
            .filter(|v| include_deleted || !v.deleted);
        let found = match selector {
            VersionSelector::Latest => candidates.next_back(),
            VersionSelector::Number(number) => candidates.find(|v| v.version == number),
        };
        found.ok_or_else(|| {
            ApiError::version_not_found(&match selector {
                VersionSelector::Latest => "latest".to_string(),
                VersionSelector::Number(number) => number.to_string(),
            })
        })
    }

    pub fn schema_text(&self, id: u32) -> Result<&str, ApiError> {
        self.schemas
            .get(&id)
            .map(|stored| stored.schema.as_str())
            .ok_or_else(ApiError::schema_not_found)
    }

    /// Every (subject, version) that uses schema `id`.
    pub fn usages(&self, id: u32, include_deleted: bool) -> Vec<(String, u32)> {
        self.subjects
            .iter()
            .flat_map(|(name, subject)| {
                subject
                    .versions
                    .iter()
                    .filter(move |v| v.id == id && (include_deleted || !v.deleted))
                    .map(move |v| (name.clone(), v.version))
            })
            .collect()
    }

    /// The live version of `name` holding `schema`, if any.
    pub fn find_in_subject(
        &self,
        name: &str,
        schema: &ParsedSchema,
    ) -> Result<&SubjectVersion, ApiError> {
        let subject = self.subject(name, false)?;
        subject
            .versions
            .iter()
            .filter(|v| !v.deleted)
            .find(|v| {
                self.schemas
                    .get(&v.id)
                    .is_some_and(|stored| stored.is(schema))
            })
            .ok_or_else(ApiError::schema_not_found)
    }

    pub fn effective_compatibility(&self, name: &str) -> CompatibilityLevel {
        self.subjects
            .get(name)
            .and_then(|subject| subject.compatibility)
            .unwrap_or(self.global_compatibility)
    }

    fn live_schemas(&self, name: &str, only: Option<u32>) -> Vec<Schema> {
        let Some(subject) = self.subjects.get(name) else {
            return Vec::new();
        };
        subject
            .versions
            .iter()
            .filter(|v| !v.deleted && only.is_none_or(|number| v.version == number))
            .filter_map(|v| self.schemas.get(&v.id))
            .filter_map(|stored| self.resolve_schema(&stored.schema, &stored.references).ok())
            .collect()
    }

    /// Why `schema` may not join `name` (empty when it may).
    ///
    /// `against` restricts the check to one version (the compatibility endpoint).
    pub fn check_compatibility(
        &self,
        name: &str,
        schema: &ParsedSchema,
        against: Option<u32>,
    ) -> Vec<String> {
        let level = self.effective_compatibility(name);
        incompatibilities(level, &schema.schema, &self.live_schemas(name, against))
    }

    /// Registers `schema` under `name`, returning its global id.
    ///
    /// Already there: the existing id, nothing changes. Otherwise the schema
    /// must pass the subject's compatibility level.
    pub fn register(&mut self, name: &str, schema: &ParsedSchema) -> Result<u32, ApiError> {
        if let Ok(existing) = self.find_in_subject(name, schema) {
            return Ok(existing.id);
        }
        let reasons = self.check_compatibility(name, schema, None);
        if !reasons.is_empty() {
            return Err(ApiError::incompatible(&reasons.join("; ")));
        }
        let id = match self.schemas.iter().find(|(_, stored)| stored.is(schema)) {
            Some((id, _)) => *id,
            None => {
                let id = self.next_id.max(1);
                self.next_id = id + 1;
                self.schemas.insert(
                    id,
                    StoredSchema {
                        schema: schema.text.clone(),
                        canonical_form: schema.canonical_form.clone(),
                        references: schema.references.clone(),
                    },
                );
                id
            }
        };
        let subject = self.subjects.entry(name.to_string()).or_default();
        let version = subject.versions.last().map_or(1, |v| v.version + 1);
        subject.versions.push(SubjectVersion {
            version,
            id,
            deleted: false,
        });
        Ok(id)
    }

    /// Deletes a whole subject; returns the versions deleted.
    pub fn delete_subject(&mut self, name: &str, permanent: bool) -> Result<Vec<u32>, ApiError> {
        let subject = self
            .subjects
            .get_mut(name)
            .filter(|s| !s.versions.is_empty())
            .ok_or_else(|| ApiError::subject_not_found(name))?;
        let all_deleted = subject.versions.iter().all(|v| v.deleted);
        if permanent {
            if !all_deleted {
                return Err(ApiError::subject_not_soft_deleted(name));
            }
            let versions: Vec<u32> = subject.versions.iter().map(|v| v.version).collect();
            for &version in &versions {
                self.refuse_if_referenced(name, version)?;
            }
            self.subjects.remove(name);
            return Ok(versions);
        }
        if all_deleted {
            return Err(ApiError::subject_not_found(name));
        }
        let mut deleted = Vec::new();
        for version in subject.versions.iter_mut().filter(|v| !v.deleted) {
            version.deleted = true;
            deleted.push(version.version);
        }
        Ok(deleted)
    }

    /// A version other schemas reference must stay: their text needs it.
    fn refuse_if_referenced(&self, name: &str, version: u32) -> Result<(), ApiError> {
        let referencing = self.referenced_by(name, version);
        if referencing.is_empty() {
            Ok(())
        } else {
            Err(ApiError::reference_exists(name, version, &referencing))
        }
    }

    /// Deletes one version; returns its number.
    pub fn delete_version(
        &mut self,
        name: &str,
        selector: VersionSelector,
        permanent: bool,
    ) -> Result<u32, ApiError> {
        let number = self.version(name, selector, permanent)?.version;
        let subject = self
            .subjects
            .get_mut(name)
            .ok_or_else(|| ApiError::subject_not_found(name))?;
        let position = subject
            .versions
            .iter()
            .position(|v| v.version == number)
            .ok_or_else(|| ApiError::version_not_found(&number.to_string()))?;
        if permanent {
            if !subject.versions[position].deleted {
                return Err(ApiError::version_not_soft_deleted(name, number));
            }
            self.refuse_if_referenced(name, number)?;
            if let Some(subject) = self.subjects.get_mut(name) {
                subject.versions.remove(position);
            }
        } else {
            subject.versions[position].deleted = true;
        }
        Ok(number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> ParsedSchema {
        ParsedSchema::parse(&format!(
            r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn ids_are_global_and_versions_per_subject() {
        let mut state = RegistryState::default();
        let first = schema(r#"{"name":"a","type":"int"}"#);
        let second = schema(r#"{"name":"a","type":"int"},{"name":"b","type":"int","default":1}"#);
        assert_eq!(state.register("s", &first), Ok(1));
        assert_eq!(state.register("s", &first), Ok(1));
        assert_eq!(state.register("t", &second), Ok(2));
        assert_eq!(state.register("s", &second), Ok(2));
        assert_eq!(state.version_numbers("s", false), Ok(vec![1, 2]));
        assert_eq!(state.version_numbers("t", false), Ok(vec![1]));
        assert_eq!(
            state.usages(2, false),
            vec![("s".into(), 2), ("t".into(), 1)]
        );
    }

    #[test]
    fn versions_are_not_reused_after_a_soft_delete() {
        let mut state = RegistryState::default();
        let first = schema(r#"{"name":"a","type":"int"}"#);
        let second = schema(r#"{"name":"a","type":"long"}"#);
        state.register("s", &first).unwrap();
        state
            .delete_version("s", VersionSelector::Latest, false)
            .unwrap();
        assert_eq!(
            state.version_numbers("s", false).unwrap_err().error_code,
            40401
        );
        state.register("s", &second).unwrap();
        assert_eq!(state.version_numbers("s", true), Ok(vec![1, 2]));
    }

    #[test]
    fn version_selectors_parse_like_confluent() {
        assert_eq!(
            VersionSelector::parse("latest"),
            Ok(VersionSelector::Latest)
        );
        assert_eq!(VersionSelector::parse("-1"), Ok(VersionSelector::Latest));
        assert_eq!(VersionSelector::parse("3"), Ok(VersionSelector::Number(3)));
        for bad in ["0", "x", "99999999999"] {
            assert_eq!(VersionSelector::parse(bad).unwrap_err().error_code, 42202);
        }
    }
}
