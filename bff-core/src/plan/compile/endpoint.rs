//! One endpoint file compiled: its route, the policies it names, its
//! calls and their graph, its answer, and its example request.

use http::{Method, StatusCode};

use super::call::CallCx;
use super::locate::at_reference;
use super::policies::lookup_policy;
use super::{FolderParts, LangBuilders};
use crate::plan::{Call, Endpoint, graph};
use crate::source::{Diagnostics, Loc};
use crate::spec::{EndpointSpec, SpecFile};

/// Why an `endpoint:` line is not `METHOD /path`.
#[derive(Debug, thiserror::Error)]
enum EndpointLineError {
    /// Not two words; holds the line.
    #[error("expected `METHOD /path`, got `{0}`")]
    Shape(String),
    /// A method endpoints cannot have.
    #[error("unsupported method `{0}` (GET, POST, PUT, PATCH, DELETE)")]
    Method(String),
    /// The path does not start at the root.
    #[error("the path must start with `/`, got `{0}`")]
    Relative(String),
    /// A `{` or `}` that does not wrap a whole segment's name.
    #[error("path parameter `{0}` must be a whole segment like `{{id}}`")]
    Parameter(String),
}

/// The endpoint of one file; `None` when anything in it is wrong (reported).
pub(super) fn compile_endpoint<'a>(
    file: &'a SpecFile<EndpointSpec>,
    folder: FolderParts<'_>,
    b: &mut LangBuilders<'a>,
    diags: &mut Diagnostics,
) -> Option<Endpoint> {
    let FolderParts {
        config,
        policies,
        rate_limits,
        inspections,
        ..
    } = folder;
    let spec = &file.spec;
    let before = diags.0.len();
    let auth = lookup_policy(file, spec.auth.as_ref(), policies, diags);
    if let (Some(r), None) = (&spec.require, &spec.auth) {
        diags.push(file.error_at(r, "`require` needs an `auth` policy"));
    }
    let require = spec
        .require
        .as_ref()
        .map(|r| crate::auth::Requirement::new(r));
    let rate_limit = crate::plan::rate_limits::lookup(
        file,
        spec.rate_limit.as_ref(),
        auth.is_some(),
        rate_limits,
        diags,
    );
    let inspect =
        super::policies::lookup_inspection(file, spec.inspect.as_ref(), inspections, diags);
    let (method, path) = match parse_endpoint(&spec.endpoint) {
        Ok(mp) => mp,
        Err(e) => {
            diags.push(file.error_at(&spec.endpoint, e.to_string()));
            return None;
        }
    };
    let names: Vec<&str> = spec.calls.keys().map(String::as_str).collect();
    let mut calls = Vec::with_capacity(spec.calls.len());
    for (name, call) in &spec.calls {
        let cx = CallCx {
            file,
            name,
            spec: call,
            names: &names,
            folder,
            b: &mut *b,
            diags: &mut *diags,
            roots: Vec::new(),
            resolver: false,
        };
        if let Some(c) = cx.compile() {
            calls.push(c);
        }
    }
    let respond = spec
        .respond
        .as_ref()
        .and_then(|r| r.jq.as_ref())
        .and_then(|jq| b.expr(file, jq, diags));
    let mut status_expr = None;
    let status = match spec.respond.as_ref().and_then(|r| r.status.as_ref()) {
        Some(at) => match &at.value {
            crate::spec::StatusSpec::Code(s) => match StatusCode::from_u16(*s) {
                Ok(s) if (200..=599).contains(&s.as_u16()) => s,
                _ => {
                    diags.push(file.error_at(
                        at,
                        format!("respond.status {s} is not an HTTP status from 200 to 599"),
                    ));
                    StatusCode::OK
                }
            },
            crate::spec::StatusSpec::Jq(text) => {
                let src = Loc {
                    value: text.clone(),
                    line: at.line,
                    column: at.column,
                };
                status_expr = b.expr_owned(file, src, diags);
                StatusCode::OK
            }
        },
        None => StatusCode::OK,
    };
    let headers = match &spec.respond {
        Some(r) => super::respond::headers(file, r, &names, b, diags),
        None => Vec::new(),
    };
    let (message, page) = match &spec.respond {
        Some(r) => super::formats::compile_formats(file, r, folder, diags),
        None => (None, None),
    };
    if let Some(example) = &spec.example {
        check_example(file, example, &path, diags);
    }
    let input = spec
        .request
        .as_ref()
        .map(|r| super::input::compile_input(file, r, &path, folder.dir, diags));
    // Dependencies are indexes into all calls: every one must have compiled.
    if diags.0.len() > before || calls.len() < spec.calls.len() {
        return None;
    }
    let deps: Vec<Vec<usize>> = calls.iter().map(|c: &Call| c.deps.clone()).collect();
    if let Err(cycle) = graph::check_acyclic(&deps) {
        let waits: Vec<String> = cycle
            .windows(2)
            .map(|w| format!("`{}` waits for `{}`", calls[w[0]].name, calls[w[1]].name))
            .collect();
        diags.push(at_reference(
            file,
            &spec.calls[cycle[0]],
            &calls[cycle[1]].name,
            format!("dependency cycle: {}", waits.join(", ")),
        ));
        return None;
    }
    for i in 0..calls.len() {
        for d in calls[i].deps.clone() {
            calls[d].dependents.push(i);
        }
    }
    Some(Endpoint {
        method,
        path,
        file: file.path.clone(),
        description: spec.description.clone(),
        deadline: spec.deadline.unwrap_or(config.defaults.deadline),
        calls,
        respond,
        status,
        status_expr,
        headers,
        body_limit: config.defaults.body_limit,
        example: spec.example.as_ref().map(|e| e.value.clone()),
        auth,
        require,
        rate_limit,
        inspect,
        cache: spec.cache.as_ref().map(|c| (c.ttl, c.tags.clone())),
        message,
        page,
        query_params: crate::plan::reads::query_params(spec),
        input,
    })
}

/// An example must be a request the endpoint actually answers.
fn check_example(
    file: &SpecFile<EndpointSpec>,
    example: &Loc<crate::spec::ExampleSpec>,
    route: &str,
    diags: &mut Diagnostics,
) {
    let mut router = matchit::Router::new();
    if router.insert(route, ()).is_err() {
        return;
    }
    let path = example.path.split('?').next().unwrap_or("");
    if router.at(path).is_err() {
        diags.push(file.error_at(
            example,
            format!("example path `{}` does not match `{route}`", example.path),
        ));
    }
}

/// Splits `GET /v1/x/{id}` into method and route path.
fn parse_endpoint(text: &str) -> Result<(Method, String), EndpointLineError> {
    let mut parts = text.split_whitespace();
    let (Some(m), Some(path), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(EndpointLineError::Shape(text.to_owned()));
    };
    let method = match m {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        other => return Err(EndpointLineError::Method(other.to_owned())),
    };
    if !path.starts_with('/') {
        return Err(EndpointLineError::Relative(path.to_owned()));
    }
    for segment in path.split('/') {
        if segment.contains(['{', '}']) {
            let name = segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .filter(|n| is_identifier(n));
            if name.is_none() {
                return Err(EndpointLineError::Parameter(segment.to_owned()));
            }
        }
    }
    Ok((method, path.to_owned()))
}

/// A name templates and jq can read: letters, digits and `_`, not
/// starting with a digit.
pub(super) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_lines_parse() {
        assert_eq!(
            parse_endpoint("GET /v1/x/{id}").unwrap(),
            (Method::GET, "/v1/x/{id}".into())
        );
        assert!(parse_endpoint("FETCH /x").is_err());
        assert!(parse_endpoint("GET x").is_err());
        assert!(parse_endpoint("GET /x/a{id}").is_err());
        assert!(parse_endpoint("GET /x extra").is_err());
    }
}
