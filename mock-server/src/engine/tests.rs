//! The engine with a data directory: every acknowledged change is on disk, and a change the
//! database refuses is refused to its caller and gone from memory too. The failing writer is
//! injected here; `tests/it/persistence.rs` fills a real tmpfs.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use std::path::Path;

use crate::config::{Config, Timing};
use crate::model::Status;

const T0_MS: u64 = 1_700_000_000_000;

async fn open(dir: &Path) -> Arc<Engine> {
    let config = Config {
        timing: Timing::Instant,
        ..Config::default()
    };
    let clock = Clock::frozen(UNIX_EPOCH + Duration::from_millis(T0_MS));
    let mut engine = Engine::new(config, clock, "http://localhost".into(), dir, true).unwrap();
    engine.load(true).await.unwrap();
    engine.share()
}

fn incoming(engine: &Engine, content: &[u8]) -> Incoming {
    use std::io::Write;
    let mut temp = engine.objects.incoming_file().unwrap();
    temp.write_all(content).unwrap();
    Incoming {
        temp: temp.into_temp_path(),
        size: content.len() as u64,
        etag: "\"e\"".into(),
    }
}

fn durable(engine: &Engine) -> &persist::Durable {
    engine.files.persist().durable()
}

#[tokio::test]
async fn a_refused_write_is_refused_to_the_caller_and_forgotten_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let first = engine
        .files
        .create("demo", "s", "a.csv", None)
        .await
        .unwrap();
    durable(&engine).fail_commits(true);

    let refused = engine.files.create("demo", "s", "b.csv", None).await;
    assert!(matches!(refused, Err(Error::Io { .. })), "{refused:?}");
    assert_eq!(
        engine.files.import_count(),
        1,
        "memory agrees with the disk"
    );
    let upload = engine
        .land_object(&first.s3_key, incoming(&engine, b"a\n1\n"))
        .await;
    assert!(matches!(upload, Err(Error::Io { .. })));
    assert!(engine.files.object(&first.s3_key).is_none());
    assert_eq!(
        engine.files.file(first.id).unwrap().status,
        Status::PENDING_UPLOAD
    );
    let objects: Vec<_> = std::fs::read_dir(dir.path().join("objects"))
        .unwrap()
        .collect();
    assert!(objects.is_empty(), "the refused object's file is removed");
    assert!(engine.files.advance(Duration::from_secs(60)).await.is_err());
    assert_eq!(
        engine.now_ms(),
        T0_MS as i64,
        "the clock is where the disk has it"
    );

    durable(&engine).fail_commits(false);
    let second = engine
        .files
        .create("demo", "s", "b.csv", None)
        .await
        .unwrap();
    assert_eq!(second.id, 2, "the refused create used no id");
    engine
        .land_object(&first.s3_key, incoming(&engine, b"a\n1\n"))
        .await
        .unwrap();
    engine.close();

    let reopened = open(dir.path()).await;
    assert_eq!(reopened.files.import_count(), 2);
    let landed = reopened.files.file(first.id).unwrap();
    assert_eq!(
        (landed.status, landed.successful_count),
        (Status::FINISHED, 1)
    );
}

#[tokio::test]
async fn every_acknowledged_change_is_on_disk_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let a = engine
        .files
        .create("demo", "s", "a.csv", None)
        .await
        .unwrap();
    engine.files.force(a.id, Transition::Deleted).await.unwrap();
    engine.files.set_timing(Timing::Manual).await.unwrap();
    engine.files.advance(Duration::from_secs(5)).await.unwrap();
    let added = engine
        .add_file("demo", "s", "m.csv", b"a\n1\n")
        .await
        .unwrap();
    // Read the database directly, while the engine still runs.
    let (contents, settings) = durable(&engine).reread(engine.files.objects_dir()).unwrap();
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
        timing: Timing::Fast,
        ..Config::default()
    };
    let (engine, gate) = gated(config, dir.path());
    let file = engine
        .files
        .create("demo", "s", "a.csv", None)
        .await
        .unwrap();
    engine
        .land_object(&file.s3_key, incoming(&engine, b"a\n1\n2\n3\n"))
        .await
        .unwrap();
    // The first reader is held: it has not started when the second upload lands.
    engine
        .land_object(&file.s3_key, incoming(&engine, b"a\n1\n"))
        .await
        .unwrap();
    gate.add_permits(1);
    engine.files.advance(Duration::from_secs(5)).await.unwrap();
    let read = engine.files.file(file.id).unwrap();
    assert_eq!(
        (read.status, read.failure_code, read.successful_count),
        (Status::FINISHED, None, 3),
        "read from the first upload's bytes"
    );
}

/// An engine whose readers wait for a permit from the returned gate before they read: a test
/// decides when a file's processing ends.
fn gated(config: Config, dir: &Path) -> (Arc<Engine>, Arc<tokio::sync::Semaphore>) {
    let clock = Clock::frozen(UNIX_EPOCH + Duration::from_millis(T0_MS));
    let mut engine = Engine::new(config, clock, "http://localhost".into(), dir, false).unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    Arc::get_mut(&mut engine.files)
        .expect("not shared yet")
        .hold_readers(gate.clone());
    (engine.share(), gate)
}

/// A read answers well before this unless it waits for a reader (which the tests hold).
const NO_WAIT: Duration = Duration::from_secs(10);

/// Issue 26 (5): reads waited for every file whose planned end had passed, so one file being
/// read for minutes stalled every GET, every list and the dashboard.
#[tokio::test]
async fn a_file_still_being_read_blocks_no_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        timing: Timing::Fast,
        ..Config::default()
    };
    let (engine, gate) = gated(config, dir.path());
    let slow = engine
        .files
        .create("demo", "s", "slow.csv", None)
        .await
        .unwrap();
    let other = engine
        .files
        .create("demo", "s", "other.csv", None)
        .await
        .unwrap();
    engine
        .land_object(&slow.s3_key, incoming(&engine, b"a\n1\n2\n"))
        .await
        .unwrap();
    // Past the file's planned end (fast: +2 s), its reader still held.
    engine.clock_for_tests().advance(Duration::from_secs(5));

    let read = tokio::time::timeout(NO_WAIT, async { engine.files.file(other.id) }).await;
    assert_eq!(
        read.expect("a GET of another file answers while one is read")
            .unwrap()
            .status,
        Status::PENDING_UPLOAD
    );
    let listed = tokio::time::timeout(NO_WAIT, async {
        engine.files.list("demo", &ListQuery::default())
    })
    .await
    .expect("a list answers while a file is read");
    assert_eq!(listed.1, 2);
    let itself = tokio::time::timeout(NO_WAIT, async { engine.files.file(slow.id) })
        .await
        .expect("a GET of the file being read answers too")
        .unwrap();
    assert_eq!(
        itself.status,
        Status::PROCESSING,
        "it stays PROCESSING past its planned end until it is read"
    );

    gate.add_permits(1);
    engine.files.settle().await;
    let done = engine.files.file(slow.id).unwrap();
    assert_eq!((done.status, done.successful_count), (Status::FINISHED, 2));
    let ended = done.history.last().unwrap();
    assert_eq!(
        ended.at_ms,
        T0_MS as i64 + 5000,
        "it ends when its reading ended, not at the planned end a read saw it pass"
    );
}

/// Under `instant`, the upload's answer waits for the file's processing, so a GET right after
/// it sees the file FINISHED, as `instant` promises.
#[tokio::test]
async fn under_instant_an_upload_is_answered_once_its_file_is_processed() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        timing: Timing::Instant,
        ..Config::default()
    };
    let (engine, gate) = gated(config, dir.path());
    let file = engine
        .files
        .create("demo", "s", "a.csv", None)
        .await
        .unwrap();
    let mut landing = Box::pin(engine.land_object(&file.s3_key, incoming(&engine, b"a\n1\n")));
    assert!(
        futures_util::poll!(&mut landing).is_pending(),
        "the upload waits for its reader"
    );
    gate.add_permits(1);
    landing.await.unwrap();
    let read = engine.files.file(file.id).unwrap();
    assert_eq!((read.status, read.successful_count), (Status::FINISHED, 1));
}

/// The data directory reopened under streams that no longer configure `s` (the configuration's
/// settings win): a file of `s` read again would fail `stream_not_configured`.
async fn reopen_without_stream_s(dir: &Path, timing: Timing) -> Arc<Engine> {
    let config = Config {
        timing,
        streams: vec![crate::config::StreamConfig::new("other")],
        ..Config::default()
    };
    let clock = Clock::frozen(UNIX_EPOCH + Duration::from_millis(T0_MS));
    let mut reopened = Engine::new(config, clock, "http://localhost".into(), dir, true).unwrap();
    reopened.load(false).await.unwrap();
    reopened.share()
}

/// Issue 26 (7): the outcome lived only in memory until some later write, so after a restart
/// a file already reported FINISHED was read again, and ended otherwise under another stream
/// configuration.
#[tokio::test]
async fn a_reported_outcome_survives_a_restart_under_another_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let file = engine
        .files
        .create("demo", "s", "a.csv", None)
        .await
        .unwrap();
    engine
        .land_object(&file.s3_key, incoming(&engine, b"a\n1\n2\n"))
        .await
        .unwrap();
    let reported = engine.files.file(file.id).unwrap();
    assert_eq!(
        (reported.status, reported.successful_count),
        (Status::FINISHED, 2)
    );
    engine.close();
    drop(engine);

    let reopened = reopen_without_stream_s(dir.path(), Timing::Instant).await;
    reopened.files.settle().await;
    let after = reopened.files.file(file.id).unwrap();
    assert_eq!(
        (after.status, after.successful_count, after.failure_code),
        (Status::FINISHED, 2, None),
        "the stored outcome, not a second reading"
    );
}

/// A data directory written before outcomes were stored (schema 1) opens, gains the column,
/// and keeps its files.
#[tokio::test]
async fn a_schema_1_data_directory_gains_the_outcome_column() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    let file = engine
        .files
        .create("demo", "s", "a.csv", None)
        .await
        .unwrap();
    engine.close();
    drop(engine);
    {
        let db = rusqlite::Connection::open(dir.path().join(persist::durable::DATABASE)).unwrap();
        db.execute_batch(
            "CREATE TABLE v1 (id INTEGER PRIMARY KEY, org TEXT NOT NULL, stream_name TEXT NOT NULL, file_name TEXT NOT NULL, md5_hash TEXT, s3_key TEXT NOT NULL UNIQUE, created_ms INTEGER NOT NULL, status TEXT NOT NULL, process_start_ms INTEGER, process_end_ms INTEGER, successful_count INTEGER NOT NULL, failure_count INTEGER NOT NULL, failure_code TEXT, plan_start_ms INTEGER, plan_end_ms INTEGER, history TEXT NOT NULL);
             INSERT INTO v1 SELECT id, org, stream_name, file_name, md5_hash, s3_key, created_ms, status, process_start_ms, process_end_ms, successful_count, failure_count, failure_code, plan_start_ms, plan_end_ms, history FROM files;
             DROP TABLE files; ALTER TABLE v1 RENAME TO files;
             UPDATE meta SET value = '1' WHERE key = 'schema_version';",
        )
        .unwrap();
    }

    let reopened = open(dir.path()).await;
    assert_eq!(
        reopened.files.file(file.id).unwrap().status,
        Status::PENDING_UPLOAD
    );
    reopened.files.set_timing(Timing::Fast).await.unwrap();
    let mut taken = reopened.files.outcomes_watch();
    reopened
        .land_object(&file.s3_key, incoming(&reopened, b"a\n1\n"))
        .await
        .unwrap();
    taken.changed().await.unwrap();
    reopened.close();
    let db = rusqlite::Connection::open(dir.path().join(persist::durable::DATABASE)).unwrap();
    let (version, status, outcome): (String, String, Option<String>) = db
        .query_row(
            "SELECT (SELECT value FROM meta WHERE key = 'schema_version'), status, outcome FROM files",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(version, "2");
    assert_eq!(
        (status.as_str(), outcome.as_deref()),
        (
            "QUEUED",
            Some(r#"{"finished":{"successful":1,"failed":0}}"#)
        ),
        "read before its planned start: the outcome waits in the row"
    );
}

/// Issue 26 (7), the outcome read before the file's planned end: stored with the row, so a
/// restart under another configuration ends the file as it was read.
#[tokio::test]
async fn an_outcome_read_ahead_of_its_plan_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path()).await;
    engine.files.set_timing(Timing::Fast).await.unwrap();
    let file = engine
        .files
        .create("demo", "s", "a.csv", None)
        .await
        .unwrap();
    let mut taken = engine.files.outcomes_watch();
    engine
        .land_object(&file.s3_key, incoming(&engine, b"a\n1\n2\n"))
        .await
        .unwrap();
    taken.changed().await.unwrap();
    engine.close();
    drop(engine);

    let reopened = reopen_without_stream_s(dir.path(), Timing::Fast).await;
    reopened
        .files
        .advance(Duration::from_secs(5))
        .await
        .unwrap();
    let after = reopened.files.file(file.id).unwrap();
    assert_eq!(
        (after.status, after.successful_count, after.process_end_ms),
        (Status::FINISHED, 2, Some(T0_MS as i64 + 2000)),
        "ended by its stored outcome at its planned end"
    );
}

fn object_files(engine: &Engine) -> usize {
    std::fs::read_dir(engine.files.objects_dir())
        .unwrap()
        .count()
}

/// A document refused part-way leaves nothing behind: the objects it had already brought are
/// removed, and one naming a file on the fake's disk is refused (only bytes travel).
#[rstest::rstest]
#[case::a_bad_member_after_an_object(
    r#"{"objects": [{"key": "k", "size": 3, "etag": "\"e\"", "content_base64": "YWJj"}], "flies": []}"#,
    "unknown field `flies`"
)]
#[case::bad_base64(
    r#"{"objects": [{"key": "k", "size": 3, "etag": "\"e\"", "content_base64": "YW!j"}]}"#,
    "content_base64"
)]
#[case::a_size_that_is_not_the_content(
    r#"{"objects": [{"key": "k", "size": 4, "etag": "\"e\"", "content_base64": "YWJj"}]}"#,
    "holds 3 bytes, not its size 4"
)]
#[case::a_file_named(
    r#"{"objects": [{"key": "k", "size": 3, "etag": "\"e\"", "file": "0123456789abcdef0123456789abcdef"}]}"#,
    "carries content_base64"
)]
#[case::cut_short(
    r#"{"version": 1, "objects": [{"key": "k", "size": 3, "etag": "\"e\"", "content_base64": "YWJj"}"#,
    "IncompleteDocument"
)]
#[tokio::test]
async fn a_refused_snapshot_leaves_no_object_behind(#[case] document: &str, #[case] why: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _gate) = gated(Config::default(), dir.path());
    let refused = engine.files.read_snapshot(document.as_bytes());
    match refused {
        Err(Error::Invalid(message)) => assert!(message.contains(why), "{message}"),
        other => panic!("refused as invalid, not {:?}", other.map(|_| ())),
    }
    assert_eq!(object_files(&engine), 0);
}

/// An export whose object changed on disk after the state was taken fails rather than
/// passing off other bytes as the object's.
#[tokio::test]
async fn an_export_whose_object_changed_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _gate) = gated(Config::default(), dir.path());
    engine
        .add_file("demo", "s", "a.csv", b"a\n1\n")
        .await
        .unwrap();
    let document = engine.files.export_document().await;
    let path = std::fs::read_dir(engine.files.objects_dir())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&path, b"a\n1\n2\n").unwrap();
    let mut out = Vec::new();
    let err = document.write_to(&mut out).unwrap_err();
    assert!(
        err.to_string().contains("holds 5 bytes on disk, not its 4"),
        "{err}"
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&out).is_err());
}
