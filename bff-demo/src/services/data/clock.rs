//! Timestamps for the demo data. The data is generated relative to a fixed
//! instant, not the wall clock, so two runs serve identical JSON.

use std::time::{SystemTime, UNIX_EPOCH};

/// The instant the demo data treats as "now": 2025-06-02T09:00:00Z.
pub const DATA_NOW: i64 = 1_748_854_800;

pub(crate) const HOUR: i64 = 3_600;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Seconds since the Unix epoch, from the real clock (for created orders).
pub(crate) fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(DATA_NOW, |d| d.as_secs() as i64)
}

/// RFC 3339 in UTC, second precision: `2025-06-02T09:00:00Z`.
pub(crate) fn rfc3339(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    let secs = unix.rem_euclid(DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / HOUR,
        secs % HOUR / 60,
        secs % 60
    )
}

/// A calendar date in UTC: `2025-06-02`.
pub(crate) fn date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_data_epoch() {
        assert_eq!(rfc3339(DATA_NOW), "2025-06-02T09:00:00Z");
        assert_eq!(date(DATA_NOW), "2025-06-02");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 86_399), "2000-02-29T23:59:59Z");
    }
}
