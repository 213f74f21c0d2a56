//! Simulated upstream latency: a base delay plus deterministic jitter, per
//! service, so a demo can show what the BFF does with a slow dependency.
//!
//! Read from the environment by [`Latency::from_env`]:
//!
//! | variable                      | meaning                                        | default |
//! | ----------------------------- | ---------------------------------------------- | ------- |
//! | `DEMO_LATENCY_MS`             | base delay of every response, in milliseconds  | `0`     |
//! | `DEMO_JITTER_MS`              | extra delay in `0..=N` ms added per response   | `0`     |
//! | `DEMO_LATENCY_<SERVICE>_MS`   | base delay of one service (overrides the above) | —      |
//! | `DEMO_JITTER_<SERVICE>_MS`    | jitter of one service (overrides the above)     | —      |
//!
//! `<SERVICE>` is `USERS`, `ORDERS`, `CATALOG`, `REVIEWS`, `RECOMMENDATIONS`,
//! `INVENTORY` or `PRICING`; e.g. `DEMO_LATENCY_MS=20 DEMO_LATENCY_REVIEWS_MS=150`.
//! Jitter is drawn from a fixed-seed sequence, so runs are repeatable.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Service;
use super::data::rng::mix;

/// Delay added to the responses of one service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delay {
    /// Always added.
    pub base: Duration,
    /// Up to this much more, varying per request.
    pub jitter: Duration,
}

impl Delay {
    pub const NONE: Self = Self {
        base: Duration::ZERO,
        jitter: Duration::ZERO,
    };

    pub fn millis(base: u64, jitter: u64) -> Self {
        Self {
            base: Duration::from_millis(base),
            jitter: Duration::from_millis(jitter),
        }
    }

    /// The delay of the `n`-th request: base plus a repeatable share of the jitter.
    pub fn sample(&self, n: u64) -> Duration {
        let jitter_ms = self.jitter.as_millis() as u64;
        if jitter_ms == 0 {
            return self.base;
        }
        self.base + Duration::from_millis(mix(n) % (jitter_ms + 1))
    }
}

/// Simulated latency of all demo services.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Used by services without an override.
    pub default: Delay,
    /// Per-service settings.
    pub overrides: BTreeMap<Service, Delay>,
}

/// An environment variable that is set but not a number of milliseconds.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not a whole number of milliseconds")]
pub struct LatencyError {
    pub name: String,
    pub value: String,
}

impl Latency {
    /// No simulated latency at all (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// The same delay for every service.
    pub fn uniform(delay: Delay) -> Self {
        Self {
            default: delay,
            overrides: BTreeMap::new(),
        }
    }

    /// Overrides the delay of one service.
    pub fn with(mut self, service: Service, delay: Delay) -> Self {
        self.overrides.insert(service, delay);
        self
    }

    /// The delay that applies to `service`.
    pub fn for_service(&self, service: Service) -> Delay {
        self.overrides
            .get(&service)
            .copied()
            .unwrap_or(self.default)
    }

    /// Reads the `DEMO_LATENCY_*` / `DEMO_JITTER_*` variables (see the module docs).
    pub fn from_env() -> Result<Self, LatencyError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`Latency::from_env`], with the variables looked up by `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, LatencyError> {
        let millis = |name: String| -> Result<Option<Duration>, LatencyError> {
            match var(&name) {
                None => Ok(None),
                Some(value) if value.trim().is_empty() => Ok(None),
                Some(value) => value
                    .trim()
                    .parse::<u64>()
                    .map(|ms| Some(Duration::from_millis(ms)))
                    .map_err(|_| LatencyError { name, value }),
            }
        };
        let default = Delay {
            base: millis("DEMO_LATENCY_MS".into())?.unwrap_or_default(),
            jitter: millis("DEMO_JITTER_MS".into())?.unwrap_or_default(),
        };
        let mut latency = Self::uniform(default);
        for service in Service::ALL {
            let key = service.env_key();
            let base = millis(format!("DEMO_LATENCY_{key}_MS"))?;
            let jitter = millis(format!("DEMO_JITTER_{key}_MS"))?;
            if base.is_some() || jitter.is_some() {
                let delay = Delay {
                    base: base.unwrap_or(default.base),
                    jitter: jitter.unwrap_or(default.jitter),
                };
                latency = latency.with(service, delay);
            }
        }
        Ok(latency)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn nothing_set_means_no_latency() {
        let latency = Latency::from_vars(vars(&[])).unwrap();
        assert_eq!(latency, Latency::none());
        assert_eq!(
            latency.for_service(Service::Reviews).sample(3),
            Duration::ZERO
        );
    }

    #[test]
    fn per_service_values_override_the_default() {
        let latency = Latency::from_vars(vars(&[
            ("DEMO_LATENCY_MS", "20"),
            ("DEMO_JITTER_MS", "5"),
            ("DEMO_LATENCY_REVIEWS_MS", "150"),
            ("DEMO_JITTER_INVENTORY_MS", "0"),
        ]))
        .unwrap();
        assert_eq!(latency.for_service(Service::Users), Delay::millis(20, 5));
        assert_eq!(latency.for_service(Service::Reviews), Delay::millis(150, 5));
        assert_eq!(
            latency.for_service(Service::Inventory),
            Delay::millis(20, 0)
        );
    }

    #[test]
    fn rejects_values_that_are_not_milliseconds() {
        let err = Latency::from_vars(vars(&[("DEMO_LATENCY_ORDERS_MS", "fast")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "DEMO_LATENCY_ORDERS_MS=\"fast\" is not a whole number of milliseconds"
        );
    }

    #[test]
    fn jitter_stays_in_range_and_repeats() {
        let delay = Delay::millis(10, 30);
        let samples: Vec<Duration> = (0..500).map(|n| delay.sample(n)).collect();
        assert!(
            samples
                .iter()
                .all(|d| (Duration::from_millis(10)..=Duration::from_millis(40)).contains(d))
        );
        assert!(samples.iter().any(|d| *d > Duration::from_millis(30)));
        assert_eq!(
            samples,
            (0..500).map(|n| delay.sample(n)).collect::<Vec<_>>()
        );
    }
}
