//! The store's rules, without a server.

use super::*;
use crate::config::Timing;
use crate::model::FailureCode;
use crate::processing::Outcome;
use std::path::PathBuf;

/// Creates a PENDING_UPLOAD import keyed `k{ms}-{name}`.
fn create(
    store: &mut Store,
    org: &str,
    stream: &str,
    name: &str,
    md5: Option<&str>,
    ms: i64,
    unique_name: bool,
) -> Result<FileRecord, Refused> {
    store.insert(
        NewImport {
            org,
            stream,
            file_name: name,
            md5_hash: md5.map(str::to_owned),
            s3_key: format!("k{ms}-{org}-{stream}-{name}"),
            created_ms: ms,
            status: Status::PENDING_UPLOAD,
        },
        unique_name,
    )
}

fn page(store: &Store, org: &str, query: &ListQuery) -> (Vec<u64>, u64) {
    let (page, total) = store.list(org, query);
    (page.iter().map(|f| f.id).collect(), total)
}

fn store_with(n: u64) -> Store {
    let mut store = Store::new();
    for i in 0..n {
        let stream = if i % 2 == 0 { "even" } else { "odd" };
        create(
            &mut store,
            "org",
            stream,
            &format!("f{i}.csv"),
            None,
            i as i64 * 1000,
            true,
        )
        .unwrap();
    }
    store
}

/// One file created at 0 in org "o" under key "key", its object landed at `landed_ms`.
fn landed(timing: Timing, landed_ms: i64) -> (Store, Option<ProcessingJob>) {
    let mut store = Store::new();
    store
        .insert(
            NewImport {
                org: "o",
                stream: "s",
                file_name: "a.csv",
                md5_hash: None,
                s3_key: "key".into(),
                created_ms: 0,
                status: Status::PENDING_UPLOAD,
            },
            true,
        )
        .unwrap();
    let object = StoredObject {
        path: "/x".into(),
        size: 1,
        etag: "\"e\"".into(),
    };
    let (job, _) = store.object_landed("key", object, landed_ms, timing);
    (store, job)
}

#[test]
fn pages_skip_and_limit_in_either_order() {
    let store = store_with(10);
    let query = ListQuery {
        skip: 3,
        limit: 3,
        ..ListQuery::default()
    };
    assert_eq!(page(&store, "org", &query), (vec![7, 6, 5], 10));
    let oldest_first = ListQuery {
        newest_first: false,
        ..query
    };
    assert_eq!(page(&store, "org", &oldest_first), (vec![4, 5, 6], 10));
}

#[test]
fn the_window_includes_its_start_and_excludes_its_end() {
    let store = store_with(10); // created at seconds 0..=9, ids 1..=10
    let query = ListQuery {
        created_ms: 2000..5000,
        ..ListQuery::default()
    };
    assert_eq!(page(&store, "org", &query), (vec![5, 4, 3], 3));
    let empty = ListQuery {
        created_ms: 5000..5000,
        ..ListQuery::default()
    };
    assert_eq!(page(&store, "org", &empty), (vec![], 0));
}

#[test]
fn filters_within_a_field_are_ored_and_across_fields_anded() {
    let store = store_with(6);
    let query = ListQuery {
        stream_names: vec!["odd".into(), "nope".into()],
        statuses: vec![Status::PENDING_UPLOAD, Status::FINISHED],
        ..ListQuery::default()
    };
    assert_eq!(page(&store, "org", &query).0, vec![6, 4, 2]);
    let finished_only = ListQuery {
        statuses: vec![Status::FINISHED],
        ..query
    };
    assert_eq!(page(&store, "org", &finished_only).1, 0);
}

#[test]
fn organisations_do_not_see_each_other() {
    let store = store_with(3);
    assert!(store.get("org", 1).is_some());
    assert!(store.get("other", 1).is_none());
    assert!(store.exists_elsewhere("other", 1));
    assert_eq!(page(&store, "other", &ListQuery::default()).1, 0);
}

#[test]
fn duplicate_names_conflict_unless_a_new_md5_hash_is_given() {
    let mut store = Store::new();
    let mut make =
        |org, stream, md5, ms, unique| create(&mut store, org, stream, "a.csv", md5, ms, unique);
    make("o", "s", None, 0, true).unwrap();
    assert_eq!(
        make("o", "s", None, 1, true).unwrap_err(),
        Refused::DuplicateName
    );
    make("o", "s", Some("u1"), 2, true).unwrap();
    assert_eq!(
        make("o", "s", Some("u1"), 3, true).unwrap_err(),
        Refused::DuplicateName
    );
    make("o", "other-stream", None, 4, true).unwrap();
    make("o2", "s", None, 5, true).unwrap();
    make("o", "s", None, 6, false).unwrap();
}

#[test]
fn a_snapshot_with_two_files_of_one_id_or_key_is_refused() {
    let store = store_with(2);
    let mut contents = store.export();
    let mut twin = contents.files[0].clone();
    contents.files.push(twin.clone());
    assert_eq!(
        Store::import(contents).err().unwrap(),
        "file 1 appears twice"
    );
    let mut contents = store.export();
    twin.0.id = 9;
    contents.files.push(twin);
    assert!(Store::import(contents)
        .err()
        .unwrap()
        .contains("file 9 has the key"));
}

#[test]
fn records_handed_out_keep_their_state_when_the_file_moves_on() {
    let mut store = store_with(1);
    let before = store.file(1).unwrap().clone();
    store.force(1, Transition::Deleted, 5).unwrap();
    assert_eq!(before.status, Status::PENDING_UPLOAD);
    assert_eq!(store.file(1).unwrap().status, Status::DELETED);
}

#[test]
fn steps_apply_only_when_due_and_an_outcome_taken_early_ends_the_file_at_its_planned_end() {
    let (mut store, job) = landed(Timing::Fast, 10_000);
    let job = job.expect("the import waits for this object");
    assert_eq!(store.get("o", 1).unwrap().status, Status::QUEUED);
    let finished = Outcome::Finished {
        successful: 3,
        failed: 1,
    };
    assert!(store.record_outcome(1, job.ticket, finished, 10_500));
    assert_eq!(
        store.flight(1).outcome,
        Some(finished),
        "stored with the file"
    );
    store.catch_up(10_999);
    assert_eq!(store.get("o", 1).unwrap().status, Status::QUEUED);
    store.catch_up(11_000);
    assert_eq!(store.get("o", 1).unwrap().status, Status::PROCESSING);
    assert!(store.has_due(50_000) && !store.has_due(11_999));
    store.catch_up(50_000);
    let file = store.get("o", 1).unwrap();
    assert_eq!(
        (file.status, file.successful_count, file.failure_count),
        (Status::FINISHED, 3, 1)
    );
    assert_eq!(
        (file.process_start_ms, file.process_end_ms),
        (Some(11_000), Some(12_000))
    );
    assert_eq!(store.flight(1), Flight::default(), "no longer in flight");
}

#[test]
fn a_file_read_past_its_planned_end_stays_processing_and_ends_when_its_outcome_comes() {
    let (mut store, job) = landed(Timing::Fast, 10_000);
    let job = job.unwrap();
    store.catch_up(50_000);
    assert_eq!(store.get("o", 1).unwrap().status, Status::PROCESSING);
    assert!(store.reading_due(50_000) && !store.reading_due(11_999));
    assert!(store.awaits_reading(1, job.ticket, 50_000));
    assert!(store.record_outcome(
        1,
        job.ticket,
        Outcome::Failed(FailureCode::InvalidSchema),
        61_000
    ));
    let file = store.get("o", 1).unwrap();
    assert_eq!(
        (file.status, file.failure_code, file.process_end_ms),
        (
            Status::FAILED,
            Some(FailureCode::InvalidSchema),
            Some(61_000)
        ),
        "it ends when it was read, after the PROCESSING a reader saw"
    );
    assert!(!store.reading_due(i64::MAX));
}

#[test]
fn the_outcome_of_a_reading_that_no_longer_counts_changes_nothing() {
    let (mut store, job) = landed(Timing::Instant, 0);
    let job = job.unwrap();
    let finished = Outcome::Finished {
        successful: 1,
        failed: 0,
    };
    assert!(
        !store.record_outcome(1, job.ticket + 1, finished, 0),
        "another reading's ticket"
    );
    store.force(1, Transition::Processing, 0).unwrap();
    assert!(
        !store.record_outcome(1, job.ticket, finished, 0),
        "the file was forced"
    );
    store.catch_up(10_000);
    assert_eq!(store.get("o", 1).unwrap().status, Status::PROCESSING);
}

#[test]
fn a_stored_outcome_is_not_read_again_after_an_import() {
    let (mut store, job) = landed(Timing::Fast, 10_000);
    let finished = Outcome::Finished {
        successful: 2,
        failed: 0,
    };
    store.record_outcome(1, job.unwrap().ticket, finished, 10_100);
    let (mut imported, jobs) = Store::import(store.export()).unwrap();
    assert!(jobs.is_empty(), "nothing to read again");
    imported.catch_up(12_000);
    let file = imported.get("o", 1).unwrap();
    assert_eq!(
        (file.status, file.successful_count, file.process_end_ms),
        (Status::FINISHED, 2, Some(12_000))
    );
}

#[test]
fn manual_timing_waits_until_told() {
    let (mut store, job) = landed(Timing::Manual, 0);
    let outcome = Outcome::Failed(FailureCode::InvalidSchema);
    assert!(store.record_outcome(1, job.unwrap().ticket, outcome, 0));
    store.catch_up(i64::MAX / 2);
    assert_eq!(store.get("o", 1).unwrap().status, Status::QUEUED);
    store.process_queued(7_000);
    store.catch_up(7_000);
    let file = store.get("o", 1).unwrap();
    assert_eq!(
        (file.status, file.process_end_ms),
        (Status::FAILED, Some(7_000))
    );
}

#[test]
fn an_object_for_an_unknown_key_is_stored_without_an_import() {
    let mut store = Store::new();
    let object = StoredObject {
        path: "/x".into(),
        size: 1,
        etag: "\"e\"".into(),
    };
    let (job, replaced) = store.object_landed("anything", object.clone(), 0, Timing::Instant);
    assert!(job.is_none() && replaced.is_none());
    let (_, replaced) = store.object_landed("anything", object, 0, Timing::Instant);
    assert_eq!(replaced, Some(PathBuf::from("/x")));
    assert_eq!(store.len(), 0);
}
