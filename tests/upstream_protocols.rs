//! How the BFF talks to upstreams: HTTP/2 with prior knowledge (h2c), and
//! HTTPS with the service's own CA, where ALPN picks HTTP/2.

use std::future::pending;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use bff_core::config::{ClientCertMode, Limits, TlsConfig};
use bff_tests::{SpecDir, client, gateway, serve};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::{Value, json};

fn version_app() -> Router {
    Router::new().route(
        "/v",
        get(|req: Request| async move {
            axum::Json(json!({ "version": format!("{:?}", req.version()) }))
        }),
    )
}

const CALL: &str =
    "endpoint: GET /v1/v\ncalls:\n  v: { service: s, get: /v }\nrespond:\n  jq: .v.version\n";

async fn version_seen(gw: &str) -> Value {
    let r = client().get(format!("{gw}/v1/v")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn http2_with_prior_knowledge_reaches_an_h2c_upstream() {
    let up = serve(version_app()).await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\", http2: true }}\n  plain: {{ url: \"{up}\" }}\n"
    ))
    .endpoint("v", CALL)
    .endpoint(
        "plain",
        "endpoint: GET /v1/plain\ncalls:\n  v: { service: plain, get: /v }\nrespond:\n  jq: .v.version\n",
    );
    let gw = gateway(dir.path()).await;
    assert_eq!(version_seen(&gw).await, "HTTP/2.0");
    let plain: Value = client()
        .get(format!("{gw}/v1/plain"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(plain, "HTTP/1.1");
}

#[tokio::test]
async fn https_upstreams_are_verified_with_the_services_own_ca() {
    // A private CA and a certificate for 127.0.0.1 signed by it.
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "internal CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let certs = tempfile::tempdir().unwrap();
    std::fs::write(certs.path().join("up.pem"), cert.pem()).unwrap();
    std::fs::write(certs.path().join("up-key.pem"), key.serialize_pem()).unwrap();
    let tls = bff_core::testing::server_config(
        &TlsConfig {
            cert: "up.pem".into(),
            key: "up-key.pem".into(),
            client_ca: None,
            client_cert: ClientCertMode::Required,
        },
        certs.path(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let limits = Limits::default();
        bff_core::testing::serve(listener, version_app(), &limits, Some(tls), pending()).await
    });

    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"https://{addr}\", ca: internal-ca.pem, connect_timeout: 1s }}\n  \
         untrusted: {{ url: \"https://{addr}\" }}\n"
    ))
    .endpoint("v", CALL)
    .endpoint(
        "untrusted",
        "endpoint: GET /v1/untrusted\ncalls:\n  v: { service: untrusted, get: /v }\nrespond:\n  jq: .v.version\n",
    );
    std::fs::write(dir.path().join("internal-ca.pem"), ca.pem()).unwrap();
    let gw = gateway(dir.path()).await;
    // ALPN offers HTTP/2 and the upstream takes it.
    assert_eq!(version_seen(&gw).await, "HTTP/2.0");
    // Without the CA the certificate is not trusted: the call fails.
    let r = client()
        .get(format!("{gw}/v1/untrusted"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
}
