//! What the `u21-mock` binary says when it is ready, read by one function wherever a program
//! starts it (tests, examples, benchmarks): the human banner's first line,
//! `u21-mock listening on <base URL>`, is stable for scripts. Programs that can parse JSON read
//! the `--ready-json` line instead (its fields are in the README).

/// How the banner's first line starts; the base URL follows.
pub const BANNER_PREFIX: &str = "u21-mock listening on ";

/// The base URL the banner's first line names, or `None` when `line` is not that line.
pub fn base_url_from_banner(line: &str) -> Option<&str> {
    line.trim().strip_prefix(BANNER_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_names_the_base_url_and_nothing_else_does() {
        assert_eq!(
            base_url_from_banner("u21-mock listening on http://127.0.0.1:8021\n"),
            Some("http://127.0.0.1:8021")
        );
        assert_eq!(base_url_from_banner("  public URL:  http://x"), None);
    }
}
