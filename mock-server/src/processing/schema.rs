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
    if rule.kind == ColumnType::String {
        return true;
    }
    let cell = cell.trim();
    match rule.kind {
        ColumnType::String => true,
        ColumnType::Integer => cell.parse::<i64>().is_ok(),
        ColumnType::Number => {
            is_plain_decimal(cell) || cell.parse::<f64>().is_ok_and(f64::is_finite)
        }
        ColumnType::Boolean => {
            cell.eq_ignore_ascii_case("true") || cell.eq_ignore_ascii_case("false")
        }
    }
}

/// `-12.50` and the like: digits with at most one point, an optional sign, no exponent. Every
/// such number of fewer than 300 digits is finite, so the typed parse (the slow part of
/// checking a number column) can be skipped; anything else still goes through it.
fn is_plain_decimal(cell: &str) -> bool {
    let digits = cell.strip_prefix(['-', '+']).unwrap_or(cell).as_bytes();
    let mut points = 0;
    let mut count = 0;
    for &byte in digits {
        match byte {
            b'0'..=b'9' => count += 1,
            b'.' => points += 1,
            _ => return false,
        }
    }
    points <= 1 && (1..300).contains(&count)
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
