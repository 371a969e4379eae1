//! What a plugin may do to a record, checked twice: its manifest against the
//! schema when it is loaded or swapped in, and every row it keeps against the
//! fields it declared.
//!
//! The per-row check is what stops one buggy plugin from corrupting every log
//! line behind it: a row with a dropped, retyped or undeclared field becomes a
//! dead letter naming the plugin, instead of a wrong line.

use super::bindings::{Manifest, Row, Value};
use super::schema::{FieldSpec, FieldType, SchemaFields};

/// The fields a plugin's kept rows must have: its input fields with its
/// `writes` applied.
#[derive(Debug, Clone)]
pub struct Expected {
    pub fields: SchemaFields,
}

/// Checks a chain of manifests against `schema`, in order; returns what each
/// plugin's output must look like, or why the chain is refused.
pub fn plan<'a>(
    schema: &SchemaFields,
    manifests: impl IntoIterator<Item = &'a Manifest>,
) -> Result<Vec<Expected>, String> {
    let mut fields = schema.clone();
    let mut plans = Vec::new();
    for manifest in manifests {
        for read in &manifest.reads {
            if fields.get(read).is_none() {
                return Err(format!(
                    "plugin {} reads field `{read}`, which the schema (and earlier plugins) lack",
                    manifest.name
                ));
            }
        }
        for write in &manifest.writes {
            let ty = FieldType::from_wit(write.type_);
            if let Some(existing) = fields.get(&write.name)
                && existing.ty != ty
            {
                return Err(format!(
                    "plugin {} writes field `{}` as {}, but it is {} in the schema",
                    manifest.name,
                    write.name,
                    ty.name(),
                    existing.ty.name()
                ));
            }
            fields.upsert(FieldSpec {
                name: write.name.clone(),
                ty,
                optional: write.optional
                    || fields.get(&write.name).is_some_and(|field| field.optional),
            });
        }
        plans.push(Expected {
            fields: fields.clone(),
        });
    }
    Ok(plans)
}

impl Expected {
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
        let expected = self.fields.fields();
        seen.clear();
        seen.resize(expected.len(), false);
        for field in &output.fields {
            let actual = value_type(&field.value);
            match expected.iter().position(|spec| spec.name == field.name) {
                Some(index) => {
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

fn value_type(value: &Value) -> Option<FieldType> {
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
