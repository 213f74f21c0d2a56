//! Routing: unknown paths are 404 problems and wrong methods 405
//! problems with an `Allow` header.

use bff_tests::client;

use crate::harness::{get_url, send, shaping_upstream, start};

#[tokio::test]
async fn unknown_paths_and_wrong_methods_are_problems() {
    let (gw, _dir) = start(
        shaping_upstream(),
        &[(
            "raw",
            "endpoint: GET /v1/raw\ncalls:\n  alpha: { service: up, get: /a }\n",
        )],
    )
    .await;
    get_url(&format!("{gw}/v1/nope")).await.problem(404);
    let r = send(client().post(format!("{gw}/v1/raw"))).await;
    r.problem(405);
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "{:?}",
        r.headers
    );
}
