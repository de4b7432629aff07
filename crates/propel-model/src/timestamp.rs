//! ISO 8601 date-times as the tracking API accepts them, without a date library:
//! `2018-09-15T15:53:00+00:00`, `...Z`, fractional seconds, no offset (= UTC).

/// Parses to milliseconds since 1970 (UTC). `None` when it is not such a date-time.
pub fn parse_iso8601_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    };
    let year = num(0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = num(11, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let minute = num(14, 2)?;
    let mut i = 16;
    let mut second = 0;
    let mut millis = 0;
    if b.get(i) == Some(&b':') {
        second = num(i + 1, 2)?;
        i += 3;
        if matches!(b.get(i), Some(b'.' | b',')) {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let digits = &b[start..i];
            if digits.is_empty() {
                return None;
            }
            for k in 0..3 {
                millis = millis * 10 + digits.get(k).map_or(0, |d| i64::from(d - b'0'));
            }
        }
    }
    let offset_minutes = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = match (b.len() - (i + 3), b.get(i + 3)) {
                (0, _) => 0,
                (3, Some(b':')) => num(i + 4, 2)?,
                (2, _) => num(i + 3, 2)?,
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let total = oh * 60 + om;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

/// Formats milliseconds since 1970 as RFC 3339 UTC, with milliseconds only when non-zero.
/// Written digit by digit: `format!` with padded fields took about a fortieth of a
/// tracked event's serving time (ad hoc, a perf profile of an `h2load` run), for every
/// event sent without a timestamp.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        // Beyond four digits the padding rules of `format!` are the ones to keep.
        return format_padded(ms);
    }
    let mut out = [0u8; 24];
    let mut put = |at: usize, value: i64, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, rem / 3600, 2);
    put(14, rem % 3600 / 60, 2);
    put(17, rem % 60, 2);
    put(20, millis, 3);
    out[4] = b'-';
    out[7] = b'-';
    out[10] = b'T';
    out[13] = b':';
    out[16] = b':';
    let len = if millis == 0 {
        out[19] = b'Z';
        20
    } else {
        out[19] = b'.';
        out[23] = b'Z';
        24
    };
    out[..len].iter().map(|&b| char::from(b)).collect()
}

/// [`format_rfc3339_ms`] by `format!`: for years beyond four digits, and the reference
/// the digit-by-digit version is tested against.
fn format_padded(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if millis == 0 {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
    } else {
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{millis:03}Z")
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepted_forms() {
        let base = parse_iso8601_ms("2018-09-15T15:53:00+00:00").unwrap();
        assert_eq!(base, 1_537_026_780_000);
        assert_eq!(parse_iso8601_ms("2018-09-15T15:53:00Z"), Some(base));
        assert_eq!(parse_iso8601_ms("2018-09-15T15:53:00"), Some(base));
        assert_eq!(parse_iso8601_ms("2018-09-15T18:53:00+03:00"), Some(base));
        assert_eq!(parse_iso8601_ms("2018-09-15T18:53:00+0300"), Some(base));
        assert_eq!(parse_iso8601_ms("2018-09-15T12:53:00-03"), Some(base));
        assert_eq!(
            parse_iso8601_ms("2018-09-15T15:53:00.250Z"),
            Some(base + 250)
        );
        assert_eq!(
            parse_iso8601_ms("2018-09-15T15:53:00.123456Z"),
            Some(base + 123)
        );
        assert_eq!(parse_iso8601_ms("2018-09-15T15:53Z"), Some(base));
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "",
            "yesterday",
            "2018-13-01T00:00:00Z",
            "2018-02-30T00:00:00Z",
            "2018-09-15",
            "2018-09-15T25:00:00Z",
            "2018-09-15T15:53:00+25:00",
            "2018-09-15T15:53:00ZZ",
            "2018-09-15T15:53:00.Z",
            "1537026780",
        ] {
            assert_eq!(parse_iso8601_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_rfc3339_ms(1_537_026_780_000), "2018-09-15T15:53:00Z");
        assert_eq!(
            format_rfc3339_ms(1_537_026_780_250),
            "2018-09-15T15:53:00.250Z"
        );
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00Z");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(ms in -62_000_000_000_000i64..250_000_000_000_000i64) {
            prop_assert_eq!(parse_iso8601_ms(&format_rfc3339_ms(ms)), Some(ms));
        }

        #[test]
        fn formats_as_format_would(ms in -62_000_000_000_000i64..400_000_000_000_000i64) {
            prop_assert_eq!(format_rfc3339_ms(ms), format_padded(ms));
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = parse_iso8601_ms(&s);
        }
    }
}
