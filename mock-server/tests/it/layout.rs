//! The layout holds: no two modules of `u21_mock` depend on each other, directly or around a
//! circle. A module's use of its own children (or a child's of its ancestors) is how Rust
//! splits one module into files and is not counted; everything else is: a path through
//! `crate::`, `super::` or `self::` names the module it depends on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every module file under `src/` (the binary's `main.rs` aside), by module path.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![src.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // `cli/` holds the binary's own modules, outside the library.
                if !path.ends_with("cli") {
                    dirs.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("main.rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let name = std::iter::once("crate".to_owned())
                .chain(parts)
                .collect::<Vec<_>>()
                .join("::");
            found.insert(name, path);
        }
    }
    found
}

/// The code of a file without comments (doc links name paths too) or string literals.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .map(|line| {
            // Drop "…" literals: a message may contain `::`.
            let mut out = String::new();
            let mut in_string = false;
            let mut escaped = false;
            for c in line.chars() {
                match (in_string, c) {
                    (true, '\\') if !escaped => escaped = true,
                    (true, '"') if !escaped => in_string = false,
                    (true, _) => escaped = false,
                    (false, '"') => in_string = true,
                    (false, c) => out.push(c),
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a file names from `crate::`, `super::` or `self::`, made absolute (`{a, b}`
/// groups give one path each).
fn paths(module: &str, code: &str) -> Vec<String> {
    // `self` names the file's own module; `super` its parent.
    let this = module.to_owned();
    let up = module
        .rsplit_once("::")
        .map_or("crate".to_owned(), |(p, _)| p.to_owned());
    let bytes: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 8)].iter().collect();
        let preceded_by_ident =
            i > 0 && (bytes[i - 1].is_alphanumeric() || bytes[i - 1] == '_' || bytes[i - 1] == ':');
        let base = if preceded_by_ident {
            None
        } else if rest.starts_with("crate::") {
            Some(("crate".to_owned(), 7))
        } else if rest.starts_with("super::") {
            Some((up.clone(), 7))
        } else if rest.starts_with("self::") {
            Some((this.clone(), 6))
        } else {
            None
        };
        let Some((base, skip)) = base else {
            i += 1;
            continue;
        };
        i += skip;
        // Segments (lower-case ones name modules; a capital ends the module path).
        let mut segments = Vec::new();
        loop {
            let start = i;
            while i < bytes.len() && (bytes[i].is_alphanumeric() || bytes[i] == '_') {
                i += 1;
            }
            let segment: String = bytes[start..i].iter().collect();
            if segment.is_empty() {
                break;
            }
            segments.push(segment);
            if bytes[i..].starts_with(&[':', ':']) && bytes.get(i + 2) != Some(&'{') {
                i += 2;
            } else {
                break;
            }
        }
        let group_start = if bytes[i..].starts_with(&[':', ':', '{']) {
            Some(i + 3)
        } else if segments.is_empty() && bytes.get(i) == Some(&'{') {
            Some(i + 1)
        } else {
            None
        };
        match group_start {
            Some(start) => {
                // A group: each member is a path of its own under the prefix.
                let mut depth = 1;
                let mut close = start;
                while close < bytes.len() && depth > 0 {
                    match bytes[close] {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    close += 1;
                }
                let group: String = bytes[start..close.saturating_sub(1)].iter().collect();
                for member in split_top_level(&group) {
                    let member = member.split('{').next().unwrap_or_default();
                    let member = member.trim().trim_end_matches("::");
                    let mut full = segments.clone();
                    if !member.is_empty() && member != "self" {
                        full.extend(member.split("::").map(|s| s.trim().to_owned()));
                    }
                    found.push(join(&base, &full));
                }
                i = close;
            }
            None => found.push(join(&base, &segments)),
        }
    }
    found
}

/// A group's members, split at the commas outside nested groups.
fn split_top_level(group: &str) -> Vec<String> {
    let mut members = vec![String::new()];
    let mut depth = 0;
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                members.push(String::new());
                continue;
            }
            _ => {}
        }
        members.last_mut().expect("one member at least").push(c);
    }
    members
}

fn join(base: &str, segments: &[String]) -> String {
    std::iter::once(base.to_owned())
        .chain(segments.iter().cloned())
        .collect::<Vec<_>>()
        .join("::")
}

/// The module a path lands in: its longest prefix that is a module file.
fn owner(path: &str, modules: &BTreeMap<String, PathBuf>) -> String {
    let mut candidate = path.to_owned();
    loop {
        if modules.contains_key(&candidate) {
            return candidate;
        }
        match candidate.rsplit_once("::") {
            Some((prefix, _)) => candidate = prefix.to_owned(),
            None => return "crate".to_owned(),
        }
    }
}

/// Names the crate root re-exports (`pub use engine::{Fault, …}`), by the module defining them.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in code(lib).split(';') {
        let statement = statement.trim();
        let Some(rest) = statement.strip_prefix("pub use ") else {
            continue;
        };
        let (module, names) = match rest.split_once("::{") {
            Some((module, names)) => (module, names.trim_end_matches('}')),
            None => match rest.rsplit_once("::") {
                Some((module, name)) => (module, name),
                None => continue,
            },
        };
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            map.insert(name.to_owned(), format!("crate::{module}"));
        }
    }
    map
}

fn is_ancestor(a: &str, b: &str) -> bool {
    a == "crate" || b.starts_with(&format!("{a}::"))
}

/// Module dependencies, parents and children aside.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let modules = modules(src);
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexported = reexports(&lib);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        for path in paths(module, &code(&text)) {
            let mut target = owner(&path, &modules);
            if target == "crate" {
                // `crate::Name`: the module the root re-exports it from.
                let name = path.trim_start_matches("crate::");
                if let Some(from) = reexported.get(name.split("::").next().unwrap_or_default()) {
                    target = owner(from, &modules);
                }
            }
            if target == *module || is_ancestor(&target, module) || is_ancestor(module, &target) {
                continue;
            }
            edges.entry(module.clone()).or_default().insert(target);
        }
    }
    edges
}

/// The circles in a graph: its strongly connected parts of more than one module.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let nodes: BTreeSet<&String> = edges.keys().chain(edges.values().flatten()).collect();
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for next in edges.get(&n).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reaches(n))).collect();
    let mut found: Vec<BTreeSet<String>> = Vec::new();
    for n in &nodes {
        let part: BTreeSet<String> = nodes
            .iter()
            .filter(|m| reach[*n].contains(**m) && reach[**m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        if part.len() > 1 && !found.contains(&part) {
            found.push(part);
        }
    }
    found
}

#[test]
fn no_module_depends_on_a_module_that_depends_on_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = graph(&src);
    assert!(
        edges.contains_key("crate::http::imports")
            && edges["crate::http::imports"].contains("crate::engine"),
        "the checker sees the routes call the engine: {edges:#?}"
    );
    let found = circles(&edges);
    assert!(found.is_empty(), "import circles: {found:#?}");
}

#[test]
fn the_engine_knows_nothing_of_http() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (module, targets) in graph(&src) {
        if module.starts_with("crate::engine") {
            let http: Vec<&String> = targets
                .iter()
                .filter(|t| t.starts_with("crate::http") || t.starts_with("crate::server"))
                .collect();
            assert!(http.is_empty(), "{module} uses {http:?}");
        }
    }
    for file in [
        "engine/mod.rs",
        "engine/store/mod.rs",
        "engine/traffic/journal.rs",
    ] {
        let text = code(&std::fs::read_to_string(src.join(file)).unwrap());
        assert!(!text.contains("axum"), "{file} uses axum");
    }
}

#[test]
fn only_the_engine_takes_locks() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (module, file) in modules(&src) {
        if module.starts_with("crate::engine") {
            continue;
        }
        let text = code(&std::fs::read_to_string(&file).unwrap());
        for lock in [".lock()", ".read()", ".write()", "Mutex<", "RwLock<"] {
            assert!(!text.contains(lock), "{module} has {lock}");
        }
    }
}

/// The engine's parts, each a module that owns its lock (or needs none) and says so first.
const ENGINE_PARTS: [&str; 6] = [
    "engine/files/mod.rs",
    "engine/objects/mod.rs",
    "engine/access.rs",
    "engine/traffic/mod.rs",
    "engine/settings.rs",
    "engine/persist/mod.rs",
];

/// A file's `//!` lines.
fn module_doc(text: &str) -> String {
    text.lines()
        .take_while(|line| line.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn each_engine_part_says_which_lock_it_owns() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for part in ENGINE_PARTS {
        let doc = module_doc(&std::fs::read_to_string(src.join(part)).unwrap());
        assert!(
            (doc.contains(" owns ") && doc.contains(" lock")) || doc.contains("takes no lock"),
            "{part} does not say which lock it owns: {doc}"
        );
    }
}

/// No part reaches into another's lock: `engine/mod.rs`, which spans the parts, takes none,
/// and a lock is taken only in the part whose field it is (its module and children).
#[test]
fn a_lock_is_taken_only_in_the_part_that_owns_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let root = code(&std::fs::read_to_string(src.join("engine/mod.rs")).unwrap());
    for lock in [".lock()", ".read()", ".write()", "Mutex<", "RwLock<"] {
        assert!(!root.contains(lock), "engine/mod.rs has {lock}");
    }
    // The locked fields of each part, by name: no other engine module names them.
    let owned: [(&str, &[&str]); 3] = [
        ("engine/files", &["shelf"]),
        ("engine/access.rs", &["rate_limiter"]),
        ("engine/traffic", &["journal.lock", "faults.lock"]),
    ];
    for (module, file) in modules(&src) {
        if !module.starts_with("crate::engine") {
            continue;
        }
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = code(&std::fs::read_to_string(&file).unwrap());
        for (owner, fields) in owned {
            if relative.starts_with(owner) {
                continue;
            }
            for field in fields {
                assert!(
                    !text.contains(&format!(".{field}")),
                    "{relative} reaches {owner}'s lock through .{field}"
                );
            }
        }
    }
}

/// Handlers name the part they use: `AppState` hands out parts through axum's `FromRef`, and
/// nothing in `http` derefs to the whole engine.
#[test]
fn http_never_reaches_the_engine_through_deref() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (module, file) in modules(&src) {
        if !module.starts_with("crate::http") {
            continue;
        }
        let text = code(&std::fs::read_to_string(&file).unwrap());
        assert!(!text.contains("Deref"), "{module} implements or uses Deref");
    }
    let http = code(&std::fs::read_to_string(src.join("http/mod.rs")).unwrap());
    assert!(http.contains("impl FromRef<AppState> for Arc<"));
}

/// A reader takes a file in at one sitting: none under `src/` grows past 500 lines.
#[test]
fn every_file_is_under_500_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![src.clone()];
    let mut seen = 0;
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                seen += 1;
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                assert!(lines < 500, "{} has {lines} lines", path.display());
            }
        }
    }
    assert!(seen > 50, "only {seen} files found under {}", src.display());
}

#[test]
fn the_checker_finds_a_circle() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges
        .entry("crate::a".into())
        .or_default()
        .insert("crate::b".into());
    edges
        .entry("crate::b".into())
        .or_default()
        .insert("crate::c".into());
    edges
        .entry("crate::c".into())
        .or_default()
        .insert("crate::a".into());
    edges
        .entry("crate::c".into())
        .or_default()
        .insert("crate::d".into());
    assert_eq!(circles(&edges).len(), 1);
    let parsed = paths(
        "crate::s3::form",
        &code("use super::{policy::Policy, sign};\nlet x = crate::engine::Engine::new(); // crate::http\n\"crate::nope\""),
    );
    assert_eq!(
        parsed,
        [
            "crate::s3::policy::Policy",
            "crate::s3::sign",
            "crate::engine::Engine::new"
        ]
    );
}
