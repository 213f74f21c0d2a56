//! Specs that change while the BFF serves. A new folder is loaded and
//! checked completely off the request path, then swapped in atomically;
//! requests already running keep the router (and so the plan) they started
//! with. A folder with errors is refused with its located errors in the log,
//! a metric and the admin state, and the last good specs keep serving.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use serde::Serialize;
use tokio::task::AbortHandle;
use tower::ServiceExt;
use tower::util::Oneshot;

use crate::edge::Edge;
use crate::server::Gateway;

/// One loaded set of specs with its router and background tasks.
pub(crate) struct Generation {
    /// Counts loads since start, from 1.
    pub number: u64,
    /// The gateway serving these specs.
    pub gateway: Gateway,
    /// When these specs were loaded.
    pub loaded_at: SystemTime,
    service: Edge<Router>,
    tasks: Vec<AbortHandle>,
}

impl Drop for Generation {
    /// Key-set refreshes, discovery and health checks of replaced specs stop.
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What the last reload did, for the admin listener.
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct Status {
    /// Generation now serving.
    pub generation: u64,
    /// When it was loaded (RFC 3339).
    pub loaded_at: String,
    /// The last attempt, if any.
    pub last_attempt: Option<Attempt>,
}

/// One reload attempt.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Attempt {
    /// When it happened (RFC 3339).
    pub at: String,
    /// What asked for it: `watch`, `SIGHUP` or `admin`.
    pub cause: String,
    /// `ok` or `error`.
    pub result: &'static str,
    /// Each located error, as printed by `validate`.
    pub errors: Vec<String>,
}

/// The gateway now serving, replaceable while requests run.
#[derive(Clone)]
pub(crate) struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    current: ArcSwap<Generation>,
    status: Mutex<Status>,
    /// One reload at a time: the second waits and then reads the newest files.
    reloading: tokio::sync::Mutex<()>,
    draining: std::sync::atomic::AtomicBool,
}

impl Live {
    /// Serves `gateway` as generation 1; reloads read its plan's folder.
    /// Needs a Tokio runtime (background tasks start here).
    pub(crate) fn new(gateway: Gateway) -> Self {
        let dir = gateway.plan().dir.clone();
        let first = generation(1, gateway);
        let status = Status {
            generation: 1,
            loaded_at: rfc3339(first.loaded_at),
            last_attempt: None,
        };
        crate::metrics::record_generation(1);
        crate::metrics::record_loaded(first.loaded_at);
        Self {
            inner: Arc::new(Inner {
                dir,
                current: ArcSwap::from_pointee(first),
                status: Mutex::new(status),
                reloading: tokio::sync::Mutex::new(()),
                draining: std::sync::atomic::AtomicBool::new(false),
            }),
        }
    }

    /// The generation serving now.
    pub(crate) fn current(&self) -> Arc<Generation> {
        self.inner.current.load_full()
    }

    /// What the last reload did.
    pub(crate) fn status(&self) -> Status {
        self.inner
            .status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// A service that sends each request to the generation current when it
    /// arrives.
    pub(crate) fn service(&self) -> Current {
        Current { live: self.clone() }
    }

    /// Loads the folder again and swaps it in if it is free of errors.
    /// Returns the generation now serving, or the located errors.
    pub(crate) async fn reload(&self, cause: &str) -> Result<u64, Vec<String>> {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let dir = self.inner.dir.clone();
        let loaded = tokio::task::spawn_blocking(move || crate::plan::load(&dir)).await;
        let old = self.current();
        // The extension reads its settings from the new specs too: an
        // error there keeps the last good specs like any other.
        let loaded = match loaded {
            Ok(l) => l
                .and_then(|plan| {
                    warn_restart_only(old.gateway.plan(), &plan);
                    old.gateway.successor(plan)
                })
                .map_err(|d| d.0.iter().map(ToString::to_string).collect::<Vec<_>>()),
            Err(e) => Err(vec![format!("loading stopped: {e}")]),
        };
        let now = rfc3339(SystemTime::now());
        match loaded {
            Ok(gateway) => {
                let number = old.number + 1;
                let next = generation(number, gateway);
                let loaded_at = rfc3339(next.loaded_at);
                self.inner.current.store(Arc::new(next));
                tracing::info!(generation = number, cause, dir = %self.inner.dir.display(), "specs reloaded");
                crate::metrics::record_reload(true);
                crate::metrics::record_generation(number);
                self.set_status(|s| {
                    s.generation = number;
                    s.loaded_at = loaded_at;
                    s.last_attempt = Some(Attempt {
                        at: now,
                        cause: cause.to_owned(),
                        result: "ok",
                        errors: Vec::new(),
                    });
                });
                Ok(number)
            }
            Err(errors) => {
                for e in &errors {
                    tracing::error!(cause, error = %e, "specs not reloaded: the last good specs keep serving");
                }
                crate::metrics::record_reload(false);
                self.set_status(|s| {
                    s.last_attempt = Some(Attempt {
                        at: now,
                        cause: cause.to_owned(),
                        result: "error",
                        errors: errors.clone(),
                    });
                });
                Err(errors)
            }
        }
    }

    fn set_status(&self, f: impl FnOnce(&mut Status)) {
        if let Ok(mut s) = self.inner.status.lock() {
            f(&mut s);
        }
    }

    /// Marks the BFF as shutting down: readiness turns false.
    pub(crate) fn start_draining(&self) {
        self.inner
            .draining
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Why the BFF is not ready, one line per reason; empty when it is.
    pub(crate) fn not_ready(&self) -> Vec<String> {
        let mut notes = self.current().gateway.not_ready();
        if self
            .inner
            .draining
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            notes.push("shutting down".to_owned());
        }
        notes
    }

    /// Reloads on `SIGHUP` and, when `reload.watch` is on, on changes under
    /// the spec folder, until the process ends.
    pub(crate) fn watch(&self) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        #[cfg(unix)]
        {
            let tx = tx.clone();
            tokio::spawn(async move {
                use tokio::signal::unix::{SignalKind, signal};
                let Ok(mut hup) = signal(SignalKind::hangup()) else {
                    return;
                };
                while hup.recv().await.is_some() {
                    if tx.send("SIGHUP").is_err() {
                        return;
                    }
                }
            });
        }
        let config = self.current().gateway.plan().config.reload.clone();
        let watcher = if config.watch {
            start_watcher(&self.inner.dir, tx)
        } else {
            None
        };
        let live = self.clone();
        tokio::spawn(async move {
            // The watcher lives as long as this task.
            let _watcher = watcher;
            while let Some(cause) = rx.recv().await {
                if cause == "watch" {
                    // An editor's or `kubectl apply`'s several writes make one
                    // reload: wait until the folder has been quiet a while.
                    while let Ok(Some(_)) = tokio::time::timeout(config.debounce, rx.recv()).await {
                    }
                } else {
                    while rx.try_recv().is_ok() {}
                }
                let _ = live.reload(cause).await;
            }
        });
    }
}

/// The service of [`Live::service`]: each request goes to the generation
/// current when it arrives, and keeps its router (and so its plan) until
/// answered.
#[derive(Clone)]
pub(crate) struct Current {
    live: Live,
}

impl<B> tower::Service<http::Request<B>> for Current
where
    B: HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Oneshot<Edge<Router>, Request>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let service = self.live.inner.current.load().service.clone();
        service.oneshot(req.map(Body::new))
    }
}

/// Sends `watch` for every change under `dir`; reading files (as a reload
/// does) is not a change.
fn start_watcher(
    dir: &std::path::Path,
    tx: tokio::sync::mpsc::UnboundedSender<&'static str>,
) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let handler = move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = tx.send("watch");
        }
    };
    let started = notify::recommended_watcher(handler)
        .and_then(|mut w| w.watch(dir, notify::RecursiveMode::Recursive).map(|()| w));
    match started {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the spec folder; reload with SIGHUP or the admin listener");
            None
        }
    }
}

fn generation(number: u64, gateway: Gateway) -> Generation {
    let tasks = gateway.start_background();
    Generation {
        number,
        service: gateway.service(),
        gateway,
        loaded_at: SystemTime::now(),
        tasks,
    }
}

/// Settings bound when the process starts are kept; say so rather than
/// pretend they changed.
fn warn_restart_only(old: &crate::plan::Plan, new: &crate::plan::Plan) {
    let (a, b) = (&old.config, &new.config);
    let changed = [
        ("listen", a.listen != b.listen),
        ("tls", old.tls.is_some() != new.tls.is_some()),
        (
            "admin.listen",
            a.admin.as_ref().map(|x| &x.listen) != b.admin.as_ref().map(|x| &x.listen),
        ),
        (
            "telemetry.otlp_endpoint",
            a.telemetry.otlp_endpoint != b.telemetry.otlp_endpoint,
        ),
        (
            "limits (of connections)",
            (
                a.limits.header_read_timeout,
                a.limits.keep_alive_timeout,
                a.limits.max_header_bytes,
                a.limits.max_headers,
            ) != (
                b.limits.header_read_timeout,
                b.limits.keep_alive_timeout,
                b.limits.max_header_bytes,
                b.limits.max_headers,
            ),
        ),
        (
            "reload",
            format!("{:?}", a.reload) != format!("{:?}", b.reload),
        ),
    ];
    for (key, differs) in changed {
        if differs {
            tracing::warn!(
                key,
                "this bff.yaml setting takes effect at the next restart"
            );
        }
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
