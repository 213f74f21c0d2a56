//! The GraphQL explorer: GraphiQL, embedded in the binary (no CDN), served
//! to browsers at the GraphQL path when `explorer: true`, its files under
//! `<path>/explorer/`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

/// The explorer's files, by name: content type and bytes.
const FILES: [(&str, &str, &[u8]); 5] = [
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "start.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/start.js"),
    ),
];

/// Whether a request is a browser navigating to the page rather than a
/// GraphQL request: a GET without `query` that prefers HTML.
pub(super) fn wants_page(parts: &http::request::Parts) -> bool {
    let has_query = form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        .any(|(k, _)| k == "query" || k == "extensions");
    parts.method == http::Method::GET
        && !has_query
        && parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}

/// The page.
pub(super) fn page(path: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL · {path}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{path}/explorer/graphiql.min.css">
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{path}/explorer/react.production.min.js"></script>
<script src="{path}/explorer/react-dom.production.min.js"></script>
<script src="{path}/explorer/graphiql.min.js"></script>
<script src="{path}/explorer/start.js"></script>
</body>
</html>
"#
    );
    let mut r = (StatusCode::OK, html).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// One of the explorer's files, or 404.
pub(crate) fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, media, bytes)) => {
            let mut r = (StatusCode::OK, *bytes).into_response();
            let h = r.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            );
            r
        }
        None => crate::error::Refusal::NotFound.into_response(),
    }
}
