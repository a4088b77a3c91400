//! Reads an uploaded object the way Unit21's ingestion would and decides how it ends:
//! FINISHED with record counts, or FAILED with a failure code.
//!
//! Every reader streams from disk with a fixed-size buffer, so memory does not grow with the
//! file (Parquet: with its largest row group). A record is a CSV row, a JSON array item, a JSONL
//! line or a Parquet row.

mod csv_file;
mod json_file;
mod parquet_budget;
mod parquet_file;
mod schema;

use std::fs::File;
use std::io::BufReader;
#[cfg(test)]
use std::path::Path;

use crate::config::StreamConfig;
use crate::model::{FailureCode, FileType};

pub(crate) use schema::Schema;

const READ_BUFFER: usize = 256 * 1024;
/// Files this large are parsed and checked on two threads (see `csv_file`).
const TWO_THREADS_FROM: u64 = 16 * 1024 * 1024;

/// How a processed file ends. Stored with a file still in flight (see `--data-dir`), as
/// `{"finished": {"successful": …, "failed": …}}` or `{"failed": "<failure code>"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Processing completed; some records may have failed.
    Finished {
        /// Records accepted.
        successful: u64,
        /// Records rejected.
        failed: u64,
    },
    /// Processing stopped with a hard failure.
    Failed(FailureCode),
}

/// What the stream a file was sent to expects.
#[derive(Clone, Debug)]
pub enum StreamCheck {
    /// Streams are configured, but not this one.
    NotConfigured,
    /// Any well-formed record is accepted.
    Any,
    /// Records must follow this schema.
    Schema(Schema),
}

impl StreamCheck {
    pub(crate) fn from_config(found: Result<Option<&StreamConfig>, ()>) -> StreamCheck {
        match found {
            Err(()) => StreamCheck::NotConfigured,
            Ok(None) => StreamCheck::Any,
            Ok(Some(stream)) => Schema::from_config(stream)
                .map(StreamCheck::Schema)
                .unwrap_or(StreamCheck::Any),
        }
    }
}

/// Processes the object at `path` as a file of `file_type` for a stream expecting `check`.
#[cfg(test)]
pub fn process(path: &Path, file_type: &FileType, check: &StreamCheck) -> Outcome {
    process_file(File::open(path), file_type, check)
}

/// Processes an object opened when its file was queued (an open file outlives a second upload
/// replacing the object) as a file of `file_type` for a stream expecting `check`.
pub fn process_file(
    file: std::io::Result<File>,
    file_type: &FileType,
    check: &StreamCheck,
) -> Outcome {
    let schema = match check {
        StreamCheck::NotConfigured => return Outcome::Failed(FailureCode::StreamNotConfigured),
        StreamCheck::Any => None,
        StreamCheck::Schema(schema) => Some(schema),
    };
    let file = match file {
        Ok(file) => file,
        Err(err) => {
            tracing::error!(%err, "cannot open stored object");
            return Outcome::Failed(FailureCode::Unknown);
        }
    };
    let result = match file_type {
        // The csv reader buffers on its own; a BufReader under it would only copy.
        FileType::Csv => {
            let large = file.metadata().is_ok_and(|m| m.len() >= TWO_THREADS_FROM);
            csv_file::process(file, schema, large)
        }
        FileType::Json => {
            json_file::process_array(BufReader::with_capacity(READ_BUFFER, file), schema)
        }
        FileType::Jsonl => {
            json_file::process_lines(BufReader::with_capacity(READ_BUFFER, file), schema)
        }
        FileType::Parquet => parquet_file::process(file, schema),
        FileType::Other(_) => Err(FailureCode::UnparseableFile),
    };
    match result {
        Ok((successful, failed)) => Outcome::Finished { successful, failed },
        Err(code) => Outcome::Failed(code),
    }
}

/// Counts returned by a reader: (successful, failed).
type Counts = Result<(u64, u64), FailureCode>;

#[cfg(test)]
mod tests {
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

    mod parquet_files {
        use std::sync::Arc;

        use ::parquet::basic::Compression;
        use ::parquet::data_type::{
            BoolType, ByteArray, ByteArrayType, DataType, DoubleType, Int64Type,
        };
        use ::parquet::file::properties::WriterProperties;
        use ::parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
        use ::parquet::schema::parser::parse_message_type;

        use super::*;

        /// One column's values, `None` for null.
        enum Values {
            Int(Vec<Option<i64>>),
            Double(Vec<Option<f64>>),
            Bool(Vec<Option<bool>>),
            Text(Vec<Option<&'static str>>),
        }

        fn write<T: DataType>(column: &mut SerializedColumnWriter<'_>, values: Vec<Option<T::T>>) {
            let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
            let present: Vec<T::T> = values.into_iter().flatten().collect();
            column
                .typed::<T>()
                .write_batch(&present, Some(&levels), None)
                .unwrap();
        }

        /// A Parquet file (snappy, as pyarrow writes by default) with `rows_per_group` rows in
        /// each row group; every column of `message` is OPTIONAL, so any value may be null.
        fn file(message: &str, columns: &[Values], rows_per_group: usize) -> Vec<u8> {
            let schema = Arc::new(parse_message_type(message).unwrap());
            let props = Arc::new(
                WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build(),
            );
            let rows = match &columns[0] {
                Values::Int(v) => v.len(),
                Values::Double(v) => v.len(),
                Values::Bool(v) => v.len(),
                Values::Text(v) => v.len(),
            };
            let mut out = Vec::new();
            let mut writer = SerializedFileWriter::new(&mut out, schema, props).unwrap();
            for start in (0..rows).step_by(rows_per_group) {
                let range = start..(start + rows_per_group).min(rows);
                let mut group = writer.next_row_group().unwrap();
                let mut index = 0;
                while let Some(mut column) = group.next_column().unwrap() {
                    match &columns[index] {
                        Values::Int(v) => {
                            write::<Int64Type>(&mut column, v[range.clone()].to_vec())
                        }
                        Values::Double(v) => {
                            write::<DoubleType>(&mut column, v[range.clone()].to_vec())
                        }
                        Values::Bool(v) => {
                            write::<BoolType>(&mut column, v[range.clone()].to_vec())
                        }
                        Values::Text(v) => write::<ByteArrayType>(
                            &mut column,
                            v[range.clone()]
                                .iter()
                                .map(|t| t.map(ByteArray::from))
                                .collect(),
                        ),
                    }
                    column.close().unwrap();
                    index += 1;
                }
                group.close().unwrap();
            }
            writer.close().unwrap();
            out
        }

        const TXNS: &str = "message txns { OPTIONAL INT64 id; OPTIONAL DOUBLE amount; OPTIONAL BOOLEAN flagged; OPTIONAL BYTE_ARRAY note (UTF8); }";

        fn txns() -> Vec<u8> {
            file(
                TXNS,
                &[
                    Values::Int(vec![Some(1), None, Some(3), Some(4), Some(5)]),
                    Values::Double(vec![Some(2.5), Some(1.0), None, Some(-3.0), Some(0.0)]),
                    Values::Bool(vec![Some(true), None, Some(false), None, Some(true)]),
                    Values::Text(vec![Some("a"), None, None, Some("d"), Some("e")]),
                ],
                2,
            )
        }

        #[test]
        fn every_row_of_every_row_group_is_counted() {
            assert_eq!(run("t.parquet", &txns(), &StreamCheck::Any), finished(5, 0));
        }

        #[test]
        fn a_row_missing_a_required_value_fails_and_the_others_finish() {
            // id and amount are required: row 2 has no id, row 3 no amount.
            assert_eq!(run("t.parquet", &txns(), &schema()), finished(3, 2));
        }

        #[test]
        fn integers_fit_a_number_column() {
            let body = file(
                "message t { OPTIONAL INT64 id; OPTIONAL INT64 amount; }",
                &[
                    Values::Int(vec![Some(1), Some(2)]),
                    Values::Int(vec![Some(10), Some(20)]),
                ],
                10,
            );
            assert_eq!(run("t.parquet", &body, &schema()), finished(2, 0));
        }

        #[rstest::rstest]
        #[case::text_in_an_integer_column(
            "message t { OPTIONAL BYTE_ARRAY id (UTF8); OPTIONAL DOUBLE amount; }",
            vec![Values::Text(vec![Some("1")]), Values::Double(vec![Some(1.0)])]
        )]
        #[case::a_required_column_missing(
            "message t { OPTIONAL INT64 id; }",
            vec![Values::Int(vec![Some(1)])]
        )]
        #[case::a_boolean_that_is_a_number(
            "message t { OPTIONAL INT64 id; OPTIONAL DOUBLE amount; OPTIONAL DOUBLE flagged; }",
            vec![Values::Int(vec![Some(1)]), Values::Double(vec![Some(1.0)]), Values::Double(vec![Some(1.0)])]
        )]
        fn columns_that_do_not_fit_the_stream_are_invalid_schema(
            #[case] message: &str,
            #[case] columns: Vec<Values>,
        ) {
            let body = file(message, &columns, 10);
            assert_eq!(
                run("t.parquet", &body, &schema()),
                Outcome::Failed(FailureCode::InvalidSchema)
            );
        }

        /// One text column of `rows` values of `width` bytes, in one plain (no dictionary)
        /// snappy page per row group: pages as large as the test needs.
        fn one_big_page(rows: usize, width: usize, rows_per_group: usize) -> Vec<u8> {
            let schema = Arc::new(
                parse_message_type("message t { OPTIONAL BYTE_ARRAY note (UTF8); }").unwrap(),
            );
            let props = Arc::new(
                WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_dictionary_enabled(false)
                    .set_data_page_size_limit(64 * 1024 * 1024)
                    .set_write_batch_size(rows)
                    .build(),
            );
            let value = ByteArray::from("x".repeat(width).as_str());
            let mut out = Vec::new();
            let mut writer = SerializedFileWriter::new(&mut out, schema, props).unwrap();
            for _ in (0..rows).step_by(rows_per_group) {
                let mut group = writer.next_row_group().unwrap();
                let mut column = group.next_column().unwrap().unwrap();
                write::<ByteArrayType>(&mut column, vec![Some(value.clone()); rows_per_group]);
                column.close().unwrap();
                group.close().unwrap();
            }
            writer.close().unwrap();
            out
        }

        fn run_within(body: &[u8], budget: parquet_budget::Budget) -> Outcome {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            file.write_all(body).unwrap();
            match parquet_file::process_within(File::open(file.path()).unwrap(), None, budget) {
                Ok((successful, failed)) => finished(successful, failed),
                Err(code) => Outcome::Failed(code),
            }
        }

        /// A page whose header claims 100 MiB decompressed (its real content is 2 MiB): the
        /// crate would allocate the claim; the budget refuses it before any page is decoded.
        #[test]
        fn a_page_claiming_more_than_the_budget_is_unparseable() {
            let honest = one_big_page(200, 10 * 1024, 200);
            assert_eq!(
                run("t.parquet", &honest, &StreamCheck::Any),
                finished(200, 0),
                "a real 2 MiB page is within the budget"
            );
            // The first page header follows the 4-byte magic: field 1 (type, one byte), then
            // field 2, uncompressed_page_size, a 4-byte varint for a 2 MiB page.
            assert_eq!(&honest[4..7], &[0x15, 0x00, 0x15]);
            let zigzag = |v: u64| v << 1;
            let varint4 = |v: u64| {
                [
                    (v & 0x7f) as u8 | 0x80,
                    ((v >> 7) & 0x7f) as u8 | 0x80,
                    ((v >> 14) & 0x7f) as u8 | 0x80,
                    ((v >> 21) & 0x7f) as u8,
                ]
            };
            assert!(honest[7..10].iter().all(|b| b & 0x80 != 0) && honest[10] & 0x80 == 0);
            let mut bomb = honest.clone();
            bomb[7..11].copy_from_slice(&varint4(zigzag(100 * 1024 * 1024)));
            assert_eq!(
                run("t.parquet", &bomb, &StreamCheck::Any),
                Outcome::Failed(FailureCode::UnparseableFile)
            );
        }

        /// A page that truly decompresses to 20 MiB (from about 1 MB of snappy): over the page
        /// budget, so it fails instead of being decoded (it finished before the budget).
        #[test]
        fn a_page_that_decompresses_past_the_budget_is_unparseable() {
            let body = one_big_page(2, 10 * 1024 * 1024, 2);
            assert!(body.len() < 2 * 1024 * 1024, "{} bytes", body.len());
            assert_eq!(
                run("t.parquet", &body, &StreamCheck::Any),
                Outcome::Failed(FailureCode::UnparseableFile)
            );
        }

        #[test]
        fn rows_and_row_groups_over_their_budgets_are_unparseable() {
            let body = one_big_page(200, 100, 100);
            let roomy = parquet_budget::Budget::DEFAULT;
            assert_eq!(run_within(&body, roomy), finished(200, 0));
            let few_rows = parquet_budget::Budget { rows: 150, ..roomy };
            assert_eq!(
                run_within(&body, few_rows),
                Outcome::Failed(FailureCode::UnparseableFile)
            );
            // Each row group's one page is about 10 KB decompressed.
            let small_groups = parquet_budget::Budget {
                row_group_page_bytes: 5_000,
                ..roomy
            };
            assert_eq!(
                run_within(&body, small_groups),
                Outcome::Failed(FailureCode::UnparseableFile)
            );
        }

        #[test]
        fn a_footer_claiming_more_than_the_budget_is_unparseable() {
            let mut body = txns();
            let at = body.len() - 8;
            body[at..at + 4].copy_from_slice(&(64u32 * 1024 * 1024).to_le_bytes());
            assert_eq!(
                run("t.parquet", &body, &StreamCheck::Any),
                Outcome::Failed(FailureCode::UnparseableFile)
            );
        }

        #[test]
        fn a_cut_or_corrupted_file_is_unparseable() {
            let whole = txns();
            let cut = &whole[..whole.len() / 2];
            assert_eq!(
                run("t.parquet", cut, &StreamCheck::Any),
                Outcome::Failed(FailureCode::UnparseableFile)
            );
            // The footer intact, the pages overwritten.
            let mut corrupted = whole.clone();
            for byte in &mut corrupted[4..whole.len() / 2] {
                *byte = 0xff;
            }
            assert_eq!(
                run("t.parquet", &corrupted, &StreamCheck::Any),
                Outcome::Failed(FailureCode::UnparseableFile)
            );
        }
    }
}
