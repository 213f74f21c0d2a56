//! The binaries' command line as a user runs it: `validate`, `explain`,
//! and serving a folder whose service URLs come from the environment.

use axum::Router;
use axum::routing::get;
use bff_tests::process::{self, BffProcess};
use bff_tests::{SpecDir, client, serve};

/// Exit status of a broken spec folder (sysexits EX_USAGE).
const EXIT_CONFIG: i32 = 64;

const BFF: &str = "\
services:
  users:  { url: \"${CLI_TEST_USERS_URL:-http://127.0.0.1:9}\" }
  orders: { url: \"http://127.0.0.1:9\" }
";

/// `profile` and `orders` start at once; `summary` waits for both.
const HOME: &str = "\
endpoint: GET /v1/users/{id}/home
description: Home screen.
calls:
  profile: { service: users, get: \"/users/{{ path.id }}\" }
  orders:  { service: orders, get: \"/orders?customer={{ path.id }}\" }
  summary:
    service: orders
    get: \"/summary/{{ profile.id }}\"
    after: [orders]
respond:
  jq: '{ name: .profile.name, summary }'
";

const PROFILE: &str = "\
endpoint: GET /v1/profile/{id}
calls:
  profile: { service: users, get: \"/users/{{ path.id }}\" }
";

fn good_folder() -> SpecDir {
    SpecDir::new(BFF)
        .endpoint("home", HOME)
        .endpoint("profile", PROFILE)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(dir: &SpecDir) -> &str {
    dir.path().to_str().unwrap()
}

/// `schema` prints the binary's own `bff.yaml` schema: bff-web's describes
/// its `extensions.cors`, one without settings describes `extensions` as
/// an object without properties.
#[test]
fn schema_prints_the_binarys_bff_yaml_schema_with_its_extension_settings() {
    let out = process::run("bff-web", &["schema"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let committed =
        std::fs::read_to_string(bff_tests::workspace_root().join("schema/bff-web.schema.json"))
            .unwrap();
    assert_eq!(text(&out.stdout), committed);
    let web: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        web["properties"]["extensions"]["properties"]["cors"].is_object(),
        "{web}"
    );
    let out = process::run("bff-mobile", &["schema"]);
    let mobile: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let extensions = &mobile["properties"]["extensions"];
    assert_eq!(extensions["additionalProperties"], false, "{extensions}");
    assert!(
        extensions["properties"]
            .as_object()
            .is_none_or(|p| p.is_empty()),
        "{extensions}"
    );
}

/// `extensions:` belongs to the binary: bff-mobile and bff-partner take no
/// settings there, so any key is a located error.
#[test]
fn binaries_without_settings_refuse_any_extensions_key() {
    let dir = SpecDir::new(&format!("{BFF}extensions:\n  cors: {{ origins: [] }}\n"));
    for bin in ["bff-mobile", "bff-partner"] {
        let out = process::run(bin, &["validate", "--specs", path(&dir)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{bin}: {stderr}");
        assert!(
            stderr.contains("bff.yaml:5:") && stderr.contains("cors"),
            "{bin}: {stderr}"
        );
    }
    let out = process::run("bff-web", &["validate", "--specs", path(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn validate_accepts_a_good_folder() {
    let dir = good_folder();
    for bin in ["bff-web", "bff-mobile", "bff-partner"] {
        let out = process::run(bin, &["validate", "--specs", path(&dir)]);
        assert!(
            out.status.success(),
            "{bin}: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        assert!(
            text(&out.stdout).contains("ok (2 endpoints, 0 pass-through routes)"),
            "{bin}: {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn validate_rejects_a_broken_folder_with_every_diagnostic() {
    let dir = good_folder()
        .endpoint(
            "broken",
            "endpoint: GET /v1/broken\ncalls:\n  x: { service: payments, get: /x }\n",
        )
        .endpoint("typo", "endpoint: GET /v1/typo\ncals: {}\n");
    let out = process::run("bff-web", &["validate", "--specs", path(&dir)]);
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown service `payments` (bff.yaml defines: users, orders)"),
        "{stderr}"
    );
    assert!(stderr.contains("broken.yaml:3:"), "{stderr}");
    assert!(stderr.contains("unknown field `cals`"), "{stderr}");
    assert!(stderr.contains("typo.yaml:2:1"), "{stderr}");
    assert!(stderr.contains("2 errors"), "{stderr}");
    assert!(stderr.contains('^'), "{stderr}");
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
}

#[test]
fn validate_of_a_missing_folder_fails() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let out = process::run(
        "bff-web",
        &["validate", "--specs", missing.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    assert!(
        text(&out.stderr).contains("bff.yaml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn explain_prints_the_call_graph() {
    let dir = good_folder();
    let out = process::run(
        "bff-web",
        &["explain", "--specs", path(&dir), "GET /v1/users/{id}/home"],
    );
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("GET /v1/users/{id}/home"), "{stdout}");
    assert!(stdout.contains("Home screen."), "{stdout}");
    // Stage 1: profile and orders in parallel; stage 2: summary after both.
    let stage1 = stdout.find("stage 1 in parallel").expect(&stdout);
    let stage2 = stdout.find("stage 2").expect(&stdout);
    let line_of = |call: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(call))
            .unwrap_or_else(|| panic!("no line for `{call}` in\n{stdout}"))
    };
    assert!(line_of("profile").contains("starts at once"), "{stdout}");
    assert!(line_of("orders").contains("starts at once"), "{stdout}");
    assert!(
        line_of("summary").contains("waits for profile, orders"),
        "{stdout}"
    );
    let at = |call: &str| stdout.find(line_of(call)).unwrap();
    assert!(stage1 < at("profile") && at("orders") < stage2 && stage2 < at("summary"));
    assert!(
        stdout.contains("respond 200 with jq expression"),
        "{stdout}"
    );
}

#[test]
fn explain_finds_an_endpoint_by_a_concrete_request() {
    let dir = good_folder();
    let out = process::run(
        "bff-web",
        &["explain", "--specs", path(&dir), "get /v1/profile/u-1?x=1"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("GET /v1/profile/{id}"));
    assert!(!text(&out.stdout).contains("/home"));
}

#[test]
fn explain_of_an_unknown_endpoint_lists_the_known_ones() {
    let dir = good_folder();
    let out = process::run(
        "bff-web",
        &["explain", "--specs", path(&dir), "GET /v1/nope"],
    );
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no endpoint `GET /v1/nope`"), "{stderr}");
    assert!(stderr.contains("GET /v1/users/{id}/home"), "{stderr}");
    assert!(stderr.contains("GET /v1/profile/{id}"), "{stderr}");
}

#[test]
fn explain_without_an_endpoint_shows_them_all() {
    let dir = good_folder();
    let out = process::run("bff-web", &["explain", "--specs", path(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("GET /v1/users/{id}/home"), "{stdout}");
    assert!(stdout.contains("GET /v1/profile/{id}"), "{stdout}");
}

#[test]
fn serving_a_broken_folder_exits_64() {
    let dir = good_folder().endpoint("bad", "endpoint: FETCH /x\n");
    let out = process::run(
        "bff-web",
        &["--specs", path(&dir), "--listen", "127.0.0.1:0"],
    );
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    assert!(text(&out.stderr).contains("unsupported method `FETCH`"));
}

#[test]
fn bff_web_refuses_cors_origins_from_the_environment_that_are_not_origins() {
    let dir = good_folder();
    for (origins, why) in [
        ("https://shop.example,https://Shop.example", "lower case"),
        ("https://shop.example/", "no path"),
        ("*", "cannot be allowed with credentials"),
    ] {
        for args in [
            vec!["validate", "--specs", path(&dir)],
            vec!["--specs", path(&dir), "--listen", "127.0.0.1:0"],
        ] {
            let out = std::process::Command::new(process::binary("bff-web"))
                .args(&args)
                .env("BFF_WEB_CORS_ORIGINS", origins)
                .output()
                .unwrap();
            let err = text(&out.stderr);
            assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{origins}: {err}");
            assert!(
                err.contains("BFF_WEB_CORS_ORIGINS") && err.contains(why),
                "{err}"
            );
        }
    }
    // Good ones pass.
    let out = std::process::Command::new(process::binary("bff-web"))
        .args(["validate", "--specs", path(&dir)])
        .env(
            "BFF_WEB_CORS_ORIGINS",
            "https://shop.example, http://localhost:5173",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test]
async fn serves_with_service_urls_from_the_environment() {
    let users = serve(Router::new().route(
        "/users/{id}",
        get(
            |axum::extract::Path(id): axum::extract::Path<String>| async move {
                axum::Json(serde_json::json!({"id": id, "name": "Ada"}))
            },
        ),
    ))
    .await;
    let dir = good_folder();
    for bin in ["bff-web", "bff-mobile", "bff-partner"] {
        let bff = BffProcess::start(bin, dir.path(), &[("CLI_TEST_USERS_URL", &users)]);
        let resp = client()
            .get(format!("{}/v1/profile/u-7", bff.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{bin}: {}", bff.log());
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(
            body,
            serde_json::json!({"profile": {"id": "u-7", "name": "Ada"}}),
            "{bin}"
        );
    }
}

#[tokio::test]
async fn without_the_variable_the_default_url_is_used() {
    // The default points at a closed port: the call fails as a 502 naming it.
    let dir = good_folder();
    let bff = BffProcess::start("bff-web", dir.path(), &[]);
    let resp = client()
        .get(format!("{}/v1/profile/u-7", bff.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["call"], "profile", "{body}");
}

/// `healthcheck` asks the admin listener named in bff.yaml (the image's
/// HEALTHCHECK), or a given URL, and answers with its exit status.
#[test]
fn healthcheck_asks_the_admin_listener() {
    let admin = format!("127.0.0.1:{}", process::free_port());
    let dir =
        SpecDir::new(&format!("{BFF}admin: {{ listen: \"{admin}\" }}\n")).endpoint("home", HOME);
    let specs = dir.path().to_str().unwrap();
    let _bff = BffProcess::start("bff-web", dir.path(), &[]);
    // The admin listener binds just after the main one.
    let started = std::time::Instant::now();
    let healthy = loop {
        let out = process::run("bff-web", &["healthcheck", "--specs", specs]);
        if out.status.success() || started.elapsed() > std::time::Duration::from_secs(10) {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    assert!(String::from_utf8_lossy(&healthy.stdout).contains(": 200"));
    let ready = format!("http://{admin}/readyz");
    assert!(
        process::run("bff-web", &["healthcheck", &ready])
            .status
            .success()
    );

    let closed = format!("http://127.0.0.1:{}/healthz", process::free_port());
    let down = process::run("bff-web", &["healthcheck", &closed]);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("unhealthy"));

    let without_admin = good_folder();
    let out = process::run(
        "bff-web",
        &[
            "healthcheck",
            "--specs",
            without_admin.path().to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no admin.listen"));
}

#[test]
fn explain_graphql_prints_the_waves_of_an_operation() {
    let web = bff_tests::workspace_root().join("composition-specs/web");
    let run = |args: &[&str]| {
        std::process::Command::new(process::binary("bff-web"))
            .arg("explain")
            .arg("--specs")
            .arg(&web)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "--graphql",
        r#"query Page($more: Boolean!) { product(id: "p-2001") { name stock { available } related @include(if: $more) { product { name } } } }"#,
        "--variables",
        r#"{"more": true}"#,
    ]);
    let plan = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(plan.contains("query Page"), "{plan}");
    assert!(plan.contains("estimated cost"), "{plan}");
    let wave = |n: usize| plan.split("wave ").nth(n).unwrap_or_default().to_owned();
    assert!(wave(1).contains("Query.product → GET catalog"), "{plan}");
    assert!(
        wave(2).contains("Product.stock") && wave(2).contains("50 per request"),
        "{plan}"
    );
    assert!(wave(3).contains("Recommendation.product"), "{plan}");
    // Skipped fields run nothing.
    let skipped = run(&[
        "--graphql",
        r#"query Page($more: Boolean!) { product(id: "p-2001") { related @include(if: $more) { product { name } } } }"#,
        "--variables",
        r#"{"more": false}"#,
    ]);
    assert!(
        !text(&skipped.stdout).contains("Product.related"),
        "{}",
        text(&skipped.stdout)
    );
    // An operation the schema does not allow is refused with its location.
    let bad = run(&["--graphql", "{ product(id: \"1\") { nope } }"]);
    assert_eq!(bad.status.code(), Some(EXIT_CONFIG));
    assert!(text(&bad.stderr).contains("nope"), "{}", text(&bad.stderr));
}

/// Every binary serves a folder's GraphQL endpoint: it is bff-core's, not
/// one BFF's.
#[tokio::test]
async fn every_binary_serves_graphql() {
    let up = serve(Router::new().route(
        "/n",
        get(|| async { axum::Json(serde_json::json!({"n": 5})) }),
    ))
    .await;
    let dir = SpecDir::new(&format!("services:\n  up: {{ url: \"{up}\" }}\n"))
        .file(
            "graphql.yaml",
            "resolvers:\n  Query.n: { service: up, get: /n, select: .n }\n",
        )
        .file("graphql/schema.graphql", "type Query { n: Int }\n");
    for binary in ["bff-mobile", "bff-web", "bff-partner"] {
        let bff = BffProcess::start(binary, dir.path(), &[]);
        let answer: serde_json::Value = client()
            .post(format!("{}/graphql", bff.url()))
            .json(&serde_json::json!({"query": "{ n }"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer, serde_json::json!({"data": {"n": 5}}), "{binary}");
    }
}

#[test]
fn soap_calls_are_checked_against_the_folders_wsdl_and_explained_with_its_body() {
    let wsdl = std::fs::read_to_string(
        bff_tests::workspace_root().join("composition-specs/partner/wsdl/tracking.wsdl"),
    )
    .unwrap();
    let call = |action: &str, body: &str| {
        format!(
            "endpoint: GET /t/{{id}}\ncalls:\n  parcel:\n    service: users\n    post: /soap/tracking\n    soap:\n      action: \"{action}\"\n      namespaces: {{ t: \"urn:shop:tracking\" }}\n      body: {body}\n"
        )
    };
    let good = SpecDir::new(BFF)
        .endpoint(
            "t",
            &call(
                "urn:shop:tracking#TrackParcel",
                "<t:TrackParcel><t:OrderId>{{ path.id }}</t:OrderId></t:TrackParcel>",
            ),
        )
        .file("wsdl/tracking.wsdl", &wsdl);
    let out = process::run("bff-web", &["validate", "--specs", path(&good)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = process::run(
        "bff-web",
        &["explain", "--specs", path(&good), "GET /t/{id}"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("expects <t:TrackParcel><t:OrderId>string</t:OrderId></t:TrackParcel>"),
        "{text}"
    );

    let wrong_action = SpecDir::new(BFF)
        .endpoint("t", &call("urn:shop:tracking#Track", "<t:TrackParcel/>"))
        .file("wsdl/tracking.wsdl", &wsdl);
    let out = process::run("bff-web", &["validate", "--specs", path(&wrong_action)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`urn:shop:tracking#Track` is not the action of a SOAP 1.1 operation")
            && err.contains("it has: TrackParcel (urn:shop:tracking#TrackParcel)")
            && err.contains("t.yaml:7:15"),
        "{err}"
    );
    let wrong_body = SpecDir::new(BFF)
        .endpoint("t", &call("urn:shop:tracking#TrackParcel", "<t:Track/>"))
        .file("wsdl/tracking.wsdl", &wsdl);
    let out = process::run("bff-web", &["validate", "--specs", path(&wrong_body)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "operation `TrackParcel` takes `<t:TrackParcel>`, but the body starts with `<Track>`"
        ),
        "{err}"
    );
}

/// The shipped folders that carry tests, and the binary that serves each.
const TESTED_FOLDERS: [(&str, &str); 3] = [
    ("bff-mobile", "mobile"),
    ("bff-web", "web"),
    ("bff-partner", "partner"),
];

#[test]
fn the_shipped_spec_tests_pass_with_no_service_running() {
    for (bin, folder) in TESTED_FOLDERS {
        let dir = bff_tests::workspace_root()
            .join("composition-specs")
            .join(folder);
        let out = process::run(bin, &["test", "--specs", dir.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{folder}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(" passed, 0 failed"), "{text}");
        assert!(!text.contains("FAILED"), "{text}");
    }
}

#[test]
fn a_failing_spec_test_prints_what_differs_and_exits_1() {
    let dir = SpecDir::copy_of(&bff_tests::workspace_root().join("composition-specs/partner"));
    let test = dir.path().join("tests/order-status.yaml");
    let text = std::fs::read_to_string(&test)
        .unwrap()
        .replace("title: Kettle, quantity: 2", "title: Kettel, quantity: 2")
        .replace("ids: \"p-1,p-2\"", "ids: p-1");
    std::fs::write(&test, text).unwrap();
    let out = process::run("bff-partner", &["test", "--specs", path(&dir)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("(tests/order-status.yaml) ... FAILED\n")
            && stdout.contains("  body /lines/0/title: expected \"Kettel\", got \"Kettle\"\n")
            && stdout.contains(
                "  call `products`: no request had {\"path\":\"/products\",\"query\":{\"ids\":\"p-1\"}} (GET /products?ids=p-1,p-2)\n"
            )
            && stdout.contains(" passed, 1 failed"),
        "{stdout}"
    );
    // A test file with a mistake is a located error, before anything runs.
    std::fs::write(
        dir.path().join("tests/broken.yaml"),
        "request: { pth: /x }\n",
    )
    .unwrap();
    let out = process::run("bff-partner", &["test", "--specs", path(&dir)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("tests/broken.yaml:1:"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_what_the_services_answered_and_the_test_then_passes_without_them() {
    let up = serve(
        Router::new()
            .route(
                "/users/{id}",
                get(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        axum::Json(serde_json::json!({"id": id, "name": "Ada"}))
                    },
                ),
            )
            .route(
                "/orders",
                get(|| async { axum::Json(serde_json::json!([{"id": "o-1"}, {"id": "o-2"}])) }),
            )
            .route(
                "/orders/{id}/total",
                get(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        axum::Json(serde_json::json!(if id == "o-1" { 10 } else { 20 }))
                    },
                ),
            ),
    )
    .await;
    let dir = SpecDir::new(&format!("services:\n  s: {{ url: \"{up}\" }}\n"))
        .endpoint(
            "home",
            "endpoint: GET /v1/home/{id}\ncalls:\n  user: { service: s, get: \"/users/{{ path.id }}\" }\n  orders: { service: s, get: /orders, query: { user: \"{{ path.id }}\" } }\n  totals: { service: s, for_each: \".orders[].id\", get: \"/orders/{{ item }}/total\" }\nrespond:\n  jq: '{name: .user.name, orders: [.orders[].id], totals: .totals}'\n",
        )
        .file("tests/home.yaml", "request: { path: /v1/home/u-1 }\n");
    let out = spec_test(&dir, true).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let written = std::fs::read_to_string(dir.path().join("tests/home.yaml")).unwrap();
    let test: serde_json::Value = serde_saphyr::from_str(&written).unwrap();
    assert_eq!(
        test["upstream"]["user"]["body"],
        serde_json::json!({"id": "u-1", "name": "Ada"}),
        "{written}"
    );
    assert_eq!(
        test["upstream"]["orders"]["body"][1]["id"], "o-2",
        "{written}"
    );
    assert_eq!(test["expect"]["status"], 200, "{written}");
    // A call of several requests: an answer for each, chosen by its path.
    assert_eq!(
        test["upstream"]["totals"],
        serde_json::json!([
            {"match": {"path": "/orders/o-1/total"}, "body": 10},
            {"match": {"path": "/orders/o-2/total"}, "body": 20}
        ]),
        "{written}"
    );
    assert_eq!(
        test["expect"]["body"],
        serde_json::json!({"name": "Ada", "orders": ["o-1", "o-2"], "totals": [10, 20]})
    );
    // The services are not needed any more: point the folder elsewhere.
    let bff = dir.path().join("bff.yaml");
    std::fs::write(&bff, "services:\n  s: { url: \"http://127.0.0.1:9\" }\n").unwrap();
    let out = spec_test(&dir, false).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed, 0 failed"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_spec_test_gets_a_fresh_bff_and_routes_and_resets_are_answered() {
    let dir = SpecDir::new(
        "services:\n  s: { url: \"http://127.0.0.1:9\" }\n  files: { url: \"http://127.0.0.1:9\" }\nproxy:\n  - { prefix: /files, service: files }\n",
    )
    .endpoint(
        "kept",
        "endpoint: GET /v1/kept\ncache: { ttl: 60s }\ncalls:\n  a: { service: s, get: /a }\nrespond:\n  jq: .a\n",
    )
    .endpoint(
        "opt",
        "endpoint: GET /v1/opt\ncalls:\n  a: { service: s, get: /a, on_error: { default: gone } }\nrespond:\n  jq: .a\n",
    )
    // Two tests of one cached endpoint: the second must not get the first's answer.
    .file(
        "tests/kept-1.yaml",
        "request: { path: /v1/kept }\nupstream: { a: { body: 1 } }\nexpect: { status: 200, body: 1 }\n",
    )
    .file(
        "tests/more/kept-2.yaml",
        "request: { path: /v1/kept }\nupstream: { a: { body: 2 } }\nexpect: { status: 200, body: 2, calls: { a: 1 } }\n",
    )
    .file(
        "tests/route.yaml",
        "request: { path: /files/x.txt }\nupstream:\n  files: { text: hello, headers: { content-type: text/plain } }\nexpect: { status: 200, headers: { content-type: text/plain } }\n",
    )
    .file(
        "tests/reset.yaml",
        "request: { path: /v1/opt }\nupstream: { a: { fail: reset } }\nexpect: { status: 200, body: gone, headers: { bff-degraded: \"a;reason=unreachable\" } }\n",
    );
    let out = spec_test(&dir, false).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("4 passed, 0 failed"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(tests/more/kept-2.yaml) ... ok"),
        "{stdout}"
    );
}

/// `bff-web test` of a folder (with `--record`), off the async runtime.
async fn spec_test(dir: &SpecDir, record: bool) -> std::process::Output {
    let specs = dir.path().to_str().unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut args = vec!["test", "--specs", &specs];
        if record {
            args.push("--record");
        }
        process::run("bff-web", &args)
    })
    .await
    .unwrap()
}
