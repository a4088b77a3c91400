//! The soak: many clients each uploading files and following them to a final status, for a
//! bounded time; then every file must be accounted for, none lost or duplicated.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use u21_client::{Client, ListRequest, RetryPolicy, Status, WaitOptions};

/// What a soak did and found.
#[derive(Debug)]
pub struct SoakReport {
    /// Uploads acknowledged by S3.
    pub uploads: usize,
    /// Files that reached FINISHED with the right count.
    pub finished: usize,
    /// Problems found (empty when all is well).
    pub problems: Vec<String>,
    /// How long it ran.
    pub elapsed: Duration,
    /// Files the list reports in all.
    pub listed: usize,
}

/// Runs `clients` clients against `base_url` for `duration`, each uploading `file` (which has
/// `records` records) over and over and waiting for each to finish.
pub async fn soak(
    base_url: &str,
    api_key: &str,
    clients: usize,
    duration: Duration,
    file: &Path,
    records: u64,
) -> anyhow::Result<SoakReport> {
    let started = Instant::now();
    let deadline = started + duration;
    let retry = RetryPolicy {
        max_retries: 8,
        ..RetryPolicy::default()
    };
    let client = Client::builder()
        .base_url(base_url)
        .api_key(api_key)
        .retry(retry)
        .build()?;
    let wait = WaitOptions {
        timeout: Duration::from_secs(120),
        interval: Duration::from_millis(250),
        max_interval: Duration::from_secs(1),
    };
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let client = client.clone();
            let file = file.to_owned();
            let wait = wait.clone();
            tokio::spawn(async move {
                let mut done: Vec<(String, Result<u21_client::Datafile, String>)> = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let name = format!("soak-{c}-{n}.csv");
                    n += 1;
                    let form = match client.create_upload("soak", &name, None).await {
                        Ok(form) => form,
                        Err(err) => {
                            done.push((name, Err(format!("create: {err}"))));
                            continue;
                        }
                    };
                    if let Err(err) = client.upload_to(&form, &file, None).await {
                        done.push((form.file_id, Err(format!("upload: {err}"))));
                        continue;
                    }
                    let result = client
                        .wait(&form.file_id, &wait)
                        .await
                        .map_err(|e| format!("wait: {e}"));
                    done.push((form.file_id, result));
                }
                done
            })
        })
        .collect();
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    let (mut uploads, mut finished) = (0, 0);
    for task in tasks {
        for (id, result) in task.await? {
            match result {
                Err(err) if err.starts_with("create") => problems.push(format!("{id}: {err}")),
                Err(err) => {
                    uploads += usize::from(!err.starts_with("upload"));
                    problems.push(format!("file {id}: {err}"));
                }
                Ok(file) => {
                    uploads += 1;
                    if !ids.insert(id.clone()) {
                        problems.push(format!("file id {id} was handed out twice"));
                    }
                    if file.status == Status::Finished && file.successful_count == records {
                        finished += 1;
                    } else {
                        problems.push(format!(
                            "file {id} ended {} with {} records",
                            file.status, file.successful_count
                        ));
                    }
                }
            }
        }
    }
    let listed: Vec<u21_client::Datafile> = client
        .list_all(ListRequest::new().stream("soak"))
        .try_collect()
        .await?;
    let listed_ids: HashSet<&str> = listed.iter().map(|f| f.file_id.as_str()).collect();
    if listed_ids.len() != listed.len() {
        problems.push(format!(
            "the list holds {} entries for {} files",
            listed.len(),
            listed_ids.len()
        ));
    }
    for id in &ids {
        if !listed_ids.contains(id.as_str()) {
            problems.push(format!("file {id} is missing from the list"));
        }
    }
    if listed.len() != uploads {
        problems.push(format!(
            "the list totals {} files for {uploads} uploads",
            listed.len()
        ));
    }
    Ok(SoakReport {
        uploads,
        finished,
        problems,
        elapsed: started.elapsed(),
        listed: listed.len(),
    })
}
