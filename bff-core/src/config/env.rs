//! `${VAR}` and `${VAR:-default}` in bff.yaml values, so one folder runs
//! locally and in containers alike.

/// Why a value of bff.yaml could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// A `${` without its `}`; holds the whole value.
    #[error("unclosed `${{` in `{0}`")]
    Unclosed(String),
    /// A variable without a default is unset or empty.
    #[error("environment variable `{0}` is not set")]
    Unset(String),
}

/// Replaces `${VAR}` and `${VAR:-default}` with the environment's values.
pub fn expand_env(text: &str) -> Result<String, EnvError> {
    expand_with(text, |name| std::env::var(name).ok(), str::to_owned)
}

/// Like [`expand_env`], each value (or default) passed through `place`
/// first: escaped for the text it lands in.
pub(crate) fn expand_env_placed(
    text: &str,
    place: impl Fn(&str) -> String,
) -> Result<String, EnvError> {
    expand_with(text, |name| std::env::var(name).ok(), place)
}

fn expand_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
    place: impl Fn(&str) -> String,
) -> Result<String, EnvError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| EnvError::Unclosed(text.to_owned()))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&place(&value)),
            (None, Some(default)) => out.push_str(&place(default)),
            (None, None) => return Err(EnvError::Unset(name.to_owned())),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_and_defaults() {
        let env = |n: &str| (n == "SET").then(|| "http://set:1".to_owned());
        let same = str::to_owned;
        assert_eq!(expand_with("${SET:-x}", env, same).unwrap(), "http://set:1");
        assert_eq!(
            expand_with("a ${UNSET:-http://d:2}/b", env, same).unwrap(),
            "a http://d:2/b"
        );
        assert_eq!(expand_with("plain", env, same).unwrap(), "plain");
        assert!(
            expand_with("${UNSET}", env, same)
                .unwrap_err()
                .to_string()
                .contains("UNSET")
        );
        assert!(expand_with("${OPEN", env, same).is_err());
        let upper = |v: &str| v.to_uppercase();
        assert_eq!(
            expand_with("${SET}|${UNSET:-d}", env, upper).unwrap(),
            "HTTP://SET:1|D"
        );
    }
}
