//! The services of a test: one loopback server every service of the
//! folder points at. The BFF names the call of each request in a header
//! (see [`super::Tagged`]), and the server answers with what the test
//! gives that call, or, when recording, passes the request to the
//! service's real address and keeps what it answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use indexmap::IndexMap;

use crate::spec::test_file::{Answer, Answers, Failure, Match};

/// The header naming the call a request belongs to.
pub(super) const CALL: &str = "bff-test-call";
/// The header naming the service a request goes to.
pub(super) const SERVICE: &str = "bff-test-service";

/// A request a service got.
#[derive(Debug, Clone)]
pub(super) struct Seen {
    /// The call's name, or the service's for a pass-through route.
    pub key: String,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
    /// The answer given, when one was: status, content type, body.
    pub answered: Option<(u16, Option<String>, Bytes)>,
    /// No answer of the test matched it.
    pub unmatched: bool,
}

/// What the server answers for the test running now.
#[derive(Default)]
pub(super) struct Script {
    pub answers: IndexMap<String, Answers>,
    /// Record mode: the services' real base URLs by name.
    pub real: Option<HashMap<String, String>>,
    pub seen: Vec<Seen>,
}

/// An answer's body: whole, or a gRPC message with its trailers.
type Body = BoxBody<Bytes, std::convert::Infallible>;

/// The server's shared state.
#[derive(Default)]
pub(super) struct Fake {
    pub script: Mutex<Script>,
    /// The answer message of each gRPC method the folder calls, by path
    /// (`/package.Service/Method`).
    pub grpc: Mutex<HashMap<String, prost_reflect::MessageDescriptor>>,
    client: OnceClient,
}

#[derive(Default)]
struct OnceClient(std::sync::OnceLock<reqwest::Client>);

impl OnceClient {
    fn get(&self) -> &reqwest::Client {
        self.0.get_or_init(|| {
            reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default()
        })
    }
}

/// A connection the answer closes without a response.
#[derive(Debug)]
pub(super) struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the test's answer resets the connection")
    }
}

impl std::error::Error for Reset {}

impl Fake {
    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves connections until the runtime ends.
    pub(super) async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let fake = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let fake = fake.clone();
                    async move { fake.answer(req).await }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let _ = builder
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    async fn answer(&self, req: http::Request<Incoming>) -> Result<http::Response<Body>, Reset> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let service = header(SERVICE).unwrap_or_default();
        let key = header(CALL).unwrap_or_else(|| service.clone());
        let path = parts.uri.path().to_owned();
        let query: Vec<(String, String)> = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let mut seen = Seen {
            key: key.clone(),
            method: parts.method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: body.clone(),
            answered: None,
            unmatched: false,
        };
        let (chosen, real) = {
            let script = self.lock();
            let chosen = script.answers.get(&key).and_then(|a| {
                a.list()
                    .iter()
                    .find(|a| matches(a.matches.as_ref(), &path, &query))
                    .cloned()
            });
            let real = script.real.as_ref().and_then(|r| r.get(&service).cloned());
            (chosen, real)
        };
        if let Some(base) = real {
            let result = self.pass_on(&base, &parts, body).await;
            if let Ok((status, content_type, bytes)) = &result {
                seen.answered = Some((*status, content_type.clone(), bytes.clone()));
            }
            self.lock().seen.push(seen);
            let (status, content_type, bytes) = result.map_err(|_| Reset)?;
            return Ok(plain(status, content_type.as_deref().unwrap_or(""), bytes));
        }
        let Some(answer) = chosen else {
            seen.unmatched = true;
            self.lock().seen.push(seen);
            let text = format!(
                "no answer of the test matches {key}: {} {path}",
                parts.method
            );
            return Ok(plain(599, "text/plain", Bytes::from(text)));
        };
        self.lock().seen.push(seen);
        if let Some(wait) = answer.latency {
            tokio::time::sleep(wait).await;
        }
        if answer.fail == Some(Failure::Reset) {
            return Err(Reset);
        }
        let grpc = self
            .grpc
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&path)
            .cloned();
        Ok(match grpc {
            Some(message) => grpc_respond(&answer, &message),
            None => respond(&answer),
        })
    }

    /// Record mode: the same request to the service's real address.
    async fn pass_on(
        &self,
        base: &str,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Result<(u16, Option<String>, Bytes), reqwest::Error> {
        let url = format!(
            "{base}{}",
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let mut req = self
            .client
            .get()
            .request(parts.method.clone(), url)
            .body(body);
        for (name, value) in &parts.headers {
            if name != http::header::HOST && name.as_str() != CALL && name.as_str() != SERVICE {
                req = req.header(name, value);
            }
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok((status, content_type, resp.bytes().await?))
    }

    /// Starts a test: its answers, and what was seen cleared.
    pub(super) fn start(
        &self,
        answers: IndexMap<String, Answers>,
        real: Option<HashMap<String, String>>,
    ) {
        *self.lock() = Script {
            answers,
            real,
            seen: Vec::new(),
        };
    }

    /// What the services saw during the test.
    pub(super) fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }
}

fn matches(m: Option<&Match>, path: &str, query: &[(String, String)]) -> bool {
    let Some(m) = m else {
        return true;
    };
    m.path.as_deref().is_none_or(|p| p == path)
        && m.query
            .iter()
            .all(|(k, v)| query.iter().any(|(qk, qv)| qk == k && qv == v))
}

/// A gRPC answer: the message (from `body`, by the proto3 JSON mapping) in
/// its frame with `grpc-status: 0` in the trailers, or, with
/// `grpc_status`, that status alone (a trailers-only answer).
fn grpc_respond(a: &Answer, message: &prost_reflect::MessageDescriptor) -> http::Response<Body> {
    use hyper::body::Frame;
    let mut r = http::Response::new(Full::new(Bytes::new()).boxed());
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/grpc"),
    );
    let status = a.grpc_status.unwrap_or(0);
    let json = a
        .body
        .as_ref()
        .map_or_else(|| "{}".to_owned(), ToString::to_string);
    let framed = crate::proto::encode_json(message, json.as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|m| crate::exec::grpc_frame(&m).map_err(|e| e.to_string()));
    let (code, text) = match (status, framed) {
        (0, Ok(frame)) => {
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let frames = [
                Ok(Frame::data(Bytes::from(frame))),
                Ok(Frame::trailers(trailers)),
            ];
            *r.body_mut() = StreamBody::new(futures::stream::iter(frames)).boxed();
            return r;
        }
        // A body the message cannot hold: the test's mistake, said as INTERNAL.
        (0, Err(e)) => (
            13,
            format!("the test's body is not a {}: {e}", message.full_name()),
        ),
        (code, _) => (code, a.grpc_message.clone().unwrap_or_default()),
    };
    r.headers_mut()
        .insert("grpc-status", http::HeaderValue::from(u16::from(code)));
    let encoded: String =
        percent_encoding::utf8_percent_encode(&text, percent_encoding::CONTROLS).collect();
    if let Ok(v) = http::HeaderValue::try_from(encoded) {
        r.headers_mut().insert("grpc-message", v);
    }
    r
}

fn respond(a: &Answer) -> http::Response<Body> {
    let (body, default_type) = match (&a.body, &a.text) {
        (Some(v), _) => (Bytes::from(v.to_string()), "application/json"),
        (None, Some(t)) => (Bytes::from(t.clone()), "text/plain; charset=utf-8"),
        (None, None) => (Bytes::new(), "application/json"),
    };
    let mut r = plain(a.status.unwrap_or(200), default_type, body);
    for (k, v) in &a.headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::try_from(k.as_str()),
            http::HeaderValue::try_from(v.as_str()),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

fn plain(status: u16, content_type: &str, body: Bytes) -> http::Response<Body> {
    let mut r = http::Response::new(Full::new(body).boxed());
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::try_from(content_type)
        && !content_type.is_empty()
    {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}
