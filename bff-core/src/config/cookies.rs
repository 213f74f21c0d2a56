//! `cookies:` of bff.yaml: what the BFF enforces on the cookies upstream
//! services set through a composed endpoint (`expose_headers: [set-cookie]`).

use schemars::JsonSchema;
use serde::Deserialize;

/// Attributes forced onto every `Set-Cookie` a composed answer passes on.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CookiesConfig {
    /// Add `Secure` (sent over HTTPS only) to every cookie.
    #[serde(default)]
    pub secure: bool,
    /// Add `HttpOnly` (out of reach of page scripts) to every cookie.
    #[serde(default)]
    pub http_only: bool,
    /// Set `SameSite` on every cookie, replacing the service's.
    #[serde(default)]
    pub same_site: Option<SameSite>,
}

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    /// Sent with same-site requests and top-level navigations.
    Lax,
    /// Sent with same-site requests only.
    Strict,
    /// Sent with every request (needs `secure`).
    None,
}

impl CookiesConfig {
    /// A cookie as the policy wants it: forced attributes replace the
    /// service's own of the same name; the rest of the cookie is kept.
    pub fn apply(&self, cookie: &str) -> String {
        let mut parts = cookie.split(';').map(str::trim);
        let mut out = parts.next().unwrap_or_default().to_owned();
        for attr in parts {
            let name = attr
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let forced = match name.as_str() {
                "secure" => self.secure,
                "httponly" => self.http_only,
                "samesite" => self.same_site.is_some(),
                _ => false,
            };
            if !forced && !attr.is_empty() {
                out.push_str("; ");
                out.push_str(attr);
            }
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        match self.same_site {
            Some(SameSite::Lax) => out.push_str("; SameSite=Lax"),
            Some(SameSite::Strict) => out.push_str("; SameSite=Strict"),
            Some(SameSite::None) => out.push_str("; SameSite=None"),
            None => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_attributes_replace_the_services_own() {
        let policy = CookiesConfig {
            secure: true,
            http_only: true,
            same_site: Some(SameSite::Strict),
        };
        assert_eq!(
            policy.apply("sid=abc; Path=/; samesite=None; Max-Age=60"),
            "sid=abc; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Strict"
        );
        assert_eq!(CookiesConfig::default().apply("a=1; Secure"), "a=1; Secure");
    }
}
