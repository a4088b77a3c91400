//! The engine with a data directory: every acknowledged change is on disk, and a change the
//! database refuses is refused to its caller and gone from memory too. The failing writer is
//! injected here; `tests/it/persistence.rs` fills a real tmpfs.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::config::Config;

const T0_MS: u64 = 1_700_000_000_000;

async fn open(dir: &Path) -> Engine {
    let config = Config {
        timing: Timing::Instant,
        ..Config::default()
    };
    let clock = Clock::frozen(UNIX_EPOCH + Duration::from_millis(T0_MS));
    let mut engine = Engine::new(config, clock, "http://localhost".into(), dir, true).unwrap();
    engine.load(true).await.unwrap();
    engine
}

fn incoming(engine: &Engine, content: &[u8]) -> Incoming {
    use std::io::Write;
    let mut temp = engine.incoming_file().unwrap();
    temp.write_all(content).unwrap();
    Incoming {
        temp: temp.into_temp_path(),
        size: content.len() as u64,
        etag: "\"e\"".into(),
    }
}

fn durable(engine: &Engine) -> &Durable {
    engine.durable.as_ref().expect("a data directory")
}

#[tokio::test]
async fn a_refused_write_is_refused_to_the_caller_and_forgotten_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let first = engine.create("demo", "s", "a.csv", None).await.unwrap();
    durable(&engine).fail_commits(true);

    let refused = engine.create("demo", "s", "b.csv", None).await;
    assert!(matches!(refused, Err(Error::Io { .. })), "{refused:?}");
    assert_eq!(engine.import_count(), 1, "memory agrees with the disk");
    let upload = engine
        .land_object(&first.s3_key, incoming(&engine, b"a\n1\n"))
        .await;
    assert!(matches!(upload, Err(Error::Io { .. })));
    assert!(engine.object(&first.s3_key).is_none());
    assert_eq!(
        engine.file(first.id).await.unwrap().status,
        Status::PENDING_UPLOAD
    );
    let objects: Vec<_> = std::fs::read_dir(dir.path().join("objects"))
        .unwrap()
        .collect();
    assert!(objects.is_empty(), "the refused object's file is removed");
    assert!(engine.advance(Duration::from_secs(60)).await.is_err());
    assert_eq!(
        engine.now_ms(),
        T0_MS as i64,
        "the clock is where the disk has it"
    );

    durable(&engine).fail_commits(false);
    let second = engine.create("demo", "s", "b.csv", None).await.unwrap();
    assert_eq!(second.id, 2, "the refused create used no id");
    engine
        .land_object(&first.s3_key, incoming(&engine, b"a\n1\n"))
        .await
        .unwrap();
    engine.close();

    let reopened = open(dir.path()).await;
    assert_eq!(reopened.import_count(), 2);
    let landed = reopened.file(first.id).await.unwrap();
    assert_eq!(
        (landed.status, landed.successful_count),
        (Status::FINISHED, 1)
    );
}

#[tokio::test]
async fn every_acknowledged_change_is_on_disk_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let a = engine.create("demo", "s", "a.csv", None).await.unwrap();
    engine.force(a.id, Transition::Deleted).await.unwrap();
    engine.set_timing(Timing::Manual).await.unwrap();
    engine.advance(Duration::from_secs(5)).await.unwrap();
    let added = engine
        .add_file("demo", "s", "m.csv", b"a\n1\n")
        .await
        .unwrap();
    // Read the database directly, while the engine still runs.
    let (contents, settings) = durable(&engine).reread(&engine.objects_dir).unwrap();
    let statuses: Vec<(u64, Status)> = contents
        .files
        .iter()
        .map(|(f, _)| (f.id, f.status))
        .collect();
    assert_eq!(
        statuses,
        [(a.id, Status::DELETED), (added.id, Status::ADDED)]
    );
    assert_eq!(contents.objects.len(), 1);
    assert_eq!(settings.timing, Some(Timing::Manual));
    assert_eq!(settings.clock.0, Some(T0_MS as i64 + 5000));
}

/// The second of two uploads to one key replaces the object and deletes its file; the first
/// upload's file is read from the bytes it landed with, whenever its reader gets to run.
#[tokio::test]
async fn a_second_upload_to_a_key_cannot_take_the_first_files_bytes_away() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        timing: Timing::Instant,
        ..Config::default()
    };
    let clock = Clock::frozen(UNIX_EPOCH + Duration::from_millis(T0_MS));
    let mut engine =
        Engine::new(config, clock, "http://localhost".into(), dir.path(), false).unwrap();
    engine.load(true).await.unwrap();
    let file = engine.create("demo", "s", "a.csv", None).await.unwrap();
    // No await between the two: the first reader has not started when the second lands.
    let first = engine.land_object(&file.s3_key, incoming(&engine, b"a\n1\n2\n3\n"));
    let first = futures_util::FutureExt::now_or_never(first);
    assert!(
        matches!(first, Some(Ok(()))),
        "the first upload lands at once"
    );
    engine
        .land_object(&file.s3_key, incoming(&engine, b"a\n1\n"))
        .await
        .unwrap();
    let read = engine.file(file.id).await.unwrap();
    assert_eq!(
        (read.status, read.failure_code, read.successful_count),
        (Status::FINISHED, None, 3),
        "read from the first upload's bytes"
    );
}
