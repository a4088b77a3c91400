//! Parsing and checking configurations.

use super::*;

#[test]
fn a_full_file_parses() {
    let config: Config = toml::from_str(
        r#"
        environment = "sandbox"
        bucket = "uploads"
        public_url = "http://localhost:9000"
        timing = "instant"
        rate_limit = 0
        [s3]
        access_key_id = "AKID"
        secret_access_key = "secret"
        [[keys]]
        key = "k1"
        org = "acme"
        permissions = ["imports:read"]
        [[streams]]
        name = "txns"
        org = "acme"
        columns = [{ name = "id", type = "integer", required = true }]
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(config.timing, Timing::Instant);
    assert_eq!(config.keys[0].permissions, vec![Permission::ImportsRead]);
    assert_eq!(config.streams[0].columns[0].kind, ColumnType::Integer);
    assert!(stream_for(&config.streams, "acme", "txns")
        .unwrap()
        .is_some());
    assert!(stream_for(&config.streams, "other", "txns").is_err());
}

#[test]
fn unknown_fields_and_duplicate_keys_are_rejected() {
    assert!(toml::from_str::<Config>("colour = 1").is_err());
    let config: Config =
        toml::from_str("[[keys]]\nkey='a'\norg='x'\n[[keys]]\nkey='a'\norg='y'\n").unwrap();
    assert!(matches!(config.validate(), Err(ConfigError::Invalid(_))));
}

#[test]
fn no_streams_means_every_stream_is_accepted() {
    assert_eq!(
        stream_for(&Config::default().streams, "o", "anything").map(|s| s.is_none()),
        Ok(true)
    );
}
