//! WSDL 1.1 files of the spec folder's `wsdl/`, read for what a SOAP call
//! can be checked against when specs load: per binding operation, its SOAP
//! version, its action and the element its input message carries, and a
//! sketch of that element from the schema for `explain`. Nothing is
//! generated from them; a file that cannot be read is a located error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use crate::source::{Diagnostic, Diagnostics};

const WSDL_SOAP11: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const WSDL_SOAP12: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
/// Deepest nesting read, and deepest a sketch goes.
const MAX_DEPTH: usize = 64;
const SKETCH_DEPTH: usize = 6;

/// The WSDL files of a folder.
#[derive(Debug, Default)]
pub(crate) struct Wsdls {
    pub(crate) files: Vec<WsdlFile>,
}

/// One WSDL file's operations, by binding.
#[derive(Debug)]
pub(crate) struct WsdlFile {
    pub(crate) path: PathBuf,
    pub(crate) target_ns: String,
    pub(crate) operations: Vec<Operation>,
}

/// An operation of a SOAP binding.
#[derive(Debug)]
pub(crate) struct Operation {
    /// The operation's name.
    pub(crate) name: String,
    /// `"1.1"` or `"1.2"`, by the binding's namespace.
    pub(crate) version: &'static str,
    /// `soapAction` (may be empty).
    pub(crate) action: String,
    /// Local name of the element the input message carries, when known.
    pub(crate) input: Option<String>,
    /// The input element as the schema describes it, when it does.
    sketch: Option<Sketch>,
}

/// An element of the schema, with its children or its type.
#[derive(Debug, Clone)]
struct Sketch {
    name: String,
    qualified: bool,
    /// A leaf's type (`string`), or `None` for an element with children.
    leaf: Option<String>,
    many: bool,
    optional: bool,
    children: Vec<Sketch>,
}

impl Operation {
    /// The body the operation expects, with `prefix` on qualified names:
    /// `<s:GetQuote><s:symbol>string</s:symbol></s:GetQuote>`.
    pub(crate) fn expected_body(&self, prefix: &str) -> Option<String> {
        let mut out = String::new();
        write_sketch(self.sketch.as_ref()?, prefix, true, &mut out);
        Some(out)
    }
}

fn write_sketch(s: &Sketch, prefix: &str, top: bool, out: &mut String) {
    let name = if top || s.qualified {
        format!("{prefix}:{}", s.name)
    } else {
        s.name.clone()
    };
    out.push_str(&format!("<{name}>"));
    match &s.leaf {
        Some(t) => out.push_str(t),
        None => s
            .children
            .iter()
            .for_each(|c| write_sketch(c, prefix, false, out)),
    }
    out.push_str(&format!("</{name}>"));
    match (s.many, s.optional) {
        (true, _) => out.push('…'),
        (false, true) => out.push('?'),
        (false, false) => {}
    }
}

/// A parsed element: local name, namespace, attributes, children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    ns: String,
    attrs: HashMap<String, String>,
    children: Vec<Node>,
}

impl Node {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// The part of a qualified name after its prefix.
fn local(qname: &str) -> &str {
    qname.rsplit(':').next().unwrap_or(qname)
}

/// Reads `wsdl/*.wsdl` (and `*.xml`) of the folder, when it has `wsdl/`.
pub(crate) fn load(dir: &Path, diags: &mut Diagnostics) -> Wsdls {
    let folder = dir.join("wsdl");
    let Ok(entries) = std::fs::read_dir(&folder) else {
        return Wsdls::default();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wsdl" || x == "xml"))
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| parse(&t))
        {
            Ok(root) => match read_definitions(&root) {
                Ok((target_ns, operations)) => files.push(WsdlFile {
                    path,
                    target_ns,
                    operations,
                }),
                Err(e) => diags.push(Diagnostic::file(&path, format!("WSDL: {e}"))),
            },
            Err(e) => diags.push(Diagnostic::file(&path, format!("WSDL: {e}"))),
        }
    }
    Wsdls { files }
}

/// The element tree of a document, namespaces resolved; no DTD is read.
fn parse(text: &str) -> Result<Node, String> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<(Node, Vec<(String, String)>)> = Vec::new();
    let mut scopes: Vec<HashMap<String, String>> = vec![HashMap::new()];
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::DocType(_) => return Err("a DOCTYPE is not accepted".into()),
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("elements nest deeper than {MAX_DEPTH} levels"));
                }
                let node = open(&e, &mut scopes)?;
                stack.push((node, Vec::new()));
            }
            Event::Empty(e) => {
                let node = open(&e, &mut scopes)?;
                scopes.pop();
                match stack.last_mut() {
                    Some((parent, _)) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::End(_) => {
                let (node, _) = stack.pop().ok_or("an end tag without a start")?;
                scopes.pop();
                match stack.last_mut() {
                    Some((parent, _)) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Eof => return Err("no root element, or one left open".into()),
            _ => {}
        }
    }
}

/// A start tag as a node, its namespace declarations opening a scope.
fn open(e: &BytesStart<'_>, scopes: &mut Vec<HashMap<String, String>>) -> Result<Node, String> {
    let mut scope = scopes.last().cloned().unwrap_or_default();
    let mut attrs = HashMap::new();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = a.key.as_ref().to_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?
            .into_owned();
        if key == "xmlns" {
            scope.insert(String::new(), value);
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            scope.insert(p.to_owned(), value);
        } else {
            attrs.insert(key, value);
        }
    }
    let qname = e.name().as_ref().to_owned();
    let (prefix, name) = match qname.split_once(':') {
        Some((p, n)) => (p.to_owned(), n.to_owned()),
        None => (String::new(), qname),
    };
    let ns = scope.get(&prefix).cloned().unwrap_or_default();
    scopes.push(scope);
    Ok(Node {
        name,
        ns,
        attrs,
        children: Vec::new(),
    })
}

/// The target namespace and the SOAP operations of a `definitions` element.
fn read_definitions(root: &Node) -> Result<(String, Vec<Operation>), String> {
    if root.name != "definitions" {
        return Err(format!(
            "the root element is `{}`, not WSDL 1.1's `definitions`",
            root.name
        ));
    }
    let target_ns = root.attr("targetNamespace").unwrap_or_default().to_owned();
    let mut elements = HashMap::new();
    let mut types = HashMap::new();
    for schema in root.all("types").flat_map(|t| t.all("schema")) {
        let qualified = schema.attr("elementFormDefault") == Some("qualified");
        for el in schema.all("element") {
            if let Some(n) = el.attr("name") {
                elements.insert(n.to_owned(), (el, qualified));
            }
        }
        for ty in schema.all("complexType") {
            if let Some(n) = ty.attr("name") {
                types.insert(n.to_owned(), (ty, qualified));
            }
        }
    }
    let messages: HashMap<&str, Option<&str>> = root
        .all("message")
        .filter_map(|m| {
            let part = m
                .all("part")
                .next()
                .and_then(|p| p.attr("element"))
                .map(local);
            Some((m.attr("name")?, part))
        })
        .collect();
    let mut inputs: HashMap<(&str, &str), Option<&str>> = HashMap::new();
    for pt in root.all("portType") {
        let Some(pt_name) = pt.attr("name") else {
            continue;
        };
        for op in pt.all("operation") {
            let input = op
                .all("input")
                .next()
                .and_then(|i| i.attr("message"))
                .and_then(|m| messages.get(local(m)).copied().flatten());
            if let Some(name) = op.attr("name") {
                inputs.insert((pt_name, name), input);
            }
        }
    }
    let mut operations = Vec::new();
    for binding in root.all("binding") {
        let version = match binding.all("binding").next().map(|b| b.ns.as_str()) {
            Some(WSDL_SOAP11) => "1.1",
            Some(WSDL_SOAP12) => "1.2",
            _ => continue,
        };
        let port_type = binding.attr("type").map(local).unwrap_or_default();
        for op in binding.all("operation") {
            let Some(name) = op.attr("name") else {
                continue;
            };
            let action = op
                .all("operation")
                .next()
                .and_then(|o| o.attr("soapAction"))
                .unwrap_or_default();
            let input = inputs.get(&(port_type, name)).copied().flatten();
            let sketch = input.and_then(|i| {
                let (el, qualified) = elements.get(i)?;
                Some(sketch(el, *qualified, &types, 0))
            });
            operations.push(Operation {
                name: name.to_owned(),
                version,
                action: action.to_owned(),
                input: input.map(str::to_owned),
                sketch,
            });
        }
    }
    Ok((target_ns, operations))
}

/// An element of the schema as a sketch: its type's local name for a leaf,
/// the elements of its sequence (inline or a named complex type) otherwise.
fn sketch(
    el: &Node,
    qualified: bool,
    types: &HashMap<String, (&Node, bool)>,
    depth: usize,
) -> Sketch {
    let name = el.attr("name").unwrap_or("?").to_owned();
    let many = el
        .attr("maxOccurs")
        .is_some_and(|m| m == "unbounded" || m.parse::<u32>().is_ok_and(|n| n > 1));
    let optional = el.attr("minOccurs") == Some("0");
    let complex = el.all("complexType").next().or_else(|| {
        let t = el.attr("type").map(local)?;
        types.get(t).map(|(n, _)| *n)
    });
    let (leaf, children) = match complex {
        Some(ct) if depth < SKETCH_DEPTH => {
            let children = ct
                .children
                .iter()
                .filter(|c| matches!(c.name.as_str(), "sequence" | "all" | "choice"))
                .flat_map(|s| s.all("element"))
                .map(|c| sketch(c, qualified, types, depth + 1))
                .collect();
            (None, children)
        }
        Some(_) => (Some("…".to_owned()), Vec::new()),
        None => (
            Some(el.attr("type").map_or("…", local).to_owned()),
            Vec::new(),
        ),
    };
    Sketch {
        name,
        qualified,
        leaf,
        many,
        optional,
        children,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_actions_inputs_and_sketches_are_read() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/soap-server/stock.wsdl"),
        )
        .unwrap();
        let root = parse(&text).unwrap();
        let (ns, ops) = read_definitions(&root).unwrap();
        assert_eq!(ns, "http://example.com/stock");
        let q = ops
            .iter()
            .find(|o| o.version == "1.2" && o.name == "GetQuote")
            .unwrap();
        assert_eq!(q.action, "http://example.com/stock/GetQuote");
        assert_eq!(q.input.as_deref(), Some("GetQuote"));
        assert_eq!(
            q.expected_body("s").unwrap(),
            "<s:GetQuote><s:symbol>string</s:symbol></s:GetQuote>"
        );
        assert_eq!(ops.iter().filter(|o| o.version == "1.1").count(), 3);
        assert!(parse("<!DOCTYPE x><definitions/>").is_err());
    }

    #[test]
    fn sketches_mark_lists_and_optional_elements_and_follow_named_types() {
        let text = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:x="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:o">
          <types><x:schema elementFormDefault="unqualified">
            <x:element name="Put"><x:complexType><x:sequence>
              <x:element name="line" type="Line" maxOccurs="unbounded"/>
              <x:element name="note" type="x:string" minOccurs="0"/>
            </x:sequence></x:complexType></x:element>
            <x:complexType name="Line"><x:sequence><x:element name="sku" type="x:string"/></x:sequence></x:complexType>
          </x:schema></types>
          <message name="In"><part name="p" element="Put"/></message>
          <portType name="P"><operation name="Put"><input message="In"/></operation></portType>
          <binding name="B" type="P"><s:binding/><operation name="Put"><s:operation soapAction="urn:o#Put"/></operation></binding>
        </definitions>"#;
        let (_, ops) = read_definitions(&parse(text).unwrap()).unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].version, "1.2");
        assert_eq!(
            ops[0].expected_body("o").unwrap(),
            "<o:Put><line><sku>string</sku></line>…<note>string</note>?</o:Put>"
        );
    }
}
