//! JWT authentication at the edge: real tokens signed by real keys, checked
//! by a real gateway in front of a real upstream.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use bff_tests::*;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

fn keys_dir() -> std::path::PathBuf {
    workspace_root().join("tests/fixtures/keys")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(alg: Algorithm, key_file: &str, claims: &Value) -> String {
    bff_tests::jwt::signed(alg, key_file, None, claims)
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": "https://issuer.test", "aud": "shop", "exp": now() + 600, "scope": "orders:read"})
}

/// A gateway whose `GET /v1/me` needs a token and calls `/users/{sub}`.
async fn setup() -> (String, SpecDir) {
    let up = serve(
        Router::new()
            .route(
                "/users/{id}",
                get(|Path(id): Path<String>| async move { axum::Json(json!({"id": id})) }),
            )
            .route("/open/{*rest}", get(|| async { "open" })),
    )
    .await;
    let keys = keys_dir();
    let bff = format!(
        r#"
services:
  users: {{ url: "{up}" }}
auth:
  user:
    jwt:
      issuer: https://issuer.test
      audience: shop
      keys:
        - {{ alg: RS256, pem: "{rs}" }}
        - {{ alg: ES256, pem: "{es}" }}
        - {{ alg: EdDSA, pem: "{ed}" }}
proxy:
  - {{ prefix: /api, service: users, rewrite: /open, auth: user }}
"#,
        rs = keys.join("rs256.pub.pem").display(),
        es = keys.join("es256.pub.pem").display(),
        ed = keys.join("ed25519.pub.pem").display(),
    );
    let dir = SpecDir::new(&bff).endpoint(
        "me",
        r#"
endpoint: GET /v1/me
auth: user
calls:
  me: { service: users, get: "/users/{{ auth.sub }}" }
respond:
  jq: '{id: .me.id, scope: .auth.scope}'
"#,
    );
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

async fn get_me(gw: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = client().get(format!("{gw}/v1/me"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn identity_from_a_valid_token_reaches_templates_and_jq() {
    let (gw, _dir) = setup().await;
    for (alg, key) in [
        (Algorithm::RS256, "rs256.key.pem"),
        (Algorithm::ES256, "es256.key.pem"),
        (Algorithm::EdDSA, "ed25519.key.pem"),
    ] {
        let token = sign(alg, key, &claims("u-1001"));
        let r = get_me(&gw, Some(&token)).await;
        assert_eq!(r.status(), 200, "{alg:?}");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"id": "u-1001", "scope": "orders:read"})
        );
    }
}

#[tokio::test]
async fn missing_token_is_a_401_challenge() {
    let (gw, _dir) = setup().await;
    let r = get_me(&gw, None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
}

async fn rejected_because(gw: &str, token: &str) -> String {
    let r = get_me(gw, Some(token)).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );
    r.json::<Value>().await.unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn bad_tokens_are_refused_with_a_reason() {
    let (gw, _dir) = setup().await;
    let mut expired = claims("u-1");
    expired["exp"] = json!(now() - 3600);
    assert!(
        rejected_because(&gw, &sign(Algorithm::RS256, "rs256.key.pem", &expired))
            .await
            .contains("expired")
    );

    let mut early = claims("u-1");
    early["nbf"] = json!(now() + 3600);
    assert!(
        rejected_because(&gw, &sign(Algorithm::RS256, "rs256.key.pem", &early))
            .await
            .contains("not valid yet")
    );

    let mut other_iss = claims("u-1");
    other_iss["iss"] = json!("https://evil.test");
    assert!(
        rejected_because(&gw, &sign(Algorithm::RS256, "rs256.key.pem", &other_iss))
            .await
            .contains("issuer")
    );

    let mut other_aud = claims("u-1");
    other_aud["aud"] = json!("billing");
    assert!(
        rejected_because(&gw, &sign(Algorithm::RS256, "rs256.key.pem", &other_aud))
            .await
            .contains("audience")
    );

    let mut no_exp = claims("u-1");
    no_exp.as_object_mut().unwrap().remove("exp");
    assert!(
        rejected_because(&gw, &sign(Algorithm::RS256, "rs256.key.pem", &no_exp))
            .await
            .contains("claim")
    );

    // Signed by a key the policy does not hold: an ES256 token signed with
    // the RSA key's algorithm family is impossible, so re-sign the claims
    // of a valid token with a fresh signature byte flipped.
    let good = sign(Algorithm::RS256, "rs256.key.pem", &claims("u-1"));
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(rejected_because(&gw, &tampered).await.contains("signature"));

    assert!(
        rejected_because(&gw, "not.a.jwt")
            .await
            .contains("malformed")
    );
}

#[tokio::test]
async fn algorithm_is_pinned_by_the_key() {
    let (gw, _dir) = setup().await;
    // alg: none, unsigned.
    use base64_url as b64;
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let body = b64(claims("u-1").to_string().as_bytes());
    let none = format!("{header}.{body}.");
    assert_eq!(get_me(&gw, Some(&none)).await.status(), 401);

    // RS→HS confusion: an HS256 token whose secret is the RSA public key.
    let confused = sign(Algorithm::HS256, "rs256.pub.pem", &claims("u-1"));
    assert_eq!(get_me(&gw, Some(&confused)).await.status(), 401);
}

#[tokio::test]
async fn pass_through_routes_can_require_a_token() {
    let (gw, _dir) = setup().await;
    let r = client().get(format!("{gw}/api/x")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let token = sign(Algorithm::RS256, "rs256.key.pem", &claims("u-1"));
    let r = client()
        .get(format!("{gw}/api/x"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "open");
}

#[tokio::test]
async fn unknown_policies_and_unreadable_keys_are_load_errors() {
    let dir = SpecDir::new(
        "services:\n  s: { url: \"http://127.0.0.1:1\" }\nauth:\n  user:\n    jwt:\n      keys: [ { alg: RS256, pem: missing.pem } ]\n",
    )
    .endpoint("a", "endpoint: GET /a\nauth: admin\ncalls: {}\n");
    let errors = bff_core::plan::load(dir.path()).err().unwrap().to_string();
    assert!(
        errors.contains("auth policy `user`: cannot read key"),
        "{errors}"
    );
    assert!(errors.contains("unknown auth policy `admin`"), "{errors}");
}

/// Unpadded base64url, enough for hand-made token parts.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn a_session_cookie_can_carry_the_token() {
    let up = serve(Router::new().route(
        "/users/{id}",
        get(|Path(id): Path<String>| async move { axum::Json(json!({"id": id})) }),
    ))
    .await;
    let pem = keys_dir().join("rs256.pub.pem");
    let dir = SpecDir::new(&format!(
        "services:\n  users: {{ url: \"{up}\" }}\nauth:\n  session:\n    jwt:\n      cookie: session\n      keys: [ {{ alg: RS256, pem: \"{}\" }} ]\n",
        pem.display()
    ))
    .endpoint("me", "endpoint: GET /v1/me\nauth: session\ncalls:\n  me: { service: users, get: \"/users/{{ auth.sub }}\" }\n");
    let gw = gateway(dir.path()).await;
    let token = sign(Algorithm::RS256, "rs256.key.pem", &claims("u-5"));
    let r = client()
        .get(format!("{gw}/v1/me"))
        .header("cookie", format!("theme=dark; session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["me"]["id"], "u-5");
    let r = client()
        .get(format!("{gw}/v1/me"))
        .header("cookie", "theme=dark")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn several_issuers_each_with_their_own_keys() {
    let up = serve(Router::new().route(
        "/users/{id}",
        get(|Path(id): Path<String>| async move { axum::Json(json!({"id": id})) }),
    ))
    .await;
    let keys = keys_dir();
    let dir = SpecDir::new(&format!(
        r#"
services:
  users: {{ url: "{up}" }}
auth:
  user:
    jwt:
      - {{ issuer: https://staff.test, keys: [ {{ alg: RS256, pem: "{rs}" }} ] }}
      - {{ issuer: https://customers.test, keys: [ {{ alg: ES256, pem: "{es}" }} ] }}
"#,
        rs = keys.join("rs256.pub.pem").display(),
        es = keys.join("es256.pub.pem").display(),
    ))
    .endpoint("me", "endpoint: GET /v1/me\nauth: user\ncalls:\n  me: { service: users, get: \"/users/{{ auth.sub }}\" }\n");
    let gw = gateway(dir.path()).await;
    let with = |iss: &str, sub: &str| json!({"sub": sub, "iss": iss, "exp": now() + 600});
    let status = |token: String| {
        let gw = gw.clone();
        async move {
            client()
                .get(format!("{gw}/v1/me"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status(sign(
            Algorithm::RS256,
            "rs256.key.pem",
            &with("https://staff.test", "s-1")
        ))
        .await,
        200
    );
    assert_eq!(
        status(sign(
            Algorithm::ES256,
            "es256.key.pem",
            &with("https://customers.test", "c-1")
        ))
        .await,
        200
    );
    // Each issuer's keys only: a staff-key token claiming to be a customer's.
    assert_eq!(
        status(sign(
            Algorithm::RS256,
            "rs256.key.pem",
            &with("https://customers.test", "c-2")
        ))
        .await,
        401
    );
    assert_eq!(
        status(sign(
            Algorithm::RS256,
            "rs256.key.pem",
            &with("https://evil.test", "x")
        ))
        .await,
        401
    );
}

/// A gateway checking tokens with no clock skew allowed, on a composed
/// endpoint and a pass-through route that both answer with the identity.
async fn strict_clock() -> (String, SpecDir) {
    let up = serve(
        Router::new()
            .route(
                "/users/{id}",
                get(|Path(id): Path<String>| async move { axum::Json(json!({"id": id})) }),
            )
            .route(
                "/api/whoami",
                get(|h: axum::http::HeaderMap| async move {
                    h.get("x-user-id")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                }),
            ),
    )
    .await;
    let bff = format!(
        r#"
services:
  users: {{ url: "{up}" }}
auth:
  user:
    jwt:
      leeway: 0s
      keys: [ {{ alg: RS256, pem: "{rs}" }} ]
    forward: {{ x-user-id: sub }}
proxy:
  - {{ prefix: /api, service: users, auth: user }}
"#,
        rs = keys_dir().join("rs256.pub.pem").display(),
    );
    let dir = SpecDir::new(&bff).endpoint(
        "me",
        "endpoint: GET /v1/me\nauth: user\ncalls:\n  me: { service: users, get: \"/users/{{ auth.sub }}\" }\nrespond:\n  jq: '{id: .me.id}'\n",
    );
    let gw = gateway(dir.path()).await;
    (gw, dir)
}

/// `GET /api/whoami` on the pass-through route: the identity it forwarded.
async fn whoami(gw: &str, token: &str) -> reqwest::Response {
    client()
        .get(format!("{gw}/api/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_accepted_before_is_refused_once_it_expires() {
    let (gw, _dir) = strict_clock().await;
    // Expiring at the next second but one: accepted now, several times
    // (the later uses are answered from what the first verification found).
    let exp = now() + 2;
    let token = sign(
        Algorithm::RS256,
        "rs256.key.pem",
        &json!({"sub": "alice", "exp": exp}),
    );
    for _ in 0..3 {
        assert_eq!(get_me(&gw, Some(&token)).await.status(), 200);
        let r = whoami(&gw, &token).await;
        assert_eq!(r.text().await.unwrap(), "alice");
    }
    while now() <= exp {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = get_me(&gw, Some(&token)).await;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("expired")
    );
    let r = whoami(&gw, &token).await;
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_token_not_yet_valid_stays_refused_however_often_it_comes() {
    let (gw, _dir) = strict_clock().await;
    let early = sign(
        Algorithm::RS256,
        "rs256.key.pem",
        &json!({"sub": "alice", "exp": now() + 600, "nbf": now() + 300}),
    );
    for _ in 0..3 {
        assert_eq!(get_me(&gw, Some(&early)).await.status(), 401);
        assert_eq!(whoami(&gw, &early).await.status(), 401);
    }
}

#[tokio::test]
async fn callers_seen_before_each_keep_their_own_identity() {
    let (gw, _dir) = strict_clock().await;
    let token = |sub: &str| {
        sign(
            Algorithm::RS256,
            "rs256.key.pem",
            &json!({"sub": sub, "exp": now() + 600}),
        )
    };
    let (alice, bob) = (token("alice"), token("bob"));
    for _ in 0..3 {
        for (t, who) in [(&alice, "alice"), (&bob, "bob")] {
            let me: Value = get_me(&gw, Some(t)).await.json().await.unwrap();
            assert_eq!(me, json!({"id": who}));
            let r = whoami(&gw, t).await;
            assert_eq!(r.text().await.unwrap(), who);
        }
    }
    // A token altered after it was accepted is a token never seen.
    let mut forged = alice.clone().into_bytes();
    let i = forged.len() - 20;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(get_me(&gw, Some(&forged)).await.status(), 401);
}

#[tokio::test]
async fn a_reload_that_changes_the_keys_refuses_tokens_accepted_before() {
    let up = serve(Router::new().route(
        "/users/{id}",
        get(|Path(id): Path<String>| async move { axum::Json(json!({"id": id})) }),
    ))
    .await;
    let admin_port = bff_tests::process::free_port();
    let bff = |key: &str| {
        format!(
            "services:\n  users: {{ url: \"{up}\" }}\n\
             admin: {{ listen: \"127.0.0.1:{admin_port}\", token: \"t0ken\" }}\n\
             auth:\n  user:\n    jwt:\n      keys: [ {{ alg: RS256, pem: \"{}\" }} ]\n",
            keys_dir().join(key).display()
        )
    };
    let dir = SpecDir::new(&bff("rs256.pub.pem")).endpoint(
        "me",
        "endpoint: GET /v1/me\nauth: user\ncalls:\n  me: { service: users, get: \"/users/{{ auth.sub }}\" }\n",
    );
    let process = bff_tests::process::BffProcess::start("bff-web", dir.path(), &[]);
    let gw = process.url();
    let old = sign(
        Algorithm::RS256,
        "rs256.key.pem",
        &json!({"sub": "alice", "exp": now() + 600}),
    );
    for _ in 0..2 {
        assert_eq!(get_me(&gw, Some(&old)).await.status(), 200);
    }
    // The issuer's key is replaced: after the reload only the new one verifies.
    std::fs::write(dir.path().join("bff.yaml"), bff("rs256-next.pub.pem")).unwrap();
    let reloaded = client()
        .post(format!("http://127.0.0.1:{admin_port}/reload"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200, "{}", reloaded.text().await.unwrap());
    assert_eq!(get_me(&gw, Some(&old)).await.status(), 401);
    let new = sign(
        Algorithm::RS256,
        "rs256-next.key.pem",
        &json!({"sub": "alice", "exp": now() + 600}),
    );
    assert_eq!(get_me(&gw, Some(&new)).await.status(), 200);
}
