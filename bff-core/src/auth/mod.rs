//! Authentication: policies named in bff.yaml, chosen per endpoint and
//! route, turning a request's credentials into the caller's identity (the
//! `auth` value of templates and expressions) or a 401; what the identity
//! may do (403); and how it reaches upstreams (identity headers).

pub mod api_key;
mod identity;
mod introspection;
mod jwks;
mod jwt;
mod require;

use std::path::Path;

use http::{HeaderMap, HeaderValue, StatusCode, header};
use jaq_json::Val;

pub use identity::{IdentityHeaders, claim};
pub use jwks::Jwks;
pub use jwt::JwtPolicy;
pub use require::Requirement;

use crate::config::AuthPolicyConfig;
use crate::error::Problem;

/// A compiled authentication policy.
#[derive(Debug)]
pub struct Policy {
    kind: Kind,
    /// Headers that carry the identity to upstreams.
    pub forward: IdentityHeaders,
    /// Whether the client's `Authorization` header goes on to upstreams.
    pub forward_authorization: bool,
}

#[derive(Debug)]
enum Kind {
    /// Bearer JSON Web Tokens checked against configured keys, by issuer.
    Jwt(Vec<JwtPolicy>, Option<String>),
    /// API keys checked against stored hashes.
    ApiKey(api_key::ApiKeyPolicy),
    /// Opaque tokens checked by the authorization server.
    Introspection(introspection::IntrospectionPolicy),
}

impl Policy {
    /// Builds a policy; file paths are relative to the spec folder `dir`.
    pub fn compile(config: &AuthPolicyConfig, dir: &Path) -> Result<Self, String> {
        let kind = match (&config.jwt, &config.api_key, &config.introspection) {
            (Some(jwt), None, None) => {
                let issuers = jwt.as_slice();
                if issuers.len() > 1 && issuers.iter().any(|i| i.issuer.is_none()) {
                    return Err("with several jwt issuers, each needs `issuer`".into());
                }
                let policies = issuers
                    .iter()
                    .map(|i| JwtPolicy::compile(i, dir))
                    .collect::<Result<Vec<_>, _>>()?;
                let cookie = issuers.iter().find_map(|i| i.cookie.clone());
                Kind::Jwt(policies, cookie)
            }
            (None, Some(keys), None) => Kind::ApiKey(api_key::ApiKeyPolicy::compile(keys, dir)?),
            (None, None, Some(i)) => {
                Kind::Introspection(introspection::IntrospectionPolicy::compile(i)?)
            }
            _ => {
                return Err(
                    "an auth policy needs exactly one kind: jwt, api_key or introspection".into(),
                );
            }
        };
        Ok(Self {
            kind,
            forward: IdentityHeaders::compile(&config.forward)?,
            forward_authorization: config.forward_authorization,
        })
    }

    /// The caller's identity, or the reason the request is refused.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Val, Rejection> {
        match &self.kind {
            Kind::Jwt(p, cookie) => {
                let token = bearer_token(headers)
                    .or_else(|| cookie.as_deref().and_then(|c| cookie_value(headers, c)))
                    .ok_or(Rejection::Missing)?;
                jwt::for_issuer(p, token)?.verify(token).await
            }
            Kind::ApiKey(p) => p.verify(headers),
            Kind::Introspection(p) => {
                let token = bearer_token(headers).ok_or(Rejection::Missing)?;
                p.verify(token).await
            }
        }
    }

    /// Key sets the server must keep fresh for this policy.
    pub fn jwks(&self) -> Vec<&std::sync::Arc<Jwks>> {
        match &self.kind {
            Kind::Jwt(p, _) => p.iter().filter_map(JwtPolicy::jwks).collect(),
            Kind::ApiKey(_) | Kind::Introspection(_) => Vec::new(),
        }
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No credentials were sent.
    Missing,
    /// Credentials were sent but are not acceptable; the text says why.
    Invalid(String),
    /// The keys to check credentials with have not been loaded yet.
    Unavailable,
}

impl Rejection {
    /// The 401 response, with the `WWW-Authenticate` challenge of RFC 6750.
    pub fn into_response(self) -> axum::response::Response {
        use axum::response::IntoResponse;
        if self == Self::Unavailable {
            let mut r = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "about:blank")
                .detail("authentication keys are not loaded yet; retry shortly")
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            return r;
        }
        let (detail, challenge) = match &self {
            Self::Missing => (
                "this endpoint needs a bearer token".to_owned(),
                "Bearer".to_owned(),
            ),
            Self::Invalid(why) => (
                format!("the bearer token is not accepted: {why}"),
                format!("Bearer error=\"invalid_token\", error_description=\"{why}\""),
            ),
            Self::Unavailable => unreachable!("answered above"),
        };
        let mut r = Problem::new(StatusCode::UNAUTHORIZED, "about:blank")
            .detail(detail)
            .into_response();
        if let Ok(v) = HeaderValue::try_from(challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    }
}

/// The value of a cookie of the request.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer abc"),
        );
        assert_eq!(bearer_token(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&h), None);
    }
}
