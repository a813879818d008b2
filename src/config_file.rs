//! meshroll's own TOML config files (`keys.toml`, the actions files): one error type and
//! one way to read and parse them, so both say what went wrong in the same words, naming
//! the file and the line.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read {what} {}: {source}", .path.display())]
    Io {
        /// What the file is, in words: "key bindings", "actions".
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}:{line}: {message}")]
    Bad {
        origin: String,
        line: usize,
        message: String,
    },
}

/// The text of `path` (a regular file of `kind`, through its cap); `None` when it does
/// not exist.
pub fn read(
    path: &Path,
    kind: crate::bounded_file::Kind,
    what: &'static str,
) -> Result<Option<String>, ConfigFileError> {
    match crate::bounded_file::read_to_string(path, kind) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigFileError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// One file's text, for errors that point into it.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub text: &'a str,
    pub origin: &'a str,
}

impl Source<'_> {
    /// The line (1-based) where `span` starts.
    pub fn line_of(&self, span: Range<usize>) -> usize {
        self.text
            .get(..span.start.min(self.text.len()))
            .map_or(1, |b| b.matches('\n').count() + 1)
    }

    /// `message` at the line where `span` starts.
    pub fn bad(&self, span: Range<usize>, message: String) -> ConfigFileError {
        ConfigFileError::Bad {
            origin: self.origin.to_string(),
            line: self.line_of(span),
            message,
        }
    }

    /// The text parsed as `T`; TOML's error at its line, "unknown key" for serde's
    /// "unknown field".
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigFileError> {
        toml::from_str(self.text).map_err(|e| {
            self.bad(
                e.span().unwrap_or(0..0),
                e.message()
                    .trim_end()
                    .replacen("unknown field", "unknown key", 1),
            )
        })
    }
}
