//! API keys end to end: keys made by the CLI, only hashes on disk, checked
//! by a real gateway.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use bff_tests::process::run;
use bff_tests::*;
use serde_json::{Value, json};

/// Creates a key with the real CLI; returns the printed key.
fn create_key(keys: &std::path::Path, owner: &str, extra: &[&str]) -> String {
    let keys = keys.to_str().unwrap();
    let mut args = vec!["apikey", "create", "--keys", keys, "--owner", owner];
    args.extend_from_slice(extra);
    let out = run("bff-partner", &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

async fn setup() -> (String, SpecDir, String, String) {
    let up = serve(Router::new().route(
        "/echo",
        get(|h: HeaderMap| async move {
            axum::Json(json!({"partner": h.get("x-partner").and_then(|v| v.to_str().ok())}))
        }),
    ))
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nauth:\n  partner:\n    api_key: {{ keys: keys.yaml }}\n    forward: {{ x-partner: sub }}\n"
    ))
    .endpoint(
        "catalog",
        "endpoint: GET /v1/catalog\nauth: partner\nrequire: { scopes: [catalog:read] }\ncalls:\n  e: { service: s, get: /echo }\nrespond:\n  jq: '{who: .auth.sub, tier: .auth.tier, seen: .e.partner}'\n",
    );
    let keys = dir.path().join("keys.yaml");
    let gold = create_key(
        &keys,
        "acme",
        &["--tier", "gold", "--scope", "catalog:read"],
    );
    let limited = create_key(&keys, "globex", &["--scope", "orders:read"]);
    let gw = gateway(dir.path()).await;
    (gw, dir, gold, limited)
}

async fn call(gw: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = client().get(format!("{gw}/v1/catalog"));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_created_key_is_accepted_and_only_its_hash_is_stored() {
    let (gw, dir, gold, _) = setup().await;
    assert!(gold.starts_with("bff_"), "{gold}");
    let stored = std::fs::read_to_string(dir.path().join("keys.yaml")).unwrap();
    assert!(!stored.contains(&gold), "the key itself is never written");
    assert!(stored.contains("sha256:"));

    let (status, body) = call(&gw, Some(&gold)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"who": "acme", "tier": "gold", "seen": "acme"}));
}

#[tokio::test]
async fn bad_keys_are_refused() {
    let (gw, _dir, gold, limited) = setup().await;
    // The challenge names the scheme and where the key goes.
    let r = client()
        .get(format!("{gw}/v1/catalog"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "ApiKey header=\"x-api-key\""
    );
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("API key in the `x-api-key` header"),
        "{body}"
    );
    assert_eq!(call(&gw, Some("not-a-key")).await.0, 401);
    // One character changed: the checksum no longer matches.
    let mut typo = gold.clone().into_bytes();
    typo[10] = if typo[10] == b'x' { b'y' } else { b'x' };
    let (status, body) = call(&gw, Some(std::str::from_utf8(&typo).unwrap())).await;
    assert_eq!(status, 401);
    assert!(
        body["detail"].as_str().unwrap().contains("malformed"),
        "{body}"
    );
    // Well-formed key that was never issued.
    let (forged, _) = bff_core::testing::generate("mallory", None, vec![]);
    assert_eq!(call(&gw, Some(&forged)).await.0, 401);
    // Issued, but without the scope the endpoint requires.
    assert_eq!(call(&gw, Some(&limited)).await.0, 403);
}

#[tokio::test]
async fn a_revoked_key_is_refused_after_reload() {
    let (_gw, dir, gold, _) = setup().await;
    let id = bff_core::testing::parse(&gold).unwrap().to_owned();
    let keys = dir.path().join("keys.yaml");
    let out = run(
        "bff-partner",
        &[
            "apikey",
            "revoke",
            "--keys",
            keys.to_str().unwrap(),
            "--id",
            &id,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gw = gateway(dir.path()).await;
    assert_eq!(call(&gw, Some(&gold)).await.0, 401);
}
