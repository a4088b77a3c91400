//! What the kit's tests share.

/// Fails the test, saying why, where Node.js 18 or later is missing: a test that was asked to
/// run the Node adapter must not pass having checked nothing.
pub fn require_node() {
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
    assert!(
        major.is_some_and(|m| m >= 18),
        "needs Node.js 18 or later, found {version:?}"
    );
}
