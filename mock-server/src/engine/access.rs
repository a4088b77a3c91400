//! The access part: who is calling and whether they may (the `u21-key` check, permissions,
//! and Unit21's per-second rate limit). The HTTP layer writes the `X-RateLimit-*` headers from
//! a [`RateInfo`].
//!
//! [`Access`] owns its one lock, the rate limiter's; the keys never change once the fake
//! starts and need none.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::clock::Clock;
use crate::config::{Config, Permission};

/// The keys and the rate limiter.
pub(crate) struct Access {
    keys: Keys,
    clock: Clock,
    /// Calls per second and key (0: no limit).
    per_second: u32,
    /// `fidelity.rate_limit_per_route`: each route counts apart.
    per_route: bool,
    rate_limiter: Mutex<RateLimiter>,
}

impl Access {
    pub fn new(config: &Config, clock: Clock) -> Self {
        let keys = Keys::new(config);
        Access {
            rate_limiter: Mutex::new(RateLimiter::new(config.rate_limit, keys.len())),
            keys,
            clock,
            per_second: config.rate_limit,
            per_route: config.fidelity.rate_limit_per_route,
        }
    }

    /// Checks the key, then the rate limit, then the permission.
    pub fn authorize(
        &self,
        key: Option<&str>,
        route: Route,
        permission: Permission,
    ) -> Result<Caller, Denied> {
        let bucket = self.per_route.then_some(route);
        let now_ms = self.clock.now_millis();
        self.keys.authorize(
            &mut self.rate_limiter.lock(),
            key,
            bucket,
            permission,
            now_ms,
            Instant::now(),
        )
    }

    /// True when the key is configured.
    pub fn is_known_key(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// The organisation of a configured key.
    pub fn org_of_key(&self, key: &str) -> Option<Arc<str>> {
        self.keys.org(key).cloned()
    }

    /// Forgets every rate-limit window.
    pub fn reset(&self) {
        *self.rate_limiter.lock() = RateLimiter::new(self.per_second, self.keys.len());
    }
}

/// The Unit21 routes, each with its own rate-limit bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    Create,
    Get,
    List,
}

impl Route {
    const COUNT: usize = 3;
}

/// Why a caller was turned away.
#[derive(Debug)]
pub(crate) enum Denied {
    /// No key, or one nobody configured.
    Unauthorized,
    /// Over the rate limit.
    RateLimited(RateInfo),
    /// The key lacks the permission.
    Forbidden,
}

/// The `X-RateLimit-*` figures of a counted call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// The second (since the epoch) the window resets at.
    pub reset: i64,
}

/// An authenticated caller, and the rate-limit figures its answer must carry.
pub(crate) struct Caller {
    pub org: Arc<str>,
    pub rate: Option<RateInfo>,
}

/// The configured keys, each with a small number that the rate limiter's windows are indexed
/// by (so counting a call allocates nothing).
struct Keys {
    entries: HashMap<String, KeyEntry>,
    /// `fidelity.keys_case_sensitive`: else keys are stored and looked up in lower case.
    case_sensitive: bool,
}

struct KeyEntry {
    index: usize,
    org: Arc<str>,
    permissions: Vec<Permission>,
}

impl Keys {
    pub fn new(config: &Config) -> Self {
        let case_sensitive = config.fidelity.keys_case_sensitive;
        let mut keys = Keys {
            entries: HashMap::new(),
            case_sensitive,
        };
        for k in config.effective_keys() {
            let index = keys.entries.len();
            let key = keys.normal(&k.key).into_owned();
            keys.entries.entry(key).or_insert(KeyEntry {
                index,
                org: k.org.into(),
                permissions: k.permissions,
            });
        }
        keys
    }

    /// `key` as it is stored: as given, or lower-cased when keys ignore case.
    fn normal<'k>(&self, key: &'k str) -> std::borrow::Cow<'k, str> {
        if self.case_sensitive {
            key.into()
        } else {
            key.to_ascii_lowercase().into()
        }
    }

    fn get(&self, key: &str) -> Option<&KeyEntry> {
        self.entries.get(self.normal(key).as_ref())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The organisation a key belongs to.
    pub fn org(&self, key: &str) -> Option<&Arc<str>> {
        self.get(key).map(|e| &e.org)
    }

    /// Checks the key, then the rate limit, then the permission.
    pub fn authorize(
        &self,
        limiter: &mut RateLimiter,
        key: Option<&str>,
        route: Option<Route>,
        permission: Permission,
        now_ms: i64,
        real: Instant,
    ) -> Result<Caller, Denied> {
        let entry = key
            .filter(|k| !k.is_empty())
            .and_then(|k| self.get(k))
            .ok_or(Denied::Unauthorized)?;
        let rate = match limiter.check(entry.index, route, now_ms, real) {
            Decision::Unlimited => None,
            Decision::Allowed(info) => Some(info),
            Decision::Refused(info) => return Err(Denied::RateLimited(info)),
        };
        if !entry.permissions.contains(&permission) {
            return Err(Denied::Forbidden);
        }
        Ok(Caller {
            org: entry.org.clone(),
            rate,
        })
    }
}

/// A fixed one-second window per key (and route, by default), on the fake's clock.
pub(crate) struct RateLimiter {
    per_second: u32,
    /// Per key index, one window per route plus one shared by all routes: bounded by the
    /// key list.
    windows: Vec<[Window; Route::COUNT + 1]>,
}

#[derive(Clone, Copy, Default)]
struct Window {
    second: i64,
    count: u32,
    /// When (in real time) a call was first refused in this window.
    full_since: Option<Instant>,
}

#[derive(Debug)]
pub(crate) enum Decision {
    Unlimited,
    Allowed(RateInfo),
    Refused(RateInfo),
}

impl RateLimiter {
    pub fn new(per_second: u32, keys: usize) -> Self {
        Self {
            per_second,
            windows: vec![[Window::default(); Route::COUNT + 1]; keys],
        }
    }

    /// Counts a call by key number `key` to `route` (`None` when all routes share one bucket),
    /// at `now_ms` on the fake's clock and `real` on the machine's.
    ///
    /// A window is the clock's second. A frozen clock's second never ends by itself, and a
    /// client over the limit would be refused forever; so a full window also ends one real
    /// second after its first refusal. A client that waits as `X-RateLimit-Reset` says (one
    /// second) then finds room, and calls made at once after a refusal are still refused.
    pub fn check(
        &mut self,
        key: usize,
        route: Option<Route>,
        now_ms: i64,
        real: Instant,
    ) -> Decision {
        if self.per_second == 0 {
            return Decision::Unlimited;
        }
        if key >= self.windows.len() {
            self.windows
                .resize(key + 1, [Window::default(); Route::COUNT + 1]);
        }
        let second = now_ms.div_euclid(1000);
        let window = &mut self.windows[key][route.map_or(Route::COUNT, |r| r as usize)];
        let waited_out = window
            .full_since
            .is_some_and(|since| real.saturating_duration_since(since) >= Duration::from_secs(1));
        if window.second != second || waited_out {
            *window = Window {
                second,
                count: 0,
                full_since: None,
            };
        }
        let allowed = window.count < self.per_second;
        if allowed {
            window.count += 1;
        } else {
            window.full_since.get_or_insert(real);
        }
        let info = RateInfo {
            limit: self.per_second,
            remaining: self.per_second - window.count,
            reset: second + 1,
        };
        if allowed {
            Decision::Allowed(info)
        } else {
            Decision::Refused(info)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *START.get_or_init(Instant::now)
    }

    fn remaining(d: &Decision) -> (bool, String) {
        match d {
            Decision::Allowed(i) => (true, i.remaining.to_string()),
            Decision::Refused(i) => (false, i.remaining.to_string()),
            Decision::Unlimited => panic!("unlimited"),
        }
    }

    #[test]
    fn windows_are_per_key_route_and_second() {
        let mut limiter = RateLimiter::new(2, 2);
        assert_eq!(
            remaining(&limiter.check(0, Some(Route::Get), 1000, t0())),
            (true, "1".into())
        );
        assert_eq!(
            remaining(&limiter.check(0, Some(Route::Get), 1999, t0())),
            (true, "0".into())
        );
        assert_eq!(
            remaining(&limiter.check(0, Some(Route::Get), 1500, t0())),
            (false, "0".into())
        );
        assert_eq!(
            remaining(&limiter.check(0, Some(Route::List), 1500, t0())),
            (true, "1".into())
        );
        assert_eq!(
            remaining(&limiter.check(1, Some(Route::Get), 1500, t0())),
            (true, "1".into())
        );
        assert_eq!(
            remaining(&limiter.check(0, Some(Route::Get), 2000, t0())),
            (true, "1".into())
        );
        match limiter.check(0, Some(Route::Create), 2000, t0()) {
            Decision::Allowed(i) => assert_eq!(i.reset, 3),
            _ => panic!("allowed"),
        }
    }

    #[test]
    fn one_bucket_per_key_is_a_switch_away() {
        let mut limiter = RateLimiter::new(1, 1);
        assert!(matches!(
            limiter.check(0, None, 0, t0()),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            limiter.check(0, None, 0, t0()),
            Decision::Refused(_)
        ));
    }

    #[test]
    fn on_a_frozen_second_a_full_window_ends_a_real_second_after_its_first_refusal() {
        let mut limiter = RateLimiter::new(1, 1);
        let frozen_ms = 1_700_000_000_000;
        let at = |ms: u64| t0() + Duration::from_millis(ms);
        assert!(matches!(
            limiter.check(0, None, frozen_ms, at(0)),
            Decision::Allowed(_)
        ));
        match limiter.check(0, None, frozen_ms, at(100)) {
            Decision::Refused(info) => assert_eq!(info.reset, frozen_ms / 1000 + 1),
            _ => panic!("refused within the window"),
        }
        // Still refused just before a real second has passed since that refusal.
        assert!(matches!(
            limiter.check(0, None, frozen_ms, at(1099)),
            Decision::Refused(_)
        ));
        assert!(matches!(
            limiter.check(0, None, frozen_ms, at(1100)),
            Decision::Allowed(_)
        ));
        assert!(matches!(
            limiter.check(0, None, frozen_ms, at(1200)),
            Decision::Refused(_)
        ));
    }

    #[test]
    fn zero_turns_the_limit_off() {
        assert!(matches!(
            RateLimiter::new(0, 1).check(0, None, 0, t0()),
            Decision::Unlimited
        ));
    }
}
