//! XML renderings of partner payloads, for integrations that ask for XML
//! (`Accept: application/xml`). Objects become elements named by their
//! keys (a key that is no XML name becomes `<entry key="…">`), lists become
//! repeated `<item>` elements, `null` an empty element with `nil="true"`.

use serde_json::Value;

/// The document for a payload, under a `<response>` root.
pub fn render(v: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    element(&mut out, "response", v);
    out.push('\n');
    out
}

fn element(out: &mut String, name: &str, v: &Value) {
    let (open, close) = if is_name(name) {
        (format!("<{name}"), format!("</{name}>"))
    } else {
        (
            format!("<entry key=\"{}\"", escape(name)),
            "</entry>".to_owned(),
        )
    };
    out.push_str(&open);
    match v {
        Value::Null => {
            out.push_str(" nil=\"true\"/>");
            return;
        }
        Value::Object(map) => {
            out.push('>');
            for (k, child) in map {
                element(out, k, child);
            }
        }
        Value::Array(items) => {
            out.push('>');
            for child in items {
                element(out, "item", child);
            }
        }
        Value::String(s) => {
            out.push('>');
            out.push_str(&escape(s));
        }
        Value::Bool(b) => {
            out.push('>');
            out.push_str(if *b { "true" } else { "false" });
        }
        Value::Number(n) => {
            out.push('>');
            out.push_str(&n.to_string());
        }
    }
    out.push_str(&close);
}

/// A conservative XML name: a letter or `_`, then letters, digits, `_`, `-`, `.`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !s.to_ascii_lowercase().starts_with("xml")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_render_as_elements_items_and_escaped_text() {
        let v = json!({
            "sku": "p-1",
            "title": "Tom & Jerry <DVD>",
            "stock": 3,
            "tags": ["a", "b"],
            "discount": null,
            "1st": true,
        });
        assert_eq!(
            render(&v),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<response><sku>p-1</sku>\
             <title>Tom &amp; Jerry &lt;DVD&gt;</title><stock>3</stock>\
             <tags><item>a</item><item>b</item></tags><discount nil=\"true\"/>\
             <entry key=\"1st\">true</entry></response>\n"
        );
    }
}
