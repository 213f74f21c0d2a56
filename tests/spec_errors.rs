//! Snapshots of the diagnostics a broken spec folder produces: every
//! problem with its file, line, column and a caret under the offending
//! text, all of them at once.

use bff_tests::SpecDir;

/// Two services, so "unknown service" can list the known ones.
const BFF: &str = "\
services:
  users:  { url: \"http://127.0.0.1:9\" }
  orders: { url: \"http://127.0.0.1:9\" }
";

/// Loads a folder that must fail and renders its diagnostics, with the
/// temporary folder replaced by `[SPECS]`.
fn diagnostics(dir: &SpecDir) -> String {
    let rendered = match bff_core::plan::load(dir.path()) {
        Ok(_) => panic!("the folder loaded, but it is broken"),
        Err(d) => d.to_string(),
    };
    rendered.replace(dir.path().to_str().unwrap(), "[SPECS]")
}

fn one_endpoint(yaml: &str) -> String {
    diagnostics(&SpecDir::new(BFF).endpoint("e", yaml))
}

#[test]
fn yaml_syntax_error() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  profile: { service: users, get: \"/users/1\"
respond:
  jq: .profile
"
    ));
}

#[test]
fn unknown_key() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  profile:
    service: users
    gett: /users/1
"
    ));
}

#[test]
fn unknown_key_in_bff_yaml() {
    let dir = SpecDir::new(
        "\
listen: 127.0.0.1:0
servces:
  users: { url: \"http://127.0.0.1:9\" }
",
    );
    insta::assert_snapshot!(diagnostics(&dir));
}

#[test]
fn unknown_service_lists_the_known_ones() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  profile:
    service: user   # typo
    get: /users/1
"
    ));
}

#[test]
fn unknown_call_in_after() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: POST /v1/checkout
calls:
  profile: { service: users, get: /users/1 }
  order:
    service: orders
    post: /orders
    after: [profile, payment]
"
    ));
}

#[test]
fn template_reads_an_unknown_name() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/users/{id}
calls:
  profile:
    service: users
    get: \"/users/{{ path.id }}\"
  orders:
    service: orders
    get: \"/orders?customer={{ profle.id }}\"
"
    ));
}

#[test]
fn dependency_cycle() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  a:
    service: users
    get: \"/a/{{ c.id }}\"
  b:
    service: users
    get: \"/b/{{ a.id }}\"
  c:
    service: orders
    get: \"/c/{{ b.id }}\"
"
    ));
}

#[test]
fn tera_syntax_error() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/users/{id}
calls:
  profile:
    service: users
    get: \"/users/{{ path.id \"
"
    ));
}

#[test]
fn jq_syntax_error() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  profile: { service: users, get: /users/1 }
respond:
  jq: \"{ name: .profile.name, age: }\"
"
    ));
}

#[test]
fn jq_unknown_function() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  profile: { service: users, get: /users/1 }
respond:
  jq: |
    { name: .profile.name,
      initials: (.profile.name | initialz) }
"
    ));
}

#[test]
fn jq_unexpected_end_in_a_block() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  profile: { service: users, get: /users/1 }
respond:
  jq: |
    { name: .profile.name } |
"
    ));
}

/// The second error's line also occurs inside the first line: each caret
/// must still sit on its own line.
#[test]
fn jq_errors_on_lines_that_repeat() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  orders: { service: orders, get: /orders }
respond:
  jq: |
    { items: (.orders | itemz) }
    | itemz
"
    ));
}

#[test]
fn template_in_a_query_and_a_body_reads_unknown_names() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: POST /v1/orders
calls:
  profile: { service: users, get: /users/me }
  order:
    service: orders
    post: /orders
    query: { customer: \"{{ profile.id }}\", orders: \"{{ orders.page }}\" }
    body:
      note: fixed
      items: \"{{ cart.items }}\"
"
    ));
}

#[test]
fn dependency_cycle_through_jq_and_after() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  products:
    service: users
    for_each: \".orders[].product_id\"
    get: \"/products/{{ item }}\"
  orders:
    service: orders
    get: /orders
    after: [products]
"
    ));
}

#[test]
fn duplicate_endpoint() {
    let dir = SpecDir::new(BFF)
        .endpoint(
            "a",
            "endpoint: GET /v1/x\ncalls:\n  u: { service: users, get: /u }\n",
        )
        .endpoint(
            "b",
            "endpoint: GET /v1/x\ncalls:\n  o: { service: orders, get: /o }\n",
        );
    insta::assert_snapshot!(diagnostics(&dir));
}

#[test]
fn bad_endpoint_lines() {
    let dir = SpecDir::new(BFF)
        .endpoint("method", "endpoint: FETCH /v1/x\n")
        .endpoint("path", "endpoint: GET v1/x\n")
        .endpoint("param", "endpoint: \"GET /v1/x/id-{id}\"\n");
    insta::assert_snapshot!(diagnostics(&dir));
}

/// One folder, several broken files: every problem is reported in one run,
/// each with its own file, line, column and caret.
#[test]
fn every_error_of_a_folder_is_reported_at_once() {
    let dir = SpecDir::new(
        "\
services:
  users:  { url: \"http://127.0.0.1:9\" }
  orders: { url: \"ftp://127.0.0.1:9\" }
proxy:
  - { prefix: /api/users, service: users }
  - { prefix: /api/catalog, service: catalog }
",
    )
    .endpoint(
        "home",
        "\
endpoint: GET /v1/home
calls:
  profile:
    service: users
    get: \"/users/{{ query.id | nosuchfilter }}\"
    after: [settings]
respond:
  jq: |
    { name: .profile.name,
      orders: [.orders[] | {id, total: (.total_cents / 100)] }
",
    )
    .endpoint(
        "orders",
        "\
endpoint: GET /v1/orders
calls:
  list:
    service: shipping
    get: /orders
    query: { limit: \"{{ query.limit \" }
",
    )
    .endpoint(
        "payments",
        "\
endpoint: GET /v1/payments
calls:
  list: { service: orders, get: /payments }
",
    )
    .endpoint(
        "product",
        "\
endpoint: GET /v1/products/{id}
calls:
  product:
    service: users
    get: /products/{{ path.id }
",
    )
    .endpoint(
        "z-typo",
        "\
endpoint: GET /v1/z
respnd:
  jq: .
",
    );
    insta::assert_snapshot!(diagnostics(&dir));
}

#[test]
fn websocket_settings_are_checked() {
    let dir = SpecDir::new(
        "\
services:
  orders: { url: \"http://127.0.0.1:9\" }
proxy:
  - { prefix: /live, service: orders, websocket: { origins: [\"https://shop.example\", \"shop.example\"] } }
  - { prefix: /feed, service: orders, websocket: { idle_timeout: 0s } }
",
    );
    insta::assert_snapshot!(diagnostics(&dir));
}
