//! The one error type of the use-cases: what went wrong, typed, with its
//! source. Adapters map it to their own answers (HTTP problem+json, a CLI
//! message); nothing here knows about status codes.

use crate::db::DbError;
use crate::domain::Invalid;

use super::policy::Denied;

/// Every error a use-case of [`crate::service`] can return.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The permission policy refused the action.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No such feature (or collection member), or not at that time.
    #[error("not found: {0}")]
    NotFound(String),
    /// The content is not of the expected shape (not a GeoJSON Feature, a
    /// merge patch that is not an object): the pointer names where.
    #[error("malformed content at '{pointer}': {detail}")]
    Malformed {
        /// JSON Pointer into the content ("" for the whole).
        pointer: String,
        /// What is wrong.
        detail: String,
    },
    /// The content is well-formed but invalid, with a JSON Pointer per problem.
    #[error("invalid content")]
    Invalid(#[from] Invalid),
    /// A request option is malformed or does not apply (the option's name,
    /// and why).
    #[error("invalid option '{option}': {detail}")]
    BadOption {
        /// The option (query parameter or CLI flag) at fault.
        option: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The request as a whole cannot be carried out as asked (for example an
    /// import of a layer that takes no imports).
    #[error("{0}")]
    Unsupported(String),
    /// The change conflicts with stored data.
    #[error("conflict at '{pointer}': {detail}")]
    Conflict {
        /// JSON Pointer of the conflicting member ("" for the whole feature).
        pointer: String,
        /// Explanation.
        detail: String,
    },
    /// A change needs the version it is based on (an ETag) and none was given.
    #[error("precondition required: {0}")]
    PreconditionRequired(String),
    /// The version the change is based on is not the current one.
    #[error("precondition failed: {detail}")]
    PreconditionFailed {
        /// Explanation.
        detail: String,
        /// The current ETag, so the caller can re-read.
        current_etag: String,
    },
    /// The database failed (unreachable, or an unexpected error).
    #[error(transparent)]
    Db(#[from] DbError),
    /// Rendering or writing an output failed (JSON, CSV, SQLite, I/O).
    #[error("{context}")]
    Output {
        /// What was being produced.
        context: &'static str,
        /// Why it failed.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A job of the CPU pool failed ([`crate::cpu`]).
    #[error(transparent)]
    Cpu(#[from] crate::cpu::CpuError),
    /// A job of the CPU pool stopped because its request ended.
    #[error(transparent)]
    Cancelled(#[from] crate::cpu::Cancelled),
    /// A background task of the use-case failed (panicked or was cancelled).
    #[error("{context}")]
    Task {
        /// What the task was doing.
        context: &'static str,
        /// Why it ended.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl ServiceError {
    /// An [`ServiceError::Output`] error.
    pub fn output(
        context: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        ServiceError::Output {
            context,
            source: source.into(),
        }
    }
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Db(DbError::from(e))
    }
}

/// The result of a use-case.
pub type ServiceResult<T> = Result<T, ServiceError>;
