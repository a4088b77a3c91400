//! What a Parquet file may make the fake decode, checked before a page is decoded.
//!
//! The parquet crate allocates each page at the size its header claims, then decompresses into
//! it: a 121-byte file whose page claims 2 GiB uncompressed takes 2 GiB, and a page of
//! run-length-encoded values can claim billions of rows. So every page header of every column
//! chunk is read first (a Thrift compact-protocol struct, read here by hand: the crate keeps its
//! reader private), and a file whose footer, pages, rows or row groups claim more than the
//! budgets below FAILS `unparseable_file` without a page being decoded. A real writer's pages are
//! about 1 MiB (arrow's and pyarrow's default), far inside them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use parquet::file::metadata::ParquetMetaData;

/// The most a footer (the file's metadata) may take.
pub(super) const MAX_FOOTER_BYTES: u64 = 16 * 1024 * 1024;
/// The most one page may claim, decompressed.
pub(super) const MAX_PAGE_BYTES: u64 = 16 * 1024 * 1024;
/// The most a row group's columns may claim at once: the largest page of each, added up (rows
/// are read a row group at a time, one page per column held).
pub(super) const MAX_ROW_GROUP_PAGE_BYTES: u64 = 48 * 1024 * 1024;
/// The most rows (values, per column) a file may claim: a 300 MiB CSV of one-byte rows holds
/// about as many.
pub(super) const MAX_ROWS: u64 = 150_000_000;
/// The longest page header read (statistics can make one long; real ones are bytes).
const MAX_HEADER_BYTES: usize = 1024 * 1024;

/// Why a file is over budget, for the log.
pub(super) type Refusal = String;

/// Checks the footer's declared length, before the crate reads it.
pub(super) fn check_footer(file: &File) -> Result<(), Refusal> {
    let mut reader = file;
    let size = reader.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    if size < 12 {
        return Ok(()); // not Parquet: the crate says so
    }
    let mut tail = [0u8; 8];
    reader
        .seek(SeekFrom::End(-8))
        .and_then(|_| reader.read_exact(&mut tail))
        .map_err(|e| e.to_string())?;
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer > MAX_FOOTER_BYTES {
        return Err(format!(
            "a footer of {footer} bytes (at most {MAX_FOOTER_BYTES})"
        ));
    }
    Ok(())
}

/// The budgets a file's pages are held to.
#[derive(Clone, Copy, Debug)]
pub(super) struct Budget {
    pub page_bytes: u64,
    pub row_group_page_bytes: u64,
    pub rows: u64,
}

impl Budget {
    pub(super) const DEFAULT: Budget = Budget {
        page_bytes: MAX_PAGE_BYTES,
        row_group_page_bytes: MAX_ROW_GROUP_PAGE_BYTES,
        rows: MAX_ROWS,
    };
}

/// Reads every page header the footer points at and checks what they claim.
pub(super) fn check_pages(
    file: &File,
    metadata: &ParquetMetaData,
    budget: Budget,
) -> Result<(), Refusal> {
    let Budget {
        page_bytes: max_page,
        row_group_page_bytes: max_held,
        rows: max_rows,
    } = budget;
    let rows = metadata.file_metadata().num_rows();
    if u64::try_from(rows).map_or(true, |r| r > max_rows) {
        return Err(format!("{rows} rows (at most {max_rows})"));
    }
    let mut values_per_column = vec![0u64; metadata.file_metadata().schema_descr().num_columns()];
    for group in metadata.row_groups() {
        let mut held = 0u64;
        for (index, column) in group.columns().iter().enumerate() {
            let (start, length) = column.byte_range();
            let chunk = scan_chunk(file, start, length, max_page)?;
            held = held.saturating_add(chunk.largest_page);
            if let Some(total) = values_per_column.get_mut(index) {
                *total = total.saturating_add(chunk.values);
                if *total > max_rows {
                    return Err(format!(
                        "column {index} claims over {max_rows} values (at most {max_rows} rows)"
                    ));
                }
            }
        }
        if held > max_held {
            return Err(format!(
                "a row group whose pages claim {held} bytes at once (at most {max_held})"
            ));
        }
    }
    Ok(())
}

/// What a column chunk's pages claim.
struct Chunk {
    largest_page: u64,
    values: u64,
}

fn scan_chunk(file: &File, start: u64, length: u64, max_page: u64) -> Result<Chunk, Refusal> {
    let mut reader = file;
    let end = start.saturating_add(length);
    let mut at = start;
    let mut chunk = Chunk {
        largest_page: 0,
        values: 0,
    };
    let mut buffer = Vec::new();
    while at < end {
        let want = usize::try_from(end - at)
            .unwrap_or(usize::MAX)
            .min(MAX_HEADER_BYTES);
        buffer.resize(want, 0);
        reader
            .seek(SeekFrom::Start(at))
            .map_err(|e| e.to_string())?;
        let read = read_up_to(&mut reader, &mut buffer).map_err(|e| e.to_string())?;
        let header = PageHeader::parse(&buffer[..read])
            .ok_or_else(|| format!("a page header at byte {at} that cannot be read"))?;
        if header.uncompressed > max_page {
            return Err(format!(
                "a page at byte {at} claiming {} bytes decompressed (at most {max_page})",
                header.uncompressed
            ));
        }
        chunk.largest_page = chunk.largest_page.max(header.uncompressed);
        chunk.values = chunk.values.saturating_add(header.values);
        at = at
            .saturating_add(header.length as u64)
            .saturating_add(header.compressed);
    }
    Ok(chunk)
}

/// Reads until `buffer` is full or the file ends; returns how much was read.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The fields of a page header the budgets need.
#[derive(Debug, PartialEq)]
struct PageHeader {
    /// Bytes the header itself took.
    length: usize,
    uncompressed: u64,
    compressed: u64,
    /// Values in a data page (0 for a dictionary or index page).
    values: u64,
}

impl PageHeader {
    /// Parses `PageHeader` (parquet.thrift): 2 `uncompressed_page_size`, 3
    /// `compressed_page_size`, and `num_values` (field 1) of 5 `data_page_header` or 8
    /// `data_page_header_v2`. `None` when the bytes are not one, or claim negative sizes.
    fn parse(bytes: &[u8]) -> Option<PageHeader> {
        let mut input = Compact { bytes, at: 0 };
        let (mut uncompressed, mut compressed, mut values) = (None, None, 0u64);
        input.fields(|input, id, kind| {
            match (id, kind) {
                (2, I32) => uncompressed = Some(input.int()?),
                (3, I32) => compressed = Some(input.int()?),
                (5 | 8, STRUCT) => {
                    input.fields(|input, id, kind| {
                        if (id, kind) == (1, I32) {
                            values = u64::try_from(input.int()?).ok()?;
                            Some(())
                        } else {
                            input.skip(kind, 0)
                        }
                    })?;
                }
                _ => input.skip(kind, 0)?,
            }
            Some(())
        })?;
        Some(PageHeader {
            length: input.at,
            uncompressed: u64::try_from(uncompressed?).ok()?,
            compressed: u64::try_from(compressed?).ok()?,
            values,
        })
    }
}

// Thrift compact-protocol type codes.
const TRUE: u8 = 1;
const FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;
const UUID: u8 = 13;
/// Structs nested deeper than this are refused (a header is a few levels deep).
const MAX_DEPTH: usize = 16;

/// A reader of Thrift's compact protocol over bytes in memory.
struct Compact<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Compact<'_> {
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A zigzag-encoded integer (i16, i32 or i64).
    fn int(&mut self) -> Option<i64> {
        let raw = self.varint()?;
        Some((raw >> 1) as i64 ^ -((raw & 1) as i64))
    }

    fn advance(&mut self, n: u64) -> Option<()> {
        let n = usize::try_from(n).ok()?;
        self.at = self
            .at
            .checked_add(n)
            .filter(|&at| at <= self.bytes.len())?;
        Some(())
    }

    /// Calls `field` for each field of a struct until its stop byte; `field` must consume the
    /// value.
    fn fields(&mut self, mut field: impl FnMut(&mut Self, i16, u8) -> Option<()>) -> Option<()> {
        let mut id: i16 = 0;
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Some(());
            }
            let (delta, kind) = (header >> 4, header & 0x0f);
            id = if delta == 0 {
                i16::try_from(self.int()?).ok()?
            } else {
                id.checked_add(i16::from(delta))?
            };
            field(self, id, kind)?;
        }
    }

    /// Skips a value of `kind` (a boolean field's value is in its type code).
    fn skip(&mut self, kind: u8, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match kind {
            TRUE | FALSE => Some(()),
            BYTE => self.advance(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.advance(8),
            UUID => self.advance(16),
            BINARY => {
                let n = self.varint()?;
                self.advance(n)
            }
            LIST | SET => {
                let header = self.byte()?;
                let element = header & 0x0f;
                let size = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                for _ in 0..size {
                    // A boolean element is a byte of its own.
                    if matches!(element, TRUE | FALSE) {
                        self.advance(1)?;
                    } else {
                        self.skip(element, depth + 1)?;
                    }
                }
                Some(())
            }
            MAP => {
                let size = self.varint()?;
                if size == 0 {
                    return Some(());
                }
                let types = self.byte()?;
                for _ in 0..size {
                    for kind in [types >> 4, types & 0x0f] {
                        if matches!(kind, TRUE | FALSE) {
                            self.advance(1)?;
                        } else {
                            self.skip(kind, depth + 1)?;
                        }
                    }
                }
                Some(())
            }
            STRUCT => self.fields(|input, _, kind| input.skip(kind, depth + 1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zigzag varint.
    fn int(v: i64) -> Vec<u8> {
        let mut raw = ((v << 1) ^ (v >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let byte = (raw & 0x7f) as u8;
            raw >>= 7;
            if raw == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    #[test]
    fn a_data_page_header_gives_its_sizes_and_values() {
        // type = DATA_PAGE, uncompressed 2048, compressed 100, data_page_header { num_values 7,
        // encoding 0, statistics { max: "zz" } }, then stop.
        let mut bytes = vec![0x15];
        bytes.extend(int(0));
        bytes.push(0x15);
        bytes.extend(int(2048));
        bytes.push(0x15);
        bytes.extend(int(100));
        bytes.push(0x2c); // field 5 (delta 2), struct
        bytes.push(0x15);
        bytes.extend(int(7));
        bytes.push(0x15);
        bytes.extend(int(0));
        bytes.push(0x3c); // field 5 of the data page header: statistics
        bytes.extend([0x18, 2, b'z', b'z', 0]);
        bytes.push(0);
        bytes.push(0);
        let header = PageHeader::parse(&bytes).unwrap();
        assert_eq!(
            header,
            PageHeader {
                length: bytes.len(),
                uncompressed: 2048,
                compressed: 100,
                values: 7
            }
        );
    }

    #[test]
    fn truncated_negative_and_runaway_headers_are_not_read() {
        assert_eq!(PageHeader::parse(&[0x15, 0x00, 0x15]), None);
        let mut negative = vec![0x25];
        negative.extend(int(-5));
        negative.push(0x15);
        negative.extend(int(1));
        negative.push(0);
        assert_eq!(PageHeader::parse(&negative), None);
        // Structs nested without end.
        let deep = vec![0x1c; 64];
        assert_eq!(PageHeader::parse(&deep), None);
        assert_eq!(PageHeader::parse(&[0xff; 16]), None);
    }
}
