//! A stream's schema, checked against a file's columns once and against each record's values.

use std::collections::HashMap;

use crate::config::{ColumnType, StreamConfig};

/// The compiled form of a stream's column list.
#[derive(Clone, Debug)]
pub struct Schema {
    columns: HashMap<String, (ColumnType, bool)>,
    allow_extra: bool,
}

/// What a file's column at some position must hold.
#[derive(Clone, Copy, Debug)]
pub(super) struct ColumnRule {
    pub kind: ColumnType,
    pub required: bool,
}

impl Schema {
    /// `None` when the stream accepts anything (no columns and extras allowed).
    pub(crate) fn from_config(stream: &StreamConfig) -> Option<Schema> {
        if stream.columns.is_empty() && stream.allow_extra_columns {
            return None;
        }
        Some(Schema {
            columns: stream
                .columns
                .iter()
                .map(|c| (c.name.clone(), (c.kind, c.required)))
                .collect(),
            allow_extra: stream.allow_extra_columns,
        })
    }

    /// Matches a file's columns against the schema: `None` is `invalid_schema`. Each returned
    /// rule applies to the column at the same position (`None` for an allowed extra column).
    pub(super) fn match_columns<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Option<Vec<Option<ColumnRule>>> {
        let mut rules = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for name in names {
            if !seen.insert(name) {
                return None;
            }
            match self.columns.get(name) {
                Some(&(kind, required)) => rules.push(Some(ColumnRule { kind, required })),
                None if self.allow_extra => rules.push(None),
                None => return None,
            }
        }
        let all_required_present = self
            .columns
            .iter()
            .filter(|(_, (_, required))| *required)
            .all(|(name, _)| seen.contains(name.as_str()));
        all_required_present.then_some(rules)
    }

    /// The rule for one named column, for JSON records whose keys vary record by record.
    pub(super) fn rule(&self, name: &str) -> Result<Option<ColumnRule>, ()> {
        match self.columns.get(name) {
            Some(&(kind, required)) => Ok(Some(ColumnRule { kind, required })),
            None if self.allow_extra => Ok(None),
            None => Err(()),
        }
    }

    /// Names of required columns, for checking JSON records.
    pub(super) fn required(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .filter(|(_, (_, required))| *required)
            .map(|(name, _)| name.as_str())
    }
}

/// Whether a CSV cell (already known to be UTF-8) holds a value of `kind`. An empty cell is a
/// missing value: acceptable only in an optional column.
pub(super) fn csv_value_ok(rule: ColumnRule, cell: &str) -> bool {
    if cell.is_empty() {
        return !rule.required;
    }
    let cell = cell.trim();
    match rule.kind {
        ColumnType::String => true,
        ColumnType::Integer => cell.parse::<i64>().is_ok(),
        ColumnType::Number => cell.parse::<f64>().map(f64::is_finite).unwrap_or(false),
        ColumnType::Boolean => {
            cell.eq_ignore_ascii_case("true") || cell.eq_ignore_ascii_case("false")
        }
    }
}

/// Whether a JSON value is of `kind`. `null` is a missing value.
pub(super) fn json_value_ok(rule: ColumnRule, value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (rule.kind, value) {
        (_, Value::Null) => !rule.required,
        (ColumnType::String, Value::String(_)) => true,
        (ColumnType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (ColumnType::Number, Value::Number(_)) => true,
        (ColumnType::Boolean, Value::Bool(_)) => true,
        _ => false,
    }
}
