//! What a BFF binary's extension can do, as its documentation promises:
//! typed settings read from the `extensions:` key of `bff.yaml` (refused
//! with a located error when they do not fit, the last good specs kept on
//! reload), a hook on the verified identity and a hook on every upstream
//! request, composed calls and pass-through routes alike, with two real
//! callers whose answers must never mix in the cache.

use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use bff_core::{CallRequest, Extension, Problem};
use bff_tests::jwt::hs256;
use bff_tests::process::{BffProcess, free_port};
use bff_tests::{SpecDir, client, gateway_with, serve};
use http::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "extension-test-secret";

/// Settings of the test extension, under `extensions:`.
#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TenantConfig {
    /// Put before `sub` to make the `tenant` claim.
    prefix: String,
    /// Subjects refused after authentication.
    #[serde(default)]
    blocked: Vec<String>,
}

/// Derives a `tenant` claim from `sub`, refuses blocked subjects, and
/// sends the tenant upstream in `x-tenant` on every request.
struct Tenants;

impl Extension for Tenants {
    type Config = TenantConfig;

    fn identity(
        &self,
        config: &TenantConfig,
        _: &http::request::Parts,
        identity: &mut bff_core::value::Value,
    ) -> Result<(), Problem> {
        let json: Value = serde_json::from_slice(&bff_core::value::to_json(identity)).unwrap();
        let sub = json["sub"].as_str().unwrap_or_default().to_owned();
        if config.blocked.contains(&sub) {
            return Err(Problem::forbidden(format!("`{sub}` is blocked")));
        }
        let mut json = json;
        json["tenant"] = json!(format!("{}{sub}", config.prefix));
        if sub == "alice" {
            json["tier"] = json!("gold");
        }
        *identity = bff_core::value::parse(json.to_string().as_bytes()).unwrap();
        Ok(())
    }

    fn call(&self, _: &TenantConfig, call: &CallRequest<'_>, headers: &mut HeaderMap) {
        let identity: Value =
            serde_json::from_slice(&bff_core::value::to_json(call.identity)).unwrap();
        if let Some(tenant) = identity["tenant"].as_str() {
            headers.insert("x-tenant", tenant.parse().unwrap());
        }
        let kind = if call.call.is_some() {
            "composed"
        } else {
            "pass-through"
        };
        headers.insert("x-kind", kind.parse().unwrap());
    }
}

/// Answers with the tenant header it got, kept 60 s by any cache (no
/// `private`): only a cache key holding `x-tenant` keeps callers apart.
async fn upstream() -> String {
    let who = |headers: HeaderMap| async move {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        (
            [("cache-control", "max-age=60")],
            axum::Json(json!({
                "tenant": h("x-tenant"),
                "kind": h("x-kind"),
                "forwarded": h("x-tenant-claim"),
            })),
        )
    };
    serve(
        Router::new()
            .route("/who", get(who))
            .route("/api/who", get(who)),
    )
    .await
}

fn specs(up: &str, extensions: &str) -> SpecDir {
    SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", cache: {{}} }}\n\
         auth:\n  user:\n    jwt:\n      keys: [ {{ alg: HS256, secret: \"{SECRET}\" }} ]\n    forward: {{ x-tenant-claim: tenant }}\n\
         proxy:\n  - {{ prefix: /api, service: s, auth: user }}\n\
         {extensions}"
    ))
    .endpoint(
        "me",
        "endpoint: GET /v1/me\nauth: user\ncalls:\n  who: { service: s, get: /who }\n\
         respond:\n  jq: '{tenant: .who.tenant, kind: .who.kind, claim: .auth.tenant, forwarded: .who.forwarded}'\n",
    )
    .endpoint(
        "gold",
        "endpoint: GET /v1/gold\nauth: user\nrequire: { tiers: [gold] }\n\
         calls:\n  who: { service: s, get: /who }\n",
    )
}

async fn get_as(url: &str, sub: &str) -> (StatusCode, Value) {
    let token = hs256(SECRET, json!({ "sub": sub }));
    let r = client().get(url).bearer_auth(token).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_identity_and_call_hooks_see_every_request_and_keep_callers_apart_in_the_cache() {
    let up = upstream().await;
    let dir = specs(&up, "extensions:\n  prefix: \"t-\"\n  blocked: [mallory]\n");
    let base = gateway_with(dir.path(), Tenants).await;

    // Composed: the claim the identity hook added is what templates and
    // jq see, and the header the call hook added reaches the service.
    for _ in 0..2 {
        for sub in ["alice", "bob"] {
            let (status, body) = get_as(&format!("{base}/v1/me"), sub).await;
            assert_eq!(status, 200, "{body}");
            let want = format!("t-{sub}");
            assert_eq!(body["claim"], want.as_str(), "{body}");
            assert_eq!(
                body["tenant"],
                want.as_str(),
                "{sub} got another tenant's answer: {body}"
            );
            assert_eq!(body["kind"], "composed");
            assert_eq!(
                body["forwarded"],
                want.as_str(),
                "forward sees the claim: {body}"
            );
        }
    }
    // `require` sees the claims the hook added: only alice got a tier.
    assert_eq!(get_as(&format!("{base}/v1/gold"), "alice").await.0, 200);
    assert_eq!(get_as(&format!("{base}/v1/gold"), "bob").await.0, 403);
    // Pass-through: the same hooks, the same separation in the cache.
    for _ in 0..2 {
        for sub in ["alice", "bob"] {
            let (status, body) = get_as(&format!("{base}/api/who"), sub).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["tenant"], format!("t-{sub}").as_str(), "{body}");
            assert_eq!(body["kind"], "pass-through");
        }
    }
    // A refusal of the identity hook is the problem it returned, on both
    // route kinds.
    for path in ["/v1/me", "/api/who"] {
        let token = hs256(SECRET, json!({ "sub": "mallory" }));
        let r = client()
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["detail"], "`mallory` is blocked");
    }
}

#[tokio::test]
async fn settings_the_extension_refuses_are_a_located_load_error() {
    let up = upstream().await;
    // A missing field, a misspelt key, a wrong type: each at its line.
    for (extensions, line, says) in [
        ("extensions:\n  blocked: [x]\n", 11, "prefix"),
        ("extensions:\n  prefix: a\n  blockd: [x]\n", 12, "blockd"),
        ("extensions:\n  prefix: a\n  blocked: 3\n", 12, "sequence"),
    ] {
        let dir = specs(&up, extensions);
        let plan = bff_core::plan::load(dir.path()).unwrap_or_else(|d| panic!("{d}"));
        let Err(errors) = bff_core::Gateway::from_plan(plan, Tenants) else {
            panic!("{extensions} was accepted");
        };
        let text = errors.to_string();
        assert!(
            text.contains(&format!("bff.yaml:{line}:")) && text.contains(says),
            "{extensions}: {text}"
        );
    }
    // An extension without settings refuses any.
    let dir = specs(&up, "extensions:\n  anything: 1\n");
    let plan = bff_core::plan::load(dir.path()).unwrap();
    let text = bff_core::Gateway::from_plan(plan, bff_core::NoExtension)
        .err()
        .expect("NoExtension took settings")
        .to_string();
    assert!(
        text.contains("bff.yaml:11:") && text.contains("anything"),
        "{text}"
    );
}

/// bff-web's CORS origins: from `extensions.cors.origins` when set,
/// otherwise the extension's default (`BFF_WEB_CORS_ORIGINS`).
#[tokio::test]
async fn bff_web_takes_its_cors_origins_from_bff_yaml_before_its_default() {
    let up = upstream().await;
    let allowed = |base: String, origin: &'static str| async move {
        let r = client()
            .get(format!("{base}/api/who"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let default = bff_web::WebExtension::new(["https://default.example"]);

    let listed = specs(
        &up,
        "extensions:\n  cors:\n    origins: [\"https://shop.example\", \"${EXT_TEST_UNSET:-https://a.example,https://b.example}\"]\n",
    );
    let base = gateway_with(listed.path(), default.clone()).await;
    for origin in [
        "https://shop.example",
        "https://a.example",
        "https://b.example",
    ] {
        assert_eq!(allowed(base.clone(), origin).await.as_deref(), Some(origin));
    }
    assert_eq!(allowed(base.clone(), "https://default.example").await, None);

    let unset = specs(&up, "");
    let base = gateway_with(unset.path(), default.clone()).await;
    assert_eq!(
        allowed(base.clone(), "https://default.example")
            .await
            .as_deref(),
        Some("https://default.example")
    );
    assert_eq!(allowed(base, "https://shop.example").await, None);

    // An origin a browser never sends is refused where it is written.
    let bad = specs(
        &up,
        "extensions:\n  cors:\n    origins: [\"https://shop.example/\"]\n",
    );
    let plan = bff_core::plan::load(bad.path()).unwrap();
    let text = bff_core::Gateway::from_plan(plan, default)
        .err()
        .expect("a path in an origin was accepted")
        .to_string();
    assert!(
        text.contains("bff.yaml:12:") && text.contains("no path"),
        "{text}"
    );
}

/// The real binary: `validate` and start-up refuse bad settings with
/// their location, and a reload with bad settings keeps the last good.
#[tokio::test]
async fn bff_web_refuses_bad_settings_at_start_and_on_reload_keeps_the_last_good() {
    let up = upstream().await;
    let admin_port = free_port();
    let admin = format!(
        "admin: {{ listen: \"127.0.0.1:{admin_port}\", token: tok }}\nreload: {{ watch: false }}\n"
    );
    let good = format!("{admin}extensions:\n  cors:\n    origins: [\"https://shop.example\"]\n");
    let bad = format!("{admin}extensions:\n  cors:\n    origins: [\"*\"]\n");

    let dir = specs(&up, &bad);
    let out = std::process::Command::new(bff_tests::process::binary("bff-web"))
        .args(["validate", "--specs"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("bff.yaml:14:") && stderr.contains("credentials"),
        "{stderr}"
    );

    let dir = specs(&up, &good);
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let cors = |origin: &'static str| {
        let url = format!("{}/api/who", bff.url());
        async move {
            let r = client()
                .get(url)
                .header("origin", origin)
                .send()
                .await
                .unwrap();
            r.headers().contains_key("access-control-allow-origin")
        }
    };
    assert!(cors("https://shop.example").await);
    std::fs::write(dir.path().join("bff.yaml"), specs_text(&up, &bad)).unwrap();
    let r = client()
        .post(format!("http://127.0.0.1:{admin_port}/reload"))
        .bearer_auth("tok")
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["errors"][0]
            .as_str()
            .unwrap()
            .contains("bff.yaml:14:"),
        "{problem}"
    );
    assert!(
        cors("https://shop.example").await,
        "the last good specs serve"
    );
}

/// The `bff.yaml` text [`specs`] writes.
fn specs_text(up: &str, extensions: &str) -> String {
    std::fs::read_to_string(specs(up, extensions).path().join("bff.yaml")).unwrap()
}
