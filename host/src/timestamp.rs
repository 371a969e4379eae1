//! Source timestamps: MySQL `DATETIME(6)` values in UTC, as microseconds since
//! the Unix epoch.
//!
//! The triggers stamp the UTC instant of each write and every pipeline session
//! runs in UTC (see `source::mysql`), so a `DATETIME(6)` stamp is an
//! unambiguous instant. Keeping it as one `i64` makes positions totally
//! ordered and cheap to compare; the text form (`2026-11-25 10:00:00.123456`)
//! is what people read in the position file and the logs, and what MySQL
//! accepts as a literal.

use std::fmt;
use std::str::FromStr;

/// Microseconds since 1970-01-01 00:00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

impl Timestamp {
    /// From a calendar date and time of day (UTC).
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        micros: u32,
    ) -> Self {
        let days = days_from_civil(year, month, day);
        let seconds = days * SECONDS_PER_DAY
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second);
        Timestamp(seconds * MICROS_PER_SECOND + i64::from(micros))
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
    }

    /// Microseconds since the epoch.
    pub fn micros(self) -> i64 {
        self.0
    }

    /// Converts a MySQL `DATE`/`DATETIME` value.
    pub fn from_mysql(value: &mysql_async::Value) -> Option<Self> {
        match *value {
            mysql_async::Value::Date(year, month, day, hour, minute, second, micros) => {
                Some(Self::from_civil(
                    i64::from(year),
                    u32::from(month),
                    u32::from(day),
                    u32::from(hour),
                    u32::from(minute),
                    u32::from(second),
                    micros,
                ))
            }
            mysql_async::Value::Bytes(ref bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// The MySQL value for this instant, for use as a query parameter.
    pub fn to_mysql(self) -> mysql_async::Value {
        let (year, month, day, hour, minute, second, micros) = self.to_civil();
        mysql_async::Value::Date(
            u16::try_from(year).unwrap_or(0),
            month as u8,
            day as u8,
            hour as u8,
            minute as u8,
            second as u8,
            micros,
        )
    }

    fn to_civil(self) -> (i64, u32, u32, u32, u32, u32, u32) {
        let seconds = self.0.div_euclid(MICROS_PER_SECOND);
        let micros = self.0.rem_euclid(MICROS_PER_SECOND) as u32;
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        (
            year,
            month,
            day,
            second_of_day / 3600,
            second_of_day / 60 % 60,
            second_of_day % 60,
            micros,
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day, hour, minute, second, micros) = self.to_civil();
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}.{micros:06}"
        )
    }
}

/// Why a text is not a timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTimestampError(String);

impl fmt::Display for ParseTimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a timestamp of the form `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC)",
            self.0
        )
    }
}

impl std::error::Error for ParseTimestampError {}

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    /// Parses `YYYY-MM-DD HH:MM:SS[.f…]`, with `T` accepted in place of the space
    /// and up to six fraction digits.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || ParseTimestampError(text.to_owned());
        let (date, time) = text.split_once([' ', 'T']).ok_or_else(error)?;
        let mut date_parts = date.splitn(3, '-');
        let year: i64 = date_parts
            .next()
            .ok_or_else(error)?
            .parse()
            .map_err(|_| error())?;
        let month: u32 = date_parts
            .next()
            .ok_or_else(error)?
            .parse()
            .map_err(|_| error())?;
        let day: u32 = date_parts
            .next()
            .ok_or_else(error)?
            .parse()
            .map_err(|_| error())?;
        let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
        let mut clock_parts = clock.splitn(3, ':');
        let hour: u32 = clock_parts
            .next()
            .ok_or_else(error)?
            .parse()
            .map_err(|_| error())?;
        let minute: u32 = clock_parts
            .next()
            .ok_or_else(error)?
            .parse()
            .map_err(|_| error())?;
        let second: u32 = clock_parts
            .next()
            .ok_or_else(error)?
            .parse()
            .map_err(|_| error())?;
        if fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error());
        }
        let micros = format!("{fraction:0<6}")
            .parse::<u32>()
            .map_err(|_| error())?;
        let valid = (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60;
        if !valid {
            return Err(error());
        }
        Ok(Self::from_civil(
            year, month, day, hour, minute, second, micros,
        ))
    }
}

// Howard Hinnant's proleptic Gregorian calendar algorithms
// (https://howardhinnant.github.io/date_algorithms.html).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(Timestamp::from_civil(1970, 1, 1, 0, 0, 0, 0), Timestamp(0));
        let t: Timestamp = "2024-02-29 23:59:59.000001".parse().unwrap();
        assert_eq!(t.micros(), 1_709_251_199_000_001);
        assert_eq!(t.to_string(), "2024-02-29 23:59:59.000001");
    }

    #[test]
    fn text_round_trips_over_many_days() {
        // MySQL DATETIME spans the years 1000 to 9999.
        for day in (-354_000..2_900_000).step_by(997) {
            let t = Timestamp(day * SECONDS_PER_DAY * MICROS_PER_SECOND + 12_345_678);
            assert_eq!(t.to_string().parse::<Timestamp>(), Ok(t));
        }
    }

    #[test]
    fn short_fractions_and_t_separator_parse() {
        let t: Timestamp = "2026-11-25T10:00:00.5".parse().unwrap();
        assert_eq!(t.to_string(), "2026-11-25 10:00:00.500000");
        assert_eq!(
            "2026-11-25 10:00:00"
                .parse::<Timestamp>()
                .map(|t| t.micros() % 1_000_000),
            Ok(0)
        );
    }

    #[test]
    fn garbage_is_rejected_with_the_input_named() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01 00:00:00",
            "2026-11-25 10:00:00.1234567",
        ] {
            let error = bad.parse::<Timestamp>().unwrap_err();
            assert!(error.to_string().contains(bad));
        }
    }

    #[test]
    fn mysql_values_round_trip() {
        let t: Timestamp = "2026-11-25 10:11:12.131415".parse().unwrap();
        assert_eq!(Timestamp::from_mysql(&t.to_mysql()), Some(t));
    }
}
