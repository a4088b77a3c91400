//! The fields of a form POST, as they arrived: plain data, checked by `verify`.

/// Form fields in arrival order. Names are case-insensitive, so they are kept lower-cased;
/// repeated names are joined with commas for matching.
#[derive(Debug, Default, Clone)]
pub struct FormFields {
    fields: Vec<(String, String)>,
}

impl FormFields {
    /// Adds a field, joining it to an earlier one of the same name.
    pub fn push(&mut self, name: &str, value: &str) {
        let name = name.to_ascii_lowercase();
        match self.fields.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(',');
                existing.push_str(value);
            }
            None => self.fields.push((name, value.to_owned())),
        }
    }

    /// Replaces a field's value.
    pub fn set(&mut self, name: &str, value: String) {
        match self.fields.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => *existing = value,
            None => self.fields.push((name.to_owned(), value)),
        }
    }

    /// A field's value by lower-case name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Lower-case field names in arrival order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _)| n.as_str())
    }
}
