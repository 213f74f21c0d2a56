//! Answers compressed as the client accepts (gzip, br, zstd) above a size,
//! and never twice.

use std::io::Read;

use axum::Router;
use axum::routing::get;
use bff_tests::{SpecDir, client, gateway, serve};
use serde_json::{Value, json};

fn big() -> Value {
    json!({ "items": (0..200).map(|i| json!({ "id": i, "name": format!("item {i}") })).collect::<Vec<_>>() })
}

async fn setup() -> String {
    let up = serve(
        Router::new()
            .route("/big", get(|| async { axum::Json(big()) }))
            .route(
                "/small",
                get(|| async { axum::Json(json!({ "ok": true })) }),
            )
            .route(
                "/gz",
                get(|| async {
                    let mut e =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    std::io::Write::write_all(&mut e, &vec![b'x'; 5000]).unwrap();
                    (
                        [("content-encoding", "gzip"), ("content-type", "text/plain")],
                        e.finish().unwrap(),
                    )
                }),
            ),
    )
    .await;
    let dir = SpecDir::new(&format!(
        "services:\n  s: {{ url: \"{up}\" }}\nproxy:\n  - {{ prefix: /raw, service: s, rewrite: / }}\n"
    ))
    .endpoint("big", "endpoint: GET /v1/big\ncalls:\n  b: { service: s, get: /big }\nrespond:\n  jq: .b\n")
    .endpoint("small", "endpoint: GET /v1/small\ncalls:\n  b: { service: s, get: /small }\nrespond:\n  jq: .b\n");
    gateway(dir.path()).await
}

async fn fetch(url: String, accept: Option<&str>) -> (Option<String>, Vec<u8>) {
    let mut r = client().get(url);
    if let Some(a) = accept {
        r = r.header("accept-encoding", a);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let encoding = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    (encoding, r.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn answers_are_compressed_as_accepted_above_the_threshold() {
    let gw = setup().await;
    let (none, plain) = fetch(format!("{gw}/v1/big"), None).await;
    assert_eq!(none, None);
    assert_eq!(serde_json::from_slice::<Value>(&plain).unwrap(), big());

    let (enc, gz) = fetch(format!("{gw}/v1/big"), Some("gzip")).await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, plain);
    assert!(
        gz.len() < plain.len() / 2,
        "{} vs {}",
        gz.len(),
        plain.len()
    );

    let (enc, zs) = fetch(format!("{gw}/v1/big"), Some("zstd, gzip;q=0.5")).await;
    assert_eq!(enc.as_deref(), Some("zstd"));
    assert_eq!(zstd::decode_all(&zs[..]).unwrap(), plain);

    let (enc, _) = fetch(format!("{gw}/v1/big"), Some("br")).await;
    assert_eq!(enc.as_deref(), Some("br"));

    // Small answers are not worth it.
    let (enc, _) = fetch(format!("{gw}/v1/small"), Some("gzip")).await;
    assert_eq!(enc, None);
}

#[tokio::test]
async fn an_answer_already_compressed_is_passed_on_as_it_is() {
    let gw = setup().await;
    let (enc, body) = fetch(format!("{gw}/raw/gz"), Some("br, zstd, gzip")).await;
    assert_eq!(enc.as_deref(), Some("gzip"), "not compressed twice");
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, vec![b'x'; 5000]);
}
