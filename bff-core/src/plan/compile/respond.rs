//! `respond.headers`: each header a template over the results and the
//! request, compiled once; names the BFF must own are refused.

use http::HeaderName;

use super::LangBuilders;
use super::locate::template_diagnostic;
use crate::plan::REQUEST_ROOTS;
use crate::plan::template::{Escape, Template};
use crate::source::Diagnostics;
use crate::spec::{RespondSpec, SpecFile};

/// Headers no spec may set: hop-by-hop ones (RFC 9110 §7.6.1), what the
/// BFF writes from the answer itself, its own, and cookies (which only an
/// upstream's answer may set, under the cookie policy).
const REFUSED: [&str; 14] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "content-type",
    "content-encoding",
    "set-cookie",
    "vary",
    "server-timing",
    "x-request-id",
];

/// The headers of `respond`; problems are reported where they are written.
pub(super) fn headers<'a>(
    file: &'a SpecFile<crate::spec::EndpointSpec>,
    respond: &'a RespondSpec,
    calls: &[&str],
    b: &mut LangBuilders<'a>,
    diags: &mut Diagnostics,
) -> Vec<(HeaderName, Template)> {
    let mut out = Vec::new();
    for (name, src) in &respond.headers {
        let lower = name.to_ascii_lowercase();
        let header = match HeaderName::try_from(lower.as_str()) {
            Ok(h) => h,
            Err(_) => {
                diags.push(file.error_at_key(name, src, format!("`{name}` is not a header name")));
                continue;
            }
        };
        if REFUSED.contains(&lower.as_str())
            || lower.starts_with("bff-")
            || lower.starts_with("proxy-")
        {
            diags.push(file.error_at_key(
                name,
                src,
                format!("respond.headers cannot set `{name}`: the BFF writes it itself, or it belongs to the connection"),
            ));
            continue;
        }
        match b.templates.add(src, Escape::Verbatim) {
            Ok(t) => {
                for root in &t.roots {
                    if !calls.contains(&root.as_str())
                        && !REQUEST_ROOTS.contains(&root.as_str())
                        && root != "upstream"
                    {
                        diags.push(file.error_at(
                            src,
                            format!("header `{name}` reads `{root}`, which is not a call of this endpoint nor one of path, query, headers, body, auth"),
                        ));
                    }
                }
                out.push((header, t));
            }
            Err(e) => diags.push(template_diagnostic(file, src, &e)),
        }
    }
    out
}
