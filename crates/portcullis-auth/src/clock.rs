//! Wall-clock time behind a trait, so that expiry logic (sessions, tokens, state cookies,
//! logout tokens) can be tested by moving a manual clock instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time, in whole seconds since the Unix epoch (the unit of JWT
/// `exp`/`iat`).
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that starts at the system time and moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock reading the current system time.
    pub fn new() -> Self {
        Self {
            now: AtomicI64::new(SystemClock.now()),
        }
    }

    /// A clock reading `seconds` since the epoch.
    pub fn at(seconds: i64) -> Self {
        Self {
            now: AtomicI64::new(seconds),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let seconds = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        self.now.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(Duration::from_secs(30));
        assert_eq!(clock.now(), 1_030);
        assert!(SystemClock.now() > 1_600_000_000);
    }
}
