//! What the kit's tests share.

/// Why the Node adapter cannot run here, if it cannot: it needs Node.js 18 or later, which
/// `.ci/run` installs. Under CI (`CI` set) a missing Node is a failure, not a reason.
pub fn node_missing() -> Option<String> {
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let major = version.as_deref().and_then(|v| {
        v.trim_start_matches('v')
            .split('.')
            .next()?
            .parse::<u32>()
            .ok()
    });
    let why = major
        .is_none_or(|m| m < 18)
        .then(|| format!("needs Node.js 18 or later, found {version:?}"))?;
    assert!(std::env::var_os("CI").is_none(), "{why}");
    Some(why)
}
