//! Mutated multipart bodies against a running fake: whatever arrives, the answer is an S3 XML
//! error or a success, never a 500 or a dropped server.

use std::sync::OnceLock;

use crate::common::*;
use proptest::prelude::*;
use serde_json::Value;
use u21_mock::MockServer;

struct Target {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
    url: String,
    valid: Vec<u8>,
}

const BOUNDARY: &str = "fuzzboundary7MA4YWxkTrZu0gW";

/// One valid form body (fields, then a CSV file) for a freshly created import.
fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let server = runtime.block_on(MockServer::builder().rate_limit(0).start());
        let created: Value = runtime.block_on(create(&server, "s", "a.csv"));
        let mut valid = Vec::new();
        for (name, value) in created["form_fields"].as_object().unwrap() {
            valid.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{}\r\n", value.as_str().unwrap()).bytes());
        }
        valid.extend(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\nContent-Type: text/csv\r\n\r\na,b\n1,2\n\r\n--{BOUNDARY}--\r\n").bytes());
        let url = created["url"].as_str().unwrap().to_owned();
        Target { runtime, server, url, valid }
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..16),
                Just(format!("\r\n--{BOUNDARY}\r\n").into_bytes()),
                Just(b"Content-Disposition: form-data; name=\"file\"\r\n\r\n".to_vec()),
            ]
        )
            .prop_map(|(i, bytes)| Mutation::Insert(i, bytes)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn apply(body: &mut Vec<u8>, mutation: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match mutation {
        Mutation::Flip(i, b) if !body.is_empty() => {
            let i = at(*i, body.len());
            body[i] ^= b | 1;
        }
        Mutation::Truncate(i) => body.truncate(at(*i, body.len() + 1)),
        Mutation::Insert(i, bytes) => {
            let i = at(*i, body.len() + 1);
            body.splice(i..i, bytes.iter().copied());
        }
        Mutation::Remove(i, n) if !body.is_empty() => {
            let i = at(*i, body.len());
            let end = (i + n).min(body.len());
            body.drain(i..end);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn mutated_forms_get_an_s3_answer(mutations in prop::collection::vec(mutation(), 1..4)) {
        let target = target();
        let mut body = target.valid.clone();
        for m in &mutations {
            apply(&mut body, m);
        }
        let (status, content_type, text) = target.runtime.block_on(async {
            let response = http()
                .post(&target.url)
                .header("content-type", format!("multipart/form-data; boundary={BOUNDARY}"))
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            (status, content_type, response.text().await.unwrap())
        });
        prop_assert!([200, 201, 204, 400, 403, 412].contains(&status), "status {status}: {text}");
        if status >= 400 {
            prop_assert_eq!(content_type.as_deref(), Some("application/xml"));
            prop_assert!(xml_field(&text, "Code").is_some(), "{}", text);
            prop_assert!(xml_field(&text, "Message").is_some(), "{}", text);
        }
    }
}

#[test]
fn the_server_keeps_taking_valid_forms_beside_the_fuzzing() {
    let target = target();
    let status = target.runtime.block_on(async {
        http()
            .get(format!("{}/_mock/health", target.server.uri()))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let valid = target.valid.clone();
    let response = target.runtime.block_on(
        http()
            .post(&target.url)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(valid)
            .send(),
    );
    assert!(matches!(response.unwrap().status().as_u16(), 204));
}
