//! Calendar windows for quotas (UTC hours, days, months), and the clock
//! of the in-process store: wall time at start plus Tokio's monotonic time
//! since, so tests move it with paused time and a wall-clock step cannot
//! hand out a second allowance.

use tokio::time::Instant;

use crate::config::QuotaWindow;

const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// Microseconds since the Unix epoch, advancing with Tokio's clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start_unix_us: u64,
    start: Instant,
}

impl Clock {
    /// A clock reading the system time once.
    pub(crate) fn new() -> Self {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            start_unix_us: u64::try_from(unix.as_micros()).unwrap_or(0),
            start: Instant::now(),
        }
    }

    /// Now, in microseconds since the epoch.
    pub(crate) fn now_us(&self) -> u64 {
        let since = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.start_unix_us.saturating_add(since)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// The window holding `unix_secs`: its number and its end (Unix seconds).
/// The Redis script computes the same numbers from the server's clock.
pub(super) fn window(kind: QuotaWindow, unix_secs: u64) -> (u64, u64) {
    match kind {
        QuotaWindow::Hour => (unix_secs / HOUR, (unix_secs / HOUR + 1) * HOUR),
        QuotaWindow::Day => (unix_secs / DAY, (unix_secs / DAY + 1) * DAY),
        QuotaWindow::Month => {
            let (y, m) = civil_month(unix_secs / DAY);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (y * 12 + (m - 1), days_from_civil(ny, nm) * DAY)
        }
    }
}

/// The length in seconds of the window holding `unix_secs`: a month's
/// is its own number of days.
pub(super) fn length(kind: QuotaWindow, unix_secs: u64) -> u64 {
    match kind {
        QuotaWindow::Hour => HOUR,
        QuotaWindow::Day => DAY,
        QuotaWindow::Month => {
            let (y, m) = civil_month(unix_secs / DAY);
            let (_, end) = window(kind, unix_secs);
            end - days_from_civil(y, m) * DAY
        }
    }
}

/// Year and month (1–12) of a day count since the epoch (H. Hinnant's
/// civil-from-days, for days on or after 1970-01-01).
fn civil_month(days: u64) -> (u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m)
}

/// Days since the epoch of the first of a month.
fn days_from_civil(y: u64, m: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_end_on_the_first_of_the_next() {
        // 2026-11-23T12:00:00Z
        let t = 1_795_435_200;
        let (id, end) = window(QuotaWindow::Month, t);
        assert_eq!(id, 2026 * 12 + 10);
        assert_eq!(end, 1_796_083_200, "2026-12-01T00:00:00Z");
        // 2024-02-29 (leap day) ends on 2024-03-01.
        let (_, end) = window(QuotaWindow::Month, 1_709_208_000);
        assert_eq!(end, 1_709_251_200);
        // December rolls over the year.
        let (id, end) = window(QuotaWindow::Month, 1_797_000_000);
        assert_eq!(id, 2026 * 12 + 11);
        assert_eq!(end, 1_798_761_600, "2027-01-01T00:00:00Z");
    }

    #[test]
    fn a_months_length_is_its_own() {
        // 2026-12-15: December has 31 days; 2024-02-10: a leap February.
        assert_eq!(length(QuotaWindow::Month, 1_797_300_000), 31 * 86_400);
        assert_eq!(length(QuotaWindow::Month, 1_707_523_200), 29 * 86_400);
        assert_eq!(length(QuotaWindow::Month, 1_795_435_200), 30 * 86_400);
        assert_eq!(length(QuotaWindow::Day, 5), 86_400);
    }

    #[test]
    fn days_and_hours_align_to_utc() {
        assert_eq!(window(QuotaWindow::Day, 86_400 * 3 + 5), (3, 86_400 * 4));
        assert_eq!(window(QuotaWindow::Hour, 7_205), (2, 10_800));
    }
}
