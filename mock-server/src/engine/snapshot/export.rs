//! `GET /_mock/state` as it goes out: the document is written member by member, and each
//! object's bytes are read from disk and base64-encoded on the way, so memory stays flat
//! whatever the objects hold.

use std::fs::File;
use std::io::{self, Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::write::EncoderWriter;

use super::{ClockSnapshot, FileSnapshot, Parts, VERSION};
use crate::engine::store::StoreContents;

/// Writes the snapshot of `parts` to `out`: the members of [`Snapshot`](super::Snapshot) in
/// their order, objects inline. Blocking: run it off the runtime's threads. An object whose
/// file is gone or holds other than its size (the state changed while it was written) fails
/// the write; what was written is then not a whole document.
pub(in crate::engine) fn write_document(parts: Parts, out: &mut impl Write) -> io::Result<()> {
    let Parts {
        contents,
        clock,
        timing,
        streams,
    } = parts;
    let StoreContents {
        next_id,
        files,
        objects,
    } = contents;
    write!(out, "{{\"version\":{VERSION},\"clock\":")?;
    let clock = ClockSnapshot {
        frozen_at_ms: clock.0,
        offset_ms: clock.1,
    };
    serde_json::to_writer(&mut *out, &clock)?;
    out.write_all(b",\"timing\":")?;
    serde_json::to_writer(&mut *out, &timing)?;
    out.write_all(b",\"streams\":")?;
    serde_json::to_writer(&mut *out, &streams)?;
    write!(out, ",\"next_id\":{next_id},\"files\":[")?;
    for (i, (file, flight)) in files.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &FileSnapshot::from_record(file, flight))?;
    }
    out.write_all(b"],\"objects\":[")?;
    for (i, (key, object)) in objects.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(b"{\"key\":")?;
        serde_json::to_writer(&mut *out, &key)?;
        write!(out, ",\"size\":{},\"etag\":", object.size)?;
        serde_json::to_writer(&mut *out, &object.etag)?;
        out.write_all(b",\"content_base64\":\"")?;
        let content = File::open(&object.path)?;
        let copied = {
            let mut encoder = EncoderWriter::new(&mut *out, &STANDARD);
            // One byte more than the size: a file that grew is caught too.
            let copied = io::copy(&mut content.take(object.size + 1), &mut encoder)?;
            encoder.finish()?;
            copied
        };
        if copied != object.size {
            return Err(io::Error::other(format!(
                "object '{key}' holds {copied} bytes on disk, not its {}",
                object.size
            )));
        }
        out.write_all(b"\"}")?;
    }
    out.write_all(b"]}")
}
