//! When to try again, and how long to wait first.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Exponential backoff with full jitter; a server's `Retry-After` or `X-RateLimit-Reset`
/// overrides the backoff for that attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first; 0 turns retrying off.
    pub max_retries: u32,
    /// The first backoff ceiling; it doubles each attempt.
    pub base_delay: Duration,
    /// The largest backoff.
    pub max_delay: Duration,
    /// The longest wait a server may ask for; longer requests are cut to this.
    pub max_server_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_server_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The wait before retry number `attempt` (from 0): a random point below the backoff
    /// ceiling, or what the server asked for.
    pub fn delay(&self, attempt: u32, headers: Option<&HeaderMap>, now: SystemTime) -> Duration {
        if let Some(asked) = headers.and_then(|h| server_delay(h, now)) {
            return asked.min(self.max_server_delay);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max_delay);
        ceiling.mul_f64(rand::random::<f64>())
    }
}

/// What the server asked for: `Retry-After` (seconds or an HTTP date), else the rate limit's
/// `X-RateLimit-Reset` (Unix seconds).
pub(crate) fn server_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(value) = text("retry-after") {
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(at) = httpdate::parse_http_date(value) {
            return Some(at.duration_since(now).unwrap_or_default());
        }
    }
    let reset = text("x-ratelimit-reset")?.parse::<u64>().ok()?;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(reset);
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    const NOW: u64 = 1_700_000_000;

    #[rstest::rstest]
    #[case::retry_after_seconds(&[("retry-after", "3")], Some(3_000))]
    #[case::retry_after_date(&[("retry-after", "Tue, 14 Nov 2023 22:13:25 GMT")], Some(5_000))]
    #[case::rate_limit_reset(&[("x-ratelimit-reset", "1700000002")], Some(2_000))]
    #[case::retry_after_wins(&[("retry-after", "1"), ("x-ratelimit-reset", "1700000009")], Some(1_000))]
    #[case::reset_in_the_past(&[("x-ratelimit-reset", "1699999999")], Some(0))]
    #[case::nothing(&[], None)]
    #[case::garbage(&[("retry-after", "soon")], None)]
    fn server_delays(#[case] pairs: &[(&'static str, &str)], #[case] ms: Option<u64>) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(NOW);
        assert_eq!(
            server_delay(&headers(pairs), now),
            ms.map(Duration::from_millis)
        );
    }

    #[test]
    fn backoff_grows_with_jitter_below_a_ceiling() {
        let policy = RetryPolicy::default();
        let now = SystemTime::UNIX_EPOCH;
        for attempt in 0..10 {
            let ceiling = (policy.base_delay * 2u32.pow(attempt)).min(policy.max_delay);
            let delay = policy.delay(attempt, None, now);
            assert!(
                delay <= ceiling,
                "attempt {attempt}: {delay:?} > {ceiling:?}"
            );
        }
        let asked = headers(&[("retry-after", "600")]);
        assert_eq!(policy.delay(0, Some(&asked), now), policy.max_server_delay);
    }
}
