//! Tokens from an independent JWT implementation (PyJWT), so the gateway's
//! checks are not only tested against the library that implements them.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::get;
use bff_tests::*;
use serde_json::{Value, json};

/// Signs `claims` with PyJWT; `tests/run` installs it.
fn pyjwt(alg: &str, key_file: &str, claims: &Value, kid: Option<&str>) -> String {
    let key = workspace_root().join("tests/fixtures/keys").join(key_file);
    let script = r#"
import base64, hashlib, hmac, json, sys, jwt
alg, key_path, claims, kid = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
headers = {"kid": kid} if kid else None
key = open(key_path).read()
if alg == "HS256" and "PUBLIC KEY" in key:
    # PyJWT refuses to key HMAC with a public key; an attacker would not.
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    signing = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    sig = hmac.new(key.encode(), signing.encode(), hashlib.sha256).digest()
    print(signing + "." + b64(sig))
else:
    print(jwt.encode(claims, key, algorithm=alg, headers=headers))
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            alg,
            key.to_str().unwrap(),
            &claims.to_string(),
            kid.unwrap_or(""),
        ])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "PyJWT failed (is it installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn claims(exp_offset: i64) -> Value {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    json!({"sub": "py-1", "iss": "https://issuer.test", "aud": "shop", "exp": now + exp_offset})
}

#[tokio::test]
async fn tokens_signed_by_pyjwt_are_checked_alike() {
    let up =
        serve(Router::new().route("/ok", get(|| async { axum::Json(json!({"ok": true})) }))).await;
    let keys = workspace_root().join("tests/fixtures/keys");
    let dir = SpecDir::new(&format!(
        r#"
services:
  s: {{ url: "{up}" }}
auth:
  user:
    jwt:
      issuer: https://issuer.test
      audience: shop
      keys:
        - {{ alg: RS256, pem: "{rs}" }}
        - {{ alg: PS256, pem: "{rs}" }}
        - {{ alg: ES256, pem: "{es}" }}
        - {{ alg: EdDSA, pem: "{ed}" }}
"#,
        rs = keys.join("rs256.pub.pem").display(),
        es = keys.join("es256.pub.pem").display(),
        ed = keys.join("ed25519.pub.pem").display(),
    ))
    .endpoint("me", "endpoint: GET /v1/me\nauth: user\ncalls:\n  ok: { service: s, get: /ok }\nrespond:\n  jq: '{sub: .auth.sub}'\n");
    let gw = gateway(dir.path()).await;
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
    for (alg, key) in [
        ("RS256", "rs256.key.pem"),
        ("PS256", "rs256.key.pem"),
        ("ES256", "es256.key.pem"),
        ("EdDSA", "ed25519.key.pem"),
    ] {
        assert_eq!(
            status(pyjwt(alg, key, &claims(600), None)).await,
            200,
            "{alg}"
        );
    }
    assert_eq!(
        status(pyjwt("RS256", "rs256.key.pem", &claims(-3600), None)).await,
        401,
        "expired"
    );
    // Key confusion attempt: HS256 keyed with the RSA public key's PEM text.
    assert_eq!(
        status(pyjwt("HS256", "rs256.pub.pem", &claims(600), None)).await,
        401,
        "RS→HS"
    );
    // A kid the policy has no key for, signed by a key it does not hold.
    assert_eq!(
        status(pyjwt(
            "RS256",
            "rs256-next.key.pem",
            &claims(600),
            Some("other")
        ))
        .await,
        401
    );
}
