//! One JSON line per request on standard output: who asked for what, what
//! it got, how long it took, and what each upstream call did. Only names,
//! numbers and ids are written: never headers, query strings, bodies or
//! credentials.
//!
//! A request's thread only queues its line; one writer thread writes what
//! has queued up in one `write(2)`, so the log costs a request no system
//! call and a slow reader of standard output never holds a request up.
//! Should the queue fill (the reader stopped reading), lines are dropped
//! and counted rather than waited for.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
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

/// Lines queued and not yet written, at most.
const QUEUE: usize = 16_384;

/// Bytes gathered into one write, at most (more lines wait for the next).
const BATCH: usize = 256 * 1024;

/// The queue to the writer thread, and how many lines are in it.
struct Writer {
    lines: SyncSender<Vec<u8>>,
    pending: AtomicUsize,
}

static WRITER: OnceLock<Writer> = OnceLock::new();

fn writer() -> &'static Writer {
    WRITER.get_or_init(|| {
        let (lines, queued) = sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("bff-request-log".to_owned())
            .spawn(move || write_batches(&queued));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "request log writer did not start; lines are dropped");
        }
        Writer {
            lines,
            pending: AtomicUsize::new(0),
        }
    })
}

/// The writer thread: waits for a line, takes every other line queued by
/// then, writes them at once. A failing stdout (a closed pipe) loses the
/// lines, not the requests.
fn write_batches(queued: &Receiver<Vec<u8>>) {
    let mut out = std::io::stdout();
    let mut batch = Vec::with_capacity(16 * 1024);
    while let Ok(line) = queued.recv() {
        batch.extend_from_slice(&line);
        let mut n = 1;
        while batch.len() < BATCH
            && let Ok(line) = queued.try_recv()
        {
            batch.extend_from_slice(&line);
            n += 1;
        }
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if let Some(w) = WRITER.get() {
            w.pending.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// Queues the line for the writer thread.
pub(crate) fn write(entry: &Entry<'_>) {
    let Ok(mut line) = serde_json::to_vec(entry) else {
        return;
    };
    line.push(b'\n');
    let w = writer();
    w.pending.fetch_add(1, Ordering::AcqRel);
    if w.lines.try_send(line).is_err() {
        w.pending.fetch_sub(1, Ordering::AcqRel);
        metrics::counter!("bff_request_log_dropped_total").increment(1);
    }
}

/// Waits until every line queued so far is written, at most `timeout`
/// (when the process ends).
pub(crate) fn flush(timeout: Duration) {
    let Some(w) = WRITER.get() else {
        return;
    };
    let start = Instant::now();
    while w.pending.load(Ordering::Acquire) > 0 && start.elapsed() < timeout {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Milliseconds with a tenth of a millisecond's precision.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Now, as the log writes it.
pub(crate) fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
