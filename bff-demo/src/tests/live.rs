//! The live order feed: straight from the orders service, and through the
//! shipped web BFF with the session the demo prints.

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::Demo;
use crate::Latency;
use crate::session::{DEMO_ORDER, DEMO_USER, session_cookie};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Every message until the server closes: the text ones parsed, and the
/// close frame's code and reason.
async fn until_closed(ws: &mut Socket) -> (Vec<Value>, Option<(CloseCode, String)>) {
    let mut texts = Vec::new();
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
            .await
            .expect("the feed goes on");
        match next {
            Some(Ok(Message::Text(t))) => texts.push(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return (texts, frame.map(|f| (f.code, f.reason.to_string())));
            }
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            None | Some(Err(_)) => return (texts, None),
        }
    }
}

/// The tracking statuses of an order, oldest first.
async fn statuses(demo: &Demo, order: &str) -> Vec<Value> {
    let tracking = demo
        .ok("orders", &format!("/orders/{order}/tracking"))
        .await;
    tracking["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].clone())
        .collect()
}

#[tokio::test]
async fn a_delivered_order_replays_its_journey_then_closes() {
    let demo = Demo::start(Latency::none()).await;
    let url = format!(
        "ws://{}/orders/{DEMO_ORDER}/live?interval_ms=10",
        demo.addrs["orders"]
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // Talking to the feed changes nothing.
    ws.send(Message::text("hello?")).await.unwrap();
    let (updates, close) = until_closed(&mut ws).await;
    let expected = statuses(&demo, DEMO_ORDER).await;
    assert_eq!(expected.len(), 6);
    let got: Vec<&Value> = updates.iter().map(|u| &u["status"]).collect();
    assert_eq!(got, expected.iter().collect::<Vec<_>>());
    for (i, u) in updates.iter().enumerate() {
        assert_eq!(u["type"], "status");
        assert_eq!(u["order_id"], DEMO_ORDER);
        assert_eq!(u["seq"], i + 1);
        assert_eq!(u["of"], 6);
    }
    assert_eq!(close, Some((CloseCode::Normal, "order delivered".into())));
}

#[tokio::test]
async fn an_order_on_its_way_stays_open_and_is_pinged() {
    let demo = Demo::start(Latency::none()).await;
    let url = format!(
        "ws://{}/orders/o-50065/live?interval_ms=10",
        demo.addrs["orders"]
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let expected = statuses(&demo, "o-50065").await;
    for status in &expected {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                assert_eq!(
                    serde_json::from_str::<Value>(&t).unwrap()["status"],
                    *status
                );
            }
            other => panic!("expected an update, got {other:?}"),
        }
    }
    for _ in 0..3 {
        assert!(matches!(ws.next().await, Some(Ok(Message::Ping(_)))));
    }
}

#[tokio::test]
async fn the_feed_answers_plain_requests_and_unknown_orders_before_upgrading() {
    let demo = Demo::start(Latency::none()).await;
    let plain = demo
        .http
        .get(demo.url("orders", "/orders/o-50043/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 426);
    assert_eq!(plain.headers()["upgrade"], "websocket");
    assert_eq!(plain.headers()["content-type"], "application/problem+json");
    let url = |path: &str| format!("ws://{}{path}", demo.addrs["orders"]);
    for (path, status) in [
        ("/orders/o-1/live", 404),
        ("/orders/o-50043/live?interval_ms=5", 400),
        ("/orders/o-50043/live?fail=503", 503),
    ] {
        match tokio_tungstenite::connect_async(url(path)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert_eq!(r.status(), status, "{path}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
}

/// The shipped web BFF, its orders service pointed at this demo's.
async fn web_bff(demo: &Demo) -> (String, bff_core::config::BffConfig, tempfile::TempDir) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../composition-specs/web");
    let yaml = std::fs::read_to_string(root.join("bff.yaml")).unwrap();
    let orders = format!("http://{}", demo.addrs["orders"]);
    assert!(yaml.contains("http://127.0.0.1:9102"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bff.yaml"),
        yaml.replace("http://127.0.0.1:9102", &orders),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("endpoints")).unwrap();
    let plan = bff_core::plan::load(dir.path()).unwrap_or_else(|d| panic!("{d}"));
    let config = plan.config.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("ws://{}", listener.local_addr().unwrap());
    let gateway =
        bff_core::Gateway::from_plan(plan, bff_web::extension()).unwrap_or_else(|d| panic!("{d}"));
    tokio::spawn(async move { gateway.serve(listener).await });
    (base, config, dir)
}

#[tokio::test]
async fn the_web_bff_relays_the_feed_to_the_signed_in_user_the_demo_prints() {
    let demo = Demo::start(Latency::none()).await;
    let (base, config, _dir) = web_bff(&demo).await;
    let url = format!("{base}/live/orders/{DEMO_ORDER}/live?interval_ms=10");

    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("connected without a session: {other:?}"),
    }
    let cookie = session_cookie(&config, DEMO_USER).expect("the web BFF signs users in by cookie");
    assert!(cookie.starts_with("session="), "{cookie}");
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    req.headers_mut()
        .insert("origin", "https://elsewhere.example".parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a page of another origin connected: {other:?}"),
    }

    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let (updates, close) = until_closed(&mut ws).await;
    assert_eq!(updates.len(), 6);
    assert_eq!(updates[5]["status"], "delivered");
    assert_eq!(close, Some((CloseCode::Normal, "order delivered".into())));
}
