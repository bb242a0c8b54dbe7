//! What a bad scenario file gets: file, line, column, field and a reason.

use std::fmt;

/// What kind of mistake a scenario file has (for tools and tests; people
/// read the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// Not valid TOML.
    Syntax,
    /// A key the format does not have (often a typo).
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type (a number where a string belongs, ...).
    WrongType,
    /// A duration that does not parse.
    BadDuration,
    /// A target name that is not one of leader, follower, ...
    UnknownTarget,
    /// A node id outside the ensemble, or a client index outside the workload.
    NoSuchNode,
    /// The same node (or role) named twice where that makes no sense, or a
    /// key or table defined twice.
    Duplicate,
    /// A fault with no action or more than one.
    FaultAction,
    /// A number or duration outside its allowed range, or a time past the end.
    OutOfRange,
    /// Anything else that cannot work (e.g. `rest` outside a partition).
    Invalid,
}

/// A bad scenario file. Displays as `file:line:column: field: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based; 0 when there is no position (the file could not be read).
    pub line: usize,
    /// 1-based, in characters; 0 when there is no position.
    pub column: usize,
    /// Dotted path of the offending key, e.g. `fault[2].crash`; may be empty.
    pub field: String,
    pub kind: ErrorKind,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}
