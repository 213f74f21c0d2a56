//! TLS termination and client-certificate (mTLS) authentication, with real
//! certificates made for each test by a throwaway CA and a real TLS client.

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use bff_tests::{SpecDir, gateway, serve};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A CA that signs server and client certificates.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self { issuer }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate and its key, both PEM.
    fn leaf(&self, params: &CertificateParams) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn server(&self) -> (String, String) {
        let mut p = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.leaf(&p)
    }

    fn client(&self, cn: &str, uri: Option<&str>) -> (String, String) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name
            .push(DnType::OrganizationName, "Partner Corp");
        if let Some(uri) = uri {
            p.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
        }
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.leaf(&p)
    }
}

/// An upstream that answers with the identity headers it received.
async fn echo() -> String {
    async fn headers(h: HeaderMap) -> axum::Json<Value> {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        axum::Json(json!({
            "subject": get("x-client-subject"),
            "proto": get("x-forwarded-proto"),
        }))
    }
    serve(Router::new().route("/echo", get(headers))).await
}

/// A TLS BFF with an `mtls` policy on `/partner` and `/v1/me`, and an open
/// `/public` route; client certificates chain to `client_ca`.
async fn tls_gateway(
    server_ca: &Ca,
    client_ca: &Ca,
    mode: &str,
    subject: &str,
) -> (String, SpecDir) {
    let up = echo().await;
    let (cert, key) = server_ca.server();
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\n\
         tls:\n  cert: certs/server.pem\n  key: certs/server-key.pem\n  client_ca: certs/clients.pem\n  client_cert: {mode}\n\
         auth:\n  partner:\n    mtls: {{ subject: {subject} }}\n    forward: {{ x-client-subject: sub }}\n\
         proxy:\n\
         \x20 - {{ prefix: /partner, service: s, rewrite: /echo, auth: partner }}\n\
         \x20 - {{ prefix: /public, service: s, rewrite: /echo }}\n"
    ))
    .endpoint(
        "me",
        "endpoint: GET /v1/me\nauth: partner\ncalls:\n  ok: { service: s, get: /echo }\n\
         respond:\n  jq: '{sub: .auth.sub, cn: .auth.cert.cn, uri: .auth.cert.san_uri, issuer: .auth.cert.issuer}'\n",
    );
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("server.pem"), cert).unwrap();
    std::fs::write(certs.join("server-key.pem"), key).unwrap();
    std::fs::write(certs.join("clients.pem"), client_ca.pem()).unwrap();
    let url = gateway(dir.path()).await.replace("http://", "https://");
    (url, dir)
}

/// A client that trusts `server_ca` and presents `identity`, if any.
fn client(server_ca: &Ca, identity: Option<(String, String)>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(server_ca.pem().as_bytes()).unwrap()]);
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap());
    }
    b.build().unwrap()
}

async fn get_json(c: &reqwest::Client, url: String) -> Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_verified_client_certificate_is_the_identity_upstreams_see() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("partner CA"));
    let (url, _dir) = tls_gateway(&server_ca, &client_ca, "required", "cn").await;
    let c = client(
        &server_ca,
        Some(client_ca.client("partner-a", Some("spiffe://shop/partner-a"))),
    );

    let r = c.get(format!("{url}/partner")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // ALPN picked HTTP/2 over TLS.
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["subject"], "partner-a");
    assert_eq!(body["proto"], "https");

    let me: Value = get_json(&c, format!("{url}/v1/me")).await;
    assert_eq!(me["sub"], "partner-a");
    assert_eq!(me["cn"], "partner-a");
    assert_eq!(me["uri"], json!(["spiffe://shop/partner-a"]));
    assert!(
        me["issuer"].as_str().unwrap().contains("partner CA"),
        "{me}"
    );
}

#[tokio::test]
async fn a_client_spoofing_the_identity_header_over_tls_is_overridden() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("partner CA"));
    let (url, _dir) = tls_gateway(&server_ca, &client_ca, "optional", "cn").await;
    let c = client(&server_ca, Some(client_ca.client("partner-a", None)));
    let body: Value = c
        .get(format!("{url}/partner"))
        .header("x-client-subject", "admin")
        .header("x-forwarded-proto", "http")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["subject"], "partner-a");
    assert_eq!(body["proto"], "https");

    // The open route never carries a client's claimed identity either.
    let anonymous = client(&server_ca, None);
    let body: Value = anonymous
        .get(format!("{url}/public"))
        .header("x-client-subject", "admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["subject"], Value::Null);
}

#[tokio::test]
async fn the_subject_can_come_from_a_san_uri() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("partner CA"));
    let (url, _dir) = tls_gateway(&server_ca, &client_ca, "required", "san_uri").await;
    let with_uri = client(
        &server_ca,
        Some(client_ca.client("partner-b", Some("spiffe://shop/partner-b"))),
    );
    let body: Value = get_json(&with_uri, format!("{url}/partner")).await;
    assert_eq!(body["subject"], "spiffe://shop/partner-b");

    // A valid certificate without the configured field names nobody: 401.
    let without = client(&server_ca, Some(client_ca.client("partner-c", None)));
    let r = without.get(format!("{url}/partner")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no URI subject alternative name"),
        "{problem}"
    );
}

#[tokio::test]
async fn with_optional_client_certificates_mtls_routes_answer_401_and_open_ones_serve() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("partner CA"));
    let (url, _dir) = tls_gateway(&server_ca, &client_ca, "optional", "cn").await;
    let anonymous = client(&server_ca, None);

    let r = anonymous
        .get(format!("{url}/partner"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["status"], 401);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("needs a TLS client certificate"),
        "{problem}"
    );

    let r = anonymous.get(format!("{url}/public")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_handshake_refuses_missing_foreign_and_expired_client_certificates() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("partner CA"));
    let (url, _dir) = tls_gateway(&server_ca, &client_ca, "required", "cn").await;

    let refused = |c: reqwest::Client| {
        let url = format!("{url}/public");
        async move {
            let r = c.get(url).send().await;
            assert!(r.is_err(), "expected the handshake to fail, got {r:?}");
        }
    };
    // None at all, with `client_cert: required`.
    refused(client(&server_ca, None)).await;
    // One from a CA the BFF does not trust.
    let stranger = Ca::new("someone else's CA");
    refused(client(&server_ca, Some(stranger.client("partner-a", None)))).await;
    // One past its validity.
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "partner-a");
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    refused(client(&server_ca, Some(client_ca.leaf(&p)))).await;

    // And the good one still gets in.
    let ok = client(&server_ca, Some(client_ca.client("partner-a", None)));
    let r = ok.get(format!("{url}/public")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn plain_http_to_a_tls_listener_gets_nothing_served() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("partner CA"));
    let (url, _dir) = tls_gateway(&server_ca, &client_ca, "optional", "cn").await;
    let plain = url.replace("https://", "http://");
    let r = bff_tests::client()
        .get(format!("{plain}/public"))
        .send()
        .await;
    assert!(
        r.is_err() || !r.unwrap().status().is_success(),
        "plain HTTP must not be served on a TLS listener"
    );
}

#[test]
fn an_mtls_policy_without_client_verification_is_a_located_load_error() {
    let dir = SpecDir::new(
        "services:\n  s: { url: \"http://127.0.0.1:9\" }\nauth:\n  partner:\n    mtls: { subject: cn }\n",
    );
    let errors = bff_core::plan::load(dir.path()).err().unwrap().to_string();
    assert!(errors.contains("needs `tls:` with `client_ca`"), "{errors}");
    assert!(errors.contains("bff.yaml:5:"), "{errors}");
}

#[test]
fn unreadable_certificate_files_are_load_errors_naming_the_file() {
    let dir = SpecDir::new(
        "services:\n  s: { url: \"http://127.0.0.1:9\" }\ntls:\n  cert: missing.pem\n  key: missing-key.pem\n",
    );
    let errors = bff_core::plan::load(dir.path()).err().unwrap().to_string();
    assert!(errors.contains("missing.pem"), "{errors}");
    assert!(errors.contains("bff.yaml:4:"), "{errors}");
}

/// An HTTP/1.1 TLS connection left idle long enough to be parked keeps
/// serving, with its client certificate still the caller's identity.
#[tokio::test]
async fn an_idle_tls_connection_serves_again_with_its_certificate() {
    let (server_ca, client_ca) = (Ca::new("server CA"), Ca::new("partner CA"));
    let (url, _dir) = tls_gateway(&server_ca, &client_ca, "required", "cn").await;
    let (cert, key) = client_ca.client("partner-b", None);
    let c = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .timeout(std::time::Duration::from_secs(5))
        .tls_certs_only([reqwest::Certificate::from_pem(server_ca.pem().as_bytes()).unwrap()])
        .identity(reqwest::Identity::from_pem(format!("{cert}{key}").as_bytes()).unwrap())
        .build()
        .unwrap();
    for i in 0..3 {
        let r = c.get(format!("{url}/partner")).send().await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_11);
        assert_eq!(r.status(), StatusCode::OK, "request {i}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["subject"], "partner-b", "request {i}");
        let me = get_json(&c, format!("{url}/v1/me")).await;
        assert_eq!(me["sub"], "partner-b", "request {i}");
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    }
}

/// A connection that never starts its TLS handshake is closed once the
/// header read timeout has passed, as a plain one that sends nothing is.
#[tokio::test]
async fn a_connection_that_never_starts_its_handshake_is_closed_in_time() {
    use tokio::io::AsyncReadExt;
    let ca = Ca::new("server CA");
    let (cert, key) = ca.server();
    let dir = SpecDir::new(
        "services:\n  s: { url: \"http://127.0.0.1:9\" }\n\
         tls: { cert: certs/server.pem, key: certs/server-key.pem }\n\
         limits: { header_read_timeout: 300ms }\n",
    );
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("server.pem"), cert).unwrap();
    std::fs::write(certs.join("server-key.pem"), key).unwrap();
    let url = gateway(dir.path()).await;
    let mut s = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(std::time::Duration::from_secs(3), s.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "still open after {:?}: {read:?}",
        started.elapsed()
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
}
