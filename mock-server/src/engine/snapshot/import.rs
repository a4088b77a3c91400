//! `PUT /_mock/state` as it comes in: the document is parsed member by member as its bytes
//! arrive (`struson`), and each object's base64 is decoded straight into a new object file, so
//! neither the document nor an object is ever whole in memory, and a document that goes wrong
//! is refused at the byte where it does.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::read::DecoderReader;
use struson::reader::{JsonReader, JsonStreamReader};

use super::{ClockSnapshot, FileSnapshot, Parts, VERSION};
use crate::config::{StreamConfig, Timing};
use crate::engine::store::{StoreContents, StoredObject};

/// Why a document was refused.
#[derive(Debug)]
pub(in crate::engine) enum Refusal {
    /// It is not a snapshot this fake takes (the message says where and why).
    Invalid(String),
    /// An object could not be written to disk.
    Io(io::Error),
}

impl From<struson::reader::ReaderError> for Refusal {
    fn from(err: struson::reader::ReaderError) -> Self {
        Refusal::Invalid(err.to_string())
    }
}

impl From<struson::serde::DeserializerError> for Refusal {
    fn from(err: struson::serde::DeserializerError) -> Self {
        Refusal::Invalid(err.to_string())
    }
}

/// Object files written so far; removed unless the document is taken whole.
struct Written(Vec<PathBuf>);

impl Drop for Written {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Reads a snapshot from `input`, writing its objects into `objects_dir` under generated
/// names. Blocking: run it off the runtime's threads. Refused, with every object file it wrote
/// removed, at the first member that is wrong.
pub(in crate::engine) fn read_document(
    input: impl Read,
    objects_dir: &Path,
) -> Result<Parts, Refusal> {
    let mut json = JsonStreamReader::new(input);
    let mut written = Written(Vec::new());
    let mut version = None;
    let mut clock: Option<ClockSnapshot> = None;
    let mut timing: Option<Timing> = None;
    let mut streams: Option<Vec<StreamConfig>> = None;
    let mut next_id: Option<u64> = None;
    let mut files: Option<Vec<FileSnapshot>> = None;
    let mut objects: Option<Vec<(String, StoredObject)>> = None;
    json.begin_object()?;
    while json.has_next()? {
        let name = json.next_name_owned()?;
        match name.as_str() {
            "version" => {
                let read: u32 = json.deserialize_next()?;
                if read != VERSION {
                    return Err(invalid(format!("snapshot version {read} is not {VERSION}")));
                }
                once(&mut version, read, &name)?;
            }
            "clock" => once(&mut clock, json.deserialize_next()?, &name)?,
            "timing" => once(&mut timing, json.deserialize_next()?, &name)?,
            "streams" => once(&mut streams, json.deserialize_next()?, &name)?,
            "next_id" => once(&mut next_id, json.deserialize_next()?, &name)?,
            "files" => once(&mut files, json.deserialize_next()?, &name)?,
            "objects" => {
                if objects.is_some() {
                    return Err(duplicate(&name));
                }
                let mut read = Vec::new();
                json.begin_array()?;
                while json.has_next()? {
                    read.push(read_object(&mut json, objects_dir, &mut written)?);
                }
                json.end_array()?;
                objects = Some(read);
            }
            _ => return Err(unknown(&name, "the snapshot")),
        }
    }
    json.end_object()?;
    json.consume_trailing_whitespace()?;
    version.ok_or_else(|| missing("version"))?;
    let clock = clock.ok_or_else(|| missing("clock"))?;
    let parts = Parts {
        contents: StoreContents {
            next_id: next_id.ok_or_else(|| missing("next_id"))?,
            files: files
                .ok_or_else(|| missing("files"))?
                .into_iter()
                .map(FileSnapshot::into_record)
                .collect(),
            objects: objects.ok_or_else(|| missing("objects"))?,
        },
        clock: (clock.frozen_at_ms, clock.offset_ms),
        timing: timing.ok_or_else(|| missing("timing"))?,
        streams: streams.ok_or_else(|| missing("streams"))?,
    };
    // Taken whole: its objects stay.
    written.0.clear();
    Ok(parts)
}

/// One member of `objects`: its content decoded into a new file as it is read.
fn read_object<R: Read>(
    json: &mut JsonStreamReader<R>,
    objects_dir: &Path,
    written: &mut Written,
) -> Result<(String, StoredObject), Refusal> {
    let mut key: Option<String> = None;
    let mut size: Option<u64> = None;
    let mut etag: Option<String> = None;
    let mut stored: Option<(PathBuf, u64)> = None;
    json.begin_object()?;
    while json.has_next()? {
        let name = json.next_name_owned()?;
        match name.as_str() {
            "key" => once(&mut key, json.next_string()?, &name)?,
            "size" => once(&mut size, json.deserialize_next()?, &name)?,
            "etag" => once(&mut etag, json.next_string()?, &name)?,
            "content_base64" => {
                if stored.is_some() {
                    return Err(duplicate(&name));
                }
                let path = objects_dir.join(uuid::Uuid::new_v4().simple().to_string());
                written.0.push(path.clone());
                let mut file = BufWriter::new(File::create(&path).map_err(Refusal::Io)?);
                let mut content = DecoderReader::new(json.next_string_reader()?, &STANDARD);
                let decoded = copy_decoded(&mut content, &mut file)?;
                file.flush().map_err(Refusal::Io)?;
                stored = Some((path, decoded));
            }
            // An earlier version's `state.json` named object files; a document sent over
            // HTTP carries its objects' bytes.
            "file" => {
                return Err(invalid(
                    "an object names a file; a snapshot sent to the fake carries content_base64"
                        .into(),
                ))
            }
            _ => return Err(unknown(&name, "an object")),
        }
    }
    json.end_object()?;
    let key = key.ok_or_else(|| missing("key"))?;
    let size = size.ok_or_else(|| missing("size"))?;
    let (path, decoded) =
        stored.ok_or_else(|| invalid(format!("object '{key}' has no content_base64")))?;
    if decoded != size {
        return Err(invalid(format!(
            "object '{key}' holds {decoded} bytes, not its size {size}"
        )));
    }
    let etag = etag.ok_or_else(|| missing("etag"))?;
    Ok((key, StoredObject { path, size, etag }))
}

/// Copies decoded content to `file`: a read error is the document's (bad base64, or the body
/// broke off), a write error the disk's.
fn copy_decoded(content: &mut impl Read, file: &mut impl Write) -> Result<u64, Refusal> {
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        let n = match content.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(invalid(format!("an object's content_base64: {err}"))),
        };
        file.write_all(&buffer[..n]).map_err(Refusal::Io)?;
        total += n as u64;
    }
}

fn once<T>(slot: &mut Option<T>, value: T, name: &str) -> Result<(), Refusal> {
    if slot.is_some() {
        return Err(duplicate(name));
    }
    *slot = Some(value);
    Ok(())
}

fn invalid(message: String) -> Refusal {
    Refusal::Invalid(message)
}

fn duplicate(name: &str) -> Refusal {
    invalid(format!("duplicate field `{name}`"))
}

fn missing(name: &str) -> Refusal {
    invalid(format!("missing field `{name}`"))
}

fn unknown(name: &str, place: &str) -> Refusal {
    invalid(format!("unknown field `{name}` in {place}"))
}
