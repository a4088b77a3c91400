//! The one error type of `u21_mock`: what [`MockServer`](crate::MockServer) and its builder
//! return, and what the engine's operations refuse with. Each HTTP route turns it into its own
//! format (Unit21's JSON error, S3's XML).

use std::sync::Arc;

/// What went wrong inside the fake behind a 500, carried on the response (as an extension)
/// to the one place that logs it: the journal-and-faults service, once per request, with the
/// method and path. The client sees only the route's generic 500. It keeps the error itself,
/// typed, with its chain of causes; it is shown as each cause after the other.
#[derive(Clone, Debug)]
pub(crate) struct InternalCause(Arc<dyn std::error::Error + Send + Sync>);

impl InternalCause {
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        InternalCause(Arc::new(error))
    }

    /// The error itself.
    #[cfg(test)]
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

/// Two causes are the same when they read the same (errors do not compare otherwise); what
/// S3's and Unit21's error values need to be compared in tests.
impl PartialEq for InternalCause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for InternalCause {}

impl std::fmt::Display for InternalCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// An engine error met while doing something an HTTP route names (`storing a dashboard
/// upload`), for the log.
#[derive(Debug, thiserror::Error)]
#[error("{doing}")]
pub(crate) struct While {
    pub doing: &'static str,
    #[source]
    pub error: Error,
}

/// Why the fake could not start, or refused an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is contradictory, or a stream configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// There is no file with this id.
    #[error("no such file: {0}")]
    NoSuchFile(u64),
    /// There is no fault with this id.
    #[error("no fault {0}")]
    NoSuchFault(u64),
    /// The file is not in a state that allows the operation; the message says why.
    #[error("{0}")]
    WrongStatus(String),
    /// The file name is already used in its stream and no new `md5_hash` was given.
    #[error("a file named '{file_name}' already exists in stream '{stream_name}'")]
    DuplicateName {
        /// The stream.
        stream_name: String,
        /// The name.
        file_name: String,
    },
    /// The request itself is invalid (a clock instant out of range, a fault out of bounds, a
    /// snapshot that does not parse); the message says what to change.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing the data directory failed; nothing was changed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

impl Error {
    /// The message with its cause, for a log line.
    pub(crate) fn detail(&self) -> String {
        match self {
            Error::Io { context, source } => format!("{context}: {source}"),
            other => other.to_string(),
        }
    }

    /// An [`Error::Io`] maker for `map_err`.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
