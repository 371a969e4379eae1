//! MySQL values as record fields, by the column's [`ColumnKind`].
//!
//! The rule: a value is converted by the kind its column was *declared*
//! with (from the catalog), so every value of a column has the Avro type
//! the schema gives it; a value that does not fit that kind is an error
//! naming the column, never a silently different type.

use mysql_async::Value;

use crate::record::FieldValue;
use crate::source::catalog::ColumnKind;
use crate::timestamp::Timestamp;

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// `value` of a column of `kind`; `Err` describes the value that did not fit.
pub fn field_value(kind: ColumnKind, value: Value) -> Result<FieldValue, String> {
    if value == Value::NULL {
        return Ok(FieldValue::Null);
    }
    let wrong = |value: &Value| format!("cannot read {value:?} as {kind:?}");
    let text = |value: &Value| match value {
        Value::Bytes(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        _ => None,
    };
    Ok(match kind {
        ColumnKind::Boolean => match &value {
            Value::Bytes(bytes) => FieldValue::Boolean(bytes.iter().any(|b| *b != 0)),
            Value::Int(i) => FieldValue::Boolean(*i != 0),
            Value::UInt(u) => FieldValue::Boolean(*u != 0),
            _ => return Err(wrong(&value)),
        },
        ColumnKind::Int => {
            let number = integer(&value).ok_or_else(|| wrong(&value))?;
            match i32::try_from(number) {
                Ok(int) => FieldValue::Int(int),
                // The column was widened since the catalog was read: the
                // schema no longer fits, and the producer reads it again.
                Err(_) => FieldValue::Long(i64::try_from(number).map_err(|_| wrong(&value))?),
            }
        }
        ColumnKind::Long => {
            let number = integer(&value).ok_or_else(|| wrong(&value))?;
            FieldValue::Long(i64::try_from(number).map_err(|_| wrong(&value))?)
        }
        ColumnKind::UnsignedBigint => {
            let number = integer(&value).ok_or_else(|| wrong(&value))?;
            FieldValue::Decimal(number.to_string())
        }
        ColumnKind::Float => match value {
            Value::Float(f) => FieldValue::Float(f),
            Value::Double(d) => FieldValue::Float(d as f32),
            other => FieldValue::Float(parse(text(&other), || wrong(&other))?),
        },
        ColumnKind::Double | ColumnKind::DecimalAsDouble => match value {
            Value::Float(f) => FieldValue::Double(f64::from(f)),
            Value::Double(d) => FieldValue::Double(d),
            other => FieldValue::Double(parse(text(&other), || wrong(&other))?),
        },
        ColumnKind::Decimal { .. } => {
            FieldValue::Decimal(text(&value).ok_or_else(|| wrong(&value))?)
        }
        ColumnKind::DecimalAsText => FieldValue::Text(text(&value).ok_or_else(|| wrong(&value))?),
        ColumnKind::TimestampMicros => FieldValue::Long(
            Timestamp::from_mysql(&value)
                .ok_or_else(|| wrong(&value))?
                .micros(),
        ),
        ColumnKind::Date => {
            let micros = Timestamp::from_mysql(&value)
                .ok_or_else(|| wrong(&value))?
                .micros();
            FieldValue::Int(
                i32::try_from(micros.div_euclid(MICROS_PER_DAY)).map_err(|_| wrong(&value))?,
            )
        }
        ColumnKind::TimeMicros => match value {
            Value::Time(negative, days, hours, minutes, seconds, micros) => {
                let whole = ((i64::from(days) * 24 + i64::from(hours)) * 60 + i64::from(minutes))
                    * 60
                    + i64::from(seconds);
                let total = whole * 1_000_000 + i64::from(micros);
                FieldValue::Long(if negative { -total } else { total })
            }
            other => return Err(wrong(&other)),
        },
        ColumnKind::Text => match value {
            Value::Bytes(bytes) => FieldValue::Text(
                String::from_utf8(bytes)
                    .map_err(|error| wrong(&Value::Bytes(error.into_bytes())))?,
            ),
            other @ (Value::Date(..) | Value::Time(..)) => {
                FieldValue::Text(other.as_sql(true).trim_matches('\'').to_owned())
            }
            other => FieldValue::Text(text(&other).ok_or_else(|| wrong(&other))?),
        },
        ColumnKind::Bytes => match value {
            Value::Bytes(bytes) => FieldValue::Bytes(bytes),
            other => return Err(wrong(&other)),
        },
    })
}

/// An integer value (binary protocol `Int`/`UInt`, text protocol digits,
/// `BIT(n)` as big-endian bytes when not digits).
fn integer(value: &Value) -> Option<i128> {
    match value {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        Value::Bytes(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .or_else(|| {
                (bytes.len() <= 8).then(|| {
                    bytes
                        .iter()
                        .fold(0i128, |acc, byte| (acc << 8) | i128::from(*byte))
                })
            }),
        _ => None,
    }
}

fn parse<T: std::str::FromStr>(
    text: Option<String>,
    wrong: impl Fn() -> String,
) -> Result<T, String> {
    text.and_then(|text| text.trim().parse().ok())
        .ok_or_else(wrong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_take_their_columns_kind() {
        let read = |kind, value| field_value(kind, value).unwrap();
        assert_eq!(
            read(ColumnKind::UnsignedBigint, Value::UInt(u64::MAX)),
            FieldValue::Decimal("18446744073709551615".into())
        );
        assert_eq!(
            read(
                ColumnKind::Decimal {
                    precision: 12,
                    scale: 4
                },
                Value::Bytes(b"-1.5000".to_vec())
            ),
            FieldValue::Decimal("-1.5000".into())
        );
        assert_eq!(
            read(ColumnKind::Date, Value::Date(1970, 1, 2, 0, 0, 0, 0)),
            FieldValue::Int(1)
        );
        assert_eq!(
            read(ColumnKind::TimeMicros, Value::Time(true, 0, 1, 0, 0, 5)),
            FieldValue::Long(-3_600_000_005)
        );
        assert_eq!(
            read(ColumnKind::Boolean, Value::Bytes(vec![1])),
            FieldValue::Boolean(true)
        );
        assert_eq!(read(ColumnKind::Int, Value::NULL), FieldValue::Null);
        assert_eq!(
            read(ColumnKind::Int, Value::Int(1 << 40)),
            FieldValue::Long(1 << 40),
            "a widened column"
        );
    }
}
