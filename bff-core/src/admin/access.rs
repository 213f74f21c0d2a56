//! Who may use the admin listener. With `admin.token` set, every route but
//! the orchestrator probes needs it, as a bearer token (scripts,
//! Prometheus) or as the password of HTTP Basic (a person's browser, any
//! user name). Without a token, routes that only read are open, as Envoy's
//! admin interface and Kong's Admin API without RBAC are: the listener's
//! address is the protection, which is why it should stay on loopback or a
//! private network. Routes that change things always need the token.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderMap, HeaderValue, Method, header};

use crate::error::Refusal;
use crate::reload::Live;

/// The realm of both challenges; browsers show it in their login dialog.
const REALM: &str = "bff admin";

/// Lets a request through, or answers 401 (token missing or wrong) or 403
/// (a change asked for while no token is configured).
pub(super) async fn guard(State(live): State<Live>, req: Request, next: Next) -> Response {
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    match token(&live) {
        None if changes => {
            Refusal::Forbidden("set admin.token to use this route".to_owned()).into_response()
        }
        None => next.run(req).await,
        Some(token) if presents(req.headers(), &token) => next.run(req).await,
        Some(_) => challenge(req.headers()),
    }
}

/// The configured token, with `${VAR}` expanded; an empty one counts as none.
pub(super) fn token(live: &Live) -> Option<String> {
    let current = live.current();
    let admin = current.gateway.plan().config.admin.as_ref()?;
    crate::config::expand_env(admin.token.as_deref()?)
        .ok()
        .filter(|t| !t.is_empty())
}

/// Whether the request carries the token, by Bearer or as a Basic password.
fn presents(headers: &HeaderMap, token: &str) -> bool {
    let presented = crate::auth::bearer_token(headers)
        .map(str::to_owned)
        .or_else(|| basic_password(headers))
        .unwrap_or_default();
    aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), token.as_bytes())
        .is_ok()
}

fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(_, password)| password.to_owned())
}

/// 401 asking a browser that navigates for Basic (it then shows a login
/// dialog and resends the password with every request of the page,
/// including the dashboard's polling) and everything else for a bearer
/// token, so scripts' failed calls never pop up a dialog.
fn challenge(headers: &HeaderMap) -> Response {
    let scheme = if navigates(headers) {
        "Basic"
    } else {
        "Bearer"
    };
    Refusal::Unauthenticated {
        detail: "the admin token is missing or wrong".to_owned(),
        challenge: HeaderValue::try_from(format!("{scheme} realm=\"{REALM}\", charset=\"UTF-8\""))
            .ok(),
    }
    .into_response()
}

/// A browser loading a page: `Sec-Fetch-Mode: navigate`, or, from older
/// browsers, an `Accept` that asks for HTML.
fn navigates(headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .unwrap_or("")
    };
    match headers.get("sec-fetch-mode") {
        Some(_) => text("sec-fetch-mode") == "navigate",
        None => text(header::ACCEPT.as_str()).contains("text/html"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_token_counts_as_bearer_or_as_any_users_basic_password() {
        assert!(presents(
            &headers(&[("authorization", "Bearer t0k")]),
            "t0k"
        ));
        // "admin:t0k" and ":t0k"
        assert!(presents(
            &headers(&[("authorization", "Basic YWRtaW46dDBr")]),
            "t0k"
        ));
        assert!(presents(
            &headers(&[("authorization", "basic OnQwaw==")]),
            "t0k"
        ));
        assert!(!presents(
            &headers(&[("authorization", "Basic dDBrOg==")]),
            "t0k"
        ));
        assert!(!presents(&headers(&[]), "t0k"));
    }

    #[test]
    fn only_navigations_are_challenged_for_basic() {
        let browser = headers(&[("sec-fetch-mode", "navigate"), ("accept", "text/html")]);
        let script = headers(&[("sec-fetch-mode", "cors"), ("accept", "text/html")]);
        let old = headers(&[("accept", "text/html,*/*")]);
        let www = |h: &HeaderMap| challenge(h).headers()[header::WWW_AUTHENTICATE].clone();
        assert!(
            www(&browser)
                .to_str()
                .unwrap()
                .starts_with("Basic realm=\"bff admin\"")
        );
        assert!(www(&script).to_str().unwrap().starts_with("Bearer"));
        assert!(www(&old).to_str().unwrap().starts_with("Basic"));
        assert!(www(&headers(&[])).to_str().unwrap().starts_with("Bearer"));
    }
}
