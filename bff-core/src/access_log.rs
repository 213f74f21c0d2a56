//! One JSON line per request on standard output: who asked for what, what
//! it got, how long it took, and what each upstream call did. Only names,
//! numbers and ids are written: never headers, query strings, bodies or
//! credentials.
//!
//! A request's thread only appends its line to a buffer; one writer thread
//! writes what has gathered every 20 ms in one `write(2)`, so the log costs
//! a request no system call and a slow reader of standard output never
//! holds a request up. Should 4 MB of lines wait (the reader stopped
//! reading), further lines are dropped and counted rather than waited for.

use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::Serialize;

/// What each call of a composed request did, attached to its response.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallReport(pub Vec<CallLog>);

/// One call of a composed request.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallLog {
    /// The call's name in the spec.
    pub name: String,
    /// How long it took, in milliseconds.
    pub ms: f64,
    /// `ok`, or why it failed (`timeout`, `status-503`, …).
    pub outcome: String,
}

/// The identity subject of a request, attached to its response.
#[derive(Debug, Clone)]
pub(crate) struct Subject(pub String);

/// One request's line.
#[derive(Serialize)]
pub(crate) struct Entry<'a> {
    /// When it was answered (RFC 3339, milliseconds).
    pub ts: String,
    /// The `X-Request-Id` it was given or brought.
    pub request_id: &'a str,
    /// The W3C trace id, when the request is traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// The client address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// HTTP method.
    pub method: &'a str,
    /// The path, without its query (which may carry secrets).
    pub path: &'a str,
    /// The endpoint (`GET /v1/products/{id}`) or route prefix that answered.
    pub endpoint: &'a str,
    /// Response status.
    pub status: u16,
    /// Time to the response head, in milliseconds.
    pub duration_ms: f64,
    /// The caller's identity subject, when authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<&'a str>,
    /// Whether optional calls fell back.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// The calls of a composed endpoint.
    #[serde(skip_serializing_if = "<[CallLog]>::is_empty")]
    pub calls: &'a [CallLog],
}

/// Bytes of lines waiting, at most; past it, lines are dropped (and counted).
const MAX_WAITING: usize = 4 * 1024 * 1024;

/// How often the writer thread writes what has gathered.
const EVERY: Duration = Duration::from_millis(20);

/// Lines waiting for the writer thread, appended by requests under a lock
/// held for a copy; the writer swaps the buffer out and writes it whole.
struct Writer {
    waiting: Mutex<Vec<u8>>,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

fn writer() -> &'static Writer {
    WRITER.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("bff-request-log".to_owned())
            .spawn(write_batches);
        if let Err(e) = spawned {
            tracing::error!(error = %e, "request log writer did not start; lines are dropped");
        }
        Writer {
            waiting: Mutex::new(Vec::with_capacity(64 * 1024)),
        }
    })
}

/// The writer thread: every [`EVERY`], whatever has gathered goes out in
/// one write. Requests never wake it (no system call on their side); at
/// tens of thousands of requests a second that is one write for hundreds
/// of lines. A failing stdout (a closed pipe) loses the lines, not the
/// requests.
fn write_batches() {
    let mut out = std::io::stdout();
    let mut batch = Vec::with_capacity(64 * 1024);
    loop {
        std::thread::sleep(EVERY);
        let Some(w) = WRITER.get() else { continue };
        std::mem::swap(&mut batch, &mut *lock(&w.waiting));
        if !batch.is_empty() {
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
            // A burst's buffer is not kept for ever.
            batch.shrink_to(64 * 1024);
        }
    }
}

fn lock(m: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Queues the line for the writer thread.
pub(crate) fn write(entry: &Entry<'_>) {
    thread_local! {
        static LINE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        if serde_json::to_writer(&mut *line, entry).is_err() {
            return;
        }
        line.push(b'\n');
        let mut waiting = lock(&writer().waiting);
        if waiting.len() + line.len() > MAX_WAITING {
            drop(waiting);
            metrics::counter!("bff_request_log_dropped_total").increment(1);
            return;
        }
        waiting.extend_from_slice(line);
    });
}

/// Waits until every line queued so far is written, at most `timeout`
/// (when the process ends).
pub(crate) fn flush(timeout: Duration) {
    let Some(w) = WRITER.get() else {
        return;
    };
    let start = Instant::now();
    while !lock(&w.waiting).is_empty() && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(1));
    }
    // What the writer swapped out just now is being written.
    std::thread::sleep(EVERY.min(timeout.saturating_sub(start.elapsed())));
}

/// Milliseconds with a tenth of a millisecond's precision.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Now, as the log writes it.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
