//! Authorization: what an identity must hold to use an endpoint or route.
//! Scopes come from the `scope` claim (space-separated, OAuth 2.0) or `scp`
//! (a list), roles from `roles`, the tier from `tier`.

use jaq_json::Val;

use super::identity::claim;
use crate::config::RequireConfig;
use crate::value;

/// What an identity lacks, told to the client in the 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unmet {
    /// A required scope is not granted.
    #[error("the token lacks the scope `{0}`")]
    Scope(String),
    /// None of the accepted roles is held; holds them all.
    #[error("one of the roles {} is needed", .0.join(", "))]
    Role(Vec<String>),
    /// The tier is none of the accepted ones; holds them all.
    #[error("one of the tiers {} is needed", .0.join(", "))]
    Tier(Vec<String>),
}

/// Compiled requirements; empty lists require nothing.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Requirement {
    scopes: Vec<String>,
    roles: Vec<String>,
    tiers: Vec<String>,
}

impl Requirement {
    /// From the spec.
    pub fn new(config: &RequireConfig) -> Self {
        Self {
            scopes: config.scopes.clone(),
            roles: config.roles.clone(),
            tiers: config.tiers.clone(),
        }
    }

    /// `Err` says what is missing, for the 403.
    pub(crate) fn check(&self, claims: &Val) -> Result<(), Unmet> {
        if !self.scopes.is_empty() {
            let held = words(claim(claims, ["scope"]).or_else(|| claim(claims, ["scp"])));
            if let Some(missing) = self.scopes.iter().find(|s| !held.contains(s)) {
                return Err(Unmet::Scope(missing.clone()));
            }
        }
        if !self.roles.is_empty() {
            let held = words(claim(claims, ["roles"]));
            if !self.roles.iter().any(|r| held.contains(r)) {
                return Err(Unmet::Role(self.roles.clone()));
            }
        }
        if !self.tiers.is_empty() {
            let tier = claim(claims, ["tier"]).map(value::to_text);
            if !tier.is_some_and(|t| self.tiers.contains(&t)) {
                return Err(Unmet::Tier(self.tiers.clone()));
            }
        }
        Ok(())
    }
}

/// A space-separated string or a list of strings, as words.
fn words(v: Option<&Val>) -> Vec<String> {
    match v {
        Some(Val::Arr(a)) => a.iter().map(value::to_text).collect(),
        Some(other) => value::to_text(other)
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(scopes: &[&str], roles: &[&str], tiers: &[&str]) -> Requirement {
        let owned = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Requirement {
            scopes: owned(scopes),
            roles: owned(roles),
            tiers: owned(tiers),
        }
    }

    #[test]
    fn scopes_roles_and_tiers() {
        let c = value::parse(
            br#"{"scope":"orders:read orders:write","roles":["support"],"tier":"gold"}"#,
        )
        .unwrap();
        assert!(req(&["orders:read"], &[], &[]).check(&c).is_ok());
        assert!(
            req(&["orders:read", "admin"], &[], &[])
                .check(&c)
                .unwrap_err()
                .to_string()
                .contains("admin")
        );
        assert!(req(&[], &["admin", "support"], &[]).check(&c).is_ok());
        assert!(req(&[], &["admin"], &[]).check(&c).is_err());
        assert!(req(&[], &[], &["gold", "platinum"]).check(&c).is_ok());
        assert!(req(&[], &[], &["platinum"]).check(&c).is_err());
        let scp = value::parse(br#"{"scp":["a","b"]}"#).unwrap();
        assert!(req(&["b"], &[], &[]).check(&scp).is_ok());
    }
}
