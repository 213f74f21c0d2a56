//! The web BFF's CORS policy as a browser enforces it: headless Chromium
//! loads pages from an allowed and from a foreign origin, and each page
//! calls the BFF with its session cookie.

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use bff_tests::browser::browse;
use bff_tests::{SpecDir, gateway_with, serve};
use serde_json::json;

const SECRET: &str = "cors-test-secret-of-enough-length";

/// A page whose script calls the BFF with credentials, by GET and by a PUT
/// with a JSON body (which needs a preflight), and shows what it got.
fn page(bff: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html><title>shop</title><p id="out"></p><script>
async function call(method) {{
  try {{
    const r = await fetch("{bff}/v1/me", {{
      method, credentials: "include",
      headers: method === "PUT" ? {{ "content-type": "application/json" }} : {{}},
      body: method === "PUT" ? "{{}}" : undefined,
    }});
    return method + " " + r.status + " " + (await r.text());
  }} catch (e) {{
    return method + " blocked";
  }}
}}
(async () => {{
  const results = [await call("GET"), await call("PUT")];
  document.getElementById("out").textContent = results.join(" | ");
}})();
</script>"#
    ))
}

#[tokio::test]
async fn only_pages_on_allowed_origins_can_call_the_web_bff_with_credentials() {
    let upstream = serve(Router::new().route("/ok", get(|| async { "{}" }))).await;
    // Two page servers: two origins (same host, other ports).
    let allowed_page = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let foreign_page = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let allowed_origin = format!("http://{}", allowed_page.local_addr().unwrap());
    let foreign_origin = format!("http://{}", foreign_page.local_addr().unwrap());

    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{upstream}\" }}\n\
         auth:\n  session:\n    jwt:\n      cookie: session\n      keys: [ {{ alg: HS256, secret: \"{SECRET}\" }} ]\n"
    ))
    .endpoint(
        "me",
        "endpoint: GET /v1/me\nauth: session\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: '{sub: .auth.sub}'\n",
    )
    .endpoint(
        "me-put",
        "endpoint: PUT /v1/me\nauth: session\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: '{saved: .auth.sub}'\n",
    );
    let bff = gateway_with(
        dir.path(),
        bff_web::WebExtension::new([allowed_origin.as_str()]),
    )
    .await;

    for listener in [allowed_page, foreign_page] {
        let html = page(&bff);
        let app = Router::new().route("/", get(move || async move { html.clone() }));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }

    let token = bff_tests::jwt::hs256(SECRET, json!({ "sub": "ada" }));
    // The session cookie belongs to the BFF's host; ports do not separate
    // cookies, so both pages' requests would carry it if allowed to.
    let seen = browse(json!({
        "cookies": [{ "name": "session", "value": token, "domain": "127.0.0.1", "path": "/" }],
        "pages": [
            { "url": format!("{allowed_origin}/"), "wait_for": "#out" },
            { "url": format!("{foreign_origin}/"), "wait_for": "#out" },
        ],
    }))
    .await;

    assert_eq!(
        seen[0]["text"], r#"GET 200 {"sub":"ada"} | PUT 200 {"saved":"ada"}"#,
        "the allowed origin reads the answers: {seen:?}"
    );
    assert_eq!(
        seen[1]["text"], "GET blocked | PUT blocked",
        "a foreign origin reads nothing: {seen:?}"
    );
}
