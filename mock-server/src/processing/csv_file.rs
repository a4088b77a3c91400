//! CSV: a header row, then records. A ragged or badly typed row fails alone; a file that is not
//! text, or whose header shows another delimiter, FAILS `unparseable_file`.

use std::io::Read;

use super::schema::{csv_value_ok, ColumnRule, Schema};
use super::Counts;
use crate::model::FailureCode;

pub(super) fn process(reader: impl Read, schema: Option<&Schema>) -> Counts {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(super::READ_BUFFER)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();

    let header = match csv.read_byte_record(&mut record) {
        Ok(true) => record.clone(),
        Ok(false) => return Err(FailureCode::UnparseableFile),
        Err(err) => return Err(read_failure(&err)),
    };
    let names: Vec<&str> = match header.iter().map(std::str::from_utf8).collect() {
        Ok(names) => names,
        Err(_) => return Err(FailureCode::UnparseableFile),
    };
    if looks_like_another_format(&names) {
        return Err(FailureCode::UnparseableFile);
    }
    let rules: Option<Vec<Option<ColumnRule>>> = match schema {
        Some(schema) => Some(
            schema
                .match_columns(names.iter().copied())
                .ok_or(FailureCode::InvalidSchema)?,
        ),
        None => None,
    };
    let width = header.len();

    match rules {
        None => tally(|| {
            csv.read_byte_record(&mut record)
                .map(|more| more.then(|| record.len() == width))
        }),
        Some(rules) => {
            // Read as text: csv checks UTF-8 once per record (not once per cell), and a record
            // that is not UTF-8 comes back as an error, counted as a failed row.
            let mut text = csv::StringRecord::new();
            tally(|| {
                csv.read_record(&mut text)
                    .map(|more| more.then(|| record_ok(&text, width, &rules)))
            })
        }
    }
}

/// Counts rows from `next_row` (whether the next row is good, `None` at the end) until the
/// end. A row's parse error fails that row; an I/O error fails the whole file.
fn tally(mut next_row: impl FnMut() -> csv::Result<Option<bool>>) -> Counts {
    let (mut successful, mut failed) = (0u64, 0u64);
    loop {
        match next_row() {
            Ok(None) => break,
            Ok(Some(true)) => successful += 1,
            Ok(Some(false)) => failed += 1,
            Err(err) if err.is_io_error() => return Err(FailureCode::Unknown),
            Err(_) => failed += 1,
        }
    }
    Ok((successful, failed))
}

fn read_failure(err: &csv::Error) -> FailureCode {
    if err.is_io_error() {
        FailureCode::Unknown
    } else {
        FailureCode::UnparseableFile
    }
}

/// A header of one column that contains another delimiter, or control bytes, means the file is
/// not comma-separated text.
fn looks_like_another_format(names: &[&str]) -> bool {
    let control = names
        .iter()
        .any(|n| n.chars().any(|c| c.is_control() && c != '\t'));
    let other_delimiter = names.len() == 1 && names[0].contains([';', '\t', '|']);
    control || other_delimiter || names.iter().all(|n| n.trim().is_empty())
}

fn record_ok(record: &csv::StringRecord, width: usize, rules: &[Option<ColumnRule>]) -> bool {
    record.len() == width
        && record.iter().zip(rules).all(|(cell, rule)| match rule {
            None => true,
            Some(rule) => csv_value_ok(*rule, cell),
        })
}
