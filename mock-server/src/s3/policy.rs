//! The POST policy: a base64 JSON document with an `expiration` and a list of `conditions`
//! every form field must satisfy, checked as `reference/s3-post.md` §1 describes.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::S3Error;
use super::form::FormFields;
use super::sign::Signing;

/// A parsed policy document.
#[derive(Debug, Clone)]
pub struct Policy {
    /// When the form stops being accepted (ms since the epoch).
    pub expiration_ms: i64,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    StartsWith,
}

#[derive(Debug, Clone)]
enum Condition {
    /// `{"field": "v"}`, `["eq", "$field", "v"]` or `["starts-with", "$field", "prefix"]`.
    Match {
        op: Op,
        /// Lower-cased field name without `$`; `None` when written without `$` (never matches).
        field: Option<String>,
        /// The condition as it is echoed in "Policy Condition failed".
        echo: String,
        value: String,
    },
    /// `["content-length-range", min, max]`; bounds that are not numbers fail the condition.
    LengthRange {
        min: Option<u64>,
        max: Option<u64>,
        echo: String,
    },
}

/// The inclusive size bounds the policy sets for the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeRange {
    /// Smallest allowed size.
    pub min: u64,
    /// Largest allowed size.
    pub max: u64,
}

/// S3's own ceiling on a POST upload, when the policy sets none.
pub const MAX_POST_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

fn echo(parts: &[Value]) -> String {
    let items: Vec<String> = parts.iter().map(Value::to_string).collect();
    format!("[{}]", items.join(", "))
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn bound(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Policy {
    /// Parses the decoded policy text.
    ///
    /// # Errors
    /// `InvalidPolicyDocument` with the detail S3 gives.
    pub fn parse(bytes: &[u8]) -> Result<Policy, S3Error> {
        let invalid_json = || S3Error::invalid_policy("Invalid JSON.");
        let text = std::str::from_utf8(bytes).map_err(|_| invalid_json())?;
        let document: Value =
            serde_json::from_str(&unescape_policy(text)).map_err(|_| invalid_json())?;
        let Value::Object(document) = document else {
            return Err(invalid_json());
        };
        // Top-level keys are case-sensitive.
        let expiration = document
            .get("expiration")
            .ok_or_else(|| S3Error::invalid_policy("Policy missing expiration."))?;
        let expiration_ms = expiration
            .as_str()
            .and_then(parse_expiration)
            .ok_or_else(|| {
                S3Error::invalid_policy(format!(
                    "Invalid 'expiration' value: '{}'",
                    plain(expiration)
                ))
            })?;
        let conditions = document
            .get("conditions")
            .ok_or_else(|| S3Error::invalid_policy("Policy missing conditions."))?
            .as_array()
            .ok_or_else(invalid_json)?
            .iter()
            .map(parse_condition)
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            expiration_ms,
            conditions,
        })
    }

    /// Checks the form against the policy at `now_ms`: expiry, then each condition in order,
    /// then that every field is covered by a condition. Returns the allowed file sizes.
    ///
    /// # Errors
    /// `AccessDenied` with "Invalid according to Policy: …".
    pub fn check(
        &self,
        form: &FormFields,
        signing: Signing,
        bucket: &str,
        now_ms: i64,
    ) -> Result<SizeRange, S3Error> {
        if now_ms > self.expiration_ms {
            return Err(S3Error::policy_expired());
        }
        let mut range = SizeRange {
            min: 0,
            max: MAX_POST_OBJECT_BYTES,
        };
        for condition in &self.conditions {
            match condition {
                Condition::Match {
                    op,
                    field,
                    echo,
                    value,
                } => {
                    let actual = match field.as_deref() {
                        None => None,
                        Some("bucket") => Some(bucket),
                        // A field that has a condition but is absent counts as "".
                        Some(name) => Some(form.get(name).unwrap_or("")),
                    };
                    let holds = |actual: &str| match op {
                        Op::Eq => actual == value,
                        Op::StartsWith => actual.starts_with(value.as_str()),
                    };
                    // S3 reads a comma-separated Content-Type as a list: every value must
                    // hold, so `text/csv,application/json` fails `starts-with text/`.
                    let is_list = field
                        .as_deref()
                        .is_some_and(|f| f.eq_ignore_ascii_case("content-type"));
                    let ok = actual.is_some_and(|actual| {
                        if is_list {
                            actual.split(',').map(str::trim).all(holds)
                        } else {
                            holds(actual)
                        }
                    });
                    if !ok {
                        return Err(S3Error::condition_failed(echo));
                    }
                }
                Condition::LengthRange { min, max, echo } => match (min, max) {
                    (Some(min), Some(max)) => {
                        range.min = range.min.max(*min);
                        range.max = range.max.min(*max);
                    }
                    _ => return Err(S3Error::condition_failed(echo)),
                },
            }
        }
        let covered = |name: &str| {
            self.conditions
                .iter()
                .any(|c| matches!(c, Condition::Match { field: Some(f), .. } if f == name))
        };
        if !covered("bucket") {
            return Err(S3Error::extra_input_field("bucket"));
        }
        if let Some(name) = form
            .names()
            .find(|name| !is_exempt(name, signing) && !covered(name))
        {
            return Err(S3Error::extra_input_field(name));
        }
        Ok(range)
    }
}

/// Fields that need no policy condition: the signature fields of the form's scheme, the file,
/// the policy itself and `x-ignore-*`.
fn is_exempt(name: &str, signing: Signing) -> bool {
    let by_scheme = match signing {
        Signing::V4 => name == "x-amz-signature",
        Signing::V2 => name == "awsaccesskeyid" || name == "signature",
    };
    by_scheme || name == "file" || name == "policy" || name.starts_with("x-ignore-")
}

/// A JSON value as S3 quotes it in a message: strings without their quotes.
fn plain(value: &Value) -> String {
    value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string())
}

/// ISO 8601 in UTC, with or without fractional seconds (`…:00Z`, `…:00.000Z`).
pub(super) fn parse_expiration(text: &str) -> Option<i64> {
    if !text.ends_with('Z') {
        return None;
    }
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The fields S3 lets a policy match by prefix; every other field takes exact matches only.
fn starts_with_allowed(field: &str) -> bool {
    const PREFIXABLE: [&str; 9] = [
        "key",
        "acl",
        "cache-control",
        "content-type",
        "content-disposition",
        "content-encoding",
        "expires",
        "success_action_redirect",
        "redirect",
    ];
    PREFIXABLE.contains(&field) || field.starts_with("x-amz-meta-")
}

/// Policies may use escapes JSON lacks: `\$` for a dollar sign and `\v` for a vertical tab.
/// Everything else (`\\`, `\uXXXX`, `\n`, …) is JSON already.
fn unescape_policy(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("\\$") && !text.contains("\\v") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('$') => out.push('$'),
            Some('v') => out.push_str("\\u000b"),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out.into()
}

fn parse_condition(condition: &Value) -> Result<Condition, S3Error> {
    match condition {
        Value::Object(map) => {
            let simple = || {
                S3Error::invalid_policy("Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")
            };
            if map.len() != 1 {
                return Err(simple());
            }
            let (name, value) = map.iter().next().expect("one entry");
            let value = scalar_text(value).ok_or_else(simple)?;
            let written = format!("${name}");
            Ok(Condition::Match {
                op: Op::Eq,
                field: Some(name.to_ascii_lowercase()),
                echo: echo(&[
                    Value::from("eq"),
                    Value::from(written),
                    Value::from(value.clone()),
                ]),
                value,
            })
        }
        Value::Array(parts) => {
            let op = parts.first().and_then(Value::as_str).ok_or_else(|| {
                S3Error::invalid_policy(
                    "Invalid Condition: the first element must name an operation.",
                )
            })?;
            let wrong_arity =
                || S3Error::invalid_policy(format!("Invalid {op}: wrong number of arguments."));
            match op.to_ascii_lowercase().as_str() {
                "content-length-range" => {
                    let [_, min, max] = parts.as_slice() else {
                        return Err(wrong_arity());
                    };
                    Ok(Condition::LengthRange {
                        min: bound(min),
                        max: bound(max),
                        echo: echo(parts),
                    })
                }
                name @ ("eq" | "starts-with") => {
                    let [_, field, value] = parts.as_slice() else {
                        return Err(wrong_arity());
                    };
                    let (Some(field), Some(value)) = (field.as_str(), scalar_text(value)) else {
                        return Err(S3Error::invalid_policy(format!(
                            "Invalid {op}: arguments must be strings."
                        )));
                    };
                    let field = field.strip_prefix('$').map(str::to_ascii_lowercase);
                    let op = if name == "eq" { Op::Eq } else { Op::StartsWith };
                    if let (Op::StartsWith, Some(name)) = (op, &field) {
                        if !starts_with_allowed(name) {
                            return Err(S3Error::invalid_policy(format!(
                                "Invalid Condition: starts-with is not allowed on '${name}'."
                            )));
                        }
                    }
                    Ok(Condition::Match {
                        op,
                        field,
                        echo: echo(parts),
                        value,
                    })
                }
                _ => Err(S3Error::invalid_policy(format!(
                    "Invalid Condition: unknown operation '{op}'."
                ))),
            }
        }
        _ => Err(S3Error::invalid_policy(
            "Invalid Condition: a condition must be an object or an array.",
        )),
    }
}

#[cfg(test)]
mod tests;
