//! Run with: `cargo build --release -p u21-mock --bin u21-mock --example parquet_memory && target/release/examples/parquet_memory`
//!
//! Writes a Parquet file of 4 million rows in row groups of 131,072 (snappy, as pyarrow
//! writes), uploads it to the release `u21-mock` binary through the pre-signed form, waits for
//! processing, and prints the server's peak resident memory (`VmHWM`): Parquet is read one row
//! group at a time, so the peak follows a row group, not the file. Figures only: nothing here
//! passes or fails.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::peak_rss_mib;

use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

const ROWS: i64 = 4_000_000;
const ROWS_PER_GROUP: i64 = 131_072;

fn write_parquet(path: &std::path::Path) {
    let schema = Arc::new(
        parse_message_type(
            "message t { REQUIRED INT64 id; REQUIRED DOUBLE amount; REQUIRED BYTE_ARRAY memo (UTF8); }",
        )
        .unwrap(),
    );
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, schema, props).unwrap();
    for start in (0..ROWS).step_by(ROWS_PER_GROUP as usize) {
        let ids: Vec<i64> = (start..(start + ROWS_PER_GROUP).min(ROWS)).collect();
        let mut group = writer.next_row_group().unwrap();
        let mut index = 0;
        while let Some(mut column) = group.next_column().unwrap() {
            match index {
                0 => {
                    column
                        .typed::<Int64Type>()
                        .write_batch(&ids, None, None)
                        .unwrap();
                }
                1 => {
                    let amounts: Vec<f64> =
                        ids.iter().map(|i| (*i % 100_000) as f64 / 100.0).collect();
                    column
                        .typed::<DoubleType>()
                        .write_batch(&amounts, None, None)
                        .unwrap();
                }
                _ => {
                    let memos: Vec<ByteArray> = ids
                        .iter()
                        .map(|i| {
                            ByteArray::from(format!("memo for record {i:08} of the bench").as_str())
                        })
                        .collect();
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&memos, None, None)
                        .unwrap();
                }
            }
            column.close().unwrap();
            index += 1;
        }
        group.close().unwrap();
    }
    writer.close().unwrap();
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.parquet");
    write_parquet(&path);
    let size = std::fs::metadata(&path).unwrap().len();

    let (mut child, base) = common::start_server();
    let pid = child.id();
    let idle = peak_rss_mib(pid);

    let http = reqwest::Client::new();
    let created = common::create(&http, &base, "big.parquet").await;
    let form = common::form_fields(&created);
    let file = tokio::fs::File::open(&path).await.unwrap();
    let part = reqwest::multipart::Part::stream_with_length(reqwest::Body::from(file), size)
        .file_name("big.parquet");
    let response = http
        .post(created["url"].as_str().unwrap())
        .multipart(form.part("file", part))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let after_upload = peak_rss_mib(pid);

    let started = Instant::now();
    let status = common::status(&http, &base, &created).await;
    let processing_secs = started.elapsed().as_secs_f64();
    let after_processing = peak_rss_mib(pid);
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "file: {size} bytes, {ROWS} rows in row groups of {ROWS_PER_GROUP}; status {} with {} successful, {} failed",
        status["status"], status["successful_count"], status["failure_count"]
    );
    println!("| measure                               | figure        |");
    println!("|---------------------------------------|---------------|");
    println!("| server peak RSS at start              | {idle:>8.1} MiB |");
    println!("| server peak RSS after the upload      | {after_upload:>8.1} MiB |");
    println!("| server peak RSS after processing      | {after_processing:>8.1} MiB |");
    println!("| processing (first status read)        | {processing_secs:>9.2} s  |");
}
