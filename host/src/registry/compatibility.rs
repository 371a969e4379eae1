//! Compatibility levels and the Avro reader/writer check behind them.
//!
//! The levels mean what Confluent's mean: BACKWARD = consumers on the new
//! schema can read data written with the old one; FORWARD = consumers on the
//! old schema can read data written with the new one; FULL = both. Plain
//! levels compare with the latest live version, `_TRANSITIVE` ones with every
//! live version. The check itself is apache-avro's schema resolution rules.

use apache_avro::Schema;
use apache_avro::schema_compatibility::SchemaCompatibility;
use serde::{Deserialize, Serialize};

/// A subject's (or the registry's) compatibility rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    None,
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    /// Parses a level as clients send it (case-insensitive); `None` for an unknown name.
    pub fn parse(text: &str) -> Option<Self> {
        let level = match text.to_ascii_uppercase().as_str() {
            "NONE" => Self::None,
            "BACKWARD" => Self::Backward,
            "BACKWARD_TRANSITIVE" => Self::BackwardTransitive,
            "FORWARD" => Self::Forward,
            "FORWARD_TRANSITIVE" => Self::ForwardTransitive,
            "FULL" => Self::Full,
            "FULL_TRANSITIVE" => Self::FullTransitive,
            _ => return None,
        };
        Some(level)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Whether the new schema must be checked against every earlier version,
    /// not only the latest.
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    fn checks_backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    fn checks_forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }
}

/// Checks `candidate` against `existing` (oldest first) under `level`.
///
/// Returns the reasons it is incompatible; an empty list means compatible.
/// Non-transitive levels only look at the last element of `existing`.
pub fn incompatibilities(
    level: CompatibilityLevel,
    candidate: &Schema,
    existing: &[Schema],
) -> Vec<String> {
    let compared: &[Schema] = if level.is_transitive() {
        existing
    } else {
        existing.last().map(std::slice::from_ref).unwrap_or(&[])
    };
    let mut reasons = Vec::new();
    for earlier in compared {
        if level.checks_backward()
            && let Err(error) = SchemaCompatibility::can_read(earlier, candidate)
        {
            reasons.push(format!(
                "the new schema cannot read data written with an earlier one: {error}"
            ));
        }
        if level.checks_forward()
            && let Err(error) = SchemaCompatibility::can_read(candidate, earlier)
        {
            reasons.push(format!(
                "an earlier schema cannot read data written with the new one: {error}"
            ));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &str) -> Schema {
        Schema::parse_str(&format!(
            r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn adding_a_field_with_a_default_is_backward_and_forward_compatible() {
        let old = record(r#"{"name":"a","type":"int"}"#);
        let new = record(r#"{"name":"a","type":"int"},{"name":"b","type":"string","default":""}"#);
        assert!(incompatibilities(CompatibilityLevel::Full, &new, &[old]).is_empty());
    }

    #[test]
    fn adding_a_field_without_default_is_not_backward_compatible() {
        let old = record(r#"{"name":"a","type":"int"}"#);
        let new = record(r#"{"name":"a","type":"int"},{"name":"b","type":"string"}"#);
        assert!(
            !incompatibilities(
                CompatibilityLevel::Backward,
                &new,
                std::slice::from_ref(&old)
            )
            .is_empty()
        );
        assert!(
            incompatibilities(
                CompatibilityLevel::Forward,
                &new,
                std::slice::from_ref(&old)
            )
            .is_empty()
        );
        assert!(incompatibilities(CompatibilityLevel::None, &new, &[old]).is_empty());
    }

    #[test]
    fn transitive_levels_compare_with_every_version() {
        let first = record(r#"{"name":"a","type":"int"}"#);
        let second = record(
            r#"{"name":"a","type":"int","default":0},{"name":"b","type":"int","default":0}"#,
        );
        let third = record(r#"{"name":"b","type":"int","default":0}"#);
        let history = [first, second];
        // Readers of `second` can default the dropped `a`; readers of `first` cannot.
        assert!(incompatibilities(CompatibilityLevel::Forward, &third, &history).is_empty());
        assert!(
            !incompatibilities(CompatibilityLevel::ForwardTransitive, &third, &history).is_empty()
        );
    }

    #[test]
    fn levels_parse_case_insensitively() {
        assert_eq!(
            CompatibilityLevel::parse("full_transitive"),
            Some(CompatibilityLevel::FullTransitive)
        );
        assert_eq!(CompatibilityLevel::parse("SOMETIMES"), None);
    }
}
