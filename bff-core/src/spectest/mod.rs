//! `test`: the compositions of a spec folder tested with no service
//! running. Each file of `tests/` is a request, the answers each call gets
//! and what the client must get back; the folder runs in process, with
//! every service pointed at one loopback server that gives those answers
//! (with their latency, status, headers, or a reset connection), so
//! deadlines, partial answers, batching and the shaping are all checked
//! as they run for real. `--record` sends each request to the real
//! services instead and writes what they answered into the file.

mod check;
mod fake;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::response::Response;
use http::HeaderMap;
use indexmap::IndexMap;
use jaq_json::Val;

use crate::error::Problem;
use crate::extension::{CallRequest, Extension};
use crate::plan::Endpoint;
use crate::source::{Diagnostic, Diagnostics};
use crate::spec::test_file::{Answer, Answers, Expect, Match, SpecTest};

/// A test file, read.
struct TestFile {
    path: PathBuf,
    test: SpecTest,
}

/// How a run went.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Tests that passed.
    pub(crate) passed: usize,
    /// Tests that failed, each with what differed.
    pub(crate) failed: Vec<(String, Vec<String>)>,
}

/// The client extension of the binary under test, naming each upstream
/// request's call and service in headers the test's services read.
struct Tagged<E>(Arc<E>);

impl<E: Extension> Extension for Tagged<E> {
    type Config = E::Config;

    fn router(&self, config: &Self::Config, router: Router) -> Router {
        self.0.router(config, router)
    }

    fn encode(
        &self,
        config: &Self::Config,
        endpoint: &Endpoint,
        request: &http::request::Parts,
        value: &Val,
    ) -> Option<Response> {
        self.0.encode(config, endpoint, request, value)
    }

    fn describe(&self, config: &Self::Config, document: &mut serde_json::Value) {
        self.0.describe(config, document);
    }

    fn identity(
        &self,
        config: &Self::Config,
        request: &http::request::Parts,
        identity: &mut Val,
    ) -> Result<(), Problem> {
        self.0.identity(config, request, identity)
    }

    fn call(&self, config: &Self::Config, call: &CallRequest<'_>, headers: &mut HeaderMap) {
        self.0.call(config, call, headers);
        if let Ok(v) = http::HeaderValue::try_from(call.service) {
            headers.insert(fake::SERVICE, v);
        }
        if let Some(name) = call.call
            && let Ok(v) = http::HeaderValue::try_from(name)
        {
            headers.insert(fake::CALL, v);
        }
    }
}

/// The test files of `dir/tests`, in name order; every file that cannot
/// be read is reported with its place.
fn load_tests(dir: &Path) -> Result<Vec<TestFile>, Diagnostics> {
    let mut diags = Diagnostics::default();
    let folder = dir.join("tests");
    let mut paths = Vec::new();
    if folder.is_dir() {
        let yaml =
            |p: &Path| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        crate::spec::collect_files(&folder, &yaml, &mut paths, &mut diags);
    }
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        if let Some(f) = crate::spec::read_file::<SpecTest>(&path, &mut diags) {
            files.push(TestFile { path, test: f.spec });
        }
    }
    if files.is_empty() && diags.0.is_empty() {
        diags.push(Diagnostic::file(
            &folder,
            "no test files (tests/*.yaml) in the spec folder",
        ));
    }
    if diags.0.is_empty() {
        Ok(files)
    } else {
        Err(diags)
    }
}

/// Runs (or with `record`, records) every test of the folder; prints a line
/// per test and what differed. `Err` holds errors of the folder or files.
pub(crate) fn run<E: Extension>(
    dir: &Path,
    extension: E,
    record: bool,
) -> Result<Outcome, Diagnostics> {
    // The folder must load before any test runs.
    crate::plan::load(dir)?;
    let files = load_tests(dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Diagnostics(vec![Diagnostic::file(dir, format!("cannot start: {e}"))]))?;
    runtime.block_on(run_all(dir, Arc::new(extension), files, record))
}

async fn run_all<E: Extension>(
    dir: &Path,
    extension: Arc<E>,
    files: Vec<TestFile>,
    record: bool,
) -> Result<Outcome, Diagnostics> {
    let io = |e: std::io::Error| Diagnostics(vec![Diagnostic::file(dir, e.to_string())]);
    let fake = Arc::new(fake::Fake::default());
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let fake_url = format!("http://{}", upstream.local_addr().map_err(io)?);
    tokio::spawn(fake.clone().serve(upstream));
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| Diagnostics(vec![Diagnostic::file(dir, e.to_string())]))?;
    let mut outcome = Outcome::default();
    for file in files {
        let name = file.test.name.clone().unwrap_or_else(|| {
            file.path
                .file_stem()
                .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
        });
        let label = format!("{} ({})", name, shown(&file.path, dir));
        // A gateway of its own for each test: no answer kept, no request
        // counted by one test reaches the next.
        let (base, real) = start_gateway(dir, extension.clone(), &fake, &fake_url).await?;
        fake.start(file.test.upstream.clone(), record.then_some(real));
        let sent = send(&client, &base, &file.test).await;
        let seen = fake.seen();
        let got = match sent {
            Ok(g) => g,
            Err(e) => {
                println!("test {label} ... FAILED");
                println!("  the request could not be sent: {e}");
                outcome.failed.push((label, vec![e]));
                continue;
            }
        };
        if record {
            match write_recording(&file, &got, &seen) {
                Ok(()) => {
                    println!("test {label} ... recorded");
                    outcome.passed += 1;
                }
                Err(e) => {
                    println!("test {label} ... FAILED\n  {e}");
                    outcome.failed.push((label, vec![e]));
                }
            }
            continue;
        }
        let differences = check::check(&file.test.expect, &got, &seen);
        if differences.is_empty() {
            println!("test {label} ... ok ({} ms)", got.took.as_millis());
            outcome.passed += 1;
        } else {
            println!("test {label} ... FAILED");
            for d in &differences {
                println!("  {d}");
            }
            outcome.failed.push((label, differences));
        }
    }
    Ok(outcome)
}

/// The folder served on a loopback port with every service pointed at the
/// test's server; its base URL, and where the services really are.
async fn start_gateway<E: Extension>(
    dir: &Path,
    extension: Arc<E>,
    fake: &fake::Fake,
    fake_url: &str,
) -> Result<(String, HashMap<String, String>), Diagnostics> {
    let io = |e: std::io::Error| Diagnostics(vec![Diagnostic::file(dir, e.to_string())]);
    let mut plan = crate::plan::load(dir)?;
    // The answer messages of the gRPC methods the folder calls.
    let methods = plan
        .endpoints
        .iter()
        .flat_map(|e| e.calls.iter())
        .filter_map(|c| c.grpc.as_ref())
        .map(|g| (format!("/{}", g.name), g.output.clone()))
        .collect();
    *fake
        .grpc
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = methods;
    // The runner's own lines are the output; the request log would bury them.
    plan.config.telemetry.access_log = false;
    let names: Vec<String> = plan.services.keys().cloned().collect();
    let gateway = crate::server::Gateway::from_plan(plan, Tagged(extension))?;
    let mut real = HashMap::new();
    for (name, up) in names.iter().zip(gateway.running().upstreams()) {
        if let Some(first) = up.pool.instances().first() {
            real.insert(name.clone(), first.base_url.clone());
        }
        up.pool.set_instances(vec![(fake_url.to_owned(), 1)]);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io)?;
    let base = format!("http://{}", listener.local_addr().map_err(io)?);
    let router = gateway.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok((base, real))
}

/// A path relative to the folder, for messages.
fn shown(path: &Path, dir: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

async fn send(client: &reqwest::Client, base: &str, t: &SpecTest) -> Result<check::Got, String> {
    let method = t.request.method.as_deref().unwrap_or("GET");
    let method = http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{method}` is not a method"))?;
    let mut req = client.request(method, format!("{base}{}", t.request.path));
    for (k, v) in &t.request.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(body) = &t.request.body {
        req = req.json(body);
    }
    let started = Instant::now();
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    Ok(check::Got {
        status,
        headers,
        body,
        took: started.elapsed(),
    })
}

/// Writes what the services answered, and what the client got, into the
/// test file: its `upstream` and its `expect` (status and body).
fn write_recording(file: &TestFile, got: &check::Got, seen: &[fake::Seen]) -> Result<(), String> {
    let mut by_call: IndexMap<String, Vec<Answer>> = IndexMap::new();
    for s in seen {
        let Some((status, content_type, body)) = &s.answered else {
            return Err(format!(
                "`{}`: {} {} got no answer from the service",
                s.key, s.method, s.path
            ));
        };
        let json = content_type
            .as_deref()
            .is_some_and(|c| c.contains("json"))
            .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
            .flatten();
        let mut answer = Answer {
            status: (*status != 200).then_some(*status),
            ..Answer::default()
        };
        match json {
            Some(v) => answer.body = Some(v),
            None if body.is_empty() => {}
            None => {
                answer.text = Some(String::from_utf8_lossy(body).into_owned());
                if let Some(ct) = content_type {
                    answer.headers.insert("content-type".into(), ct.clone());
                }
            }
        }
        answer.matches = Some(Match {
            path: Some(s.path.clone()),
            query: s.query.iter().cloned().collect(),
        });
        by_call.entry(s.key.clone()).or_default().push(answer);
    }
    let mut test = file.test.clone();
    test.upstream = by_call
        .into_iter()
        .map(|(k, mut answers)| {
            // Requests sent at once arrive in any order: sorted, a file
            // recorded again differs only where the services' answers do.
            answers.sort_by_cached_key(|a| serde_json::to_string(&a.matches).unwrap_or_default());
            let one = if answers.len() == 1 {
                let mut a = answers.remove(0);
                a.matches = None;
                Answers::One(Box::new(a))
            } else {
                Answers::Many(answers)
            };
            (k, one)
        })
        .collect();
    test.expect = Expect {
        status: Some(got.status),
        body: serde_json::from_slice(&got.body).ok(),
        ..test.expect.clone()
    };
    let text = serde_saphyr::to_string(&test).map_err(|e| e.to_string())?;
    std::fs::write(&file.path, text)
        .map_err(|e| format!("cannot write {}: {e}", file.path.display()))
}
