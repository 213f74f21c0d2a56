//! The freshness of a composed answer, gathered from its parts while the
//! call graph runs (each upstream answer comes back with its [`Part`]):
//! the least fresh part bounds the whole, a part made for one caller makes
//! it private, a part that cannot be kept makes the whole uncacheable.

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

impl Freshness {
    /// Counts one more part.
    pub(crate) fn add(&mut self, part: Part) {
        match part.left {
            Some(l) => self.left = Some(self.left.map_or(l, |m| m.min(l))),
            None => self.uncacheable = true,
        }
        self.private |= part.private;
    }

    /// Counts the parts of another call.
    pub(crate) fn merge(&mut self, other: Self) {
        if let Some(l) = other.left {
            self.left = Some(self.left.map_or(l, |m| m.min(l)));
        }
        self.uncacheable |= other.uncacheable;
        self.private |= other.private;
    }
}

/// What one upstream answer says about the composed answer it is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    /// Time it stays fresh; `None`: it cannot be kept.
    pub left: Option<Duration>,
    /// It was made for one caller.
    pub private: bool,
}

impl Part {
    /// A part that cannot be kept.
    pub(crate) fn unkept(private: bool) -> Self {
        Self {
            left: None,
            private,
        }
    }
}
