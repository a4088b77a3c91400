//! Faults to inject: matched by method and path, for the next N requests or with a seeded
//! probability. The first matching fault wins.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One fault rule.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Only this method (any case); `None` matches all.
    #[serde(default)]
    pub method: Option<String>,
    /// The path to match: exact, with `*` for any one segment, or ending in `/**` for any rest
    /// (`/v1/imports/*`, `/u21-mock-uploads/**`, `/**`).
    pub path: String,
    /// What to do.
    pub action: FaultAction,
    /// Apply to the next N matching requests, then disappear; `None` keeps it until removed.
    #[serde(default)]
    pub times: Option<u32>,
    /// Apply to each matching request with this probability (0..=1), drawn from `seed`.
    #[serde(default)]
    pub probability: Option<f64>,
    /// Seed for the probability draws, so a run can be repeated.
    #[serde(default)]
    pub seed: u64,
}

impl Fault {
    /// A fault on `path` (any method) applying every time.
    pub fn new(path: impl Into<String>, action: FaultAction) -> Self {
        Self {
            method: None,
            path: path.into(),
            action,
            times: None,
            probability: None,
            seed: 0,
        }
    }

    /// Only for this method.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Only for the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    /// Each matching request with probability `p`, drawn from `seed`.
    pub fn probability(mut self, p: f64, seed: u64) -> Self {
        self.probability = Some(p);
        self.seed = seed;
        self
    }

    /// Checks the fault's bounds: a probability from 0 to 1, at least one use, a wait of at
    /// most a day, a delay of at most ten minutes.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.probability.is_some_and(|p| !(0.0..=1.0).contains(&p)) {
            return Err("probability must be between 0 and 1".into());
        }
        if self.times == Some(0) {
            return Err("times must be at least 1".into());
        }
        match self.action {
            FaultAction::RateLimited { retry_after_secs }
                if retry_after_secs > MAX_RETRY_AFTER_SECS =>
            {
                Err(format!(
                    "retry_after_secs must be at most {MAX_RETRY_AFTER_SECS} (a day)"
                ))
            }
            FaultAction::Latency { ms } | FaultAction::Stall { ms } if ms > MAX_LATENCY_MS => {
                Err(format!("ms must be at most {MAX_LATENCY_MS} (ten minutes)"))
            }
            FaultAction::SecurityToken { ref token } => {
                let printable = token.bytes().all(|b| (0x21..=0x7e).contains(&b));
                if token.is_empty() || token.len() > MAX_TOKEN_BYTES || !printable {
                    return Err(format!(
                        "token must be 1 to {MAX_TOKEN_BYTES} bytes of printable ASCII"
                    ));
                }
                Ok(())
            }
            FaultAction::Status {
                status,
                ref body,
                ref headers,
            } => {
                // It is sent as an HTTP answer: a status HTTP has, a bounded body, and headers
                // that are headers (a CR or LF in one would be refused by the server anyway).
                if !(100..=599).contains(&status) {
                    return Err(format!("status must be from 100 to 599, not {status}"));
                }
                if body.len() > MAX_FAULT_BODY_BYTES {
                    return Err(format!(
                        "body must be at most {MAX_FAULT_BODY_BYTES} bytes, not {}",
                        body.len()
                    ));
                }
                if headers.len() > MAX_FAULT_HEADERS {
                    return Err(format!(
                        "a fault may set at most {MAX_FAULT_HEADERS} headers, not {}",
                        headers.len()
                    ));
                }
                for (name, value) in headers {
                    let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                        && http::HeaderValue::from_str(value).is_ok();
                    if !valid {
                        return Err(format!("{name:?}: {value:?} is not a valid header"));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path_matches(&self.path, path)
    }
}

/// What a fault does to the request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this status, body and headers instead of the real answer.
    Status {
        /// HTTP status.
        status: u16,
        /// Body text (JSON, XML, anything).
        #[serde(default)]
        body: String,
        /// Extra headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
    /// Unit21's 429 with `Retry-After` and the rate-limit headers.
    RateLimited {
        /// Seconds in `Retry-After` and until `X-RateLimit-Reset`.
        #[serde(default = "one")]
        retry_after_secs: u64,
    },
    /// 500 `{"error_code":"internal_server_error"}`.
    InternalError,
    /// 503 `{"error_code":"service_unavailable"}`.
    Unavailable,
    /// S3's 503 `SlowDown` XML.
    S3SlowDown,
    /// S3's 500 `InternalError` XML.
    S3InternalError,
    /// Wait this long (real time, as a slow network would), then answer normally.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Hold the request this long (real time) without a byte of answer, then close the
    /// connection: a server that stalls. The request is not carried out.
    Stall {
        /// Milliseconds.
        ms: u64,
    },
    /// Answer normally, but a create answer's form carries `x-amz-security-token` (as forms
    /// signed with temporary credentials do), covered by an exact condition of its policy.
    /// Other routes ignore it.
    SecurityToken {
        /// The token, printable ASCII.
        token: String,
    },
    /// Close the connection without answering.
    DropConnection,
    /// Send the real headers (with the full `Content-Length`) but only half the body.
    TruncateBody,
}

fn one() -> u64 {
    1
}

/// `*` matches one segment, a trailing `/**` any rest (including nothing).
fn path_matches(pattern: &str, path: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix("/**") {
        return path == prefix || path_matches_segments(prefix, path, true);
    }
    path_matches_segments(pattern, path, false)
}

fn path_matches_segments(pattern: &str, path: &str, prefix_only: bool) -> bool {
    let mut pattern_segments = pattern.split('/');
    let mut path_segments = path.split('/');
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (None, None) => return true,
            (None, Some(_)) => return prefix_only,
            (Some(_), None) => return false,
            (Some(p), Some(s)) if p == "*" || p == s => {}
            _ => return false,
        }
    }
}

struct Rule {
    id: u64,
    fault: Fault,
    remaining: Option<u32>,
    rng: StdRng,
}

/// The longest `Retry-After` a `rate_limited` fault may ask for.
const MAX_RETRY_AFTER_SECS: u64 = 86_400;
/// The longest a `latency` fault may hold a request.
const MAX_LATENCY_MS: u64 = 600_000;
/// The longest token a `security_token` fault may put in a form (STS tokens run to about
/// 1,000 bytes).
const MAX_TOKEN_BYTES: usize = 4096;
/// The largest body a `status` fault may answer with.
const MAX_FAULT_BODY_BYTES: usize = 1024 * 1024;
/// The most headers a `status` fault may set.
const MAX_FAULT_HEADERS: usize = 64;
/// The most faults active at once (each matched in order on every request).
pub const MAX_FAULTS: usize = 1000;

/// The active faults, in the order they were added.
#[derive(Default)]
pub struct Faults {
    rules: Vec<Rule>,
    next_id: u64,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.rules.iter().map(|r| (&r.id, &r.fault)))
            .finish()
    }
}

impl Faults {
    /// Adds a fault; returns its id, or `None` when [`MAX_FAULTS`] are active.
    pub fn add(&mut self, fault: Fault) -> Option<u64> {
        if self.rules.len() >= MAX_FAULTS {
            return None;
        }
        self.next_id += 1;
        let rng = StdRng::seed_from_u64(fault.seed);
        self.rules.push(Rule {
            id: self.next_id,
            remaining: fault.times,
            fault,
            rng,
        });
        Some(self.next_id)
    }

    /// Removes one fault; false if there was none with that id.
    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    /// True when no fault is active.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The active faults with their ids and the uses left.
    pub fn list(&self) -> Vec<(u64, Fault, Option<u32>)> {
        self.rules
            .iter()
            .map(|r| (r.id, r.fault.clone(), r.remaining))
            .collect()
    }

    /// The action for a request, if a fault applies; counts the use.
    pub fn pick(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        let index = self.rules.iter_mut().position(|rule| {
            rule.fault.matches(method, path)
                && rule
                    .fault
                    .probability
                    .is_none_or(|p| rule.rng.random::<f64>() < p)
        })?;
        let rule = &mut self.rules[index];
        let action = rule.fault.action.clone();
        if let Some(remaining) = &mut rule.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                self.rules.remove(index);
            }
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case("/v1/imports/list", "/v1/imports/list", true)]
    #[case("/v1/imports/*", "/v1/imports/42", true)]
    #[case("/v1/imports/*", "/v1/imports/42/x", false)]
    #[case("/v1/**", "/v1/imports/42", true)]
    #[case("/v1/**", "/v1", true)]
    #[case("/v1/**", "/v2/imports", false)]
    #[case("/**", "/u21-mock-uploads/", true)]
    #[case("/u21-mock-uploads/", "/u21-mock-uploads/", true)]
    #[case("/u21-mock-uploads/", "/u21-mock-uploads", false)]
    fn paths(#[case] pattern: &str, #[case] path: &str, #[case] expected: bool) {
        assert_eq!(path_matches(pattern, path), expected);
    }

    #[test]
    fn times_counts_down_and_the_first_match_wins() {
        let mut faults = Faults::default();
        faults.add(
            Fault::new("/v1/**", FaultAction::InternalError)
                .method("POST")
                .times(2),
        );
        faults.add(Fault::new("/**", FaultAction::Unavailable));
        assert_eq!(
            faults.pick("GET", "/v1/imports/1"),
            Some(FaultAction::Unavailable)
        );
        assert_eq!(
            faults.pick("post", "/v1/imports/list"),
            Some(FaultAction::InternalError)
        );
        assert_eq!(
            faults.pick("POST", "/v1/imports/list"),
            Some(FaultAction::InternalError)
        );
        assert_eq!(
            faults.pick("POST", "/v1/imports/list"),
            Some(FaultAction::Unavailable)
        );
        assert_eq!(faults.list().len(), 1);
    }

    #[test]
    fn probabilities_repeat_for_a_seed() {
        let draw = |seed| {
            let mut faults = Faults::default();
            faults.add(Fault::new("/**", FaultAction::DropConnection).probability(0.3, seed));
            (0..200)
                .map(|_| faults.pick("GET", "/x").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let hits = draw(7).iter().filter(|h| **h).count();
        assert!((30..90).contains(&hits), "{hits} of 200 at p = 0.3");
    }
}
