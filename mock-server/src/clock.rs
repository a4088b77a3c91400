//! The one clock every timestamp and lifecycle step in the fake reads.
//!
//! Real time by default, so rate-limit windows and policy expiry behave as they would against
//! Unit21; tests move it forward with [`Clock::advance`] (or freeze it with [`Clock::frozen`])
//! instead of sleeping. Nothing in the fake waits on a timer: lifecycle steps that fall due are
//! applied the next time anyone looks, so moving the clock is all a test has to do.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// The latest instant the clock reaches: 9999-12-01T00:00:00Z. Past it, a form's expiry (two
/// hours after its creation) would need a five-digit year, which ISO 8601 policies cannot
/// hold; the control plane refuses to move the clock further, and the handle stops there.
pub const LATEST_MS: i64 = 253_399_622_400_000;

/// A shareable, drivable clock. Clones share the same time.
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    /// `None` follows the system clock; `Some` is frozen at that instant.
    frozen_at: Option<SystemTime>,
    /// How far the clock has been moved ahead of its base.
    offset: Duration,
}

impl Clock {
    /// A clock that follows system time (plus whatever it is advanced by).
    pub fn system() -> Self {
        Self::with_state(None)
    }

    /// A clock that stands still at `at` until advanced or set.
    pub fn frozen(at: SystemTime) -> Self {
        Self::with_state(Some(at))
    }

    fn with_state(frozen_at: Option<SystemTime>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(State {
                frozen_at,
                offset: Duration::ZERO,
            })),
        }
    }

    /// The current time on this clock (never past [`LATEST_MS`]).
    pub fn now(&self) -> SystemTime {
        let state = self.inner.lock();
        let latest = UNIX_EPOCH + Duration::from_millis(LATEST_MS as u64);
        state
            .frozen_at
            .unwrap_or_else(SystemTime::now)
            .checked_add(state.offset)
            .map_or(latest, |t| t.min(latest))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        to_millis(self.now())
    }

    /// Moves the clock forward by `by`, stopping at [`LATEST_MS`].
    pub fn advance(&self, by: Duration) {
        let mut state = self.inner.lock();
        let limit = Duration::from_millis(LATEST_MS as u64);
        state.offset = state.offset.checked_add(by).unwrap_or(limit).min(limit);
    }

    /// How far the clock may still be advanced before it reaches [`LATEST_MS`].
    pub fn room(&self) -> Duration {
        Duration::from_millis((LATEST_MS - self.now_millis()).max(0) as u64)
    }

    /// Freezes the clock at `at` (at most [`LATEST_MS`]).
    pub fn set(&self, at: SystemTime) {
        let latest = UNIX_EPOCH + Duration::from_millis(LATEST_MS as u64);
        let mut state = self.inner.lock();
        state.frozen_at = Some(at.min(latest));
        state.offset = Duration::ZERO;
    }

    /// `(frozen_at_ms, offset_ms)`: what a snapshot needs to put the clock back.
    pub fn parts(&self) -> (Option<i64>, i64) {
        let state = self.inner.lock();
        (
            state.frozen_at.map(to_millis),
            state.offset.as_millis() as i64,
        )
    }

    /// Restores what [`Clock::parts`] returned.
    pub fn restore(&self, frozen_at_ms: Option<i64>, offset_ms: i64) {
        let mut state = self.inner.lock();
        state.frozen_at =
            frozen_at_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64));
        state.offset = Duration::from_millis(offset_ms.max(0) as u64);
    }

    /// True when the clock only moves when told to.
    pub fn is_frozen(&self) -> bool {
        self.inner.lock().frozen_at.is_some()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

/// Milliseconds since the Unix epoch for `t` (negative before it).
pub fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let clock = Clock::frozen(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now_millis(), 1_700_000_001_500);
        let shared = clock.clone();
        shared.advance(Duration::from_secs(1));
        assert_eq!(clock.now_millis(), 1_700_000_002_500);
    }

    #[test]
    fn the_clock_stops_at_its_latest_instant_instead_of_overflowing() {
        let clock = Clock::frozen(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        clock.advance(Duration::from_secs(9_300_000_000_000_000_000));
        assert_eq!(clock.now_millis(), LATEST_MS);
        clock.advance(Duration::MAX);
        assert_eq!(clock.now_millis(), LATEST_MS);
        assert_eq!(clock.room(), Duration::ZERO);
        clock.set(UNIX_EPOCH + Duration::from_secs(u64::MAX / 2));
        assert_eq!(clock.now_millis(), LATEST_MS);
    }

    #[test]
    fn advancing_a_system_clock_puts_it_ahead_of_real_time() {
        let clock = Clock::system();
        clock.advance(Duration::from_secs(3600));
        let ahead = clock.now().duration_since(SystemTime::now()).unwrap();
        assert!(ahead > Duration::from_secs(3590), "{ahead:?}");
    }
}
