//! `${VAR}` and `${VAR:-default}` in bff.yaml values, so one folder runs
//! locally and in containers alike.

/// Replaces `${VAR}` and `${VAR:-default}` with the environment's values.
pub fn expand_env(text: &str) -> Result<String, String> {
    expand_with(text, |name| std::env::var(name).ok())
}

fn expand_with(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{text}`"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (inner, None),
        };
        match (lookup(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => return Err(format!("environment variable `{name}` is not set")),
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
        assert_eq!(expand_with("${SET:-x}", env).unwrap(), "http://set:1");
        assert_eq!(
            expand_with("a ${UNSET:-http://d:2}/b", env).unwrap(),
            "a http://d:2/b"
        );
        assert_eq!(expand_with("plain", env).unwrap(), "plain");
        assert!(expand_with("${UNSET}", env).unwrap_err().contains("UNSET"));
        assert!(expand_with("${OPEN", env).is_err());
    }
}
