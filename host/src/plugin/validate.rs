//! What a plugin may do to a record, checked twice: its manifest against the
//! schema when it is loaded or swapped in, and every row it keeps against the
//! fields it declared.
//!
//! The per-row check is what stops one buggy plugin from corrupting every log
//! line behind it: a row with a dropped, retyped or undeclared field, a
//! missing or null key, or a NaN or infinite number (which JSON cannot carry)
//! becomes a dead letter naming the plugin, instead of a wrong line. Both
//! checks look fields up by name in a hash map, so they take time linear in
//! the manifest and the row, whatever a plugin declares.

use std::collections::HashMap;

use super::bindings::{Manifest, Row, Value};
use super::schema::{FieldSpec, FieldType, SchemaFields};

/// The fields a plugin's kept rows must have: its input fields with its
/// `writes` applied.
#[derive(Debug, Clone)]
pub struct Expected {
    fields: Vec<FieldSpec>,
    index: HashMap<String, usize>,
}

/// Checks a chain of manifests against `schema`, in order; returns what each
/// plugin's output must look like, or why the chain is refused.
pub fn plan<'a>(
    schema: &SchemaFields,
    manifests: impl IntoIterator<Item = &'a Manifest>,
) -> Result<Vec<Expected>, String> {
    let Expected {
        mut fields,
        mut index,
    } = input(schema);
    let mut plans = Vec::new();
    for manifest in manifests {
        for read in &manifest.reads {
            if !index.contains_key(read) {
                return Err(format!(
                    "plugin {} reads field `{read}`, which the schema (and earlier plugins) lack",
                    manifest.name
                ));
            }
        }
        for write in &manifest.writes {
            let ty = FieldType::from_wit(write.type_);
            if write.optional && schema.is_key(&write.name) {
                return Err(format!(
                    "plugin {} declares the key field `{}` optional in `writes`; the key can never be null or missing",
                    manifest.name, write.name
                ));
            }
            match index.get(&write.name) {
                Some(&position) => {
                    let existing = &mut fields[position];
                    if existing.ty != ty {
                        return Err(format!(
                            "plugin {} writes field `{}` as {}, but it is {} in the schema",
                            manifest.name,
                            write.name,
                            ty.name(),
                            existing.ty.name()
                        ));
                    }
                    existing.optional |= write.optional;
                }
                None => {
                    index.insert(write.name.clone(), fields.len());
                    fields.push(FieldSpec {
                        name: write.name.clone(),
                        ty,
                        optional: write.optional,
                    });
                }
            }
        }
        plans.push(Expected {
            fields: fields.clone(),
            index: index.clone(),
        });
    }
    Ok(plans)
}

/// The fields the first plugin of a chain is given: the schema's, the key
/// never null.
pub fn input(schema: &SchemaFields) -> Expected {
    let mut fields: Vec<FieldSpec> = schema.fields().to_vec();
    for field in &mut fields {
        if schema.is_key(&field.name) {
            field.optional = false;
        }
    }
    let index = fields
        .iter()
        .enumerate()
        .map(|(position, field)| (field.name.clone(), position))
        .collect();
    Expected { fields, index }
}

impl Expected {
    /// The field called `name`.
    pub fn spec(&self, name: &str) -> Option<&FieldSpec> {
        self.index.get(name).map(|&position| &self.fields[position])
    }

    /// Checks a kept row; `input` is the row the plugin was given (fields it
    /// carried that the schema does not know may pass through unchanged in
    /// type). `seen` is scratch space, reused to avoid an allocation per row.
    pub fn check(
        &self,
        plugin: &str,
        input: &Row,
        output: &Row,
        seen: &mut Vec<bool>,
    ) -> Result<(), String> {
        let expected = &self.fields;
        seen.clear();
        seen.resize(expected.len(), false);
        for field in &output.fields {
            let actual = value_type(&field.value);
            if let Some(number) = non_finite(&field.value) {
                return Err(format!(
                    "plugin {plugin} returned {number} for field `{}`: NaN and infinities are not numbers a log line can carry",
                    field.name
                ));
            }
            match self.index.get(&field.name) {
                Some(&index) => {
                    if std::mem::replace(&mut seen[index], true) {
                        return Err(format!(
                            "plugin {plugin} returned field `{}` twice",
                            field.name
                        ));
                    }
                    let spec = &expected[index];
                    match actual {
                        None if !spec.optional => {
                            return Err(format!(
                                "plugin {plugin} returned null for field `{}`, declared {} (not optional)",
                                field.name,
                                spec.ty.name()
                            ));
                        }
                        Some(ty) if ty != spec.ty => {
                            return Err(format!(
                                "plugin {plugin} returned field `{}` of type {}, declared {}",
                                field.name,
                                ty.name(),
                                spec.ty.name()
                            ));
                        }
                        _ => {}
                    }
                }
                None => {
                    let passed_through = input.fields.iter().any(|original| {
                        original.name == field.name
                            && (actual.is_none()
                                || value_type(&original.value).is_none_or(|ty| Some(ty) == actual))
                    });
                    if !passed_through {
                        return Err(format!(
                            "plugin {plugin} returned field `{}`, which it did not declare in `writes`",
                            field.name
                        ));
                    }
                }
            }
        }
        if let Some(missing) = expected
            .iter()
            .zip(seen.iter())
            .find(|(spec, seen)| !**seen && !spec.optional)
        {
            return Err(format!(
                "plugin {plugin} dropped field `{}`",
                missing.0.name
            ));
        }
        Ok(())
    }
}

/// The value, if it is a NaN or an infinity.
pub fn non_finite(value: &Value) -> Option<f64> {
    match value {
        Value::Double(number) if !number.is_finite() => Some(*number),
        Value::Float(number) if !number.is_finite() => Some(f64::from(*number)),
        _ => None,
    }
}

pub fn value_type(value: &Value) -> Option<FieldType> {
    Some(match value {
        Value::Null => return None,
        Value::Boolean(_) => FieldType::Boolean,
        Value::Int(_) => FieldType::Int,
        Value::Long(_) => FieldType::Long,
        Value::Float(_) => FieldType::Float,
        Value::Double(_) => FieldType::Double,
        Value::Text(_) => FieldType::Text,
        Value::Bytes(_) => FieldType::Bytes,
    })
}
