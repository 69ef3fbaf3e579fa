//! Where the lake lives: a local directory or an object-store URL, and the URL of
//! each table under it. Table names are checked here so that no name can address
//! anything outside the root.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use url::Url;

use crate::error::{LakeError, Result};

/// The directory or bucket prefix that holds Herd's Delta tables.
///
/// Always stored as a URL whose path ends in `/`, so that joining a table name
/// appends to it instead of replacing its last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeRoot {
    url: Url,
}

impl LakeRoot {
    /// Parses a lake root: a local directory (relative or absolute; created when
    /// missing) or a URL (`file:///…`, and `s3://bucket/prefix` when built with the
    /// `s3` feature).
    pub fn parse(root: &str) -> Result<Self> {
        let invalid = |reason: &str| LakeError::InvalidRoot {
            root: root.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = root.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty"));
        }
        // Only `scheme://` counts as a URL, so that relative paths such as `lake:2024`
        // or Windows drive letters stay paths.
        if !trimmed.contains("://") {
            return Self::local(Path::new(trimmed));
        }
        let url = Url::parse(trimmed).map_err(|e| invalid(&e.to_string()))?;
        match url.scheme() {
            "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| invalid("not a local file path"))?;
                Self::local(&path)
            }
            "s3" | "s3a" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(invalid("missing bucket name"));
                }
                register_s3().map_err(invalid)?;
                Ok(Self {
                    url: with_trailing_slash(url),
                })
            }
            other => Err(invalid(&format!(
                "unsupported scheme `{other}` (use a directory, file:// or s3://)"
            ))),
        }
    }

    /// The root as a URL ending in `/`.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the root is a directory on this machine.
    pub fn is_local(&self) -> bool {
        self.url.scheme() == "file"
    }

    /// The URL of table `name` under this root. Names are relative paths of
    /// `[A-Za-z0-9_.-]` segments separated by `/` (e.g. `production/models`); empty,
    /// `.` and `..` segments are rejected.
    pub fn table_url(&self, name: &str) -> Result<Url> {
        check_table_name(name)?;
        self.url
            .join(&format!("{name}/"))
            .map_err(|e| LakeError::InvalidTableName {
                name: name.to_owned(),
                reason: e.to_string(),
            })
    }

    fn local(path: &Path) -> Result<Self> {
        let local_error = |cause| LakeError::LocalDirectory {
            path: path.display().to_string(),
            cause,
        };
        std::fs::create_dir_all(path).map_err(local_error)?;
        // `Url::from_directory_path` needs an absolute path; canonicalizing also
        // resolves symlinks so two spellings of one directory give one URL.
        let canonical = std::fs::canonicalize(path).map_err(local_error)?;
        let url = Url::from_directory_path(&canonical).map_err(|()| LakeError::InvalidRoot {
            root: path.display().to_string(),
            reason: "not representable as a file:// URL".to_owned(),
        })?;
        Ok(Self { url })
    }
}

impl FromStr for LakeRoot {
    type Err = LakeError;

    fn from_str(root: &str) -> Result<Self> {
        Self::parse(root)
    }
}

impl fmt::Display for LakeRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url.as_str())
    }
}

fn with_trailing_slash(mut url: Url) -> Url {
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

fn check_table_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| LakeError::InvalidTableName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    for segment in name.split('/') {
        match segment {
            "" => return Err(invalid("empty path segment")),
            "." | ".." => return Err(invalid("`.` and `..` segments are not allowed")),
            _ => {}
        }
        if let Some(ch) = segment
            .chars()
            .find(|&ch| !(ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-')))
        {
            return Err(invalid(&format!("character {ch:?} is not allowed")));
        }
    }
    Ok(())
}

/// Makes `s3://` URLs resolvable. The `deltalake` crate also registers its S3
/// handlers from a static constructor; registering again here keeps the lake
/// working if that ever changes, and costs one map insert.
#[cfg(feature = "s3")]
fn register_s3() -> std::result::Result<(), &'static str> {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| deltalake::aws::register_handlers(None));
    Ok(())
}

#[cfg(not(feature = "s3"))]
fn register_s3() -> std::result::Result<(), &'static str> {
    Err("this build has no S3 support (build herd with the `s3` feature)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_root_is_created_and_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/lake");
        let root = LakeRoot::parse(path.to_str().unwrap()).unwrap();
        assert!(path.is_dir());
        assert!(root.is_local());
        assert!(root.url().as_str().ends_with("/a/lake/"));
        let canonical = std::fs::canonicalize(&path).unwrap();
        assert_eq!(root.url().to_file_path().unwrap(), canonical);
    }

    #[test]
    fn file_url_root_matches_path_root() {
        let dir = tempfile::tempdir().unwrap();
        let by_path = LakeRoot::parse(dir.path().to_str().unwrap()).unwrap();
        let by_url = LakeRoot::parse(by_path.url().as_str()).unwrap();
        assert_eq!(by_path, by_url);
    }

    #[test]
    fn table_urls_nest_under_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = LakeRoot::parse(dir.path().to_str().unwrap()).unwrap();
        let url = root.table_url("production/models").unwrap();
        assert_eq!(
            url.as_str(),
            format!("{}production/models/", root.url().as_str())
        );
    }

    #[test]
    fn escaping_table_names_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let root = LakeRoot::parse(dir.path().to_str().unwrap()).unwrap();
        for name in [
            "",
            "..",
            "../sales",
            "a/../../b",
            "a//b",
            "/abs",
            "sales/",
            ".",
            "a b",
            "a\\b",
            "x?y",
        ] {
            let err = root.table_url(name).unwrap_err();
            assert!(
                matches!(err, LakeError::InvalidTableName { .. }),
                "{name:?}: {err}"
            );
        }
    }

    #[test]
    fn unsupported_schemes_are_named() {
        let err = LakeRoot::parse("ftp://host/lake").unwrap_err();
        assert!(err.to_string().contains("ftp"), "{err}");
        assert!(LakeRoot::parse("  ").is_err());
    }

    #[cfg(feature = "s3")]
    #[test]
    fn s3_roots_get_a_trailing_slash() {
        let root = LakeRoot::parse("s3://bucket/herd/lake").unwrap();
        assert_eq!(
            root.table_url("sales").unwrap().as_str(),
            "s3://bucket/herd/lake/sales/"
        );
    }

    #[cfg(not(feature = "s3"))]
    #[test]
    fn s3_roots_need_the_feature() {
        let err = LakeRoot::parse("s3://bucket/lake").unwrap_err();
        assert!(err.to_string().contains("s3"), "{err}");
    }
}
