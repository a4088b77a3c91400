//! The README and FIDELITY.md must not lie: their examples are run or parsed here.

use std::path::Path;

fn read(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

/// The body of the first fenced block in `text` whose info string is `lang`.
fn fenced(text: &str, lang: &str) -> String {
    let open = format!("```{lang}\n");
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("no ```{lang} block"))
        + open.len();
    let end = text[start..].find("```").unwrap() + start;
    text[start..end].to_owned()
}

/// The README's example configuration file (the TOML block after "The configuration file").
fn configuration_example() -> String {
    let readme = read("README.md");
    let start = readme
        .find("The configuration file")
        .expect("the README shows a configuration file");
    fenced(&readme[start..], "toml")
}

#[test]
fn the_readme_configuration_example_is_a_valid_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u21.toml");
    std::fs::write(&path, configuration_example()).unwrap();
    let config = u21_mock::Config::from_file(&path).unwrap();
    assert_eq!(config.keys.len(), 2);
    assert_eq!(config.streams[0].columns.len(), 4);
    assert_eq!(config.timing, u21_mock::Timing::Fast);
}

#[test]
fn every_fidelity_switch_in_the_readme_is_in_the_ledger() {
    let readme = configuration_example();
    let ledger = read("FIDELITY.md");
    let switches: Vec<&str> = readme
        .split("[fidelity]")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once(" = ").map(|(name, _)| name.trim()))
        .collect();
    assert_eq!(switches.len(), 20, "{switches:?}");
    for switch in switches {
        assert!(
            ledger.contains(&format!("`{switch} = ")),
            "FIDELITY.md does not name the switch {switch}"
        );
    }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = read("README.md");
    let marker = readme
        .find("<!-- test-command")
        .expect("the README marks its test command");
    let command = fenced(&readme[marker..], "sh");
    assert_eq!(command.trim(), "cargo test --workspace");
    assert!(
        read(".ci/run").contains("test-command"),
        ".ci/run reads the command from the README"
    );
}

/// Whether `actual` is what `shown` shows: runs of digits stand for any digits (ids, times,
/// ports), `…` for anything.
fn shown_as(shown: &str, actual: &str) -> bool {
    let (shown, actual) = (shown.as_bytes(), actual.as_bytes());
    fn go(s: &[u8], a: &[u8]) -> bool {
        match s {
            [] => a.is_empty(),
            // `…` is three bytes in UTF-8.
            [0xE2, 0x80, 0xA6, rest @ ..] => (0..=a.len()).any(|i| go(rest, &a[i..])),
            [d, ..] if d.is_ascii_digit() => {
                let shown_digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
                let actual_digits = a.iter().take_while(|c| c.is_ascii_digit()).count();
                actual_digits > 0 && go(&s[shown_digits..], &a[actual_digits..])
            }
            [c, rest @ ..] => a.first() == Some(c) && go(rest, &a[1..]),
        }
    }
    go(shown, actual)
}

/// Whether the JSON `actual` has the shape and values of `shown`: the same fields, counts
/// equal, other numbers any number, strings as [`shown_as`] says.
fn json_shown_as(shown: &serde_json::Value, actual: &serde_json::Value, field: &str) -> bool {
    use serde_json::Value::*;
    match (shown, actual) {
        (Object(s), Object(a)) => {
            s.len() == a.len()
                && s.iter()
                    .all(|(k, v)| a.get(k).is_some_and(|w| json_shown_as(v, w, k)))
        }
        (Array(s), Array(a)) => {
            s.len() == a.len() && s.iter().zip(a).all(|(v, w)| json_shown_as(v, w, field))
        }
        (Number(s), Number(a)) => !field.ends_with("_count") || s == a,
        (String(s), String(a)) => shown_as(s, a),
        (s, a) => s == a,
    }
}

/// The README's curl flow, pasted whole into bash in an empty directory, against the binary
/// (`instant` timing, so the test waits for nothing; on a free port instead of 8021): every
/// output line the block shows (`# {…}`, `# upload: …`) is printed, in order, and pasted a
/// second time it prints exactly what the README shows for that.
#[test]
fn the_readme_curl_flow_prints_what_it_shows() {
    let readme = read("README.md");
    let marker = readme
        .find("<!-- curl-flow")
        .expect("the README marks its curl flow");
    let block = fenced(&readme[marker..], "sh");
    let shown: Vec<&str> = block
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| l.starts_with('{') || l.starts_with("upload:"))
        .collect();
    assert_eq!(shown.len(), 4, "{shown:?}");
    let second_paste = fenced(&readme[marker + block.len()..], "text");
    let (server, address) = super::compose::start_fake_with(&["--timing", "instant"]);
    let script = block.replace("localhost:8021", &address);
    let dir = tempfile::tempdir().unwrap();
    let paste = || {
        let output = std::process::Command::new("bash")
            .args(["-c", &script])
            .current_dir(dir.path())
            .output()
            .expect("bash runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, out, err) = paste();
    assert!(ok, "{out}\n{err}");
    let printed: Vec<&str> = out.lines().collect();
    assert_eq!(printed.len(), shown.len(), "printed:\n{out}");
    for (shown, printed) in shown.iter().zip(&printed) {
        let matches = match (
            serde_json::from_str::<serde_json::Value>(shown),
            serde_json::from_str::<serde_json::Value>(printed),
        ) {
            (Ok(s), Ok(p)) => json_shown_as(&s, &p, ""),
            _ => shown_as(shown, printed),
        };
        assert!(
            matches,
            "the README shows\n  {shown}\nthe paste printed\n  {printed}"
        );
    }
    // Pasted again: the name is taken, the answer says what to do about it, and nothing else
    // runs (no upload of a form that does not exist).
    let (ok, again, err) = paste();
    assert!(ok, "{again}\n{err}");
    assert_eq!(again.trim(), second_paste.trim(), "{err}");
    drop(server);
}

#[test]
fn shown_output_matches_digits_and_ellipses_only() {
    assert!(shown_as("id 1795838526080_x", "id 1_x"));
    assert!(shown_as("eyJ…", "eyJhbGciOi"));
    assert!(!shown_as("id 1_x", "id _x"));
    assert!(!shown_as("FINISHED", "QUEUED"));
    let shown = serde_json::json!({"successful_count": 3, "date_created": 1, "status": "FINISHED"});
    let same = serde_json::json!({"successful_count": 3, "date_created": 9, "status": "FINISHED"});
    let fewer = serde_json::json!({"successful_count": 2, "date_created": 1, "status": "FINISHED"});
    assert!(json_shown_as(&shown, &same, ""));
    assert!(!json_shown_as(&shown, &fewer, ""));
}

/// Every relative link in the README, FIDELITY.md and the docs points inside the repository
/// (a clone has no `../shared/`), at a file that exists.
#[test]
fn every_relative_link_stays_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in [
        "README.md",
        "FIDELITY.md",
        "conformance/ADAPTERS.md",
        "docs/unit21-imports.md",
        "docs/s3-post.md",
        "docs/control-plane.md",
        "docs/s3-endpoint.md",
        "docs/performance.md",
        "docs/wrappers.md",
    ] {
        let text = read(doc);
        assert!(
            !text.contains("shared/reference"),
            "{doc} cites ../shared/reference"
        );
        let base = root.join(doc).parent().unwrap().to_owned();
        for link in text.split("](").skip(1) {
            let target = link.split([')', '#']).next().unwrap();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = base.join(target);
            assert!(
                path.exists(),
                "{doc} links to {target}, which does not exist"
            );
            assert!(
                path.canonicalize()
                    .unwrap()
                    .starts_with(root.canonicalize().unwrap()),
                "{doc} links outside the repository: {target}"
            );
        }
    }
}

/// Every scenario that judges by a decided point names an entry FIDELITY.md has.
#[test]
fn every_decided_rule_of_the_kit_is_in_the_ledger() {
    let ledger = read("FIDELITY.md");
    let mut decided = 0;
    for scenario in u21_conformance::catalogue() {
        if let u21_conformance::Rule::Decided(entries) = scenario.rule {
            decided += 1;
            for entry in entries.split(", ") {
                assert!(
                    ledger.contains(&format!("`{entry}`")),
                    "{} judges by {entry}, which FIDELITY.md does not name",
                    scenario.name
                );
            }
        }
    }
    assert!(
        decided >= 3,
        "the decided list scenarios name their entries"
    );
}
