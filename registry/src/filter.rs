//! Finding registered models again: by tags (`store_id=S0001`), status and key.

use crate::error::{RegistryError, Result};
use crate::table::{ModelRow, ModelStatus};

/// Which rows of the registry a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ModelFilter {
    /// Every `name=value` must be among a row's tags.
    pub tags: Vec<(String, String)>,
    pub status: Option<ModelStatus>,
    /// Show every version, not only each key's latest.
    pub all_versions: bool,
}

impl ModelFilter {
    /// Parses a `name=value` tag filter.
    pub fn parse_tag(text: &str) -> Result<(String, String)> {
        match text.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.trim().to_owned()))
            }
            _ => Err(RegistryError::BadTag(text.to_owned())),
        }
    }

    fn matches(&self, row: &ModelRow) -> bool {
        self.status.is_none_or(|status| row.status == status)
            && self
                .tags
                .iter()
                .all(|(name, value)| row.tags.get(name) == Some(value))
    }

    /// The rows this filter keeps, ordered by key and version. Without
    /// `all_versions`, each key's latest version is judged alone, so a key whose
    /// latest training failed does not show an older candidate as current.
    pub fn apply(&self, mut rows: Vec<ModelRow>) -> Vec<ModelRow> {
        rows.sort_by(|a, b| a.key.cmp(&b.key).then(a.version.cmp(&b.version)));
        if !self.all_versions {
            let mut latest: Vec<ModelRow> = Vec::with_capacity(rows.len());
            for row in rows {
                match latest.last_mut() {
                    Some(last) if last.key == row.key => *last = row,
                    _ => latest.push(row),
                }
            }
            rows = latest;
        }
        rows.retain(|row| self.matches(row));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_filters_need_a_name_and_an_equals_sign() {
        assert_eq!(
            ModelFilter::parse_tag("store_id=S1").unwrap(),
            ("store_id".to_owned(), "S1".to_owned())
        );
        assert_eq!(ModelFilter::parse_tag("team=").unwrap().1, "");
        assert!(ModelFilter::parse_tag("store_id").is_err());
        assert!(ModelFilter::parse_tag("=S1").is_err());
    }
}
