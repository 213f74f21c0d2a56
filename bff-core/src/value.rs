//! The one data type of the engine: jaq's JSON value. Upstream bodies are
//! parsed straight into it, expressions run on it without conversion, and it
//! is serialized once, on the way out.

use jaq_json::{Map, Num, Val};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

pub use jaq_json::Val as Value;

/// A document that is not JSON; says at which byte and why.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ParseError(#[from] jaq_json::read::Error);

/// Parses a JSON document.
pub fn parse(bytes: &[u8]) -> Result<Val, ParseError> {
    Ok(jaq_json::read::parse_single(bytes)?)
}

/// Converts a value read from a spec file (YAML) into the engine's type.
pub fn from_json(v: &serde_json::Value) -> Val {
    match v {
        serde_json::Value::Null => Val::Null,
        serde_json::Value::Bool(b) => Val::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => {
                isize::try_from(i).map_or(Val::Num(Num::Float(i as f64)), |i| Val::Num(Num::Int(i)))
            }
            None => Val::Num(Num::Float(n.as_f64().unwrap_or(f64::NAN))),
        },
        serde_json::Value::String(s) => string(s),
        serde_json::Value::Array(a) => a.iter().map(from_json).collect(),
        serde_json::Value::Object(o) => object(o.iter().map(|(k, v)| (k.as_str(), from_json(v)))),
    }
}

/// A text string.
pub fn string(s: &str) -> Val {
    Val::utf8_str(s.as_bytes().to_vec())
}

/// An object from key/value pairs, in order.
pub fn object<'a>(pairs: impl IntoIterator<Item = (&'a str, Val)>) -> Val {
    let map: Map = pairs.into_iter().map(|(k, v)| (string(k), v)).collect();
    Val::obj(map)
}

/// Serializes a value as compact JSON. Values JSON cannot express (byte
/// strings, NaN) degrade to the nearest JSON (a lossy string, `null`).
pub fn to_json(v: &Val) -> Vec<u8> {
    serde_json::to_vec(&Json(v)).unwrap_or_else(|_| b"null".to_vec())
}

/// The text of a string value, or its JSON form for anything else; what a
/// value looks like when it lands in a URL or a header.
pub fn to_text(v: &Val) -> String {
    match v {
        Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
        other => String::from_utf8(to_json(other)).unwrap_or_default(),
    }
}

/// Whether a value counts as true in a `when` condition (jq truthiness).
pub fn truthy(v: &Val) -> bool {
    !matches!(v, Val::Null | Val::Bool(false))
}

/// A borrowed value that serde can serialize: into tera's context, or into
/// the response body.
#[derive(Clone, Copy)]
pub struct Json<'a>(pub &'a Val);

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::Num(n) => serialize_num(n, s),
            Val::TStr(b) | Val::BStr(b) => s.serialize_str(&String::from_utf8_lossy(b)),
            Val::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for x in a.iter() {
                    seq.serialize_element(&Json(x))?;
                }
                seq.end()
            }
            Val::Obj(o) => {
                let mut map = s.serialize_map(Some(o.len()))?;
                for (k, v) in o.iter() {
                    match k {
                        Val::TStr(b) | Val::BStr(b) => {
                            map.serialize_entry(&*String::from_utf8_lossy(b), &Json(v))?
                        }
                        other => map.serialize_entry(&to_text(other), &Json(v))?,
                    }
                }
                map.end()
            }
        }
    }
}

fn serialize_num<S: Serializer>(n: &Num, s: S) -> Result<S::Ok, S::Error> {
    match n {
        Num::Int(i) => s.serialize_i64(*i as i64),
        Num::Float(f) if f.is_finite() => {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                s.serialize_i64(*f as i64)
            } else {
                s.serialize_f64(*f)
            }
        }
        Num::Float(_) => s.serialize_unit(),
        // Decimal literals keep their exact digits when they fit, as jq does.
        Num::Dec(d) => match d.parse::<i64>() {
            Ok(i) => s.serialize_i64(i),
            Err(_) => match d.parse::<f64>() {
                Ok(f) if f.is_finite() => s.serialize_f64(f),
                _ => s.serialize_unit(),
            },
        },
        Num::BigInt(b) => match b.to_string().parse::<f64>() {
            Ok(f) => s.serialize_f64(f),
            Err(_) => s.serialize_unit(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_order_and_types() {
        let text = br#"{"b":1,"a":[true,null,"x",2.5],"c":{"d":"\u00e9"}}"#;
        let v = parse(text).unwrap();
        assert_eq!(
            String::from_utf8(to_json(&v)).unwrap(),
            r#"{"b":1,"a":[true,null,"x",2.5],"c":{"d":"é"}}"#
        );
    }

    #[test]
    fn yaml_values_convert() {
        let v = from_json(&serde_json::json!({"n": 3, "f": 0.5, "s": "hi", "l": []}));
        assert_eq!(to_json(&v), br#"{"n":3,"f":0.5,"s":"hi","l":[]}"#);
    }

    #[test]
    fn text_of_strings_is_unquoted() {
        assert_eq!(to_text(&string("a b")), "a b");
        assert_eq!(to_text(&Val::Num(Num::Int(7))), "7");
    }
}
