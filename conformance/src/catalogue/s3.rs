//! The form POST: the returned url, the form as returned, one upload per accepted form, and
//! S3's own errors surfaced with their code.

use std::time::Duration;

use md5::Digest;

use serde_json::{json, Value};

use u21_mock::FaultAction;

use super::{body, fault_on, file_id, unique, upload, upload_refused};
use crate::scenario::{ensure, Ctx, Stop};
use crate::target::{upload_fault_path, upload_path};

/// `host[:port]` of a URL, as a client puts it in `Host`.
fn authority(url: &reqwest::Url) -> String {
    match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    }
}

body!(returned_url, |ctx| {
    let mark = match ctx.target.control {
        Some(_) => Some(ctx.mark().await?),
        None => None,
    };
    let form = upload(ctx, "where.csv", &ctx.row()).await?;
    let file = ctx.driver.status(&file_id(&form)?).await?;
    ensure(file["status"] != "PENDING_UPLOAD", || {
        format!("the object never reached the returned url: {file}")
    })?;
    let Some(mark) = mark else { return Ok(()) };
    let url = form["url"].as_str().unwrap_or_default();
    let path = upload_path(&form);
    let posts = ctx.requests("POST", &path, mark).await?;
    ensure(!posts.is_empty(), || format!("no upload reached {url}"))?;
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return Err(Stop::Fail(format!("the returned url is not a URL: {url}")));
    };
    // Behind a proxy the path the fake sees differs from the URL's; the host says nothing then.
    if parsed.path().trim_end_matches('/') == path {
        let expected = authority(&parsed);
        for post in &posts {
            let host = post.headers.get("host").map_or("", String::as_str);
            ensure(host.eq_ignore_ascii_case(&expected), || {
                format!(
                    "the upload was sent to {host}, but the create call returned {url}: a careful client posts to the returned url, never to one it builds"
                )
            })?;
        }
    }
    Ok(())
});

/// S3 POSTs of a form after `mark`.
async fn posts(ctx: &Ctx<'_>, form: &Value, mark: u64) -> Result<usize, Stop> {
    ctx.count("POST", &upload_path(form), mark).await
}

body!(sent_once, |ctx| {
    let mark = ctx.mark().await?;
    let form = upload(ctx, "once.csv", &ctx.row()).await?;
    let sent = posts(ctx, &form, mark).await?;
    ensure(sent == 1, || {
        format!("S3 accepted the upload (204), yet `upload` sent it {sent} times: a careful client never sends an accepted upload again")
    })?;
    let form = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "once-form.csv"))
        .await?;
    let mark = ctx.mark().await?;
    ctx.driver
        .upload_form(&form, &ctx.file("once-form.csv", &ctx.row()))
        .await
        .map_err(|e| Stop::Fail(upload_refused(&e)))?;
    let sent = posts(ctx, &form, mark).await?;
    ensure(sent == 1, || {
        format!("S3 accepted the upload (204), yet `upload_form` sent it {sent} times: a careful client never sends an accepted upload again")
    })
});

body!(slow_down, |ctx| {
    let control = ctx.control()?;
    let created = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "slow.csv"))
        .await?;
    let path = upload_fault_path(&created);
    let mark = ctx.mark().await?;
    control
        .fault(&fault_on("POST", path, FaultAction::S3SlowDown).times(1))
        .await
        .map_err(Stop::Fail)?;
    ctx.driver
        .upload_form(&created, &ctx.file("slow.csv", &ctx.row()))
        .await
        .map_err(|e| {
            Stop::Fail(format!(
                "the client gave up on S3's SlowDown (503): {e}; a careful client retries it after a pause"
            ))
        })?;
    let sent = posts(ctx, &created, mark).await?;
    ensure(sent == 2, || {
        format!("expected the refused post and one more, saw {sent}")
    })
});

body!(expired, |ctx| {
    let control = ctx.control()?;
    let created = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "late.csv"))
        .await?;
    control
        .advance(Duration::from_secs(3 * 3600))
        .await
        .map_err(Stop::Fail)?;
    let mark = ctx.mark().await?;
    match ctx
        .driver
        .upload_form(&created, &ctx.file("late.csv", &ctx.row()))
        .await
    {
        Ok(_) => Err(Stop::Fail("an expired form was accepted".into())),
        Err(err) => ensure(
            err.s3_code.as_deref() == Some("AccessDenied") && err.status == Some(403),
            || {
                format!(
                    "expected S3's AccessDenied (403) to be reported with its code, the client said: {err} (s3_code {:?}); a careful client surfaces S3's XML <Code>",
                    err.s3_code
                )
            },
        ),
    }?;
    let sent = posts(ctx, &created, mark).await?;
    ensure(sent == 1, || {
        format!("S3 refused the form as expired (403), yet the client posted it {sent} times: a refusal is final; a careful client asks for a new form instead of re-posting the same one")
    })?;
    let file = ctx.driver.status(&file_id(&created)?).await?;
    ensure(file["status"] == "PENDING_UPLOAD", || {
        format!("a refused upload changed the status: {file}")
    })
});

body!(tampered, |ctx| {
    let mut created = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "tampered.csv"))
        .await?;
    created["form_fields"]["signature"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    match ctx
        .driver
        .upload_form(&created, &ctx.file("tampered.csv", &ctx.row()))
        .await
    {
        Ok(_) => Err(Stop::Fail("a tampered signature was accepted".into())),
        Err(err) => ensure(
            err.s3_code.as_deref() == Some("SignatureDoesNotMatch"),
            || {
                format!("expected SignatureDoesNotMatch, the client said: {err} (s3_code {:?}); a careful client surfaces S3's XML <Code>", err.s3_code)
            },
        ),
    }
});

body!(oversized, |ctx| {
    if ctx.target.control.is_none() && !ctx.allow_large_uploads {
        return Err(Stop::Skip(
            "uploads 301 MiB to a target the kit cannot clean (a real account): run with --allow-large-uploads".into(),
        ));
    }
    let path = ctx.dir.join(format!("{}-huge.csv", ctx.run_id));
    // Sparse: a MiB over the 300 MiB cap (so S3 can tell from the length alone), without
    // writing 301 MiB to disk.
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(314_572_800 + 1_048_576))
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let created = ctx
        .driver
        .create(&ctx.target.stream, &unique(ctx, "huge.csv"))
        .await?;
    let mark = match ctx.target.control {
        Some(_) => Some(ctx.mark().await?),
        None => None,
    };
    let refused = ctx.driver.upload_form(&created, &path).await;
    std::fs::remove_file(&path).ok();
    match refused {
        Ok(_) => return Err(Stop::Fail("a file over 300 MiB was accepted".into())),
        Err(err) => ensure(err.s3_code.as_deref() == Some("EntityTooLarge"), || {
            format!("expected EntityTooLarge, the client said: {err}")
        })?,
    }
    // S3 refuses as soon as it can tell, while the client is still sending: the refusal
    // must be read and reported, never taken for a dropped connection and posted again (301
    // MiB each time, against a real account).
    let Some(mark) = mark else { return Ok(()) };
    let sent = posts(ctx, &created, mark).await?;
    ensure(sent == 1, || {
        format!("a 301 MiB upload S3 refused (EntityTooLarge) was posted {sent} times: a careful client reads S3's answer even while it is still sending, reports the refusal, and never posts the same refused file again")
    })
});

/// How the fake's control plane shows an object holding exactly `content` (`object` of
/// `GET /_mock/files/{id}`): its size and quoted MD5 ETag.
fn as_stored(content: &[u8]) -> Value {
    let etag = format!("\"{:x}\"", md5::Md5::digest(content));
    json!({"size": content.len(), "etag": etag})
}

/// What no text reading leaves alone: every byte value (NUL, CR, 0x80–0xFF: never valid UTF-8),
/// CRLF line ends, and newlines at the very end.
fn binary_content() -> Vec<u8> {
    let mut content: Vec<u8> = (0..=255u8).cycle().take(1024).collect();
    content.extend_from_slice(b"\r\n\r\n\n\n");
    content
}

/// A CSV as a European system exports it: Latin-1 (not UTF-8), CRLF line ends.
const LATIN1_CSV: &[u8] = b"id,name,city\r\n1,Jos\xe9,M\xfcnchen\r\n2,Fran\xe7oise,Z\xfcrich\r\n";

body!(bytes_unchanged, |ctx| {
    let control = ctx.control()?;
    let binary = binary_content();
    for (name, content, what) in [
        ("bytes.bin", &binary[..], "a binary file"),
        (
            "latin1.csv",
            LATIN1_CSV,
            "a Latin-1 CSV with CRLF line ends",
        ),
    ] {
        let form = ctx
            .driver
            .upload(&ctx.target.stream, &ctx.file(name, content))
            .await
            .map_err(|e| {
                Stop::Fail(format!(
                    "the upload of {what} ({} bytes) failed: {e}; a careful client sends any bytes, read in binary",
                    content.len()
                ))
            })?;
        let id = file_id(&form)?;
        let stored = control.file(&id).await.map_err(Stop::Fail)?;
        let expected = as_stored(content);
        ensure(stored["object"] == expected, || {
            format!(
                "the bytes stored for {what} are not the file's: stored {}, sent {expected}; a careful client sends a file's bytes as they are: read in binary, never decoded or re-encoded, newlines untouched, its length counted in bytes",
                stored["object"]
            )
        })?;
    }
    Ok(())
});

/// A name with what curl's `--form` reads as syntax (`,` `;`), a quote, spaces and
/// non-ASCII of two, three and four bytes (the last outside the BMP, two UTF-16 units): a
/// form whose length is counted in characters comes up eight bytes short, cutting its end.
const AWKWARD_NAME: &str = "a,b;c \"d\" é-日本-🙂.jsonl";

body!(names_are_data, |ctx| {
    let [a, b, c] = <[String; 3]>::try_from(ctx.record_ids(3)).expect("three ids");
    let content = format!(
        "{}\n{}\n{}\n",
        json!({"id": a, "name": "é"}),
        json!({"id": b, "note": "a;b,c \"q\""}),
        json!({"id": c})
    );
    let content = content.as_bytes();
    let sent_name = unique(ctx, AWKWARD_NAME);
    let form = ctx
        .driver
        .upload(&ctx.target.stream, &ctx.file(AWKWARD_NAME, content))
        .await
        .map_err(|e| {
            Stop::Fail(format!(
                "the upload of a file named {sent_name:?} failed: {e}; a careful client passes file names and form field values as data, never as syntax (`,` `;` `\"` mean nothing special), and escapes the quote in the file part's filename"
            ))
        })?;
    let id = file_id(&form)?;
    let key = form["form_fields"]["key"].as_str().unwrap_or_default();
    ensure(key.ends_with(&sent_name), || {
        format!("the create call did not carry the file name as it is: sent {sent_name:?}, the form's key is {key:?}")
    })?;
    if let Some(control) = &ctx.target.control {
        let stored = control.file(&id).await.map_err(Stop::Fail)?;
        ensure(stored["key"] == key, || {
            format!(
                "the fake stored file {id} under {} but the form said {key:?}",
                stored["key"]
            )
        })?;
        let expected = as_stored(content);
        ensure(stored["object"] == expected, || {
            format!(
                "the bytes stored under {key:?} are not the file's: stored {}, sent {expected}; a careful client sends the file's bytes as they are, under the returned key",
                stored["object"]
            )
        })?;
    }
    let file = ctx.driver.wait(&id, ctx.wait_timeout()).await?;
    ensure(file["status"] == "FINISHED", || {
        format!("expected FINISHED, got {file}")
    })?;
    let counted = file["successful_count"].as_u64().unwrap_or(0)
        + file["failure_count"].as_u64().unwrap_or(0);
    ensure(counted == 3, || {
        format!("expected 3 records counted, got {file}")
    })
});

/// A session token as STS issues them: base64 with `+`, `/` and `=`.
const SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDx+conformance/kit/token==";

body!(copies_every_form_field, |ctx| {
    let control = ctx.control()?;
    control
        .fault(
            &fault_on(
                "POST",
                "/v1/imports/pre-signed-url/create",
                FaultAction::SecurityToken {
                    token: SESSION_TOKEN.to_owned(),
                },
            )
            .times(1),
        )
        .await
        .map_err(Stop::Fail)?;
    let content = &ctx.row();
    let form = ctx
        .driver
        .upload(&ctx.target.stream, &ctx.file("token.csv", content))
        .await
        .map_err(|e| {
            Stop::Fail(format!(
                "the upload of a form with a fifth field (x-amz-security-token, as forms signed with temporary credentials carry, required by the policy) failed: {e}; a careful client sends every returned field, known or not, verbatim and in order, before the file (S3 ignores fields after it)"
            ))
        })?;
    ensure(
        form["form_fields"]["x-amz-security-token"] == SESSION_TOKEN,
        || {
            format!("the create answer the client returned lost the form's x-amz-security-token field: {form}")
        },
    )?;
    let id = file_id(&form)?;
    let stored = control.file(&id).await.map_err(Stop::Fail)?;
    ensure(stored["object"] == as_stored(content), || {
        format!(
            "the client reported the upload done, yet the fake holds {} for file {id}",
            stored["object"]
        )
    })
});

body!(failure_not_started_over, |ctx| {
    let control = ctx.control()?;
    // Where uploads go: the bucket of any form the fake hands out.
    let probe = super::raw_create(ctx, "probe.csv").await?;
    let fault = control
        .fault(&fault_on(
            "POST",
            upload_fault_path(&probe),
            FaultAction::S3InternalError,
        ))
        .await
        .map_err(Stop::Fail)?;
    let mark = ctx.mark().await?;
    let answer = ctx
        .driver
        .upload(&ctx.target.stream, &ctx.file("littered.csv", &ctx.row()))
        .await;
    control.remove_fault(fault).await.map_err(Stop::Fail)?;
    let creates = ctx
        .count("POST", "/v1/imports/pre-signed-url/create", mark)
        .await?;
    ensure(creates == 1, || {
        format!(
            "one `upload` against an S3 that kept answering 500 made {creates} files: each create call makes a file that stays PENDING_UPLOAD for good; a careful client retries the post of the same form a few times, then reports the error, and never starts over with a new create"
        )
    })?;
    match answer {
        Ok(form) => Err(Stop::Fail(format!(
            "S3 answered every post 500, yet the client reported the upload done: {form}"
        ))),
        Err(err) => ensure(err.status == Some(500), || {
            format!("expected the client to report S3's 500, it said: {err}")
        }),
    }
});
