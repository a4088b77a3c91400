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
    assert_eq!(switches.len(), 8, "{switches:?}");
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

/// The README's curl flow, pasted whole into bash in an empty directory, against the binary
/// started with its defaults (on a free port instead of 8021).
#[test]
fn the_readme_curl_flow_runs_as_pasted() {
    let readme = read("README.md");
    let marker = readme
        .find("<!-- curl-flow")
        .expect("the README marks its curl flow");
    let block = fenced(&readme[marker..], "sh");
    let (mut server, address) = super::compose::start_fake();
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
    assert!(out.contains(r#"{"file_id":"1","form_fields":{"#), "{out}");
    assert!(out.contains("upload: HTTP 204\n"), "{out}");
    assert!(
        out.contains(r#""file_name":"file_you_want_to_upload.csv","file_type":"CSV""#),
        "{out}"
    );
    assert!(out.contains(r#""response_count":"#), "{out}");
    // Pasted again: the name is taken, and the answer says what to do about it.
    let (_, again, _) = paste();
    assert!(
        again.contains(r#"{"error_code":"conflict","message":"A file named 'file_you_want_to_upload.csv' already exists in stream 'stream_name'; send a new md5_hash"#),
        "{again}"
    );
    let _ = server.kill();
    let _ = server.wait();
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
