//! HTTP dates (RFC 9110 section 5.6.7): the `Date` header every DashAuth answer carries,
//! written by the server from its clock and read by the client to learn the offset.
//! Only the preferred IMF-fixdate form is written; the two obsolete forms are read too,
//! since any server or proxy on the way may use them.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT` for a UNIX time in ms (cut to the second); `None`
/// before 1970 or after 9999.
pub fn format_http_date(unix_ms: i64) -> Option<String> {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(1970..=9999).contains(&year) {
        return None;
    }
    let of_day = secs.rem_euclid(86_400);
    let weekday = DAYS[usize::try_from(days.rem_euclid(7)).ok()?];
    let month_name = MONTHS[usize::try_from(month - 1).ok()?];
    Some(format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} GMT",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    ))
}

/// The UNIX time in ms of an HTTP date in any of the three forms, `None` if it is not one.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.len() > 64 {
        return None;
    }
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    let (day, month, year, time) = match parts.as_slice() {
        // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        [_, day, month, year, time, "GMT"] => (*day, *month, number(year, 4, 4)?, *time),
        // asctime: Sun Nov  6 08:49:37 1994
        [_, month, day, time, year] => (*day, *month, number(year, 4, 4)?, *time),
        // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
        [_, date, time, "GMT"] => {
            let mut it = date.split('-');
            let (day, month, yy) = (it.next()?, it.next()?, number(it.next()?, 2, 2)?);
            if it.next().is_some() {
                return None;
            }
            // RFC 9110: a two-digit year more than 50 years in the future is in the past.
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            (day, month, year, *time)
        }
        _ => return None,
    };
    let day = number(day, 1, 2).filter(|d| (1..=31).contains(d))?;
    let month = MONTHS.iter().position(|m| *m == month)?;
    let mut hms = time.split(':').map(|p| number(p, 2, 2));
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, i64::try_from(month).ok()? + 1, day);
    Some((days * 86_400 + h * 3600 + m * 60 + s) * 1000)
}

/// A field of `min..=max` ASCII digits (no sign, no spaces), as a number.
fn number(text: &str, min: usize, max: usize) -> Option<i64> {
    let digits = (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    digits.then(|| text.parse().ok()).flatten()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm,
/// <https://howardhinnant.github.io/date_algorithms.html#days_from_civil>).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9110's example: 784111777 s after the epoch.
    const EXAMPLE_MS: i64 = 784_111_777_000;

    #[test]
    fn the_three_forms_of_rfc_9110_are_read() {
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(EXAMPLE_MS), "{text}");
        }
    }

    #[test]
    fn written_dates_read_back() {
        assert_eq!(
            format_http_date(EXAMPLE_MS + 999).as_deref(),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        for ms in [0, 951_782_400_000, 1_700_000_000_000, 4_102_444_800_000] {
            let text = format_http_date(ms).unwrap_or_default();
            assert_eq!(parse_http_date(&text), Some(ms), "{text}");
        }
        assert_eq!(format_http_date(-1), None);
    }

    #[test]
    fn anything_else_is_not_a_date() {
        for bad in [
            "",
            "yesterday",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 -1:00:00 GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }
}
