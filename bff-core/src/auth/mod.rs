//! Authentication: policies named in bff.yaml, chosen per endpoint and
//! route, turning a request's credentials into the caller's identity (the
//! `auth` value of templates and expressions) or a 401; what the identity
//! may do (403); and how it reaches upstreams (identity headers).

pub(crate) mod api_key;
mod identity;
mod introspection;
mod jwks;
mod jwt;
mod mtls;
mod require;
mod verified;

use std::path::Path;

use http::{HeaderMap, HeaderValue, header};
use jaq_json::Val;

pub(crate) use identity::{IdentityHeaders, claim};
pub(crate) use jwks::Jwks;
pub(crate) use jwt::JwtPolicy;

pub(crate) use require::Requirement;

use crate::config::AuthPolicyConfig;
use crate::error::Refusal;

/// Why an auth policy of bff.yaml does not compile.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PolicyError {
    /// None, or more than one, of the kinds is configured.
    #[error("an auth policy needs exactly one kind: jwt, api_key, introspection or mtls")]
    Kinds,
    /// Several issuers, and one is not named: tokens could not be told apart.
    #[error("with several jwt issuers, each needs `issuer`")]
    UnnamedIssuer,
    #[error(transparent)]
    Jwt(#[from] jwt::JwtError),
    #[error(transparent)]
    ApiKey(#[from] api_key::ApiKeyError),
    #[error(transparent)]
    Introspection(#[from] introspection::IntrospectionError),
    #[error(transparent)]
    Forward(#[from] identity::ForwardError),
}

/// A compiled authentication policy.
#[derive(Debug)]
pub struct Policy {
    /// Its place among the plan's policies, where the gateway keeps its state.
    pub(crate) index: usize,
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
    /// The client certificate verified by the TLS listener.
    Mtls(mtls::MtlsPolicy),
}

impl Policy {
    /// Builds a policy; file paths are relative to the spec folder `dir`.
    pub(crate) fn compile(config: &AuthPolicyConfig, dir: &Path) -> Result<Self, PolicyError> {
        let kinds = [
            config.jwt.is_some(),
            config.api_key.is_some(),
            config.introspection.is_some(),
            config.mtls.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(PolicyError::Kinds);
        }
        let kind = if let Some(jwt) = &config.jwt {
            let issuers = jwt.as_slice();
            if issuers.len() > 1 && issuers.iter().any(|i| i.issuer.is_none()) {
                return Err(PolicyError::UnnamedIssuer);
            }
            let policies = issuers
                .iter()
                .map(|i| JwtPolicy::compile(i, dir))
                .collect::<Result<Vec<_>, _>>()?;
            let cookie = issuers.iter().find_map(|i| i.cookie.clone());
            Kind::Jwt(policies, cookie)
        } else if let Some(keys) = &config.api_key {
            Kind::ApiKey(api_key::ApiKeyPolicy::compile(keys, dir)?)
        } else if let Some(i) = &config.introspection {
            Kind::Introspection(introspection::IntrospectionPolicy::compile(i)?)
        } else if let Some(m) = &config.mtls {
            Kind::Mtls(mtls::MtlsPolicy::compile(m))
        } else {
            unreachable!("exactly one kind was checked above")
        };
        Ok(Self {
            index: 0,
            kind,
            forward: IdentityHeaders::compile(&config.forward)?,
            forward_authorization: config.forward_authorization,
        })
    }

    /// Starts the policy: empty key sets to fetch, an empty cache of
    /// introspected tokens.
    pub(crate) fn start(&self) -> PolicyState {
        PolicyState {
            jwks: match &self.kind {
                Kind::Jwt(p, _) => p.iter().map(JwtPolicy::start_jwks).collect(),
                Kind::ApiKey(_) | Kind::Introspection(_) | Kind::Mtls(_) => Vec::new(),
            },
            introspected: match &self.kind {
                Kind::Introspection(p) => Some(p.start()),
                Kind::Jwt(..) | Kind::ApiKey(_) | Kind::Mtls(_) => None,
            },
            verified: matches!(self.kind, Kind::Jwt(..)).then(verified::Verified::new),
        }
    }

    /// The caller's identity, or the reason the request is refused;
    /// `state` is the policy's, running. `extensions` are the request's:
    /// the listener leaves the verified client certificate there.
    pub(crate) async fn authenticate(
        &self,
        state: &PolicyState,
        headers: &HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<Val, Rejection> {
        match &self.kind {
            Kind::Jwt(p, cookie) => {
                let token = bearer_token(headers)
                    .or_else(|| cookie.as_deref().and_then(|c| cookie_value(headers, c)))
                    .ok_or(Rejection::Missing)?;
                let keys = |i: usize| {
                    let jwks = state.jwks.get(i).and_then(Option::as_deref);
                    jwks.map_or(0, Jwks::version)
                };
                let digest = verified::Verified::digest(token);
                if let Some(claims) = state.verified.as_ref().and_then(|v| v.get(&digest, keys)) {
                    return Ok(claims);
                }
                let (i, issuer) = jwt::for_issuer(p, token)?;
                // Read before verifying: keys that change meanwhile make
                // the next use verify again.
                let version = keys(i);
                let jwks = state.jwks.get(i).and_then(Option::as_deref);
                let claims = issuer.verify(jwks, token).await?;
                if let Some(v) = &state.verified {
                    v.put(digest, &claims, i, version, issuer.leeway);
                }
                Ok(claims)
            }
            Kind::ApiKey(p) => p.verify(headers),
            Kind::Introspection(p) => {
                let token = bearer_token(headers).ok_or(Rejection::Missing)?;
                match &state.introspected {
                    Some(s) => p.verify(s, token).await,
                    None => Err(Rejection::Unavailable),
                }
            }
            Kind::Mtls(p) => p.verify(
                extensions
                    .get::<crate::tls::TlsConnection>()
                    .and_then(|t| t.client_cert.as_deref()),
            ),
        }
    }

    /// Whether the policy takes a token from a cookie, which browsers send
    /// without asking the page.
    pub fn reads_cookie(&self) -> bool {
        matches!(&self.kind, Kind::Jwt(_, Some(_)))
    }

    /// How a client presents its credentials under this policy.
    pub fn scheme(&self) -> Scheme {
        match &self.kind {
            Kind::Jwt(_, cookie) => Scheme::Bearer {
                jwt: true,
                cookie: cookie.clone(),
            },
            Kind::Introspection(_) => Scheme::Bearer {
                jwt: false,
                cookie: None,
            },
            Kind::ApiKey(p) => Scheme::ApiKey {
                header: p.header().to_owned(),
            },
            Kind::Mtls(_) => Scheme::MutualTls,
        }
    }

    /// Whether the policy needs the TLS listener to verify client certificates.
    pub fn needs_client_cert(&self) -> bool {
        matches!(self.kind, Kind::Mtls(_))
    }

    /// The response to a refused request: 401 with the challenge of this
    /// policy's scheme, or 503 while keys are loading.
    pub fn reject(&self, rejection: Rejection) -> axum::response::Response {
        let challenge = match &self.kind {
            Kind::Jwt(..) | Kind::Introspection(_) => Challenge::Bearer,
            Kind::ApiKey(p) => Challenge::ApiKey(p.header()),
            Kind::Mtls(_) => Challenge::Certificate,
        };
        rejection.into_response(&challenge)
    }
}

/// An authentication policy running: the key sets it fetched, the tokens
/// the authorization server has vouched for.
pub(crate) struct PolicyState {
    /// Each issuer's key set, by the issuer's place in the policy.
    jwks: Vec<Option<std::sync::Arc<Jwks>>>,
    introspected: Option<introspection::Introspected>,
    /// JWTs verified before.
    verified: Option<verified::Verified>,
}

impl PolicyState {
    /// Key sets the gateway must keep fresh for this policy.
    pub(crate) fn key_sets(&self) -> impl Iterator<Item = &std::sync::Arc<Jwks>> {
        self.jwks.iter().flatten()
    }
}

/// How a client presents its credentials, as API descriptions tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer …`: a JWT, or an opaque token the
    /// authorization server checks; with `cookie`, that cookie may carry it.
    Bearer {
        /// Whether the token is a JWT.
        jwt: bool,
        /// Cookie that may carry the token instead.
        cookie: Option<String>,
    },
    /// An API key in a header.
    ApiKey {
        /// The header's name.
        header: String,
    },
    /// A client certificate in the TLS handshake.
    MutualTls,
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No credentials were sent.
    #[error("no credentials")]
    Missing,
    /// Credentials were sent but are not acceptable; the text says why.
    #[error("credentials not accepted: {0}")]
    Invalid(String),
    /// The keys to check credentials with have not been loaded yet.
    #[error("the keys to check credentials are not loaded yet")]
    Unavailable,
}

/// How a refused client is told what to send.
enum Challenge<'a> {
    /// A bearer token (RFC 6750).
    Bearer,
    /// An API key in the named header.
    ApiKey(&'a str),
    /// A client certificate during the TLS handshake.
    Certificate,
}

impl Rejection {
    /// The 401 response with the `WWW-Authenticate` challenge of the
    /// scheme, or a 503 while keys are loading.
    fn into_response(self, challenge: &Challenge<'_>) -> axum::response::Response {
        use axum::response::IntoResponse;
        let why = match self {
            Self::Unavailable => {
                return Refusal::Unavailable {
                    detail: "authentication keys are not loaded yet; retry shortly".to_owned(),
                    retry_after: Some(2),
                    call: None,
                }
                .into_response();
            }
            Self::Missing => None,
            Self::Invalid(why) => Some(why),
        };
        let (detail, header_value) = match (challenge, &why) {
            (Challenge::Bearer, None) => (
                "this endpoint needs a bearer token".to_owned(),
                "Bearer".to_owned(),
            ),
            (Challenge::Bearer, Some(why)) => (
                format!("the bearer token is not accepted: {why}"),
                format!("Bearer error=\"invalid_token\", error_description=\"{why}\""),
            ),
            (Challenge::ApiKey(h), None) => (
                format!("this endpoint needs an API key in the `{h}` header"),
                format!("ApiKey header=\"{h}\""),
            ),
            (Challenge::ApiKey(h), Some(why)) => (
                format!("the API key is not accepted: {why}"),
                format!("ApiKey header=\"{h}\", error=\"invalid_key\""),
            ),
            // No HTTP scheme asks for a certificate; the challenge names
            // what is missing for clients that log it.
            (Challenge::Certificate, None) => (
                "this endpoint needs a TLS client certificate".to_owned(),
                "Certificate".to_owned(),
            ),
            (Challenge::Certificate, Some(why)) => (
                format!("the client certificate is not accepted: {why}"),
                "Certificate error=\"invalid_certificate\"".to_owned(),
            ),
        };
        Refusal::Unauthenticated {
            detail,
            challenge: HeaderValue::try_from(header_value).ok(),
        }
        .into_response()
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

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
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
