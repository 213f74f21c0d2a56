//! A rate as bff.yaml writes it (`100/s`, `6000/min`), read into a count
//! per period for the limiters to run on.

use std::time::Duration;

/// Why a rate does not read; each holds the rate as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RateError {
    /// No `/` between count and unit.
    #[error("rate `{0}`: write it as <count>/<s|min|h|day>")]
    Shape(String),
    /// The count is not a whole number, or is 0.
    #[error("rate `{0}`: the count must be a whole number above 0")]
    Count(String),
    /// A unit other than s, min, h or day.
    #[error("rate `{text}`: unknown unit `{unit}`")]
    Unit { text: String, unit: String },
}

/// A rate: `count` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Requests.
    pub count: u32,
    /// Per this long.
    pub period: Duration,
}

impl Rate {
    /// Reads `100/s`, `6000/min`, `10/h`, `1000/day`.
    pub(crate) fn parse(text: &str) -> Result<Self, RateError> {
        let (n, unit) = text
            .split_once('/')
            .ok_or_else(|| RateError::Shape(text.to_owned()))?;
        let count: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| RateError::Count(text.to_owned()))?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "day" | "d" => Duration::from_secs(86_400),
            other => {
                return Err(RateError::Unit {
                    text: text.to_owned(),
                    unit: other.to_owned(),
                });
            }
        };
        Ok(Self { count, period })
    }

    /// Time between two requests at the sustained rate.
    pub(crate) fn interval(self) -> Duration {
        self.period / self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_the_human_way() {
        let r = Rate::parse("6000/min").unwrap();
        assert_eq!(r.interval(), Duration::from_millis(10));
        assert_eq!(
            Rate::parse("2/s").unwrap().interval(),
            Duration::from_millis(500)
        );
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("5/fortnight").is_err());
        assert!(Rate::parse("fast").is_err());
    }
}
