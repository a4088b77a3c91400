//! Who is calling and whether they may: the `u21-key` check, permissions, and Unit21's
//! per-second rate limit with its `X-RateLimit-*` headers.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::config::Permission;
use crate::state::AppState;

/// The Unit21 routes, each with its own rate-limit bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Route {
    Create,
    Get,
    List,
}

/// An authenticated caller, and the rate-limit headers its response must carry.
pub(crate) struct Caller {
    pub org: std::sync::Arc<str>,
    rate_headers: HeaderMap,
}

impl Caller {
    /// The handler's answer, success or error, with the caller's rate-limit headers.
    pub fn respond(self, result: Result<Response, ApiError>) -> Response {
        let mut response = result.unwrap_or_else(IntoResponse::into_response);
        response.headers_mut().extend(self.rate_headers);
        response
    }
}

impl AppState {
    /// Checks the key, then the rate limit, then the permission.
    pub(crate) fn authorize(
        &self,
        headers: &HeaderMap,
        route: Route,
        permission: Permission,
    ) -> Result<Caller, ApiError> {
        let key = headers
            .get("u21-key")
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let entry = self.keys.get(key).ok_or(ApiError::Unauthorized)?;
        let bucket = self.config.fidelity.rate_limit_per_route.then_some(route);
        let decision = self
            .rate_limiter
            .lock()
            .check(key, bucket, self.clock.now_millis());
        let rate_headers = match decision {
            Decision::Unlimited => HeaderMap::new(),
            Decision::Allowed(headers) => headers,
            Decision::Refused(headers) => return Err(ApiError::TooManyRequests(headers)),
        };
        if !entry.permissions.contains(&permission) {
            return Err(ApiError::Forbidden);
        }
        Ok(Caller {
            org: entry.org.clone(),
            rate_headers,
        })
    }
}

/// A fixed one-second window per key (and route, by default), on the fake's clock.
pub(crate) struct RateLimiter {
    per_second: u32,
    /// Only configured keys reach the limiter, so this map is bounded by the key list.
    windows: HashMap<(String, Option<Route>), Window>,
}

struct Window {
    second: i64,
    count: u32,
}

pub(crate) enum Decision {
    Unlimited,
    Allowed(HeaderMap),
    Refused(HeaderMap),
}

impl RateLimiter {
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second,
            windows: HashMap::new(),
        }
    }

    /// Counts a call by `key` to `route` (`None` when all routes share one bucket).
    pub fn check(&mut self, key: &str, route: Option<Route>, now_ms: i64) -> Decision {
        if self.per_second == 0 {
            return Decision::Unlimited;
        }
        let second = now_ms.div_euclid(1000);
        let window = self
            .windows
            .entry((key.to_owned(), route))
            .or_insert(Window { second, count: 0 });
        if window.second != second {
            *window = Window { second, count: 0 };
        }
        let allowed = window.count < self.per_second;
        if allowed {
            window.count += 1;
        }
        let headers = rate_headers(self.per_second, self.per_second - window.count, second + 1);
        if allowed {
            Decision::Allowed(headers)
        } else {
            Decision::Refused(headers)
        }
    }
}

fn rate_headers(limit: u32, remaining: u32, reset: i64) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(3);
    let mut put = |name: &'static str, value: String| {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("digits are a valid header value"),
        );
    };
    put("x-ratelimit-limit", limit.to_string());
    put("x-ratelimit-remaining", remaining.to_string());
    put("x-ratelimit-reset", reset.to_string());
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remaining(d: &Decision) -> (bool, String) {
        match d {
            Decision::Allowed(h) => (true, h["x-ratelimit-remaining"].to_str().unwrap().into()),
            Decision::Refused(h) => (false, h["x-ratelimit-remaining"].to_str().unwrap().into()),
            Decision::Unlimited => panic!("unlimited"),
        }
    }

    #[test]
    fn windows_are_per_key_route_and_second() {
        let mut limiter = RateLimiter::new(2);
        assert_eq!(
            remaining(&limiter.check("k", Some(Route::Get), 1000)),
            (true, "1".into())
        );
        assert_eq!(
            remaining(&limiter.check("k", Some(Route::Get), 1999)),
            (true, "0".into())
        );
        assert_eq!(
            remaining(&limiter.check("k", Some(Route::Get), 1500)),
            (false, "0".into())
        );
        assert_eq!(
            remaining(&limiter.check("k", Some(Route::List), 1500)),
            (true, "1".into())
        );
        assert_eq!(
            remaining(&limiter.check("other", Some(Route::Get), 1500)),
            (true, "1".into())
        );
        assert_eq!(
            remaining(&limiter.check("k", Some(Route::Get), 2000)),
            (true, "1".into())
        );
        match limiter.check("k", Some(Route::Create), 2000) {
            Decision::Allowed(h) => assert_eq!(h["x-ratelimit-reset"], "3"),
            _ => panic!("allowed"),
        }
    }

    #[test]
    fn one_bucket_per_key_is_a_switch_away() {
        let mut limiter = RateLimiter::new(1);
        assert!(matches!(limiter.check("k", None, 0), Decision::Allowed(_)));
        assert!(matches!(limiter.check("k", None, 0), Decision::Refused(_)));
    }

    #[test]
    fn zero_turns_the_limit_off() {
        assert!(matches!(
            RateLimiter::new(0).check("k", None, 0),
            Decision::Unlimited
        ));
    }
}
