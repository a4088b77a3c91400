//! Parquet, read without arrow: the footer's schema is matched against the stream's once (names,
//! and each column's type), then every row is read and counted. Rows come one row group at a
//! time, so memory follows the largest row group, not the file; and what a file claims (page
//! sizes, rows) is checked against a budget before anything is decoded.

use std::fs::File;

use parquet::basic::{ConvertedType, LogicalType, Repetition, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;

use super::parquet_budget;
use super::schema::Schema;
use super::Counts;
use crate::config::ColumnType;
use crate::model::FailureCode;

/// Counts the rows of a Parquet file: a row fails when a column the stream requires is null.
/// A file that is not Parquet, or whose pages cannot be decoded, is `unparseable_file`; columns
/// that do not match the stream (a missing required column, an unknown one, a type that cannot
/// hold the stream's) are `invalid_schema`.
///
/// Before a page is decoded, what the file claims is held to the budgets of
/// [`super::parquet_budget`]: a file over them is `unparseable_file` too.
pub(super) fn process(file: File, schema: Option<&Schema>) -> Counts {
    process_within(file, schema, parquet_budget::Budget::DEFAULT)
}

/// [`process`] under another budget (tests use small ones).
pub(super) fn process_within(
    file: File,
    schema: Option<&Schema>,
    budget: parquet_budget::Budget,
) -> Counts {
    let over_budget = |why: String| {
        tracing::info!(%why, "a Parquet file over the decoding budget fails unparseable_file");
        FailureCode::UnparseableFile
    };
    parquet_budget::check_footer(&file).map_err(over_budget)?;
    let pages = file.try_clone().map_err(|_| FailureCode::Unknown)?;
    let reader = SerializedFileReader::new(file).map_err(|_| FailureCode::UnparseableFile)?;
    parquet_budget::check_pages(&pages, reader.metadata(), budget).map_err(over_budget)?;
    let columns = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .to_vec();
    // Per column, in file order: whether the stream requires a value there.
    let required: Vec<bool> = match schema {
        None => vec![false; columns.len()],
        Some(schema) => {
            let rules = schema
                .match_columns(columns.iter().map(|c| c.name()))
                .ok_or(FailureCode::InvalidSchema)?;
            let mut required = Vec::with_capacity(rules.len());
            for (column, rule) in columns.iter().zip(rules) {
                if let Some(rule) = rule {
                    if !holds(column, rule.kind) {
                        return Err(FailureCode::InvalidSchema);
                    }
                }
                required.push(rule.is_some_and(|r| r.required));
            }
            required
        }
    };
    let rows = reader
        .get_row_iter(None)
        .map_err(|_| FailureCode::UnparseableFile)?;
    let (mut successful, mut failed) = (0, 0);
    for row in rows {
        let row = row.map_err(|_| FailureCode::UnparseableFile)?;
        let missing = row
            .get_column_iter()
            .zip(&required)
            .any(|((_, value), required)| *required && matches!(value, Field::Null));
        if missing {
            failed += 1;
        } else {
            successful += 1;
        }
    }
    Ok((successful, failed))
}

/// Whether a Parquet column can hold the stream column's values, by the rule CSV cells follow:
/// a string column takes any value; integers are whole numbers (not dates or decimals); numbers
/// are any integer, float or decimal.
fn holds(column: &Type, kind: ColumnType) -> bool {
    if !column.is_primitive() {
        return false;
    }
    if kind == ColumnType::String {
        return true;
    }
    let info = column.get_basic_info();
    if info.repetition() == Repetition::REPEATED {
        return false;
    }
    let logical = info.logical_type_ref();
    let decimal = matches!(logical, Some(LogicalType::Decimal { .. }))
        || info.converted_type() == ConvertedType::DECIMAL;
    let temporal = matches!(
        logical,
        Some(LogicalType::Date | LogicalType::Time { .. } | LogicalType::Timestamp { .. })
    ) || matches!(
        info.converted_type(),
        ConvertedType::DATE
            | ConvertedType::TIME_MILLIS
            | ConvertedType::TIME_MICROS
            | ConvertedType::TIMESTAMP_MILLIS
            | ConvertedType::TIMESTAMP_MICROS
    );
    let whole = matches!(
        column.get_physical_type(),
        Physical::INT32 | Physical::INT64
    ) && !decimal
        && !temporal;
    match kind {
        ColumnType::String => true,
        ColumnType::Integer => whole,
        ColumnType::Number => {
            whole
                || decimal
                || matches!(
                    column.get_physical_type(),
                    Physical::FLOAT | Physical::DOUBLE
                )
        }
        ColumnType::Boolean => column.get_physical_type() == Physical::BOOLEAN,
    }
}
