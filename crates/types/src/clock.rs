//! Where time comes from.

use crate::Timestamp;

/// A source of the current time.
///
/// Only the shell reads a clock, and it hands the reading down as a
/// [`Timestamp`]: the pure crates below never call one. The runtime's
/// `SystemClock` reads the wall clock; tests substitute their own.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}
