//! Parquet files: every column type, nulls, compression, and files that lie about their size.

use std::sync::Arc;

use ::parquet::basic::Compression;
use ::parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
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
                Values::Int(v) => write::<Int64Type>(&mut column, v[range.clone()].to_vec()),
                Values::Double(v) => write::<DoubleType>(&mut column, v[range.clone()].to_vec()),
                Values::Bool(v) => write::<BoolType>(&mut column, v[range.clone()].to_vec()),
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
    let schema =
        Arc::new(parse_message_type("message t { OPTIONAL BYTE_ARRAY note (UTF8); }").unwrap());
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
