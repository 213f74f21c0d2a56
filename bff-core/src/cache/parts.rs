//! The freshness of a composed answer, gathered from its parts while the
//! call graph runs: the least fresh part bounds the whole, a part made for
//! one caller makes it private, a part that cannot be kept makes the
//! whole uncacheable.

use std::time::Duration;

/// How long the parts of one composed answer stay fresh: the least fresh
/// part bounds the whole, a private part makes it private, and a part that
/// cannot be kept makes the whole uncacheable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// Time the least fresh part has left; `None` before any part is seen.
    pub left: Option<Duration>,
    /// A part cannot be kept.
    pub uncacheable: bool,
    /// A part was made for one caller.
    pub private: bool,
}

impl Freshness {
    /// How long the whole may be kept, if at all.
    pub(crate) fn lifetime(&self) -> Option<Duration> {
        self.left
            .filter(|l| !self.uncacheable && *l > Duration::ZERO)
    }
}

tokio::task_local! {
    /// The freshness of the parts of the answer being composed.
    pub static PARTS: std::cell::Cell<Freshness>;
}

/// Records one part of the answer being composed (`None`: not keepable).
pub(crate) fn note_part(left: Option<Duration>, private: bool) {
    let _ = PARTS.try_with(|cell| {
        let mut f = cell.get();
        match left {
            Some(l) => f.left = Some(f.left.map_or(l, |m| m.min(l))),
            None => f.uncacheable = true,
        }
        f.private |= private;
        cell.set(f);
    });
}
