//! Each service's endpoints: shapes, lookups, paging and errors.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Demo, ids};
use crate::Latency;

#[tokio::test]
async fn users_profiles_preferences_and_problems() {
    let demo = Demo::start(Latency::none()).await;
    let user = demo.ok("users", "/users/u-1001").await;
    assert_eq!(user["name"], "Anna Keller");
    assert_eq!(user["email"], "anna.keller@example.com");
    let prefs = demo.ok("users", "/users/u-1001/preferences").await;
    assert_eq!(prefs["user_id"], "u-1001");
    assert!(!prefs["favorite_categories"].as_array().unwrap().is_empty());
    let batch = demo.ok("users", "/users?ids=u-1003,nobody,u-1001").await;
    assert_eq!(ids(&batch, "id"), ["u-1003", "u-1001"]);

    let response = demo
        .http
        .get(demo.url("users", "/users/u-9"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["detail"], "user u-9 not found");

    let (status, _) = demo.get("users", "/no/such/path").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn catalog_batches_lists_and_pages() {
    let demo = Demo::start(Latency::none()).await;
    let batch = demo
        .ok("catalog", "/products?ids=p-2010,p-9999,p-2002,p-2001")
        .await;
    assert_eq!(ids(&batch, "id"), ["p-2010", "p-2002", "p-2001"]);
    for key in [
        "name",
        "brand",
        "category",
        "price_cents",
        "currency",
        "image_url",
        "rating",
    ] {
        assert!(batch[0].get(key).is_some(), "product has {key}");
    }

    let page = demo
        .ok("catalog", "/products?category=kitchen&limit=4&offset=8")
        .await;
    assert_eq!(page["total"], 10);
    assert_eq!(page["offset"], 8);
    assert_eq!(page["limit"], 4);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["category"] == "kitchen")
    );
    // A 1-based page instead of an offset gives the same page.
    let third = demo
        .ok("catalog", "/products?category=kitchen&limit=4&page=3")
        .await;
    assert_eq!(third, page);
    for bad in ["page=0", "page=2&offset=4", "offset=-1"] {
        let (status, _) = demo.get("catalog", &format!("/products?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let cheap_first = demo
        .ok("catalog", "/products?sort=price_asc&limit=100")
        .await;
    let prices: Vec<u64> = cheap_first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price_cents"].as_u64().unwrap())
        .collect();
    assert_eq!(prices.len(), 60);
    assert!(prices.windows(2).all(|w| w[0] <= w[1]));

    let categories = demo.ok("catalog", "/categories").await;
    assert_eq!(categories.as_array().unwrap().len(), 6);
    assert_eq!(
        demo.get("catalog", "/products/p-1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        demo.get("catalog", "/products?sort=cheapest").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        demo.get("catalog", "/products?limit=0").await.0,
        StatusCode::BAD_REQUEST
    );
    let too_many = (0..101)
        .map(|i| format!("p-{}", 2001 + i))
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        demo.get("catalog", &format!("/products?ids={too_many}"))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn orders_list_show_and_track() {
    let demo = Demo::start(Latency::none()).await;
    let all = demo.ok("orders", "/orders?customer=u-1001&limit=100").await;
    let total = all["total"].as_u64().unwrap() as usize;
    assert!(total >= 1);
    let orders = all["items"].as_array().unwrap();
    assert!(orders.iter().all(|o| o["customer_id"] == "u-1001"));
    let created: Vec<&str> = orders
        .iter()
        .map(|o| o["created_at"].as_str().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let second = demo
        .ok("orders", "/orders?customer=u-1001&limit=1&offset=1")
        .await;
    if total > 1 {
        assert_eq!(second["items"][0], orders[1]);
    }
    let shipped = demo.ok("orders", "/orders?status=shipped&limit=100").await;
    assert!(
        shipped["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "shipped")
    );
    assert_eq!(
        demo.get("orders", "/orders?status=lost").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        demo.ok("orders", "/orders?customer=u-1020").await["total"],
        0
    );

    let id = orders[0]["id"].as_str().unwrap();
    let order = demo.ok("orders", &format!("/orders/{id}")).await;
    assert_eq!(&order, &orders[0]);
    let sum: u64 = order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["quantity"].as_u64().unwrap() * i["unit_price_cents"].as_u64().unwrap())
        .sum();
    assert_eq!(order["total_cents"], sum);
    let tracking = demo.ok("orders", &format!("/orders/{id}/tracking")).await;
    assert_eq!(tracking["order_id"], id);
    assert_eq!(tracking["status"], order["status"]);
    assert_eq!(tracking["events"], order["tracking"]["events"]);
    assert_eq!(
        demo.get("orders", "/orders/o-1/tracking").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn orders_can_be_placed_once_per_idempotency_key() {
    let demo = Demo::start(Latency::none()).await;
    let price = demo.ok("catalog", "/products/p-2003").await["price_cents"]
        .as_u64()
        .unwrap();
    let new = json!({
        "customer_id": "u-1020",
        "items": [{ "product_id": "p-2003", "quantity": 2, "unit_price_cents": price }, { "product_id": "p-2050", "quantity": 1 }],
    });
    let response = demo
        .post("orders", "/orders", new.clone(), Some("k-1"))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/orders/{}", order["id"].as_str().unwrap())
    );
    assert_eq!(order["status"], "placed");
    assert_eq!(order["tracking"]["carrier"], Value::Null);
    let p2050 = demo.ok("catalog", "/products/p-2050").await["price_cents"]
        .as_u64()
        .unwrap();
    assert_eq!(order["total_cents"], 2 * price + p2050);

    let replay = demo
        .post("orders", "/orders", new.clone(), Some("k-1"))
        .await;
    assert_eq!(replay.status(), StatusCode::CREATED);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], order["id"]);

    let another = demo
        .post("orders", "/orders", new, None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_ne!(another["id"], order["id"]);
    let mine = demo.ok("orders", "/orders?customer=u-1020").await;
    assert_eq!(mine["total"], 2);
    assert_eq!(mine["items"][0]["id"], another["id"], "newest first");
    assert_eq!(demo.ok("orders", &location).await, order);

    let unknown =
        json!({ "customer_id": "u-1001", "items": [{ "product_id": "p-1", "quantity": 1 }] });
    assert_eq!(
        demo.post("orders", "/orders", unknown, None).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let stale = json!({ "customer_id": "u-1001", "items": [{ "product_id": "p-2003", "quantity": 1, "unit_price_cents": 1 }] });
    assert_eq!(
        demo.post("orders", "/orders", stale, None).await.status(),
        StatusCode::CONFLICT
    );
    let malformed = demo
        .post("orders", "/orders", json!({ "items": "none" }), None)
        .await;
    assert_eq!(malformed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test]
async fn reviews_agree_with_the_catalog() {
    let demo = Demo::start(Latency::none()).await;
    let product = demo.ok("catalog", "/products/p-2001").await;
    let summary = demo.ok("reviews", "/reviews/summary?product=p-2001").await;
    assert_eq!(summary["count"], product["review_count"]);
    let average = summary["average"].as_f64().unwrap();
    assert!((average - product["rating"].as_f64().unwrap()).abs() <= 0.05);
    let distribution: u64 = summary["distribution"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(Value::from(distribution), summary["count"]);

    let page = demo.ok("reviews", "/reviews?product=p-2001&limit=3").await;
    assert_eq!(page["total"], summary["count"]);
    let reviews = page["items"].as_array().unwrap();
    assert_eq!(reviews.len(), 3);
    for review in reviews {
        assert!((1..=5).contains(&review["rating"].as_u64().unwrap()));
        for key in ["author", "title", "body", "created_at"] {
            assert!(review[key].is_string(), "review has {key}");
        }
    }
    let none = demo.ok("reviews", "/reviews/summary?product=p-0").await;
    assert_eq!(none["count"], 0);
    assert_eq!(none["average"], Value::Null);
    assert_eq!(
        demo.get("reviews", "/reviews").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn recommendations_for_users_and_products() {
    let demo = Demo::start(Latency::none()).await;
    let recs = demo
        .ok("recommendations", "/recommendations?user=u-1001&limit=5")
        .await;
    let recs = recs.as_array().unwrap();
    assert_eq!(recs.len(), 5);
    let scores: Vec<f64> = recs.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    let bought = demo.ok("orders", "/orders?customer=u-1001&limit=100").await;
    for rec in recs {
        assert!(rec["reason"].as_str().is_some_and(|r| !r.is_empty()));
        let id = &rec["product_id"];
        assert!(
            !bought.to_string().contains(&format!("\"product_id\":{id}")),
            "{id} was bought already"
        );
    }
    let similar = demo
        .ok("recommendations", "/recommendations?product=p-2001&limit=3")
        .await;
    assert_eq!(similar.as_array().unwrap().len(), 3);
    let stranger = demo
        .ok("recommendations", "/recommendations?user=u-0&limit=2")
        .await;
    assert_eq!(stranger[0]["reason"], "Popular right now");
    assert_eq!(
        demo.get("recommendations", "/recommendations").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        demo.get("recommendations", "/recommendations?product=p-0")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn inventory_per_sku_and_warehouse() {
    let demo = Demo::start(Latency::none()).await;
    let batch = demo
        .ok("inventory", "/inventory?skus=p-2002,p-0,p-2001")
        .await;
    assert_eq!(ids(&batch, "sku"), ["p-2002", "p-2001"]);
    let record = demo.ok("inventory", "/inventory/p-2001").await;
    assert_eq!(record, batch[1]);
    let warehouses = record["warehouses"].as_array().unwrap();
    assert_eq!(warehouses.len(), 3);
    let available: u64 = warehouses
        .iter()
        .map(|w| w["available"].as_u64().unwrap())
        .sum();
    assert_eq!(record["available"], available);
    // p-2008 is sold out everywhere and says when it comes back.
    let sold_out = demo.ok("inventory", "/inventory/p-2008").await;
    assert_eq!(sold_out["in_stock"], false);
    assert!(sold_out["restock_date"].is_string());
    assert_eq!(
        demo.get("inventory", "/inventory/p-0").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        demo.get("inventory", "/inventory").await.0,
        StatusCode::BAD_REQUEST
    );
}
