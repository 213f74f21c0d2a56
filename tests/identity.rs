//! Identity at the edge: what a verified caller may do (403 otherwise), how
//! the identity reaches upstreams, and that clients cannot forge it.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{any, get};
use bff_tests::*;
use serde_json::{Value, json};

fn token(claims: Value) -> String {
    bff_tests::jwt::rs256(claims)
}

/// Echoes the identity-related headers the upstream received.
async fn echo(headers: HeaderMap) -> axum::Json<Value> {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    axum::Json(json!({
        "user": get("x-user-id"),
        "scopes": get("x-user-scopes"),
        "tier": get("x-user-tier"),
        "authorization": get("authorization"),
        "underscored": headers
            .keys()
            .filter(|k| k.as_str().contains('_'))
            .map(|k| k.as_str().to_owned())
            .collect::<Vec<_>>(),
    }))
}

async fn setup() -> (String, SpecDir) {
    let up = serve(
        Router::new()
            .route("/echo", get(echo))
            .route("/p/{*rest}", any(echo)),
    )
    .await;
    let pem = workspace_root().join("tests/fixtures/keys/rs256.pub.pem");
    let bff = format!(
        r#"
services:
  s: {{ url: "{up}" }}
auth:
  user:
    jwt:
      keys: [ {{ alg: RS256, pem: "{pem}" }} ]
    forward:
      x-user-id: sub
      x-user-scopes: scope
      x-user-tier: tier
  passthrough:
    jwt:
      keys: [ {{ alg: RS256, pem: "{pem}" }} ]
    forward_authorization: true
proxy:
  - {{ prefix: /api, service: s, rewrite: /p, auth: user, require: {{ scopes: [orders:read] }} }}
  - {{ prefix: /raw, service: s, rewrite: /p, auth: passthrough }}
  - {{ prefix: /open, service: s, rewrite: /p }}
"#,
        pem = pem.display()
    );
    let dir = SpecDir::new(&bff)
        .endpoint(
            "orders",
            "endpoint: GET /v1/orders\nauth: user\nrequire: { scopes: [orders:read], tiers: [gold, platinum] }\ncalls:\n  e: { service: s, get: /echo }\nrespond:\n  jq: .e\n",
        )
        .endpoint("public", "endpoint: GET /v1/public\ncalls:\n  e: { service: s, get: /echo }\nrespond:\n  jq: .e\n");
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

async fn get_json(url: String, token: Option<&str>, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn verified_identity_reaches_upstreams_in_headers() {
    let (gw, _dir) = setup().await;
    let t = token(json!({"sub": "u-1", "scope": "orders:read profile", "tier": "gold"}));
    let (status, body) = get_json(format!("{gw}/v1/orders"), Some(&t), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"], "u-1");
    assert_eq!(body["scopes"], "orders:read profile");
    assert_eq!(body["tier"], "gold");
    // Composed calls never carry the client's credentials.
    assert_eq!(body["authorization"], Value::Null);

    let (status, body) = get_json(format!("{gw}/api/x"), Some(&t), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"], "u-1");
    assert_eq!(
        body["authorization"],
        Value::Null,
        "a route's policy removes Authorization"
    );

    let (status, body) = get_json(format!("{gw}/raw/x"), Some(&t), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["authorization"],
        format!("Bearer {t}"),
        "unless it says to forward it"
    );
}

#[tokio::test]
async fn missing_scopes_or_tier_is_403() {
    let (gw, _dir) = setup().await;
    let no_scope = token(json!({"sub": "u-1", "scope": "profile", "tier": "gold"}));
    let (status, body) = get_json(format!("{gw}/v1/orders"), Some(&no_scope), &[]).await;
    assert_eq!(status, 403);
    assert!(
        body["detail"].as_str().unwrap().contains("orders:read"),
        "{body}"
    );
    let (status, _) = get_json(format!("{gw}/api/x"), Some(&no_scope), &[]).await;
    assert_eq!(status, 403);

    let wrong_tier = token(json!({"sub": "u-1", "scope": "orders:read", "tier": "free"}));
    let (status, body) = get_json(format!("{gw}/v1/orders"), Some(&wrong_tier), &[]).await;
    assert_eq!(status, 403);
    assert!(body["detail"].as_str().unwrap().contains("tier"), "{body}");
}

#[tokio::test]
async fn clients_cannot_forge_identity_headers() {
    let (gw, _dir) = setup().await;
    let forged = [
        ("x-user-id", "admin"),
        ("x-user-tier", "platinum"),
        ("x-user-scopes", "everything"),
    ];
    // Without any authentication: on a public endpoint and an open route.
    for url in [format!("{gw}/v1/public"), format!("{gw}/open/x")] {
        let (status, body) = get_json(url, None, &forged).await;
        assert_eq!(status, 200);
        assert_eq!(body["user"], Value::Null, "{body}");
        assert_eq!(body["tier"], Value::Null);
        assert_eq!(body["scopes"], Value::Null);
    }
    // Look-alikes that CGI- and WSGI-style services read as the same
    // header (`HTTP_X_USER_ID`) go too; other underscored headers pass.
    let look_alikes = [
        ("X_User_Id", "admin"),
        ("x_user-tier", "platinum"),
        ("x_other", "kept"),
    ];
    for url in [format!("{gw}/open/x"), format!("{gw}/raw/x")] {
        let t = token(json!({"sub": "u-3"}));
        let (status, body) = get_json(url.clone(), Some(&t), &look_alikes).await;
        assert_eq!(status, 200);
        assert_eq!(body["underscored"], json!(["x_other"]), "{url}: {body}");
    }
    // With a valid token that lacks a claim: the forged value does not fill the gap.
    let t = token(json!({"sub": "u-2", "scope": "orders:read"}));
    let (status, body) = get_json(format!("{gw}/api/x"), Some(&t), &forged).await;
    assert_eq!(status, 200);
    assert_eq!(body["user"], "u-2");
    assert_eq!(body["tier"], Value::Null);
}

#[tokio::test]
async fn require_without_auth_is_a_load_error() {
    let dir = SpecDir::new("services:\n  s: { url: \"http://127.0.0.1:1\" }\n").endpoint(
        "a",
        "endpoint: GET /a\nrequire: { scopes: [x] }\ncalls: {}\n",
    );
    let errors = bff_core::plan::load(dir.path()).err().unwrap().to_string();
    assert!(
        errors.contains("`require` needs an `auth` policy"),
        "{errors}"
    );
}
