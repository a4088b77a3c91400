//! Reading files of every type against stream schemas: outcomes, bounds and bombs.

use std::io::Write;

use super::*;
use crate::config::{ColumnType, StreamConfig};

fn run(name: &str, body: &[u8], check: &StreamCheck) -> Outcome {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(body).unwrap();
    process(file.path(), &FileType::from_file_name(name), check)
}

fn schema() -> StreamCheck {
    let stream = StreamConfig::new("txns")
        .column("id", ColumnType::Integer, true)
        .column("amount", ColumnType::Number, true)
        .column("flagged", ColumnType::Boolean, false)
        .column("note", ColumnType::String, false);
    StreamCheck::from_config(Ok(Some(&stream)))
}

fn finished(successful: u64, failed: u64) -> Outcome {
    Outcome::Finished { successful, failed }
}

#[rstest::rstest]
#[case::csv_rows_count("a.csv", "id,amount\n1,2.5\n2,3\n", finished(2, 0))]
#[case::csv_ragged_row_fails_alone("a.csv", "a,b\n1,2\n3\n4,5\n", finished(2, 1))]
#[case::csv_empty_is_unparseable("a.csv", "", Outcome::Failed(FailureCode::UnparseableFile))]
#[case::csv_semicolons_are_unparseable(
    "a.csv",
    "a;b;c\n1;2;3\n",
    Outcome::Failed(FailureCode::UnparseableFile)
)]
#[case::csv_binary_is_unparseable(
    "a.csv",
    "\0\x01\x02PK\n",
    Outcome::Failed(FailureCode::UnparseableFile)
)]
#[case::csv_header_only("a.csv", "a,b\n", finished(0, 0))]
#[case::csv_crlf_and_quotes("a.csv", "a,b\r\n\"x,y\",2\r\n", finished(1, 0))]
#[case::json_array("a.json", r#"[{"a":1},{"b":2},{"c":3}]"#, finished(3, 0))]
#[case::json_non_object_items_fail("a.json", r#"[{"a":1}, 5, "x"]"#, finished(1, 2))]
#[case::json_object_is_unparseable(
    "a.json",
    r#"{"a":1}"#,
    Outcome::Failed(FailureCode::UnparseableFile)
)]
#[case::json_truncated_is_unparseable(
    "a.json",
    r#"[{"a":1},{"#,
    Outcome::Failed(FailureCode::UnparseableFile)
)]
#[case::json_trailing_garbage_is_unparseable(
    "a.json",
    r#"[{"a":1}] x"#,
    Outcome::Failed(FailureCode::UnparseableFile)
)]
#[case::jsonl_lines("a.jsonl", "{\"a\":1}\n\n{\"a\":2}\nnot json\n[1]\n", finished(2, 2))]
#[case::jsonl_nothing_parses(
    "a.jsonl",
    "a,b\n1,2\n",
    Outcome::Failed(FailureCode::UnparseableFile)
)]
#[case::jsonl_empty("a.jsonl", "", finished(0, 0))]
#[case::parquet_framing_alone_is_not_parquet(
    "a.parquet",
    "PAR1....PAR1",
    Outcome::Failed(FailureCode::UnparseableFile)
)]
#[case::parquet_fake(
    "a.parquet",
    "a,b\n1,2\n",
    Outcome::Failed(FailureCode::UnparseableFile)
)]
#[case::unknown_extension("a.txt", "a,b\n", Outcome::Failed(FailureCode::UnparseableFile))]
fn without_a_schema(#[case] name: &str, #[case] body: &str, #[case] expected: Outcome) {
    assert_eq!(run(name, body.as_bytes(), &StreamCheck::Any), expected);
}

#[rstest::rstest]
#[case::csv_all_good("a.csv", "id,amount,flagged\n1,2.5,true\n2,-3,FALSE\n", finished(2, 0))]
#[case::csv_bad_values_fail_rows("a.csv", "id,amount\n1,x\n1.5,2\n3,4\n", finished(1, 2))]
#[case::csv_number_forms(
    "a.csv",
    "id,amount\n1,+2\n2,-0.5\n3,1.\n4,.5\n5,1e3\n6, 7 \n",
    finished(6, 0)
)]
#[case::csv_numbers_that_are_not(
    "a.csv",
    "id,amount\n1,.\n2,-\n3,1.2.3\n4,inf\n5,NaN\n6,1e400\n7,12a\n8,1,5\n",
    finished(0, 8)
)]
#[case::csv_long_plain_decimal_is_finite_or_not(
    "a.csv",
    &format!("id,amount\n1,{}\n2,{}\n", "9".repeat(299), "9".repeat(400)),
    finished(1, 1)
)]
#[case::csv_empty_required_value_fails("a.csv", "id,amount,note\n,1,\n2,3,\n", finished(1, 1))]
#[case::csv_missing_required_header(
    "a.csv",
    "id,note\n1,x\n",
    Outcome::Failed(FailureCode::InvalidSchema)
)]
#[case::csv_extra_header(
    "a.csv",
    "id,amount,colour\n1,2,red\n",
    Outcome::Failed(FailureCode::InvalidSchema)
)]
#[case::csv_duplicate_header(
    "a.csv",
    "id,amount,id\n1,2,3\n",
    Outcome::Failed(FailureCode::InvalidSchema)
)]
#[case::json_types(
    "a.json",
    r#"[{"id":1,"amount":2.5},{"id":"1","amount":2},{"id":2,"amount":3,"flagged":null}]"#,
    finished(2, 1)
)]
#[case::json_first_record_is_the_header(
    "a.json",
    r#"[{"amount":1}]"#,
    Outcome::Failed(FailureCode::InvalidSchema)
)]
#[case::jsonl_later_record_missing_field_fails(
    "a.jsonl",
    "{\"id\":1,\"amount\":1}\n{\"id\":2}\n",
    finished(1, 1)
)]
#[case::jsonl_extra_key_in_first_record(
    "a.jsonl",
    "{\"id\":1,\"amount\":1,\"x\":0}\n",
    Outcome::Failed(FailureCode::InvalidSchema)
)]
fn with_a_schema(#[case] name: &str, #[case] body: &str, #[case] expected: Outcome) {
    assert_eq!(run(name, body.as_bytes(), &schema()), expected);
    if name.ends_with(".csv") {
        assert_eq!(
            on_two_threads(body.as_bytes()),
            expected,
            "parsed and checked apart"
        );
    }
}

/// The CSV path large files take, on any body.
fn on_two_threads(body: &[u8]) -> Outcome {
    let StreamCheck::Schema(schema) = schema() else {
        unreachable!("a schema")
    };
    match csv_file::process(body, Some(&schema), true) {
        Ok((successful, failed)) => Outcome::Finished { successful, failed },
        Err(code) => Outcome::Failed(code),
    }
}

#[test]
fn one_and_two_threads_count_a_large_csv_alike() {
    // Enough rows for many batches, with bad rows of each kind spread through them.
    let mut body = b"id,amount,note\n".to_vec();
    let (mut good, mut bad) = (0u64, 0u64);
    for i in 0..50_000u64 {
        match i % 997 {
            0 => body.extend_from_slice(b"1,2,\xff\n"),
            1 => body.extend_from_slice(b"x,2,\n"),
            2 => body.extend_from_slice(b"1,2\n"),
            _ => {
                body.extend_from_slice(format!("{i},{}.5,note {i}\n", i % 1000).as_bytes());
                good += 1;
                continue;
            }
        }
        bad += 1;
    }
    assert!(bad > 100);
    assert_eq!(run("big.csv", &body, &schema()), finished(good, bad));
    assert_eq!(on_two_threads(&body), finished(good, bad));
}

#[test]
fn a_csv_row_that_is_not_utf8_fails_alone() {
    let body = b"id,amount,note\n1,2,caf\xc3\xa9\n2,3,bad \xff\n3,4,ok\n";
    assert_eq!(run("a.csv", body, &schema()), finished(2, 1));
}

/// The csv crate holds a whole record: a header, a row or a field over the bound fails the
/// file, on one thread and on two (it was read whole: 1 GB for a 200 MiB header).
#[rstest::rstest]
#[case::a_long_header(format!("id,{}\n1,2\n", "h".repeat(2 * 1024 * 1024)))]
#[case::a_long_field(format!("id,amount,note\n1,2,{}\n3,4,ok\n", "x".repeat(2 * 1024 * 1024)))]
#[case::a_field_just_over(format!("id,amount,note\n1,2,{}\n3,4,ok\n", "x".repeat(1024 * 1024)))]
#[case::too_many_columns(format!("{}\n", (0..=csv_file::MAX_COLUMNS).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",")))]
fn a_csv_record_over_its_bound_fails_the_file(#[case] body: String) {
    for check in [StreamCheck::Any, schema()] {
        assert_eq!(
            run("a.csv", body.as_bytes(), &check),
            Outcome::Failed(FailureCode::UnparseableFile)
        );
    }
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(body.as_bytes()).unwrap();
    let StreamCheck::Schema(rules) = schema() else {
        unreachable!("schema() has columns")
    };
    let apart = csv_file::process(File::open(file.path()).unwrap(), Some(&rules), true);
    assert_eq!(apart, Err(FailureCode::UnparseableFile), "on two threads");
}

#[test]
fn a_csv_record_within_its_bound_is_read() {
    let field = "x".repeat(1024 * 1024 - 100);
    let body = format!("id,amount,note\n1,2,{field}\n3,4,ok\n");
    assert_eq!(run("a.csv", body.as_bytes(), &schema()), finished(2, 0));
}

#[test]
fn a_jsonl_line_over_the_record_bound_fails_alone_and_is_skipped_unread() {
    let max = json_file::MAX_RECORD_BYTES;
    let long = format!("{{\"note\":\"{}\"}}\n", "x".repeat(2 * max));
    let exact = format!("{{\"note\":\"{}\"}}\n", "y".repeat(max - 11));
    assert_eq!(
        exact.len(),
        max + 1,
        "a record of exactly the bound, and its newline"
    );
    let body = format!("{{\"id\":1}}\n{long}{exact}{{\"id\":2}}\n");
    assert_eq!(
        run("a.jsonl", body.as_bytes(), &StreamCheck::Any),
        finished(3, 1)
    );
    // The bound holds without a newline at the end too.
    let tail = format!("{{\"id\":1}}\n{}", "z".repeat(2 * max));
    assert_eq!(
        run("b.jsonl", tail.as_bytes(), &StreamCheck::Any),
        finished(1, 1)
    );
}

#[test]
fn a_json_item_over_the_record_bound_fails_the_file() {
    let max = json_file::MAX_RECORD_BYTES;
    let body = format!("[{{\"id\":1}},{{\"note\":\"{}\"}}]", "x".repeat(2 * max));
    assert_eq!(
        run("a.json", body.as_bytes(), &StreamCheck::Any),
        Outcome::Failed(FailureCode::UnparseableFile)
    );
    // Many items, each under the bound, whatever the file's size.
    let item = format!("{{\"note\":\"{}\"}}", "y".repeat(max / 2));
    let body = format!("[{}]", vec![item; 5].join(","));
    assert_eq!(
        run("b.json", body.as_bytes(), &StreamCheck::Any),
        finished(5, 0)
    );
}

#[test]
fn an_unconfigured_stream_fails_without_reading() {
    assert_eq!(
        process(
            Path::new("/nonexistent"),
            &FileType::Csv,
            &StreamCheck::NotConfigured
        ),
        Outcome::Failed(FailureCode::StreamNotConfigured)
    );
}

#[test]
fn a_missing_object_fails_unknown() {
    assert_eq!(
        process(
            Path::new("/nonexistent/object"),
            &FileType::Csv,
            &StreamCheck::Any
        ),
        Outcome::Failed(FailureCode::Unknown)
    );
}

mod parquet_files;
