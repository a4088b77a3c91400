//! One error type for every operation, with predicates to branch on. Its text never contains
//! the API key: the key travels only in a header, and headers are never printed.

use std::fmt;

/// Anything that can go wrong talking to Unit21 or S3.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    /// Unit21 answered with an error status.
    Api {
        status: u16,
        error_code: Option<String>,
        message: Option<String>,
    },
    /// S3 refused the upload.
    S3 {
        status: u16,
        code: String,
        message: String,
    },
    /// An answer that is not what the API promises.
    Decode { status: u16, detail: String },
    /// The request could not be sent or its answer not received.
    Transport(reqwest::Error),
    /// `wait` gave up before the file reached a final status.
    WaitTimeout {
        file_id: String,
        last_status: String,
    },
    /// Reading the file to upload failed.
    Io(std::io::Error),
    /// The file to upload cannot be read, or is not a file.
    File {
        path: std::path::PathBuf,
        err: std::io::Error,
    },
    /// The client is not configured well enough to send anything.
    Config(String),
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Self {
        Self { kind }
    }

    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::new(Kind::Config(message.into()))
    }

    pub(crate) fn file(path: &std::path::Path, err: std::io::Error) -> Self {
        Self::new(Kind::File {
            path: path.to_owned(),
            err,
        })
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            Kind::Api { status, .. } | Kind::S3 { status, .. } | Kind::Decode { status, .. } => {
                Some(*status)
            }
            Kind::Transport(err) => err.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// Unit21's `error_code` (e.g. `unauthorized`), when Unit21 sent one.
    pub fn error_code(&self) -> Option<&str> {
        match &self.kind {
            Kind::Api { error_code, .. } => error_code.as_deref(),
            _ => None,
        }
    }

    /// Unit21's or S3's message, when there was one.
    pub fn message(&self) -> Option<&str> {
        match &self.kind {
            Kind::Api { message, .. } => message.as_deref(),
            Kind::S3 { message, .. } => Some(message),
            _ => None,
        }
    }

    /// S3's error `<Code>` (e.g. `SignatureDoesNotMatch`) when S3 refused an upload.
    pub fn s3_code(&self) -> Option<&str> {
        match &self.kind {
            Kind::S3 { code, .. } => Some(code),
            _ => None,
        }
    }

    /// 401: the key is missing or unknown.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// 403: the key lacks the permission (or S3 denied the form).
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    /// 404: no such file for this key.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// 409: the file name is already used in the stream.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// 400: the request itself is wrong.
    pub fn is_bad_request(&self) -> bool {
        self.status() == Some(400) && self.s3_code().is_none()
    }

    /// 429, or S3's `SlowDown`: too many requests (after the retries ran out).
    pub fn is_rate_limited(&self) -> bool {
        self.status() == Some(429) || self.s3_code() == Some("SlowDown")
    }

    /// A 5xx answer (after the retries ran out).
    pub fn is_server_error(&self) -> bool {
        self.status().is_some_and(|s| (500..600).contains(&s))
    }

    /// S3 refused the upload; see [`Error::s3_code`].
    pub fn is_s3(&self) -> bool {
        matches!(self.kind, Kind::S3 { .. })
    }

    /// No answer in time: a request timeout, or `wait` giving up.
    pub fn is_timeout(&self) -> bool {
        match &self.kind {
            Kind::Transport(err) => err.is_timeout(),
            Kind::WaitTimeout { .. } => true,
            _ => false,
        }
    }

    /// [`Client::wait`](crate::Client::wait) gave up before the file reached a final status.
    pub fn is_wait_timeout(&self) -> bool {
        matches!(self.kind, Kind::WaitTimeout { .. })
    }

    /// The connection could not be made or broke off.
    pub fn is_connection(&self) -> bool {
        matches!(&self.kind, Kind::Transport(err) if !err.is_timeout())
    }

    /// An answer that does not have the shape the API promises.
    pub fn is_decode(&self) -> bool {
        matches!(self.kind, Kind::Decode { .. })
    }

    /// The local file could not be read.
    pub fn is_io(&self) -> bool {
        matches!(self.kind, Kind::Io(_) | Kind::File { .. })
    }

    /// The client is missing configuration (no base URL, no key).
    pub fn is_config(&self) -> bool {
        matches!(self.kind, Kind::Config(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Api {
                status,
                error_code,
                message,
            } => {
                write!(f, "Unit21 answered {status}")?;
                if let Some(code) = error_code {
                    write!(f, " {code}")?;
                }
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            Kind::S3 {
                status,
                code,
                message,
            } => write!(f, "S3 refused the upload ({status} {code}): {message}"),
            Kind::Decode { status, detail } => {
                write!(f, "unexpected answer (status {status}): {detail}")
            }
            Kind::Transport(err) => {
                // reqwest's text names the URL, never headers, so the key cannot leak here.
                write!(f, "request failed: {err}")?;
                let mut source = std::error::Error::source(err);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Kind::WaitTimeout {
                file_id,
                last_status,
            } => {
                write!(
                    f,
                    "file {file_id} was still {last_status} when the wait timed out"
                )
            }
            Kind::Io(err) => write!(f, "cannot read the file: {err}"),
            Kind::File { path, err } => write!(f, "cannot read {}: {err}", path.display()),
            Kind::Config(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Transport(err) => Some(err),
            Kind::Io(err) | Kind::File { err, .. } => Some(err),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        Self::new(Kind::Transport(err))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Self::new(Kind::Io(err))
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
