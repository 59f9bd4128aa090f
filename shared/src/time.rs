//! Timestamps: milliseconds in code, ISO-8601 UTC on the wire (`2026-01-02T03:04:05.678Z`).
//! Hand-written civil-date arithmetic (Howard Hinnant's algorithm) keeps the crate free of a
//! date library in the wasm components.

use crate::env::Millis;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, stored as milliseconds since the Unix epoch and shown as ISO-8601 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub Millis);

impl Timestamp {
    pub fn ms(self) -> Millis {
        self.0
    }
}

/// Days since 1970-01-01 of the civil date `y`-`m`-`d` (proleptic Gregorian; a day outside
/// its month simply runs on into the next or previous one).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-01-02T03:04:05.678Z`.
pub fn iso8601_ms(ms: Millis) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `2026-01-02T03:04:05Z` (second precision; the RPC door's `GmtCreate` style).
pub fn iso8601_s(ms: Millis) -> String {
    let full = iso8601_ms(ms);
    // Drop ".mmm" before the final "Z".
    match full.rfind('.') {
        Some(dot) => format!("{}Z", &full[..dot]),
        None => full,
    }
}

/// Gregorian leap years: every 4th, but not every 100th, yet every 400th.
pub fn is_leap_year(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// The days of month `m` (1–12) of year `y`; 0 for a month that does not exist.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Parses `YYYY-MM-DDThh:mm:ss[.fff]Z` (UTC only). `None` when malformed or not a real
/// instant: the day must exist in its month (no February 30, February 29 only in leap
/// years), hours run 00–23, minutes and seconds 00–59 (UTC as computers keep it has no
/// second 60).
pub fn parse_iso8601(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    if b.len() < 20 || *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo)
        || !(1..=days_in_month(y, mo)).contains(&d)
        || h > 23
        || mi > 59
        || sec > 59
    {
        return None;
    }
    let milli = match b[19] {
        b'Z' if b.len() == 20 => 0,
        b'.' => {
            let frac = s.get(20..s.len() - 1)?;
            if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let padded = format!("{frac:0<3}");
            padded.get(..3)?.parse::<i64>().ok()?
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400_000 + h * 3_600_000 + mi * 60_000 + sec * 1000 + milli)
}

/// Parses exactly `YYYY-MM-DDThh:mm:ssZ` (20 characters, second precision, UTC: the form of
/// the RPC door's `x-acs-date`), with the same checks as [`parse_iso8601`].
pub fn parse_iso8601_s(s: &str) -> Option<Millis> {
    if s.len() != 20 {
        return None;
    }
    parse_iso8601(s)
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&iso8601_ms(self.0))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_iso8601(&s)
            .map(Timestamp)
            .ok_or_else(|| serde::de::Error::custom(format!("not an ISO-8601 UTC time: {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_known_instants() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        // 2024-02-29T12:34:56.789Z (leap day)
        let t = 1_709_210_096_789;
        assert_eq!(iso8601_ms(t), "2024-02-29T12:34:56.789Z");
        assert_eq!(iso8601_s(t), "2024-02-29T12:34:56Z");
        assert_eq!(parse_iso8601("2024-02-29T12:34:56.789Z"), Some(t));
        assert_eq!(parse_iso8601("2024-02-29T12:34:56Z"), Some(t - 789));
    }

    #[test]
    fn round_trips_through_json() {
        let t = Timestamp(1_795_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn refuses_malformed_times() {
        for bad in [
            "",
            "2024-02-29",
            "2024-02-29T12:34:56",
            "2024-13-01T00:00:00Z",
            "2024-02-29T12:34:56+01:00",
            "2024-02-29T12:34:56.Z",
            "20x4-02-29T12:34:56Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_impossible_instants() {
        for bad in [
            "2023-02-29T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2024-02-30T00:00:00Z",
            "2024-02-31T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-06-31T00:00:00Z",
            "2024-09-31T00:00:00Z",
            "2024-11-31T00:00:00Z",
            "2024-01-32T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-00-10T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T23:60:00Z",
            "2024-12-31T23:59:60Z",
            "2024-12-31T23:59:60.5Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
        for good in [
            "2024-02-29T00:00:00Z",
            "2000-02-29T00:00:00Z",
            "2023-02-28T23:59:59Z",
            "2024-04-30T12:00:00Z",
            "2024-12-31T23:59:59Z",
        ] {
            let ms = parse_iso8601(good);
            assert_eq!(ms.map(iso8601_s).as_deref(), Some(good), "{good}");
        }
    }

    #[test]
    fn the_second_precision_form_is_exactly_20_characters() {
        assert_eq!(
            parse_iso8601_s("2024-02-29T12:34:56Z"),
            Some(1_709_210_096_000)
        );
        assert_eq!(parse_iso8601_s("2024-02-29T12:34:56.789Z"), None);
        assert_eq!(parse_iso8601_s("2023-02-29T12:34:56Z"), None);
    }

    #[test]
    fn leap_years() {
        for (y, leap) in [
            (1900, false),
            (2000, true),
            (2023, false),
            (2024, true),
            (2100, false),
            (2400, true),
        ] {
            assert_eq!(is_leap_year(y), leap, "{y}");
            assert_eq!(days_in_month(y, 2), if leap { 29 } else { 28 }, "{y}");
        }
        assert_eq!(days_in_month(2024, 13), 0);
    }
}
