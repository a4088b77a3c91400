//! Streams and their schemas, and which one applies to an upload.

use serde::{Deserialize, Serialize};

/// A named landing channel and the schema its records must follow.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The `stream_name` clients send.
    pub name: String,
    /// Limits the stream to one organisation; `None` configures it for all.
    #[serde(default)]
    pub org: Option<String>,
    /// Columns (CSV headers, JSON keys). Empty means any columns.
    #[serde(default)]
    pub columns: Vec<ColumnConfig>,
    /// Whether columns outside `columns` are allowed.
    #[serde(default)]
    pub allow_extra_columns: bool,
}

impl StreamConfig {
    /// A stream with no schema: any columns are accepted.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            org: None,
            columns: Vec::new(),
            allow_extra_columns: true,
        }
    }

    /// Adds a column.
    pub fn column(mut self, name: impl Into<String>, kind: ColumnType, required: bool) -> Self {
        self.columns.push(ColumnConfig {
            name: name.into(),
            kind,
            required,
        });
        self.allow_extra_columns = false;
        self
    }
}

/// One column of a stream's schema.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// Header or key name, matched exactly.
    pub name: String,
    /// The type every value must have.
    #[serde(rename = "type", default)]
    pub kind: ColumnType,
    /// Whether the column must be present.
    #[serde(default)]
    pub required: bool,
}

/// The simple value types a schema can ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Anything.
    #[default]
    String,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Boolean,
}

/// The stream configuration that applies to `stream` for `org`, if streams are configured.
///
/// `Ok(None)` means no streams are configured at all (everything is accepted);
/// `Err(())` means streams are configured but not this one.
pub(crate) fn stream_for<'a>(
    streams: &'a [StreamConfig],
    org: &str,
    stream: &str,
) -> Result<Option<&'a StreamConfig>, ()> {
    if streams.is_empty() {
        return Ok(None);
    }
    let mut general = None;
    for candidate in streams.iter().filter(|s| s.name == stream) {
        match candidate.org.as_deref() {
            Some(o) if o == org => return Ok(Some(candidate)),
            None => general = Some(candidate),
            Some(_) => {}
        }
    }
    general.map(Some).ok_or(())
}
