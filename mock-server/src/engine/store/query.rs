//! Reading many files at once: a page of an organisation's files, and the dashboard's summary.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use super::{IndexEntry, Store};
use crate::model::{FileRecord, Status};

/// Which of an organisation's files to return, in plain terms: the API layer turns Unit21's
/// request (and the fidelity switches) into one.
#[derive(Clone, Debug)]
pub(crate) struct ListQuery {
    /// Creation instants (ms since the epoch) to include.
    pub created_ms: Range<i64>,
    /// Statuses to include; empty includes all.
    pub statuses: Vec<Status>,
    /// Streams to include; empty includes all.
    pub stream_names: Vec<String>,
    /// Matches to pass over before the page starts.
    pub skip: u64,
    /// Page size.
    pub limit: u64,
    /// Newest first (else oldest first).
    pub newest_first: bool,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            created_ms: i64::MIN..i64::MAX,
            statuses: Vec::new(),
            stream_names: Vec::new(),
            skip: 0,
            limit: u64::MAX,
            newest_first: true,
        }
    }
}

impl Store {
    /// One page of `org`'s files matching `query`, and the number of matches before paging.
    pub fn list(&self, org: &str, query: &ListQuery) -> (Vec<Arc<FileRecord>>, u64) {
        let Some(index) = self.index.get(org) else {
            return (Vec::new(), 0);
        };
        let Range { start, end } = query.created_ms;
        if start >= end {
            return (Vec::new(), 0);
        }
        let status_mask: u8 = query.statuses.iter().fold(0, |m, s| m | s.bit());
        // A set: a request may name many streams (a 1 MiB body holds 170,000), and each
        // matching file is checked against all of them.
        let streams: HashSet<u32> = query
            .stream_names
            .iter()
            .filter_map(|name| self.stream_ids.get(name.as_str()).copied())
            .collect();
        if !query.stream_names.is_empty() && streams.is_empty() {
            return (Vec::new(), 0);
        }
        let matches = |e: &IndexEntry| {
            (status_mask == 0 || status_mask & e.status.bit() != 0)
                && (streams.is_empty() || streams.contains(&e.stream))
        };
        let range = index.range((start, 0)..(end, 0));
        let mut total = 0u64;
        let mut page = Vec::new();
        let mut visit = |(&(_, id), entry): (&(i64, u64), &IndexEntry)| {
            if matches(entry) {
                if total >= query.skip && (page.len() as u64) < query.limit {
                    page.push(self.files[&id].clone());
                }
                total += 1;
            }
        };
        if query.newest_first {
            range.rev().for_each(&mut visit);
        } else {
            range.for_each(&mut visit);
        }
        (page, total)
    }

    /// How many of `org`'s files are in each status (in [`Status::ALL`] order), and the names
    /// of the streams it has files in, sorted: the dashboard's summary.
    pub fn overview(&self, org: &str) -> ([u64; 7], Vec<Arc<str>>) {
        let mut counts = [0u64; 7];
        let mut streams = HashSet::new();
        for entry in self.index.get(org).into_iter().flat_map(|i| i.values()) {
            counts[entry.status as usize] += 1;
            streams.insert(entry.stream);
        }
        let mut names: Vec<Arc<str>> = self
            .stream_ids
            .iter()
            .filter(|(_, id)| streams.contains(*id))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        (counts, names)
    }
}
