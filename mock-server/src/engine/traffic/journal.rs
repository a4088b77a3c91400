//! The request journal: what every client sent and what it got, so a test can assert on it.
//! Bounded: past its capacity the oldest entries go first, and an entry keeps at most
//! [`JOURNAL_BODY_BYTES`] of a JSON body, as raw bytes parsed only when the journal is read.

use std::collections::{BTreeMap, VecDeque};

use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Headers whose values are secrets: the journal keeps only their last four characters.
const SECRET_HEADERS: [&str; 5] = [
    "u21-key",
    "authorization",
    "x-u21-mock-token",
    "cookie",
    "x-amz-security-token",
];

/// One request as received.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    /// Increases by one per request, from 1.
    pub seq: u64,
    /// When it arrived, on the fake's clock (ms since the epoch).
    pub at_ms: i64,
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Header names (lower case) and values, secrets masked.
    pub headers: BTreeMap<String, String>,
    /// What the body was.
    pub body: BodySummary,
    /// The status answered; `None` when no answer was sent (a dropped-connection fault).
    pub status: Option<u16>,
}

/// A body, summarised: JSON bodies are kept (they are small and hold no secrets), others are
/// described by type and size.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BodySummary {
    /// The `Content-Type`.
    pub content_type: Option<String>,
    /// The declared or read size, when known.
    pub bytes: Option<u64>,
    /// The parsed body, for JSON bodies up to 64 KiB.
    pub json: Option<Value>,
}

/// Which entries to return.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalQuery {
    /// Only this method (any case).
    pub method: Option<String>,
    /// Only paths starting with this.
    pub path: Option<String>,
    /// Only this answer status.
    pub status: Option<u16>,
    /// Only entries after this sequence number.
    pub after: Option<u64>,
    /// At most this many, the newest.
    pub limit: Option<usize>,
}

/// The most of a JSON body an entry keeps (larger bodies are described by size only).
pub const JOURNAL_BODY_BYTES: usize = 4 * 1024;

/// An entry as kept: cheap to record. The request's headers are copied into one buffer (see
/// [`pack_headers`]) and masked when the journal is read; a JSON body is kept as bytes (a
/// small body of `[0,0,…]` parses into many times its size) and parsed when read.
#[derive(Clone, Debug)]
pub(crate) struct KeptEntry {
    seq: u64,
    at_ms: i64,
    method: http::Method,
    path: String,
    headers: Box<[u8]>,
    body: BodySummary,
    status: Option<u16>,
    raw: Option<bytes::Bytes>,
}

impl KeptEntry {
    /// The entry as the journal shows it: secrets masked, its JSON body parsed now.
    pub(crate) fn to_entry(&self) -> JournalEntry {
        JournalEntry {
            seq: self.seq,
            at_ms: self.at_ms,
            method: self.method.as_str().to_owned(),
            path: self.path.clone(),
            headers: masked(&self.headers),
            body: BodySummary {
                json: self
                    .raw
                    .as_ref()
                    .and_then(|raw| serde_json::from_slice(raw).ok()),
                ..self.body.clone()
            },
            status: self.status,
        }
    }
}

/// The bounded store of entries.
#[derive(Debug)]
pub struct Journal {
    entries: VecDeque<KeptEntry>,
    capacity: usize,
    next_seq: u64,
}

impl Journal {
    /// An empty journal keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            next_seq: 1,
        }
    }

    /// Records a request and returns its sequence number. `raw` is its JSON body, kept only
    /// up to [`JOURNAL_BODY_BYTES`].
    pub fn record(
        &mut self,
        at_ms: i64,
        method: &http::Method,
        path: String,
        headers: Box<[u8]>,
        body: BodySummary,
        raw: Option<bytes::Bytes>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.capacity == 0 {
            return seq;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(KeptEntry {
            seq,
            at_ms,
            method: method.clone(),
            path,
            headers,
            body: BodySummary { json: None, ..body },
            status: None,
            raw: raw.filter(|raw| raw.len() <= JOURNAL_BODY_BYTES),
        });
        seq
    }

    /// Records the status answered to request `seq`, if it is still kept.
    pub fn answered(&mut self, seq: u64, status: u16) {
        // Entries are in sequence order with no gaps, so the entry is found by arithmetic.
        let Some(first) = self.entries.front().map(|e| e.seq) else {
            return;
        };
        if let Some(kept) = seq
            .checked_sub(first)
            .and_then(|i| self.entries.get_mut(i as usize))
        {
            kept.status = Some(status);
        }
    }

    /// The entries matching `query`, oldest first.
    #[cfg(test)]
    pub fn query(&self, query: &JournalQuery) -> Vec<JournalEntry> {
        self.matching(query)
            .iter()
            .map(KeptEntry::to_entry)
            .collect()
    }

    /// The kept entries matching `query`, oldest first, bodies unparsed: cheap to copy out of
    /// the lock, to be parsed one at a time.
    pub(crate) fn matching(&self, query: &JournalQuery) -> Vec<KeptEntry> {
        let matching: Vec<&KeptEntry> = self
            .entries
            .iter()
            .map(|kept| (kept, kept))
            .filter(|(_, e)| {
                query
                    .method
                    .as_deref()
                    .is_none_or(|m| e.method.as_str().eq_ignore_ascii_case(m))
            })
            .filter(|(_, e)| query.path.as_deref().is_none_or(|p| e.path.starts_with(p)))
            .filter(|(_, e)| query.status.is_none_or(|s| e.status == Some(s)))
            .filter(|(_, e)| query.after.is_none_or(|a| e.seq > a))
            .map(|(kept, _)| kept)
            .collect();
        let skip = query
            .limit
            .map_or(0, |limit| matching.len().saturating_sub(limit));
        matching.into_iter().skip(skip).cloned().collect()
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets every entry (sequence numbers keep counting).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// A request's headers copied into one buffer, `name:value` and a newline each (neither can
/// hold a newline, nor a name a colon): one allocation per entry, and nothing of the
/// connection's read buffer kept alive (holding its bytes made every next read reallocate).
pub fn pack_headers(headers: &HeaderMap) -> Box<[u8]> {
    let len = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 2)
        .sum();
    let mut packed = Vec::with_capacity(len);
    for (name, value) in headers {
        packed.extend_from_slice(name.as_str().as_bytes());
        packed.push(b':');
        packed.extend_from_slice(value.as_bytes());
        packed.push(b'\n');
    }
    packed.into_boxed_slice()
}

/// Packed headers as the journal shows them: by name, secrets masked.
fn masked(packed: &[u8]) -> BTreeMap<String, String> {
    packed
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let name = String::from_utf8_lossy(&line[..colon]).into_owned();
            let value = String::from_utf8_lossy(&line[colon + 1..]).into_owned();
            let value = if SECRET_HEADERS.contains(&name.as_str()) {
                mask(&value)
            } else {
                value
            };
            Some((name, value))
        })
        .collect()
}

/// `****` and, for long values, their last four characters.
fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() >= 12 {
        format!(
            "****{}",
            chars[chars.len() - 4..].iter().collect::<String>()
        )
    } else {
        "****".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn bodies_are_kept_as_bytes_up_to_the_bound_and_parsed_when_read() {
        let mut journal = Journal::new(10);
        let small = bytes::Bytes::from_static(br#"{"limit": 5}"#);
        let large = bytes::Bytes::from(vec![b' '; JOURNAL_BODY_BYTES + 1]);
        journal.record(
            0,
            &http::Method::POST,
            "/a".into(),
            Box::default(),
            BodySummary::default(),
            Some(small),
        );
        journal.record(
            0,
            &http::Method::POST,
            "/b".into(),
            Box::default(),
            BodySummary::default(),
            Some(large),
        );
        let entries = journal.query(&JournalQuery::default());
        assert_eq!(entries[0].body.json, Some(serde_json::json!({"limit": 5})));
        assert_eq!(entries[1].body.json, None);
        assert!(journal
            .entries
            .iter()
            .all(|e| e.raw.as_ref().is_none_or(|r| r.len() <= JOURNAL_BODY_BYTES)));
    }

    #[test]
    fn secrets_are_masked() {
        let mut journal = Journal::new(10);
        let h = headers(&[
            ("u21-key", "u21-mock-dev-key"),
            ("authorization", "short"),
            ("accept", "application/json"),
        ]);
        journal.record(
            0,
            &http::Method::GET,
            "/v1/imports/1".into(),
            pack_headers(&h),
            BodySummary::default(),
            None,
        );
        let entry = &journal.query(&JournalQuery::default())[0];
        assert_eq!(entry.headers.len(), 3);
        assert_eq!(entry.headers["u21-key"], "****-key");
        assert_eq!(entry.headers["authorization"], "****");
        assert_eq!(entry.headers["accept"], "application/json");
    }

    #[test]
    fn capacity_bounds_the_journal_and_the_oldest_go_first() {
        let mut journal = Journal::new(3);
        for i in 0..10 {
            let seq = journal.record(
                i,
                &http::Method::GET,
                format!("/p{i}"),
                Box::default(),
                BodySummary::default(),
                None,
            );
            journal.answered(seq, 200);
        }
        let seqs: Vec<u64> = journal
            .query(&JournalQuery::default())
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, vec![8, 9, 10]);
        assert_eq!(journal.len(), 3);
        let statuses: Vec<Option<u16>> = journal
            .query(&JournalQuery::default())
            .iter()
            .map(|e| e.status)
            .collect();
        assert_eq!(statuses, vec![Some(200); 3]);
        // An answer to a request no longer kept changes nothing.
        journal.answered(2, 500);
        journal.answered(11, 500);
        assert!(journal
            .query(&JournalQuery::default())
            .iter()
            .all(|e| e.status == Some(200)));
    }

    #[test]
    fn queries_filter_and_limit_to_the_newest() {
        let mut journal = Journal::new(100);
        for (method, path, status) in [
            ("GET", "/v1/imports/1", 200),
            ("POST", "/v1/imports/list", 200),
            ("POST", "/v1/imports/list", 429),
            ("GET", "/v1/imports/2", 404),
        ] {
            let seq = journal.record(
                0,
                &method.parse().unwrap(),
                path.to_owned(),
                Box::default(),
                BodySummary::default(),
                None,
            );
            journal.answered(seq, status);
        }
        let q = |query: JournalQuery| {
            journal
                .query(&query)
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            q(JournalQuery {
                method: Some("post".into()),
                ..Default::default()
            }),
            vec![2, 3]
        );
        assert_eq!(
            q(JournalQuery {
                path: Some("/v1/imports/".into()),
                limit: Some(2),
                ..Default::default()
            }),
            vec![3, 4]
        );
        assert_eq!(
            q(JournalQuery {
                status: Some(429),
                ..Default::default()
            }),
            vec![3]
        );
        assert_eq!(
            q(JournalQuery {
                after: Some(3),
                ..Default::default()
            }),
            vec![4]
        );
    }
}
