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

/// A reserved name is pointed at where it is written, whether the call
/// below it is a block or a flow mapping.
#[test]
fn reserved_call_names() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  path:
    service: users
    get: /users/1
  \"auth\": { service: users, get: /a }
  item:   # the current item
    service: orders
    get: /o
"
    ));
}

const CARDS_PROTO: &str = "\
syntax = \"proto3\";
package shop.cards.v1;
message Card { string id = 1; int32 count = 2; }
message Deck { map<string, Card> by_id = 1; }
";

/// A literal object given as a map's value must fit the map's value message.
#[test]
fn unknown_key_in_a_map_value() {
    let dir = SpecDir::new(BFF)
        .file("proto/cards.proto", CARDS_PROTO)
        .endpoint(
            "e",
            "\
endpoint: GET /v1/deck
respond:
  message: shop.cards.v1.Deck
  jq: '{by_id: {first: {id: \"a\", cont: 1}}}'
",
        );
    insta::assert_snapshot!(diagnostics(&dir));
}

/// One `.proto` file that does not compile is reported once; the files
/// that do not depend on it still compile, and endpoints are checked
/// against them. Names that only a broken file could hold are not called
/// missing.
#[test]
fn a_broken_proto_file_hides_no_other_message() {
    let dir = SpecDir::new(BFF)
        .file("proto/cards.proto", CARDS_PROTO)
        .file(
            "proto/offers.proto",
            "syntax = \"proto3\";\npackage shop.offers.v1;\nmessage Offer {\n  string id = ;\n}\n\
             service Offers { rpc Get(Offer) returns (Offer); }\n",
        )
        .file(
            "proto/promo.proto",
            "syntax = \"proto3\";\npackage shop.promo.v1;\nimport \"offers.proto\";\n\
             message Promo { shop.offers.v1.Offer offer = 1; }\n",
        )
        .endpoint(
            "card",
            "endpoint: GET /v1/card\nrespond:\n  message: shop.cards.v1.Card\n  jq: '{id: \"a\", cuont: 1}'\n",
        )
        .endpoint(
            "deck",
            "endpoint: GET /v1/deck\nrespond:\n  message: shop.cards.v1.Dekc\n",
        )
        .endpoint(
            "offer",
            "endpoint: GET /v1/offer\nrespond:\n  message: shop.offers.v1.Offer\n  jq: '{id: \"o\"}'\n",
        )
        .endpoint(
            "promo",
            "endpoint: GET /v1/promo\nrespond:\n  message: shop.promo.v1.Promo\n",
        )
        .endpoint(
            "quote",
            "\
endpoint: GET /v1/quote
calls:
  offer: { service: users, grpc: shop.offers.v1.Offers/Get, body: { id: \"1\" } }
  user: { service: users, get: \"/u/{{ offer.id }}\" }
",
        );
    insta::assert_snapshot!(diagnostics(&dir));
}

/// A page template that does not parse is reported alone: the others
/// still load, and pages only it could provide are not called missing.
#[test]
fn a_broken_template_hides_no_other_page() {
    let dir = SpecDir::new(BFF)
        .file(
            "templates/base.html",
            "<main>{% block body %}{% endblock %}</main>\n",
        )
        .file(
            "templates/card.html",
            "{% extends \"base.html\" %}{% block body %}{{ id }}{% endblock %}\n",
        )
        .file("templates/broken.html", "<p>\n{{ product.name </p>\n")
        .file("templates/child.html", "{% extends \"broken.html\" %}\n")
        .endpoint(
            "card",
            "endpoint: GET /v1/card\nrespond:\n  html: card.html\n",
        )
        .endpoint(
            "child",
            "endpoint: GET /v1/child\nrespond:\n  html: child.html\n",
        )
        .endpoint(
            "broken",
            "endpoint: GET /v1/broken\nrespond:\n  html: broken.html\n",
        )
        .endpoint(
            "typo",
            "endpoint: GET /v1/typo\nrespond:\n  html: crad.html\n",
        );
    insta::assert_snapshot!(diagnostics(&dir));
}

/// A folder whose `graphql.yaml` and schema are given.
fn graphql(yaml: &str, sdl: &str) -> String {
    diagnostics(
        &SpecDir::new(BFF)
            .file("graphql.yaml", yaml)
            .file("graphql/schema.graphql", sdl),
    )
}

const SDL: &str = "\
type Query {
  user(id: ID!): User
}

type User {
  id: ID!
  name: String!
  orders: [Order!]!
}

type Order {
  id: ID!
  total: Int
}
";

#[test]
fn graphql_schema_syntax_error() {
    insta::assert_snapshot!(graphql(
        "resolvers: {}\n",
        "type Query {\n  user(id: ID!): User\n\ntype User { id: ID! }\n"
    ));
}

#[test]
fn graphql_schema_unknown_type() {
    insta::assert_snapshot!(graphql("resolvers: {}\n", "type Query {\n  user: Usr\n}\n"));
}

#[test]
fn graphql_resolvers_that_do_not_fit_the_schema() {
    insta::assert_snapshot!(graphql(
        "\
resolvers:
  Query.usr: { service: users, get: /users/1 }
  Query.user:
    service: users
    get: \"/users/{{ args.id }}\"
    select: \"{id, name, email: .mail}\"
  User.orders:
    service: orders
    get: \"/orders?customer={{ parent.customer_id }}\"
    on_error: {}
  Order.total:
    service: orders
    for_each: .parent.id
    batch: 50
    get: \"/totals?ids={{ batch | join(sep=',') }}\"
",
        SDL
    ));
}

#[test]
fn graphql_persisted_operation_that_does_not_fit_the_schema() {
    insta::assert_snapshot!(diagnostics(
        &SpecDir::new(BFF)
            .file("graphql.yaml", "persisted: { require: true }\n")
            .file("graphql/schema.graphql", SDL)
            .file(
                "graphql/persisted/home.graphql",
                "query Home {\n  user(id: \"1\") { nickname }\n}\n"
            ),
    ));
}

#[test]
fn respond_headers_and_status_that_cannot_be() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  profile: { service: users, get: /users/1 }
respond:
  status: 99
  headers:
    Content-Type: text/plain
    Set-Cookie: \"a=1\"
    X-Who: \"{{ profle.name }}\"
    X-Ok: \"{{ profile.name }}\"
"
    ));
}

#[test]
fn exposed_headers_that_cannot_be() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  upstream: { service: users, get: /users/1 }
  many:
    service: users
    for_each: '[1, 2]'
    get: \"/users/{{ item }}\"
    expose_headers: [x-total]
  reads: { service: users, get: \"/u/{{ upstream.many.headers.x }}\" }
"
    ));
}

#[test]
fn a_call_cannot_read_what_calls_expose() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: GET /v1/x
calls:
  first: { service: users, get: /users/1, expose_headers: [etag] }
  then: { service: users, get: \"/u?v={{ upstream.first.headers.etag }}\" }
"
    ));
}

#[test]
fn request_schemas_that_cannot_be() {
    insta::assert_snapshot!(one_endpoint(
        "\
endpoint: POST /v1/x/{id}
request:
  path:
    id: { type: integr }
    other: { type: string }
  query:
    page: { type: integer, required: yes }
  body: schemas/missing.json
calls:
  profile: { service: users, get: /users/1 }
"
    ));
}

#[test]
fn soap_calls_that_cannot_be() {
    let dir = SpecDir::new(BFF)
        .endpoint(
            "e",
            "\
endpoint: GET /v1/x
calls:
  quote:
    service: users
    get: /ws
    soap:
      version: 1.3
      action: \"urn:a\\\"b\"
      namespaces: { soap: \"urn:x\", 9p: \"urn:y\", s: \"\" }
      body: <s:Q>{{ path.id </s:Q>
      header: soap/missing.xml
      lists: [\"s:tag\"]
  nopath:
    service: orders
    soap: { body: <Q/> }
",
        )
        .endpoint(
            "f",
            "\
endpoint: GET /v1/y
calls:
  quote:
    service: users
    post: /ws
    soap: { body: <Q/>, header: soap/bad.xml }
",
        )
        .endpoint(
            "g",
            "endpoint: GET /v1/z\ncalls:\n  q: { service: users, post: /ws, soap: { body: <Q/>, header: soap/env.xml } }\n",
        )
        .file(
            "soap/bad.xml",
            "<h>\n  {{ auth.sub | nosuchfilter }}\n</h>\n",
        )
        .endpoint(
            "h",
            "endpoint: GET /v1/w\ncalls:\n  q: { service: users, post: /ws, soap: { namespaces: { t: \"urn:shop:tracking\" }, body: <t:Nope/> } }\n",
        )
        .file("soap/env.xml", "<p>${BFF_TEST_SURELY_UNSET_PASSWORD}</p>\n")
        .file(
            "wsdl/tracking.wsdl",
            &std::fs::read_to_string(
                bff_tests::workspace_root().join("composition-specs/partner/wsdl/tracking.wsdl"),
            )
            .unwrap(),
        )
        .file("wsdl/broken.wsdl", "<types/>\n");
    insta::assert_snapshot!(diagnostics(&dir));
}

#[test]
fn inspection_policies_that_cannot_be() {
    let dir = SpecDir::new(
        "\
services:
  users: { url: \"http://127.0.0.1:9\" }
inspect:
  strict: { exclude: [query.q, cookies.session, \"body..x\", headers.bad header] }
proxy:
  - { prefix: /p, service: users, inspect: strcit }
",
    )
    .endpoint(
        "e",
        "endpoint: GET /v1/x\ninspect: nope\ncalls:\n  a: { service: users, get: /a }\n",
    );
    insta::assert_snapshot!(diagnostics(&dir));
}
