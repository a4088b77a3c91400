//! Unit21's documented hosts, by name.

use std::str::FromStr;

/// One of Unit21's documented environments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    /// `https://sandbox1-api.unit21.com`
    Sandbox1,
    /// `https://sandbox2-api.unit21.com`
    Sandbox2,
    /// `https://api.sandbox1.eu-central-1.unit21.com`
    SandboxEu,
    /// `https://api.unit21.com`
    Production,
    /// `https://api.prod2.unit21.com`
    Production2,
    /// `https://api.prod1.eu-central-1.unit21.com`
    ProductionEu,
}

impl Environment {
    /// Every environment, with the name [`FromStr`] takes.
    pub const ALL: [(&'static str, Environment); 6] = [
        ("sandbox1", Environment::Sandbox1),
        ("sandbox2", Environment::Sandbox2),
        ("sandbox-eu", Environment::SandboxEu),
        ("production", Environment::Production),
        ("production2", Environment::Production2),
        ("production-eu", Environment::ProductionEu),
    ];

    /// The base URL (all paths are under `/v1`).
    pub fn base_url(self) -> &'static str {
        match self {
            Environment::Sandbox1 => "https://sandbox1-api.unit21.com",
            Environment::Sandbox2 => "https://sandbox2-api.unit21.com",
            Environment::SandboxEu => "https://api.sandbox1.eu-central-1.unit21.com",
            Environment::Production => "https://api.unit21.com",
            Environment::Production2 => "https://api.prod2.unit21.com",
            Environment::ProductionEu => "https://api.prod1.eu-central-1.unit21.com",
        }
    }
}

impl FromStr for Environment {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Environment::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, e)| *e)
            .ok_or_else(|| {
                let names: Vec<&str> = Environment::ALL.iter().map(|(n, _)| *n).collect();
                format!(
                    "unknown environment '{name}' (expected {} or a URL)",
                    names.join(", ")
                )
            })
    }
}

/// A base URL from an environment name or a URL.
///
/// # Errors
/// When `text` is neither a known name nor an `http(s)://` URL.
pub fn resolve_base_url(text: &str) -> Result<String, String> {
    if text.starts_with("http://") || text.starts_with("https://") {
        return Ok(text.trim_end_matches('/').to_owned());
    }
    text.parse::<Environment>().map(|e| e.base_url().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls_resolve() {
        assert_eq!(
            resolve_base_url("sandbox1").unwrap(),
            "https://sandbox1-api.unit21.com"
        );
        assert_eq!(
            resolve_base_url("Production-EU").unwrap(),
            "https://api.prod1.eu-central-1.unit21.com"
        );
        assert_eq!(
            resolve_base_url("http://localhost:8021/").unwrap(),
            "http://localhost:8021"
        );
        assert!(resolve_base_url("staging")
            .unwrap_err()
            .contains("sandbox1, sandbox2"));
    }
}
