//! Policies: parsing, conditions, and the checks S3 makes of a form against them.

use super::*;

const NOW: i64 = 1_700_000_000_000;

fn form(fields: &[(&str, &str)]) -> FormFields {
    let mut form = FormFields::default();
    for (name, value) in fields {
        form.push(name, value);
    }
    form
}

fn policy(conditions: &str) -> Policy {
    Policy::parse(
        format!(r#"{{"expiration": "2099-01-01T00:00:00Z", "conditions": {conditions}}}"#)
            .as_bytes(),
    )
    .unwrap()
}

fn standard() -> FormFields {
    form(&[
        ("key", "dev/a.csv"),
        ("AWSAccessKeyId", "AK"),
        ("policy", "p"),
        ("signature", "s"),
    ])
}

#[rstest::rstest]
#[case::expiration_with_millis(
    r#"{"expiration":"2023-11-14T22:13:20.000Z","conditions":[]}"#,
    1_700_000_000_000
)]
#[case::expiration_without_millis(
    r#"{"expiration":"2023-11-14T22:13:21Z","conditions":[]}"#,
    1_700_000_001_000
)]
fn expirations(#[case] doc: &str, #[case] ms: i64) {
    assert_eq!(Policy::parse(doc.as_bytes()).unwrap().expiration_ms, ms);
}

#[rstest::rstest]
#[case::not_json("{", "Invalid Policy: Invalid JSON.")]
#[case::not_an_object("[]", "Invalid Policy: Invalid JSON.")]
#[case::no_expiration(r#"{"conditions":[]}"#, "Invalid Policy: Policy missing expiration.")]
#[case::expiration_key_is_case_sensitive(
    r#"{"Expiration":"2099-01-01T00:00:00Z","conditions":[]}"#,
    "Invalid Policy: Policy missing expiration."
)]
#[case::bad_expiration(
    r#"{"expiration":"tomorrow","conditions":[]}"#,
    "Invalid Policy: Invalid 'expiration' value: 'tomorrow'"
)]
#[case::no_conditions(
    r#"{"expiration":"2099-01-01T00:00:00Z"}"#,
    "Invalid Policy: Policy missing conditions."
)]
#[case::two_property_simple_condition(r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"a":"1","b":"2"}]}"#, "Invalid Policy: Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.")]
#[case::eq_with_two_arguments(
    r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[["eq","$key"]]}"#,
    "Invalid Policy: Invalid eq: wrong number of arguments."
)]
fn parse_errors(#[case] doc: &str, #[case] message: &str) {
    let err = Policy::parse(doc.as_bytes()).unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        ("InvalidPolicyDocument", message)
    );
}

#[test]
fn the_forms_unit21_issues_pass() {
    let p = policy(
        r#"[["content-length-range", 0, 314572800], {"bucket": "b"}, {"key": "dev/a.csv"}]"#,
    );
    assert_eq!(
        p.check(&standard(), Signing::V2, "b", NOW).unwrap(),
        SizeRange {
            min: 0,
            max: 314_572_800
        }
    );
}

#[rstest::rstest]
#[case::expired(
    r#"{"expiration":"2023-11-14T22:13:19Z","conditions":[]}"#,
    "Invalid according to Policy: Policy expired."
)]
#[case::key_mismatch(
    r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"b"},["eq","$key","other"]]}"#,
    r#"Invalid according to Policy: Policy Condition failed: ["eq", "$key", "other"]"#
)]
#[case::object_condition_echoes_as_eq(
    r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"b"},{"key":"other"}]}"#,
    r#"Invalid according to Policy: Policy Condition failed: ["eq", "$key", "other"]"#
)]
#[case::wrong_bucket(
    r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"nope"},{"key":"dev/a.csv"}]}"#,
    r#"Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "nope"]"#
)]
#[case::prefix_mismatch(r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key","prod/"]]}"#, r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "prod/"]"#)]
#[case::field_without_dollar_never_matches(r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"b"},["eq","key","dev/a.csv"]]}"#, r#"Invalid according to Policy: Policy Condition failed: ["eq", "key", "dev/a.csv"]"#)]
#[case::range_that_is_not_numeric(r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"b"},{"key":"dev/a.csv"},["content-length-range","test",10]]}"#, r#"Invalid according to Policy: Policy Condition failed: ["content-length-range", "test", 10]"#)]
#[case::implicit_bucket(
    r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"key":"dev/a.csv"}]}"#,
    "Invalid according to Policy: Extra input fields: bucket"
)]
#[case::uncovered_key(
    r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[{"bucket":"b"}]}"#,
    "Invalid according to Policy: Extra input fields: key"
)]
fn check_failures(#[case] doc: &str, #[case] message: &str) {
    let err = Policy::parse(doc.as_bytes())
        .unwrap()
        .check(&standard(), Signing::V2, "b", NOW)
        .unwrap_err();
    assert_eq!(
        (err.code, err.status.as_u16(), err.message.as_str()),
        ("AccessDenied", 403, message)
    );
}

#[rstest::rstest]
#[case::one_value_that_fits("text/csv", r#"["starts-with","$Content-Type","text/"]"#, true)]
#[case::every_value_fits(
    "text/csv,text/plain",
    r#"["starts-with","$Content-Type","text/"]"#,
    true
)]
#[case::one_value_does_not_fit(
    "text/csv,application/json",
    r#"["starts-with","$Content-Type","text/"]"#,
    false
)]
#[case::spaces_after_commas(
    "text/csv, application/json",
    r#"["starts-with","$Content-Type","text/"]"#,
    false
)]
#[case::eq_one_value("text/csv", r#"{"Content-Type":"text/csv"}"#, true)]
#[case::eq_a_list(
    "text/csv,application/json",
    r#"["eq","$Content-Type","text/csv"]"#,
    false
)]
#[case::other_fields_are_not_lists("b,a", r#"["starts-with","$x-amz-meta-tag","b"]"#, true)]
fn a_comma_separated_content_type_is_checked_value_by_value(
    #[case] value: &str,
    #[case] condition: &str,
    #[case] accepted: bool,
) {
    let field = if condition.contains("meta-tag") {
        "x-amz-meta-tag"
    } else {
        "Content-Type"
    };
    let mut form = standard();
    form.push(field, value);
    let p = policy(&format!(
        r#"[{{"bucket":"b"}},{{"key":"dev/a.csv"}},{condition}]"#
    ));
    let result = p.check(&form, Signing::V2, "b", NOW);
    assert_eq!(
        result.is_ok(),
        accepted,
        "{value} against {condition}: {result:?}"
    );
    if !accepted {
        assert!(result
            .unwrap_err()
            .message
            .starts_with("Invalid according to Policy: Policy Condition failed: "));
    }
}

#[test]
fn case_rules_and_absent_fields() {
    // Operators and condition keys are case-insensitive; form names too.
    let p = policy(
        r#"[{"bucket":"b"},["StArTs-WiTh","$KEY","dev/"],["eq","$x-amz-meta-TAG",""],["content-length-range","5","10"]]"#,
    );
    assert_eq!(
        p.check(&standard(), Signing::V2, "b", NOW).unwrap(),
        SizeRange { min: 5, max: 10 }
    );
    // Values are case-sensitive.
    let p = policy(r#"[{"bucket":"b"},{"key":"DEV/a.csv"}]"#);
    assert!(p.check(&standard(), Signing::V2, "b", NOW).is_err());
}

#[rstest::rstest]
#[case::escaped_dollar(
    r#"[{"bucket":"b"},{"key":"dev/a.csv"},["eq","$x-amz-meta-price","\$5"]]"#,
    "$5"
)]
#[case::escaped_backslash_then_dollar(
    r#"[{"bucket":"b"},{"key":"dev/a.csv"},["eq","$x-amz-meta-price","\\$5"]]"#,
    "\\$5"
)]
#[case::unicode_escape(
    r#"[{"bucket":"b"},{"key":"dev/a.csv"},["eq","$x-amz-meta-price","\u00a35"]]"#,
    "\u{a3}5"
)]
fn escapes(#[case] conditions: &str, #[case] value: &str) {
    let mut form = standard();
    form.push("x-amz-meta-price", value);
    policy(conditions)
        .check(&form, Signing::V2, "b", NOW)
        .unwrap();
}

#[rstest::rstest]
#[case::bucket("bucket")]
#[case::success_action_status("success_action_status")]
#[case::credential("x-amz-credential")]
#[case::security_token("x-amz-security-token")]
#[case::storage_class("x-amz-storage-class")]
fn starts_with_only_on_the_fields_that_allow_it(#[case] field: &str) {
    let doc = format!(
        r#"{{"expiration":"2099-01-01T00:00:00Z","conditions":[["starts-with","${field}",""]]}}"#
    );
    let err = Policy::parse(doc.as_bytes()).unwrap_err();
    assert_eq!(
        err.message,
        format!("Invalid Policy: Invalid Condition: starts-with is not allowed on '${field}'.")
    );
    let allowed = r#"{"expiration":"2099-01-01T00:00:00Z","conditions":[["starts-with","$X-Amz-Meta-Tag",""],["starts-with","$Content-Type","text/"],["starts-with","$redirect",""]]}"#;
    Policy::parse(allowed.as_bytes()).unwrap();
}

#[test]
fn x_ignore_fields_need_no_condition_but_others_do() {
    let p = policy(r#"[{"bucket":"b"},{"key":"dev/a.csv"}]"#);
    let mut f = standard();
    f.push("x-ignore-me", "1");
    p.check(&f, Signing::V2, "b", NOW).unwrap();
    f.push("Content-Type", "text/csv");
    assert_eq!(
        p.check(&f, Signing::V2, "b", NOW).unwrap_err().message,
        "Invalid according to Policy: Extra input fields: content-type"
    );
}

mod fuzz {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("$key".to_owned()),
            Just("$bucket".to_owned()),
            Just("$Content-Type".to_owned()),
            Just("$x-amz-meta-tag".to_owned()),
            Just("$success_action_status".to_owned()),
            Just("key".to_owned()),
            "\\$?[a-zA-Z_-]{0,12}",
        ]
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            ".{0,8}".prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            Just(Value::Null),
        ]
    }

    fn condition() -> impl Strategy<Value = Value> {
        prop_oneof![
            (field(), scalar()).prop_map(|(f, v)| json!({ f.trim_start_matches('$'): v })),
            (
                prop_oneof![
                    "eq",
                    "starts-with",
                    "StArTs-WiTh",
                    "content-length-range",
                    "nope"
                ],
                field(),
                scalar()
            )
                .prop_map(|(op, f, v)| json!([op, f, v])),
            (scalar(), scalar()).prop_map(|(a, b)| json!(["content-length-range", a, b])),
            prop::collection::vec(scalar(), 0..5).prop_map(Value::from),
            scalar(),
        ]
    }

    fn document() -> impl Strategy<Value = Value> {
        let expiration = prop_oneof![
            Just(json!("2099-01-01T00:00:00Z")),
            Just(json!("2000-01-01T00:00:00.000Z")),
            scalar(),
        ];
        (
            expiration,
            prop::collection::vec(condition(), 0..8),
            any::<bool>(),
        )
            .prop_map(|(e, c, with_conditions)| {
                if with_conditions {
                    json!({"expiration": e, "conditions": c})
                } else {
                    json!({"expiration": e})
                }
            })
    }

    fn form() -> impl Strategy<Value = FormFields> {
        prop::collection::vec(("[a-zA-Z_-]{1,10}", ".{0,8}"), 0..6).prop_map(|pairs| {
            let mut form = FormFields::default();
            form.push("key", "dev/a.csv");
            for (name, value) in pairs {
                form.push(&name, &value);
            }
            form
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Err(err) = Policy::parse(&bytes) {
                prop_assert_eq!(err.code, "InvalidPolicyDocument");
            }
        }

        #[test]
        fn random_policies_parse_and_check_to_an_s3_answer(doc in document(), form in form()) {
            match Policy::parse(doc.to_string().as_bytes()) {
                Err(err) => {
                    prop_assert_eq!(err.code, "InvalidPolicyDocument");
                    prop_assert!(err.message.starts_with("Invalid Policy: "));
                }
                Ok(policy) => match policy.check(&form, Signing::V2, "b", NOW) {
                    Ok(range) => prop_assert!(range.min <= MAX_POST_OBJECT_BYTES),
                    Err(err) => {
                        prop_assert_eq!((err.code, err.status.as_u16()), ("AccessDenied", 403));
                        prop_assert!(err.message.starts_with("Invalid according to Policy: "));
                    }
                },
            }
        }
    }
}
