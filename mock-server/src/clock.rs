//! The one clock every timestamp and lifecycle step in the fake reads.
//!
//! Real time by default, so rate-limit windows and policy expiry behave as they would against
//! Unit21; tests move it forward with [`Clock::advance`] (or freeze it with [`Clock::frozen`])
//! instead of sleeping. Nothing in the fake waits on a timer: lifecycle steps that fall due are
//! applied the next time anyone looks, so moving the clock is all a test has to do.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// The latest instant the clock reaches: 9999-12-01T00:00:00Z. Past it, a form's expiry (two
/// hours after its creation) would need a five-digit year, which ISO 8601 policies cannot
/// hold; the control plane refuses to move the clock further, and the handle stops there.
pub const LATEST_MS: i64 = 253_399_622_400_000;

/// A shareable, drivable clock with millisecond resolution. Clones share the same time.
///
/// Reading it takes no lock: its whole state is one atomic word (every request reads the
/// clock, often several times).
#[derive(Clone, Debug)]
pub struct Clock {
    /// `ms << 1 | frozen`: frozen, `ms` is the instant it stands at; following the system
    /// clock, `ms` is how far it has been moved ahead.
    state: Arc<AtomicI64>,
}

const FROZEN: i64 = 1;

fn pack(ms: i64, frozen: bool) -> i64 {
    (ms.clamp(-LATEST_MS, LATEST_MS) << 1) | i64::from(frozen)
}

fn unpack(word: i64) -> (i64, bool) {
    (word >> 1, word & FROZEN != 0)
}

impl Clock {
    /// A clock that follows system time (plus whatever it is advanced by).
    pub fn system() -> Self {
        Self::from_word(pack(0, false))
    }

    /// A clock that stands still at `at` until advanced or set.
    pub fn frozen(at: SystemTime) -> Self {
        Self::from_word(pack(to_millis(at), true))
    }

    fn from_word(word: i64) -> Self {
        Self {
            state: Arc::new(AtomicI64::new(word)),
        }
    }

    /// The current time on this clock (never past [`LATEST_MS`]).
    pub fn now(&self) -> SystemTime {
        let (ms, frozen) = unpack(self.state.load(Ordering::Acquire));
        let latest = UNIX_EPOCH + Duration::from_millis(LATEST_MS as u64);
        if frozen {
            return from_millis(ms).min(latest);
        }
        SystemTime::now()
            .checked_add(Duration::from_millis(ms.max(0) as u64))
            .map_or(latest, |t| t.min(latest))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        let (ms, frozen) = unpack(self.state.load(Ordering::Acquire));
        if frozen {
            ms.min(LATEST_MS)
        } else {
            to_millis(SystemTime::now())
                .saturating_add(ms)
                .min(LATEST_MS)
        }
    }

    /// Moves the clock forward by `by`, stopping at [`LATEST_MS`].
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                let (ms, frozen) = unpack(word);
                Some(pack(ms.saturating_add(by).min(LATEST_MS), frozen))
            });
    }

    /// How far the clock may still be advanced before it reaches [`LATEST_MS`].
    pub fn room(&self) -> Duration {
        Duration::from_millis((LATEST_MS - self.now_millis()).max(0) as u64)
    }

    /// Freezes the clock at `at` (at most [`LATEST_MS`]).
    pub fn set(&self, at: SystemTime) {
        self.state
            .store(pack(to_millis(at).min(LATEST_MS), true), Ordering::Release);
    }

    /// `(frozen_at_ms, offset_ms)`: what a snapshot needs to put the clock back.
    pub fn parts(&self) -> (Option<i64>, i64) {
        match unpack(self.state.load(Ordering::Acquire)) {
            (ms, true) => (Some(ms), 0),
            (offset, false) => (None, offset),
        }
    }

    /// Restores what [`Clock::parts`] returned.
    pub fn restore(&self, frozen_at_ms: Option<i64>, offset_ms: i64) {
        let word = match frozen_at_ms {
            Some(at) => pack(at.max(0).saturating_add(offset_ms.max(0)), true),
            None => pack(offset_ms.max(0), false),
        };
        self.state.store(word, Ordering::Release);
    }

    /// True when the clock only moves when told to.
    pub fn is_frozen(&self) -> bool {
        unpack(self.state.load(Ordering::Acquire)).1
    }
}

fn from_millis(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
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
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// `2026-11-28T05:31:39.000Z`.
pub fn iso8601_millis(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
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
