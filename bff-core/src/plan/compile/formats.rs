//! The formats an endpoint's answer may take besides JSON: the protobuf
//! message and the page template `respond` names, checked against what
//! `proto/` and `templates/` hold.

use super::FolderParts;
use super::locate::{line_col, locate};
use crate::source::Diagnostics;
use crate::spec::{EndpointSpec, SpecFile};

/// The protobuf message and page template a `respond` names, checked
/// against what `proto/` and `templates/` hold.
pub(super) fn compile_formats(
    file: &SpecFile<EndpointSpec>,
    respond: &crate::spec::RespondSpec,
    formats: FolderParts<'_>,
    diags: &mut Diagnostics,
) -> (Option<prost_reflect::MessageDescriptor>, Option<String>) {
    let message = respond.message.as_ref().and_then(|name| {
        match crate::proto::message(&formats.protos.pool, name) {
            Ok(m) => {
                if let Some(jq) = &respond.jq {
                    for e in crate::plan::shape::check(jq, &m) {
                        let (line, column) = line_col(jq, e.range.start);
                        let width = jq[e.range.clone()].chars().count().max(1);
                        diags.push(locate(file, jq, line, column, width, e.message));
                    }
                }
                Some(m)
            }
            // A message a broken file may hold is not called missing: that file's error says why.
            Err(_) if formats.protos.lost_to_errors(name) => None,
            Err(e) => {
                diags.push(file.error_at(name, e.to_string()));
                None
            }
        }
    });
    let page = respond.html.as_ref().and_then(|name| {
        if formats.pages.contains(name) {
            Some(name.value.clone())
        } else if formats.pages.lost_to_errors(name) {
            // The template's error, or that of a template it needs, says why.
            None
        } else {
            let known = formats.pages.names();
            diags.push(file.error_at(
                name,
                if known.is_empty() {
                    format!(
                        "no page template `{}`: the `{}/` folder has none",
                        name.value,
                        crate::pages::DIR
                    )
                } else {
                    format!(
                        "no page template `{}`; known: {}",
                        name.value,
                        known.join(", ")
                    )
                },
            ));
            None
        }
    });
    (message, page)
}
