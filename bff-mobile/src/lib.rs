//! Mobile client extensions: compact payloads for phones on slow links.

use axum::response::Response;
use bff_core::Extension;
use bff_core::plan::Endpoint;
use bff_core::value::Value;

/// The mobile BFF's extension.
pub fn extension() -> MobileExtension {
    MobileExtension
}

/// Drops `null` members from objects: a phone pays for every byte, and an
/// absent field reads the same as a null one in the app's decoders.
#[derive(Debug, Default, Clone, Copy)]
pub struct MobileExtension;

impl Extension for MobileExtension {
    type Config = bff_core::NoConfig;

    fn encode(
        &self,
        _: &Self::Config,
        _: &Endpoint,
        _: &http::request::Parts,
        v: &Value,
    ) -> Option<Response> {
        Some(bff_core::formats::json_response(&without_nulls(v)))
    }
}

/// The value with `null` members of objects removed, at every depth.
pub fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Obj(o) => {
            let kept = o
                .iter()
                .filter(|(_, x)| !matches!(x, Value::Null))
                .map(|(k, x)| (k.clone(), without_nulls(x)));
            Value::obj(kept.collect())
        }
        Value::Arr(a) => a.iter().map(without_nulls).collect(),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bff_core::value;

    #[test]
    fn nulls_are_dropped_at_every_depth() {
        let v = value::parse(br#"{"a":null,"b":{"c":null,"d":1},"e":[{"f":null},null]}"#).unwrap();
        assert_eq!(
            value::to_json(&without_nulls(&v)),
            br#"{"b":{"d":1},"e":[{},null]}"#
        );
    }
}
