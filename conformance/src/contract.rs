//! Contract checks on raw JSON, by shape and type, written from the reference document and not
//! through the Rust types of the fake or the client, so the two cannot drift together unseen.

use serde_json::Value;

/// What a JSON value must be.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// A string of digits.
    DigitString,
    /// Any string.
    String,
    /// A non-empty string.
    NonEmptyString,
    /// A whole number.
    Integer,
    /// A whole number or `null`.
    IntegerOrNull,
    /// A string or `null`.
    StringOrNull,
    /// One of the seven statuses.
    Status,
    /// One of the four failure codes, or `null`.
    FailureCodeOrNull,
}

const FAILURE_CODES: [&str; 4] = [
    "unparseable_file",
    "invalid_schema",
    "stream_not_configured",
    "unknown",
];

impl Shape {
    fn holds(self, value: &Value) -> bool {
        match self {
            Shape::DigitString => value
                .as_str()
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())),
            Shape::String => value.is_string(),
            Shape::NonEmptyString => value.as_str().is_some_and(|s| !s.is_empty()),
            Shape::Integer => value.is_i64() || value.is_u64(),
            Shape::IntegerOrNull => value.is_null() || value.is_i64() || value.is_u64(),
            Shape::StringOrNull => value.is_null() || value.is_string(),
            // The seven as the fake's model names them: one list for both.
            Shape::Status => value
                .as_str()
                .is_some_and(|s| u21_mock::model::Status::parse(s).is_some()),
            Shape::FailureCodeOrNull => {
                value.is_null() || value.as_str().is_some_and(|s| FAILURE_CODES.contains(&s))
            }
        }
    }
}

/// `GET /v1/imports/{file_id}` and each `datafiles` item.
pub const DATAFILE: [(&str, Shape); 10] = [
    ("file_id", Shape::DigitString),
    ("file_name", Shape::String),
    ("file_type", Shape::StringOrNull),
    ("date_created", Shape::Integer),
    ("process_start_time", Shape::IntegerOrNull),
    ("process_end_time", Shape::IntegerOrNull),
    ("successful_count", Shape::Integer),
    ("failure_count", Shape::Integer),
    ("status", Shape::Status),
    ("failure_code", Shape::FailureCodeOrNull),
];

/// The create response.
pub const CREATE: [(&str, Shape); 2] = [
    ("file_id", Shape::DigitString),
    ("url", Shape::NonEmptyString),
];

/// The create response's `form_fields`.
pub const FORM_FIELDS: [(&str, Shape); 4] = [
    ("AWSAccessKeyId", Shape::NonEmptyString),
    ("key", Shape::NonEmptyString),
    ("policy", Shape::NonEmptyString),
    ("signature", Shape::NonEmptyString),
];

/// The list response, besides `datafiles`.
pub const LIST: [(&str, Shape); 2] = [
    ("response_count", Shape::Integer),
    ("total_count", Shape::Integer),
];

/// Checks that `value` is an object with exactly these fields of these shapes.
///
/// # Errors
/// Every mismatch, one per line.
pub fn exactly(value: &Value, fields: &[(&str, Shape)], what: &str) -> Result<(), String> {
    let Some(object) = value.as_object() else {
        return Err(format!("{what} is not a JSON object: {value}"));
    };
    let mut problems = Vec::new();
    for (name, shape) in fields {
        match object.get(*name) {
            None => problems.push(format!("{what}: missing '{name}'")),
            Some(v) if !shape.holds(v) => {
                problems.push(format!("{what}: '{name}' should be {shape:?}, is {v}"))
            }
            Some(_) => {}
        }
    }
    problems.extend(
        object
            .keys()
            .filter(|k| !fields.iter().any(|(n, _)| n == k))
            .map(|k| format!("{what}: unexpected field '{k}'")),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Checks fields that must be present, allowing others.
///
/// # Errors
/// Every mismatch.
pub fn at_least(value: &Value, fields: &[(&str, Shape)], what: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    for (name, shape) in fields {
        match value.get(*name) {
            None => problems.push(format!("{what}: missing '{name}'")),
            Some(v) if !shape.holds(v) => {
                problems.push(format!("{what}: '{name}' should be {shape:?}, is {v}"))
            }
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn datafiles_are_checked_field_by_field() {
        let good = json!({"file_id": "1", "file_name": "a.csv", "file_type": "CSV", "date_created": 1, "process_start_time": null,
            "process_end_time": null, "successful_count": 0, "failure_count": 0, "status": "QUEUED", "failure_code": null});
        exactly(&good, &DATAFILE, "file").unwrap();
        let mut bad = good.clone();
        bad["file_id"] = json!(1);
        bad["status"] = json!("queued");
        bad["extra"] = json!(true);
        let err = exactly(&bad, &DATAFILE, "file").unwrap_err();
        assert_eq!(err.lines().count(), 3, "{err}");
    }
}
