//! The one error type of `u21_mock`: what [`MockServer`](crate::MockServer) and its builder
//! return, and what the engine's operations refuse with. Each HTTP route turns it into its own
//! format (Unit21's JSON error, S3's XML).

/// What went wrong inside the fake behind a 500, carried on the response (as an extension)
/// to the one place that logs it: the journal-and-faults service, once per request, with the
/// method and path. The client sees only the route's generic 500.
#[derive(Clone, Debug)]
pub(crate) struct InternalCause(pub String);

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
