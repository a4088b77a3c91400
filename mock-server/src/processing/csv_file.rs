//! CSV: a header row, then records. A ragged or badly typed row fails alone; a file that is not
//! text, or whose header shows another delimiter, FAILS `unparseable_file`. The csv crate holds
//! a whole record in memory, so a record (the header too) is bounded in bytes and the header in
//! columns: past either, the file FAILS `unparseable_file`.

use std::cell::Cell;
use std::io::Read;
use std::rc::Rc;

use super::schema::{csv_value_ok, ColumnRule, Schema};
use super::Counts;
use crate::model::FailureCode;

/// Records handed from the reading thread to the checking one at a time…
const BATCH_RECORDS: usize = 2048;
/// …unless they hold more bytes than this first.
const BATCH_BYTES: usize = 1024 * 1024;

/// The longest record (the header included), in bytes.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;
/// The most columns a header may name.
pub const MAX_COLUMNS: usize = 10_000;

/// Counts what the csv reader has read, and refuses to read more than [`MAX_RECORD_BYTES`] (and
/// its read-ahead) past the end of the last record it returned (`parsed`, set after each).
struct Bounded<R> {
    inner: R,
    read: u64,
    parsed: Rc<Cell<u64>>,
}

/// The error a [`Bounded`] reader gives for a record that is too long.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "a CSV record longer than {MAX_RECORD_BYTES} bytes")
    }
}

impl std::error::Error for RecordTooLong {}

/// Notes where the record just read ended, and fails one that spanned more than
/// [`MAX_RECORD_BYTES`] (the reader's own bound allows its read-ahead on top).
fn record_read(parsed: &Cell<u64>, now: u64) -> csv::Result<()> {
    let start = parsed.replace(now);
    if now.saturating_sub(start) > MAX_RECORD_BYTES + 2 {
        return Err(std::io::Error::other(RecordTooLong).into());
    }
    Ok(())
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read.saturating_sub(self.parsed.get())
            > MAX_RECORD_BYTES + super::READ_BUFFER as u64
        {
            return Err(std::io::Error::other(RecordTooLong));
        }
        let read = self.inner.read(buf)?;
        self.read += read as u64;
        Ok(read)
    }
}

/// Reads the CSV from `reader`. With `two_threads`, one thread parses while another checks the
/// records against the schema (worth it for large files only).
pub(super) fn process(reader: impl Read, schema: Option<&Schema>, two_threads: bool) -> Counts {
    let parsed = Rc::new(Cell::new(0));
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(super::READ_BUFFER)
        .from_reader(Bounded {
            inner: reader,
            read: 0,
            parsed: parsed.clone(),
        });
    let mut record = csv::ByteRecord::new();

    let header = match csv
        .read_byte_record(&mut record)
        .and_then(|more| record_read(&parsed, csv.position().byte()).map(|()| more))
    {
        Ok(true) => record.clone(),
        Ok(false) => return Err(FailureCode::UnparseableFile),
        Err(err) => return Err(read_failure(&err)),
    };
    if header.len() > MAX_COLUMNS {
        return Err(FailureCode::UnparseableFile);
    }
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
            let more = csv.read_byte_record(&mut record);
            record_read(&parsed, csv.position().byte())?;
            more.map(|more| more.then(|| record.len() == width))
        }),
        Some(rules) if two_threads => parse_and_check_apart(&mut csv, &parsed, width, &rules),
        Some(rules) => {
            // Read as text: csv checks UTF-8 once per record (not once per cell), and a record
            // that is not UTF-8 comes back as an error, counted as a failed row.
            let mut text = csv::StringRecord::new();
            tally(|| {
                let more = csv.read_record(&mut text);
                record_read(&parsed, csv.position().byte())?;
                more.map(|more| more.then(|| record_ok(&text, width, &rules)))
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
            Err(err) if err.is_io_error() => return Err(read_failure(&err)),
            Err(_) => failed += 1,
        }
    }
    Ok((successful, failed))
}

/// Parsing and checking take about the same time, so a large file is parsed on this thread
/// while a second checks each record's UTF-8 and values. Batches of records go over a
/// two-deep channel and come back empty to be refilled, so no record is allocated twice and
/// at most four batches exist.
fn parse_and_check_apart<R: Read>(
    csv: &mut csv::Reader<R>,
    parsed: &Cell<u64>,
    width: usize,
    rules: &[Option<ColumnRule>],
) -> Counts {
    type Batch = (Vec<csv::ByteRecord>, usize);
    let (to_checker, full) = std::sync::mpsc::sync_channel::<Batch>(2);
    let (to_parser, empty) = std::sync::mpsc::channel::<Batch>();
    std::thread::scope(|scope| {
        let checker = scope.spawn(move || {
            let (mut successful, mut failed) = (0u64, 0u64);
            for (mut records, filled) in full {
                for slot in &mut records[..filled] {
                    let record = std::mem::take(slot);
                    // Moving between byte and text records checks UTF-8 without copying.
                    *slot = match csv::StringRecord::from_byte_record(record) {
                        Ok(text) => {
                            if record_ok(&text, width, rules) {
                                successful += 1;
                            } else {
                                failed += 1;
                            }
                            text.into_byte_record()
                        }
                        Err(not_text) => {
                            failed += 1;
                            not_text.into_byte_record()
                        }
                    };
                }
                // The parser may have stopped early; then nobody wants the batch back.
                let _ = to_parser.send((records, 0));
            }
            (successful, failed)
        });

        let mut unparsed_rows = 0u64;
        let outcome = 'parsing: loop {
            let (mut records, _) = empty
                .try_recv()
                .unwrap_or_else(|_| (vec![csv::ByteRecord::new(); BATCH_RECORDS], 0));
            let (mut filled, mut bytes) = (0, 0);
            let mut ended = false;
            while filled < BATCH_RECORDS && bytes < BATCH_BYTES {
                let more = csv
                    .read_byte_record(&mut records[filled])
                    .and_then(|more| record_read(parsed, csv.position().byte()).map(|()| more));
                match more {
                    Ok(true) => {
                        bytes += records[filled].as_slice().len();
                        filled += 1;
                    }
                    Ok(false) => {
                        ended = true;
                        break;
                    }
                    Err(err) if err.is_io_error() => break 'parsing Err(read_failure(&err)),
                    Err(_) => unparsed_rows += 1,
                }
            }
            if to_checker.send((records, filled)).is_err() || ended {
                break 'parsing Ok(());
            }
        };
        drop(to_checker);
        let (successful, failed) = checker.join().unwrap_or((0, 0));
        outcome.map(|()| (successful, failed + unparsed_rows))
    })
}

/// A record over the bound, or a file that is not CSV, is `unparseable_file`; a disk error is
/// `unknown`.
fn read_failure(err: &csv::Error) -> FailureCode {
    match err.kind() {
        csv::ErrorKind::Io(io)
            if io
                .get_ref()
                .is_none_or(|inner| inner.downcast_ref::<RecordTooLong>().is_none()) =>
        {
            FailureCode::Unknown
        }
        _ => FailureCode::UnparseableFile,
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
