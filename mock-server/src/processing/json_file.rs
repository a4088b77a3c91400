//! JSON (one array of objects) and JSONL (one object per line).
//!
//! The array is read element by element through serde's `SeqAccess`, so a 300 MB array never
//! sits in memory. A syntax error in an array cannot be skipped past, so it FAILS the whole file
//! `unparseable_file`; a JSONL line stands alone, so a bad line fails only itself.

use std::fmt;
use std::io::{BufRead, Read};

use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::schema::{json_value_ok, Schema};
use super::Counts;
use crate::model::FailureCode;

/// Tallies records, treating the first object's keys as the file's columns.
struct Tally<'s> {
    schema: Option<&'s Schema>,
    seen_first: bool,
    successful: u64,
    failed: u64,
}

impl<'s> Tally<'s> {
    fn new(schema: Option<&'s Schema>) -> Self {
        Self {
            schema,
            seen_first: false,
            successful: 0,
            failed: 0,
        }
    }

    fn record(&mut self, value: Value) -> Result<(), FailureCode> {
        let Value::Object(object) = value else {
            self.failed += 1;
            return Ok(());
        };
        let first = !self.seen_first;
        self.seen_first = true;
        match self.schema {
            None => self.successful += 1,
            Some(schema) => match check(schema, &object) {
                Check::Ok => self.successful += 1,
                // The first record plays the role of a CSV header.
                Check::WrongColumns if first => return Err(FailureCode::InvalidSchema),
                Check::WrongColumns | Check::WrongValue => self.failed += 1,
            },
        }
        Ok(())
    }
}

enum Check {
    Ok,
    WrongColumns,
    WrongValue,
}

fn check(schema: &Schema, object: &Map<String, Value>) -> Check {
    if schema.required().any(|name| !object.contains_key(name)) {
        return Check::WrongColumns;
    }
    let mut result = Check::Ok;
    for (key, value) in object {
        match schema.rule(key) {
            Err(()) => return Check::WrongColumns,
            Ok(Some(rule)) if !json_value_ok(rule, value) => result = Check::WrongValue,
            Ok(_) => {}
        }
    }
    result
}

/// The longest record read: a JSONL line, or an item of a JSON array. A record is parsed
/// whole, into a tree several times its size, so this bounds a file's memory whatever its size.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// Counts the bytes read since the current record started, and refuses to read past
/// [`MAX_RECORD_BYTES`] of one.
struct Bounded<R> {
    inner: R,
    since_mark: std::rc::Rc<std::cell::Cell<usize>>,
}

/// The error a [`Bounded`] reader gives for a record that is too long.
#[derive(Debug)]
struct RecordTooLong;

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a record longer than {MAX_RECORD_BYTES} bytes")
    }
}

impl std::error::Error for RecordTooLong {}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        let since = self.since_mark.get() + read;
        self.since_mark.set(since);
        if since > MAX_RECORD_BYTES + 64 * 1024 {
            return Err(std::io::Error::other(RecordTooLong));
        }
        Ok(read)
    }
}

pub(super) fn process_array(reader: impl Read, schema: Option<&Schema>) -> Counts {
    let mut tally = Tally::new(schema);
    let since_mark = std::rc::Rc::new(std::cell::Cell::new(0));
    let bounded = Bounded {
        inner: reader,
        since_mark: since_mark.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(bounded);
    let outcome = ArraySeed {
        tally: &mut tally,
        since_mark: &since_mark,
    }
    .deserialize(&mut de);
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(code)) => return Err(code),
        // One item over the bound: the file cannot be read as records.
        Err(err) if err.is_io() && since_mark.get() > MAX_RECORD_BYTES => {
            return Err(FailureCode::UnparseableFile)
        }
        Err(err) if err.is_io() => return Err(FailureCode::Unknown),
        Err(_) => return Err(FailureCode::UnparseableFile),
    }
    de.end().map_err(|_| FailureCode::UnparseableFile)?;
    Ok((tally.successful, tally.failed))
}

struct ArraySeed<'t, 's> {
    tally: &'t mut Tally<'s>,
    /// Reset before each item: what the reader has read of it.
    since_mark: &'t std::cell::Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_, '_> {
    type Value = Result<(), FailureCode>;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_, '_> {
    type Value = Result<(), FailureCode>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // The reader reads ahead by a buffer (hence the bound's slack), so a count that starts
        // at each item is close enough to the item's size.
        self.since_mark.set(0);
        while let Some(value) = seq.next_element::<Value>()? {
            if let Err(code) = self.tally.record(value) {
                return Ok(Err(code));
            }
            self.since_mark.set(0);
        }
        Ok(Ok(()))
    }
}

pub(super) fn process_lines(mut reader: impl BufRead, schema: Option<&Schema>) -> Counts {
    let mut tally = Tally::new(schema);
    let mut line = Vec::new();
    let mut any_json = false;
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_RECORD_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => return Err(FailureCode::Unknown),
        }
        if line.len() > MAX_RECORD_BYTES && line.last() != Some(&b'\n') {
            // Too long to be a record: it fails, and the rest of the line is skipped unread.
            tally.failed += 1;
            skip_line(&mut reader).map_err(|_| FailureCode::Unknown)?;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(&line) {
            Ok(value) => {
                any_json = true;
                tally.record(value)?;
            }
            Err(_) => tally.failed += 1,
        }
    }
    if !any_json && tally.failed > 0 {
        // Not one line was JSON: the file is not JSONL at all.
        return Err(FailureCode::UnparseableFile);
    }
    Ok((tally.successful, tally.failed))
}

/// Reads past the next newline without keeping what it reads.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(());
        }
        match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => {
                reader.consume(end + 1);
                return Ok(());
            }
            None => {
                let all = buffer.len();
                reader.consume(all);
            }
        }
    }
}
