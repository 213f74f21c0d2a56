//! XML documents turned into JSON: request bodies of integrations that
//! speak XML, and the answers of SOAP services. The root element's content
//! is the value; elements become members, repeated elements (or `<item>`
//! children, or names a [`Mapping`] lists) become lists, text that reads as
//! a number or `true`/`false` becomes one, empty elements and
//! `nil="true"` become `null`. Attributes other than `nil` are ignored.
//! Only the predefined and numeric entities are known: no DTD is read.

use quick_xml::events::Event;
use quick_xml::reader::Reader;
use serde_json::{Map, Value};

/// Why an XML body is not acceptable, told to the client in the 400.
#[derive(Debug, thiserror::Error)]
pub(crate) enum XmlError {
    #[error("the XML is not UTF-8")]
    NotUtf8,
    /// The reader stopped at a syntax error.
    #[error("at byte {at}: {source}")]
    Syntax { at: u64, source: quick_xml::Error },
    /// Only the predefined and numeric entities are known; no DTD is read.
    #[error("unknown entity `&{0};`")]
    UnknownEntity(String),
    #[error("an end tag without a start")]
    StrayEnd,
    #[error("more than one root element")]
    SeveralRoots,
    #[error("the document ends inside an element")]
    Unclosed,
    #[error("no root element")]
    NoRoot,
    /// Elements nest deeper than [`MAX_DEPTH`].
    #[error("elements nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A document type declaration, refused where the mapping says so.
    #[error("a DOCTYPE is not accepted")]
    Doctype,
}

/// Deepest nesting of elements read; deeper documents are refused, so a
/// hostile document cannot make the mapping's stack grow without bound.
pub(crate) const MAX_DEPTH: usize = 64;

/// How names and lists are read, beyond the defaults.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Mapping<'a> {
    /// Elements are named by their local name (`s:price` → `price`).
    pub(crate) local_names: bool,
    /// Names of elements that are lists even when they occur once.
    pub(crate) lists: &'a [String],
    /// A `<!DOCTYPE …>` fails the document instead of being skipped.
    pub(crate) refuse_doctype: bool,
}

struct Frame {
    name: String,
    children: Vec<(String, Value)>,
    text: String,
    /// `nil="true"` (or `xsi:nil="true"`): null, whatever it holds.
    nil: bool,
}

impl Frame {
    fn value(self, lists: &[String]) -> Value {
        if self.nil {
            return Value::Null;
        }
        if self.children.is_empty() {
            return scalar(self.text.trim());
        }
        if self.children.iter().all(|(n, _)| n == "item") {
            return Value::Array(self.children.into_iter().map(|(_, v)| v).collect());
        }
        let mut map = Map::new();
        for (name, v) in self.children {
            match map.get_mut(&name) {
                Some(Value::Array(list)) => list.push(v),
                Some(first) => {
                    let first = first.take();
                    map.insert(name, Value::Array(vec![first, v]));
                }
                None if lists.contains(&name) => {
                    map.insert(name, Value::Array(vec![v]));
                }
                None => {
                    map.insert(name, v);
                }
            }
        }
        Value::Object(map)
    }
}

/// Text made safe to place in XML content or a quoted attribute value.
pub(crate) fn escape(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

fn scalar(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    // Only plain decimal numbers; "007" or "1e5" stay text.
    let plain = text.strip_prefix('-').unwrap_or(text);
    let canonical = !plain.is_empty()
        && plain.chars().all(|c| c.is_ascii_digit() || c == '.')
        && plain.matches('.').count() <= 1
        && !(plain.len() > 1 && plain.starts_with('0') && !plain.starts_with("0."));
    if canonical && let Ok(n) = serde_json::from_str::<serde_json::Number>(text) {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

fn entity(name: &str) -> Option<String> {
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let code = name.strip_prefix('#')?;
            let n = match code.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => code.parse().ok()?,
            };
            char::from_u32(n)?
        }
    };
    Some(c.to_string())
}

/// The JSON for an XML document, or why it is not acceptable.
pub(crate) fn to_json(bytes: &[u8]) -> Result<Value, XmlError> {
    to_json_mapped(bytes, Mapping::default()).map(|(_, v)| v)
}

/// The root element's name and the JSON of its content, read as `mapping` says.
pub(crate) fn to_json_mapped(
    bytes: &[u8],
    mapping: Mapping<'_>,
) -> Result<(String, Value), XmlError> {
    let name_of = |e: &quick_xml::events::BytesStart<'_>| -> Result<String, XmlError> {
        Ok(if mapping.local_names {
            e.local_name().into_inner().to_owned()
        } else {
            e.name().as_ref().to_owned()
        })
    };
    let text = std::str::from_utf8(bytes).map_err(|_| XmlError::NotUtf8)?;
    // Text is not trimmed per event: entities split it into pieces whose
    // spaces matter; the whole is trimmed at the end of its element.
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root = None;
    loop {
        let event = reader.read_event().map_err(|source| XmlError::Syntax {
            at: reader.buffer_position(),
            source,
        })?;
        let done = match event {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let nil = e
                    .attributes()
                    .flatten()
                    .any(|a| a.key.local_name().as_ref() == "nil" && &*a.value == "true");
                stack.push(Frame {
                    name: name_of(&e)?,
                    children: Vec::new(),
                    text: String::new(),
                    nil,
                });
                None
            }
            Event::Empty(e) => Some((name_of(&e)?, Value::Null)),
            Event::DocType(_) if mapping.refuse_doctype => return Err(XmlError::Doctype),
            Event::Text(t) => {
                if let Some(f) = stack.last_mut() {
                    f.text.push_str(&t.into_inner());
                }
                None
            }
            Event::CData(c) => {
                if let Some(f) = stack.last_mut() {
                    f.text.push_str(&c.into_inner());
                }
                None
            }
            Event::GeneralRef(r) => {
                let name = r.into_inner();
                let c = entity(&name).ok_or_else(|| XmlError::UnknownEntity(name.to_string()))?;
                if let Some(f) = stack.last_mut() {
                    f.text.push_str(&c);
                }
                None
            }
            Event::End(_) => {
                let mut f = stack.pop().ok_or(XmlError::StrayEnd)?;
                let name = std::mem::take(&mut f.name);
                Some((name, f.value(mapping.lists)))
            }
            Event::Eof => break,
            _ => None,
        };
        if let Some((name, v)) = done {
            match stack.last_mut() {
                Some(parent) => parent.children.push((name, v)),
                None if root.is_none() => root = Some((name, v)),
                None => return Err(XmlError::SeveralRoots),
            }
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Unclosed);
    }
    root.ok_or(XmlError::NoRoot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_become_the_json_a_partner_would_have_sent() {
        let v = to_json(
            br#"<?xml version="1.0"?><lookup><skus><item>p-2001</item><item>p-9999</item></skus>
                <qty>3</qty><gift>false</gift><note>A &amp; B &#x263A;</note><code>007</code>
                <line><sku>a</sku></line><line><sku>b</sku></line><empty/>
                <gone xsi:nil="true">ignored</gone><kept nil="false">x</kept></lookup>"#,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({
                "skus": ["p-2001", "p-9999"],
                "qty": 3, "gift": false, "note": "A & B \u{263A}", "code": "007",
                "line": [{"sku": "a"}, {"sku": "b"}], "empty": null,
                "gone": null, "kept": "x"
            })
        );
        assert!(to_json(b"<a><b></a>").is_err());
        assert!(to_json(b"<a/><b/>").is_err());
        assert!(to_json(b"not xml").is_err());
        let deep = format!(
            "{}{}",
            "<a>".repeat(MAX_DEPTH + 1),
            "</a>".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(to_json(deep.as_bytes()), Err(XmlError::TooDeep)));
    }
}
