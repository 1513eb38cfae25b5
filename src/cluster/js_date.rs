//! Dates as JavaScript writes them: `Date.prototype.toISOString()` (what a Node node's clients
//! see of a msgpack timestamp) and `String(new Date())` (`handshake.time` in `fetchSockets`).

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for seconds since 1970 (the proleptic Gregorian calendar, as
/// JavaScript's dates use; only the years a JS `Date` can hold, ±275760).
pub(crate) fn iso_8601(seconds: i64, millis: u32) -> Option<String> {
    const MAX_JS_SECONDS: i64 = 8_640_000_000_000;
    if !(-MAX_JS_SECONDS..=MAX_JS_SECONDS).contains(&seconds) || millis > 999 {
        return None;
    }
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    Some(format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    ))
}

/// The calendar date of a day count since 1970-01-01 (the era arithmetic of the proleptic
/// Gregorian calendar: 400-year eras of 146,097 days, years starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
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

/// `String(date)` in a Node process whose time zone is UTC, e.g.
/// `Tue Dec 01 2026 10:08:53 GMT+0000 (Coordinated Universal Time)`.
pub(crate) fn to_js_string(at: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let seconds = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {day:02} {year:04} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// Milliseconds since 1970 (`Date.now()`).
pub(crate) fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_far_from_1970_are_written_as_javascript_writes_them() {
        assert_eq!(iso_8601(-1, 0).unwrap(), "1969-12-31T23:59:59.000Z");
        assert_eq!(
            iso_8601(951_782_400, 5).unwrap(),
            "2000-02-29T00:00:00.005Z"
        );
        assert_eq!(
            iso_8601(253_402_300_800, 0).unwrap(),
            "+010000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            iso_8601(-62_198_755_200, 0).unwrap(),
            "-000001-01-01T00:00:00.000Z"
        );
        assert_eq!(iso_8601(8_640_000_000_001, 0), None);
    }

    /// The `handshake.time` captured from Node (protocols/redis-adapter.md §2.3), issued
    /// 1796119733128.
    #[test]
    fn the_handshake_time_is_written_as_node_wrote_it() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_119_733_128);
        assert_eq!(
            to_js_string(at),
            "Tue Dec 01 2026 10:08:53 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(epoch_millis(at), 1_796_119_733_128);
    }
}
