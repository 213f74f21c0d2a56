//! The services of bff.yaml compiled: their instances (a URL, a list, or
//! discovery), clients, and the pool that balances, breaks and retries
//! calls to them; and the lookup by which calls and routes name one.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use super::unknown_name;
use crate::config::{BffConfig, expand_env};
use crate::plan::{Service, ServiceCache};
use crate::source::{Diagnostics, Loc};
use crate::spec::SpecFile;

/// Why a service's base URL is not usable.
#[derive(Debug, thiserror::Error)]
enum UrlError {
    /// A `${VAR}` did not expand.
    #[error(transparent)]
    Env(#[from] crate::config::EnvError),
    /// It parses, but cannot be a base for calls.
    #[error("service `{name}`: URL must be http or https without a query, got `{url}`")]
    NotABase { name: String, url: String },
    /// It does not parse.
    #[error("service `{name}`: invalid URL `{url}`: {source}")]
    Invalid {
        name: String,
        url: String,
        source: <reqwest::Url as std::str::FromStr>::Err,
    },
}

/// Every service of bff.yaml that is well declared, by name; the others
/// are reported and left out.
pub(super) fn compile_services(
    file: &SpecFile<BffConfig>,
    dir: &Path,
    grpc_services: &HashSet<&str>,
    diags: &mut Diagnostics,
) -> IndexMap<String, Arc<Service>> {
    let mut out = IndexMap::new();
    for (name, svc) in &file.spec.services {
        let urls: Vec<(String, u32)> = match (&svc.url, svc.instances.is_empty(), &svc.discovery) {
            (Some(url), true, None) => vec![(url.value.clone(), 1)],
            (None, false, None) => svc
                .instances
                .iter()
                .map(|i| (i.url.clone(), i.weight))
                .collect(),
            (None, true, Some(d)) if d.dns.is_some() != d.etcd.is_some() => Vec::new(),
            (None, true, Some(_)) => {
                diags.push(file.error_at(
                    svc,
                    format!("service `{name}`: discovery needs exactly one of `dns` or `etcd`"),
                ));
                continue;
            }
            _ => {
                diags.push(file.error_at(
                    svc,
                    format!(
                        "service `{name}` needs exactly one of `url`, `instances` or `discovery`"
                    ),
                ));
                continue;
            }
        };
        let mut bases = Vec::new();
        for (url, weight) in urls {
            match service_url(name, &url) {
                Ok(u) => bases.push((u, weight)),
                Err(e) => diags.push(match &svc.url {
                    Some(u) => file.error_at(u, e.to_string()),
                    None => file.error_at(svc, e.to_string()),
                }),
            }
        }
        if bases.is_empty() && svc.discovery.is_none() {
            continue;
        }
        let hash_header = match svc.hash_key.as_deref().map(|k| {
            k.strip_prefix("header:")
                .and_then(|h| http::HeaderName::try_from(h.trim()).ok())
                .ok_or_else(|| format!("service `{name}`: hash_key must be `header:<name>`"))
        }) {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                diags.push(file.error_at(svc, e));
                continue;
            }
            None => None,
        };
        let ca = match svc.ca.as_deref().map(expand_env).transpose() {
            Ok(ca) => ca.map(|c| dir.join(c)),
            Err(e) => {
                diags.push(file.error_at(svc, format!("service `{name}`: {e}")));
                continue;
            }
        };
        let options = crate::upstream::Options {
            protocol: if svc.http2 {
                crate::upstream::Protocol::Http2
            } else {
                crate::upstream::Protocol::Negotiated
            },
            ca,
            connect_timeout: svc.connect_timeout,
        };
        let upstream = crate::upstream::Settings {
            instances: bases,
            balance: svc.balance,
            hash_header,
            outlier: svc.outlier.clone(),
            circuit_breaker: svc.circuit_breaker.clone(),
            retries: svc.retries.clone(),
            hedge: svc.hedge.clone(),
            max_concurrency: svc.max_concurrency,
            stale_if_error: svc
                .stale_if_error
                .as_ref()
                .map(|s| (s.max_age, s.max_bytes)),
            own_client: svc.http2 || options.ca.is_some() || svc.connect_timeout.is_some(),
            // gRPC needs HTTP/2, whatever else the service speaks.
            grpc_client: grpc_services.contains(name.as_str()) && !svc.http2,
            options,
        };
        if let Err(e) = upstream.check() {
            diags.push(file.error_at(svc, format!("service `{name}`: {e}")));
            continue;
        }
        let index = out.len();
        out.insert(
            name.clone(),
            Arc::new(Service {
                index,
                name: name.clone(),
                timeout: svc.timeout,
                discovery: svc.discovery.clone(),
                health_check: svc.health_check.clone(),
                max_response_bytes: svc.max_response_bytes,
                cache: svc.cache.as_ref().map(|c| ServiceCache { ttl: c.ttl }),
                upstream,
            }),
        );
    }
    out
}

/// A service base URL, `${VAR}` expanded, without its trailing slash.
fn service_url(name: &str, raw: &str) -> Result<String, UrlError> {
    let url = expand_env(raw).map_err(UrlError::Env)?;
    match reqwest::Url::parse(&url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => {
            Ok(url.trim_end_matches('/').to_owned())
        }
        Ok(_) => Err(UrlError::NotABase {
            name: name.to_owned(),
            url,
        }),
        Err(source) => Err(UrlError::Invalid {
            name: name.to_owned(),
            url,
            source,
        }),
    }
}

/// The service a call or route names, reported when unknown.
pub(super) fn lookup_service<T>(
    file: &SpecFile<T>,
    name: &Loc<String>,
    config: &BffConfig,
    services: &IndexMap<String, Arc<Service>>,
    diags: &mut Diagnostics,
) -> Option<Arc<Service>> {
    match services.get(name.as_str()) {
        Some(s) => Some(s.clone()),
        // Declared but broken: its own error is reported in bff.yaml.
        None if config.services.contains_key(name.as_str()) => None,
        None => {
            let message = unknown_name("service", name, config.services.keys());
            diags.push(file.error_at(name, message));
            None
        }
    }
}
