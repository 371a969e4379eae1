//! A `transform-batch` value (a cell) in both directions: a record's value
//! written into a batch (its text or bytes appended to the batch's `data`,
//! the cell holding their span), and a plugin's returned cell read back into
//! a record.
//!
//! The rule that keeps a plugin's spans harmless: **a returned cell is put
//! into a record only after [`check`] passed on it: its span lies inside the
//! data of the call that returned it (bounds computed in `usize`, so no
//! start + length wraps), and a text span holds UTF-8.** [`put`] never
//! panics even unchecked (it reads nothing outside `data`), but only a
//! checked cell says what the plugin meant.

use super::bindings::batch::{Cell, Span};
use super::schema::{FieldSpec, FieldType};
use crate::record::FieldValue;

/// `value` as a cell, its text or bytes appended to `data`. A decimal goes
/// as its exact text (`-12.3400`): the WIT `value` has no decimal.
pub fn cell_of(value: &FieldValue, data: &mut Vec<u8>) -> Cell {
    let mut span = |bytes: &[u8]| {
        let start = data.len();
        data.extend_from_slice(bytes);
        // `fill` refuses a batch whose data passes `u32::MAX`.
        Span {
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        }
    };
    match value {
        FieldValue::Null => Cell::Null,
        FieldValue::Boolean(b) => Cell::Boolean(*b),
        FieldValue::Int(i) => Cell::Int(*i),
        FieldValue::Long(l) => Cell::Long(*l),
        FieldValue::Float(f) => Cell::Float(*f),
        FieldValue::Double(d) => Cell::Double(*d),
        FieldValue::Text(text) | FieldValue::Decimal(text) => Cell::Text(span(text.as_bytes())),
        FieldValue::Bytes(bytes) => Cell::Bytes(span(bytes)),
    }
}

/// The bytes `span` names in `data`, if it lies inside.
fn bytes_at(data: &[u8], span: Span) -> Option<&[u8]> {
    let start = usize::try_from(span.start).ok()?;
    let len = usize::try_from(span.len).ok()?;
    data.get(start..start.checked_add(len)?)
}

/// Sets `value` to what `cell` holds (checked by [`check`] first), reusing
/// the allocation of a text or bytes value already there.
pub fn put(value: &mut FieldValue, cell: &Cell, data: &[u8]) {
    let bytes = |span: &Span| bytes_at(data, *span).unwrap_or_default();
    *value = match (cell, &mut *value) {
        (Cell::Text(span), FieldValue::Text(text)) => {
            text.clear();
            text.push_str(std::str::from_utf8(bytes(span)).unwrap_or_default());
            return;
        }
        (Cell::Bytes(span), FieldValue::Bytes(old)) => {
            old.clear();
            old.extend_from_slice(bytes(span));
            return;
        }
        (Cell::Text(span), _) => FieldValue::Text(
            std::str::from_utf8(bytes(span))
                .unwrap_or_default()
                .to_owned(),
        ),
        (Cell::Bytes(span), _) => FieldValue::Bytes(bytes(span).to_vec()),
        (Cell::Null, _) => FieldValue::Null,
        (Cell::Boolean(b), _) => FieldValue::Boolean(*b),
        (Cell::Int(i), _) => FieldValue::Int(*i),
        (Cell::Long(l), _) => FieldValue::Long(*l),
        (Cell::Float(f), _) => FieldValue::Float(*f),
        (Cell::Double(d), _) => FieldValue::Double(*d),
    };
}

/// Checks one kept row's written values against the plan: types, numbers
/// a log line can carry, spans inside the result's data, text in UTF-8.
pub fn check(
    plugin: &str,
    writes: &[FieldSpec],
    values: &[Cell],
    data: &[u8],
) -> Result<(), String> {
    for (spec, cell) in writes.iter().zip(values) {
        let non_finite = match cell {
            Cell::Double(number) if !number.is_finite() => Some(*number),
            Cell::Float(number) if !number.is_finite() => Some(f64::from(*number)),
            _ => None,
        };
        if let Some(number) = non_finite {
            return Err(format!(
                "plugin {plugin} returned {number} for field `{}`: NaN and infinities are not numbers a log line can carry",
                spec.name
            ));
        }
        let ty = match cell {
            Cell::Null => None,
            Cell::Boolean(_) => Some(FieldType::Boolean),
            Cell::Int(_) => Some(FieldType::Int),
            Cell::Long(_) => Some(FieldType::Long),
            Cell::Float(_) => Some(FieldType::Float),
            Cell::Double(_) => Some(FieldType::Double),
            Cell::Text(_) => Some(FieldType::Text),
            Cell::Bytes(_) => Some(FieldType::Bytes),
        };
        match ty {
            None if !spec.optional => {
                return Err(format!(
                    "plugin {plugin} returned null for field `{}`, declared {} (not optional)",
                    spec.name,
                    spec.ty.name()
                ));
            }
            Some(ty) if ty != spec.ty => {
                return Err(format!(
                    "plugin {plugin} returned field `{}` of type {}, declared {}",
                    spec.name,
                    ty.name(),
                    spec.ty.name()
                ));
            }
            _ => {}
        }
        if let Cell::Text(span) | Cell::Bytes(span) = cell {
            let Some(bytes) = bytes_at(data, *span) else {
                return Err(format!(
                    "plugin {plugin} returned field `{}` as bytes {}..+{} of a result of {} bytes",
                    spec.name,
                    span.start,
                    span.len,
                    data.len()
                ));
            };
            if matches!(cell, Cell::Text(_)) && std::str::from_utf8(bytes).is_err() {
                return Err(format!(
                    "plugin {plugin} returned field `{}` as text that is not UTF-8",
                    spec.name
                ));
            }
        }
    }
    Ok(())
}

/// `cell` with its span, if any, moved `by` bytes towards the start (the
/// host's own spans, of a part of a batch it sends).
pub fn shifted_back(cell: &Cell, by: u32) -> Cell {
    let shift = |span: &Span| Span {
        start: span.start.saturating_sub(by),
        len: span.len,
    };
    match cell {
        Cell::Text(span) => Cell::Text(shift(span)),
        Cell::Bytes(span) => Cell::Bytes(shift(span)),
        other => *other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_write(name: &str) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            ty: FieldType::Text,
            optional: false,
        }
    }

    #[test]
    fn a_written_span_must_lie_in_the_data_and_hold_utf8() {
        let writes = [text_write("category")];
        let data = b"CAT_5\xff";
        let span = |start, len| [Cell::Text(Span { start, len })];
        assert!(check("p", &writes, &span(0, 5), data).is_ok());
        let outside = check("p", &writes, &span(4, 3), data).unwrap_err();
        assert!(
            outside.contains("bytes 4..+3 of a result of 6 bytes"),
            "{outside}"
        );
        let huge = check("p", &writes, &span(u32::MAX, u32::MAX), data).unwrap_err();
        assert!(huge.contains("of a result of"), "{huge}");
        let not_utf8 = check("p", &writes, &span(3, 3), data).unwrap_err();
        assert!(not_utf8.contains("not UTF-8"), "{not_utf8}");
    }

    #[test]
    fn a_text_written_over_a_text_reuses_its_string() {
        let mut value = FieldValue::Text(String::with_capacity(32));
        let FieldValue::Text(before) = &value else {
            unreachable!()
        };
        let buffer = before.as_ptr();
        put(&mut value, &Cell::Text(Span { start: 1, len: 3 }), b"xabc");
        assert_eq!(value, FieldValue::Text("abc".into()));
        let FieldValue::Text(after) = &value else {
            unreachable!()
        };
        assert_eq!(after.as_ptr(), buffer, "no new allocation");
        put(&mut value, &Cell::Double(2.5), b"");
        assert_eq!(value, FieldValue::Double(2.5));
    }

    #[test]
    fn decimals_and_bytes_go_as_spans_of_one_buffer() {
        let mut data = Vec::new();
        let cells = [
            cell_of(&FieldValue::Decimal("-12.3400".into()), &mut data),
            cell_of(&FieldValue::Bytes(vec![0, 255]), &mut data),
            cell_of(&FieldValue::Int(7), &mut data),
        ];
        assert_eq!(data, b"-12.3400\x00\xff");
        assert!(matches!(cells[0], Cell::Text(Span { start: 0, len: 8 })));
        assert!(matches!(cells[1], Cell::Bytes(Span { start: 8, len: 2 })));
        assert!(matches!(cells[2], Cell::Int(7)));
        assert!(matches!(
            shifted_back(&cells[1], 8),
            Cell::Bytes(Span { start: 0, len: 2 })
        ));
    }
}
