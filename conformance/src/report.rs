//! The results of a run: a summary for people, JSON and JUnit XML for CI.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

use crate::scenario::Outcome;

/// One scenario's result.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// Its name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub duration: Duration,
}

/// A whole run.
#[derive(Clone, Debug)]
pub struct Report {
    /// The server.
    pub target: String,
    /// The client.
    pub client: String,
    /// Every scenario selected, in catalogue order.
    pub results: Vec<ScenarioResult>,
    /// How long the whole run took.
    pub elapsed: Duration,
    /// Why the fake could not be put back as the kit found it, if it could not: the run fails.
    pub restore_failure: Option<String>,
    /// The files the run made on a target it cannot clean (a real account: Unit21's API has
    /// no delete); empty on a fake, which is put back as the kit found it.
    pub left_behind: Vec<crate::MadeFile>,
    /// What the target answered on each decided point a scenario settled (FIDELITY.md).
    pub settled: Vec<crate::fidelity::Settlement>,
}

impl ScenarioResult {
    /// Its line (or lines, with a failure's reason) in the summary.
    pub fn line(&self) -> String {
        let (mark, detail) = match &self.outcome {
            Outcome::Pass => ("pass", String::new()),
            Outcome::Fail(why) => ("FAIL", format!("\n      {}", why.replace('\n', "\n      "))),
            Outcome::Skip(why) => ("skip", format!(" ({why})")),
        };
        format!(
            "  {mark}  {:<38} {:>6.2}s{detail}\n",
            self.name,
            self.duration.as_secs_f64()
        )
    }
}

impl Report {
    /// How many passed, failed and were skipped.
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |f: fn(&Outcome) -> bool| self.results.iter().filter(|r| f(&r.outcome)).count();
        (
            count(|o| *o == Outcome::Pass),
            count(|o| matches!(o, Outcome::Fail(_))),
            count(|o| matches!(o, Outcome::Skip(_))),
        )
    }

    /// True when nothing failed, and the fake was put back as it was found.
    pub fn passed(&self) -> bool {
        self.counts().1 == 0 && self.restore_failure.is_none()
    }

    /// Names of the failed scenarios.
    pub fn failed(&self) -> Vec<&str> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
            .map(|r| r.name.as_str())
            .collect()
    }

    /// The readable summary; its last line is `N passed, N failed, N skipped`.
    pub fn summary(&self) -> String {
        let mut out = self.header();
        for r in &self.results {
            out.push_str(&r.line());
        }
        out.push_str(&self.footer());
        out
    }

    /// The summary's first line.
    pub fn header(&self) -> String {
        format!("conformance: {} against {}\n", self.client, self.target)
    }

    /// The summary's last two lines: the run time, then the counts.
    pub fn footer(&self) -> String {
        let mut out = String::new();
        if let Some(why) = &self.restore_failure {
            let _ = writeln!(out, "FAILED to restore the fake: {why}");
        }
        if !self.left_behind.is_empty() {
            let _ = writeln!(
                out,
                "left on the target (the API has no delete): {} files",
                self.left_behind.len()
            );
            for file in &self.left_behind {
                let _ = writeln!(out, "  left  {:<12} {}", file.file_id, file.key);
            }
        }
        let _ = writeln!(out, "ran in {:.2} s", self.elapsed.as_secs_f64());
        let (passed, failed, skipped) = self.counts();
        let _ = write!(out, "{passed} passed, {failed} failed, {skipped} skipped");
        out
    }

    /// The report as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let left_behind: Vec<_> = self
            .left_behind
            .iter()
            .map(|f| json!({"file_id": f.file_id, "key": f.key}))
            .collect();
        let (passed, failed, skipped) = self.counts();
        let results: Vec<_> = self
            .results
            .iter()
            .map(|r| {
                let (outcome, detail) = match &r.outcome {
                    Outcome::Pass => ("pass", None),
                    Outcome::Fail(why) => ("fail", Some(why)),
                    Outcome::Skip(why) => ("skip", Some(why)),
                };
                json!({"name": r.name, "tags": r.tags, "outcome": outcome, "detail": detail, "seconds": r.duration.as_secs_f64()})
            })
            .collect();
        let fidelity = crate::fidelity::record(&self.target, &self.settled);
        json!({"target": self.target, "client": self.client, "passed": passed, "failed": failed, "skipped": skipped, "restore_failure": self.restore_failure, "left_behind": left_behind, "decided": fidelity["points"], "results": results})
    }

    /// The report as JUnit XML, one `<testcase>` per scenario, written through quick-xml.
    pub fn to_junit(&self) -> String {
        use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
        let (_, failed, skipped) = self.counts();
        // Folded from +0.0: an empty sum of floats is -0.0, which JUnit readers print as such.
        let total = (self.results.iter()).fold(0.0, |sum, r| sum + r.duration.as_secs_f64());
        let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
        // Writing to a Vec cannot fail: the results are ignored.
        let _ = writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        let (tests, failed, skipped) = (
            self.results.len().to_string(),
            failed.to_string(),
            skipped.to_string(),
        );
        let total = format!("{total:.3}");
        let suite = BytesStart::new("testsuite").with_attributes([
            ("name", "u21-conformance"),
            ("tests", tests.as_str()),
            ("failures", failed.as_str()),
            ("skipped", skipped.as_str()),
            ("time", total.as_str()),
        ]);
        let _ = writer.write_event(Event::Start(suite));
        let _ = writer
            .create_element("properties")
            .write_inner_content(|w| {
                for (name, value) in [("target", &self.target), ("client", &self.client)] {
                    w.create_element("property")
                        .with_attributes([("name", name), ("value", &*xml_chars(value))])
                        .write_empty()?;
                }
                Ok(())
            });
        for r in &self.results {
            let classname = xml_chars(&r.tags.join(".")).into_owned();
            let time = format!("{:.3}", r.duration.as_secs_f64());
            let case = writer.create_element("testcase").with_attributes([
                ("classname", classname.as_str()),
                ("name", &*xml_chars(&r.name)),
                ("time", time.as_str()),
            ]);
            let _ = match &r.outcome {
                Outcome::Pass => case.write_empty(),
                Outcome::Fail(why) => case.write_inner_content(|w| {
                    let first = xml_chars(why.lines().next().unwrap_or(""));
                    w.create_element("failure")
                        .with_attribute(("message", &*first))
                        .write_text_content(BytesText::new(&xml_chars(why)))?;
                    Ok(())
                }),
                Outcome::Skip(why) => case.write_inner_content(|w| {
                    w.create_element("skipped")
                        .with_attribute(("message", &*xml_chars(why)))
                        .write_empty()?;
                    Ok(())
                }),
            };
        }
        let _ = writer.write_event(Event::End(BytesEnd::new("testsuite")));
        let mut xml = String::from_utf8(writer.into_inner()).expect("written from strings");
        xml.push('\n');
        xml
    }
}

/// `text` with every character XML 1.0 cannot carry at all (control characters but tab,
/// newline and return; U+FFFE, U+FFFF), which no escape can save, replaced by U+FFFD; quick-xml
/// escapes the markup. An adapter's message may hold any of them (a terminal colour's ESC),
/// and one would make the whole report unreadable.
fn xml_chars(text: &str) -> std::borrow::Cow<'_, str> {
    let illegal = |c: char| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
    };
    if !text.chars().any(illegal) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| if illegal(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let result = |name: &str, outcome| ScenarioResult {
            name: name.into(),
            tags: vec!["t".into()],
            outcome,
            duration: Duration::from_millis(5),
        };
        Report {
            target: "fake".into(),
            client: "c".into(),
            results: vec![
                result("a", Outcome::Pass),
                result("b", Outcome::Fail("x < y".into())),
                result("c", Outcome::Skip("no control".into())),
            ],
            elapsed: Duration::from_millis(20),
            restore_failure: None,
            left_behind: Vec::new(),
            settled: Vec::new(),
        }
    }

    /// XML 1.0's `Char` production: what a well-formed document may hold anywhere.
    fn is_xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    }

    #[test]
    fn control_characters_in_a_message_leave_the_junit_report_well_formed() {
        let mut report = report();
        report.results[1].outcome =
            Outcome::Fail("\u{1b}[31mred\u{1b}[0m, a NUL \u{0}, a \u{FFFF} & <tags>".into());
        report.client = "adapter \u{7}bell".into();
        let xml = report.to_junit();
        let bad: Vec<char> = xml.chars().filter(|c| !is_xml_char(*c)).collect();
        assert!(bad.is_empty(), "{bad:?} in {xml}");
        assert!(
            xml.contains(
                "\u{FFFD}[31mred\u{FFFD}[0m, a NUL \u{FFFD}, a \u{FFFD} &amp; &lt;tags&gt;"
            ),
            "{xml}"
        );
        assert!(xml.contains("adapter \u{FFFD}bell"), "{xml}");
        // And an XML parser reads it to its end.
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut elements = 0;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                    elements += 1
                }
                Ok(_) => {}
                Err(err) => panic!("not well-formed: {err} in {xml}"),
            }
        }
        assert!(elements >= 6, "{elements} elements in {xml}");
    }

    #[test]
    fn the_files_left_on_a_real_account_are_named_before_the_counts() {
        let mut report = report();
        report.left_behind = vec![crate::MadeFile {
            file_id: "41".into(),
            key: "org/2026/u21-conformance-c1-upload-csv-finishes-rows.csv".into(),
        }];
        let summary = report.summary();
        assert!(
            summary.contains("left on the target (the API has no delete): 1 files\n  left  41           org/2026/u21-conformance-c1-upload-csv-finishes-rows.csv\n"),
            "{summary}"
        );
        assert!(
            summary.ends_with("1 passed, 1 failed, 1 skipped"),
            "{summary}"
        );
        assert_eq!(report.to_json()["left_behind"][0]["file_id"], "41");
    }

    #[test]
    fn a_run_whose_fake_was_not_put_back_did_not_pass() {
        let mut report = report();
        report.results.retain(|r| r.outcome == Outcome::Pass);
        assert!(report.passed());
        report.restore_failure = Some("the fake refused it; the state is in /tmp/x.json".into());
        assert!(!report.passed());
        assert!(report
            .footer()
            .starts_with("FAILED to restore the fake: the fake refused it"));
        assert!(report.footer().ends_with("1 passed, 0 failed, 0 skipped"));
        assert_eq!(
            report.to_json()["restore_failure"],
            "the fake refused it; the state is in /tmp/x.json"
        );
    }

    #[test]
    fn summary_json_and_junit_agree() {
        let report = report();
        assert!(report
            .summary()
            .ends_with("ran in 0.02 s\n1 passed, 1 failed, 1 skipped"));
        assert_eq!(report.to_json()["failed"], 1);
        let junit = report.to_junit();
        assert!(
            junit.contains("tests=\"3\" failures=\"1\" skipped=\"1\""),
            "{junit}"
        );
        assert!(junit.contains("<failure message=\"x &lt; y\">"), "{junit}");
        assert!(
            junit.contains("<skipped message=\"no control\"/>"),
            "{junit}"
        );
        assert_eq!(report.failed(), vec!["b"]);
    }
}
