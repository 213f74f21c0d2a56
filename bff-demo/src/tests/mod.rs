//! The services over real HTTP: started on port 0, called with reqwest.

mod endpoints;
mod faults;
mod live;

use std::collections::HashMap;
use std::net::SocketAddr;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;

/// The running services, addressed by name.
pub(super) struct Demo {
    pub(super) addrs: HashMap<&'static str, SocketAddr>,
    pub(super) http: reqwest::Client,
}

impl Demo {
    pub(super) async fn start(latency: Latency) -> Self {
        let bound = spawn_services([127, 0, 0, 1].into(), DemoPorts::EPHEMERAL, latency)
            .await
            .unwrap();
        Self {
            addrs: bound.into_iter().collect(),
            http: reqwest::Client::new(),
        }
    }

    pub(super) fn url(&self, service: &str, path: &str) -> String {
        format!("http://{}{path}", self.addrs[service])
    }

    pub(super) async fn get(&self, service: &str, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(self.url(service, path)).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// GET that must succeed.
    pub(super) async fn ok(&self, service: &str, path: &str) -> Value {
        let (status, body) = self.get(service, path).await;
        assert_eq!(status, StatusCode::OK, "{service} {path}: {body}");
        body
    }

    pub(super) async fn post(
        &self,
        service: &str,
        path: &str,
        body: Value,
        key: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.post(self.url(service, path)).json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send().await.unwrap()
    }
}

pub(super) fn ids(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn starts_seven_services_on_free_ports() {
    let bound = spawn_services([127, 0, 0, 1].into(), DemoPorts::EPHEMERAL, Latency::none())
        .await
        .unwrap();
    let names: Vec<_> = bound.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "users",
            "orders",
            "catalog",
            "reviews",
            "recommendations",
            "inventory",
            "pricing"
        ]
    );
    let mut ports: Vec<u16> = bound.iter().map(|(_, a)| a.port()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 7);
    assert!(!ports.contains(&0));
    let http = reqwest::Client::new();
    for (name, addr) in bound {
        let health: Value = http
            .get(format!("http://{addr}/health"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health, json!({ "status": "ok", "service": name }));
    }
}

#[tokio::test]
async fn a_taken_port_fails_the_whole_start() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ports = DemoPorts {
        catalog: taken.local_addr().unwrap().port(),
        ..DemoPorts::EPHEMERAL
    };
    let err = spawn_services([127, 0, 0, 1].into(), ports, Latency::none())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("catalog service: cannot listen"),
        "{err}"
    );
}
