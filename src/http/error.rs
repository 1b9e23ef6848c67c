//! The API's one error type, rendered as RFC 9457 `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::db::DbError;
use crate::domain::Invalid;
use crate::service::ServiceError;
use crate::service::policy::Denied;

/// Where in the request a problem was found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProblemItem {
    /// What is wrong and what would be accepted.
    pub detail: String,
    /// JSON Pointer (RFC 6901) into the request body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// Name of the offending query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// Name of the offending request header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

impl ProblemItem {
    /// A problem with query parameter `name`.
    pub fn parameter(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            pointer: None,
            parameter: Some(name.into()),
            header: None,
        }
    }
    /// A problem at JSON Pointer `pointer` of the body.
    pub fn pointer(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            pointer: Some(pointer.into()),
            parameter: None,
            header: None,
        }
    }
    /// A problem with request header `name`.
    pub fn header(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            pointer: None,
            parameter: None,
            header: Some(name.into()),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Problem type URI (`tag:` URIs for this service's types).
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Short summary of the problem type.
    pub title: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    pub detail: String,
    /// Each individual problem, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemItem>,
}

/// Every error an API handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request: bad syntax, bad parameter, wrong shape (400).
    #[error("bad request: {detail}")]
    BadRequest {
        /// Summary.
        detail: String,
        /// Individual problems.
        errors: Vec<ProblemItem>,
    },
    /// Well-formed but invalid content (422).
    #[error("invalid content")]
    Invalid(Invalid),
    /// No such resource (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// Method not supported on this resource (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No credentials where an account is needed (401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Credentials given but not valid: malformed, unknown or revoked (401).
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// The account may not do this (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A conditional header (`If-Match`) is required and missing (428).
    #[error("precondition required: {0}")]
    PreconditionRequired(String),
    /// `If-Match` does not match the current representation (412).
    #[error("precondition failed: {detail}")]
    PreconditionFailed {
        /// Explanation.
        detail: String,
        /// The current ETag, sent back so the client can re-read.
        current_etag: Option<String>,
    },
    /// The write conflicts with stored data (409).
    #[error("conflict: {detail}")]
    Conflict {
        /// JSON Pointer of the conflicting member.
        pointer: String,
        /// Explanation.
        detail: String,
    },
    /// Body media type not supported (415).
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// Body larger than the limit (413).
    #[error("payload too large")]
    PayloadTooLarge(String),
    /// Requested representation not available (406).
    #[error("not acceptable: {0}")]
    NotAcceptable(String),
    /// The client is over its rate limit (429, with `Retry-After`).
    #[error("too many requests: {detail}")]
    TooManyRequests {
        /// Seconds until a request will be accepted again (at least 1).
        retry_after_s: u64,
        /// The limit and when to retry.
        detail: String,
    },
    /// The service cannot answer now (503).
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Anything else: logged, never shown to the client (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 about one query parameter.
    pub fn param(name: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        ApiError::BadRequest {
            detail: format!("invalid query parameter '{name}': {detail}"),
            errors: vec![ProblemItem::parameter(name, detail)],
        }
    }

    /// A 400 about the body as a whole or one place in it.
    pub fn body(pointer: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        ApiError::BadRequest {
            detail: format!("invalid request body: {detail}"),
            errors: vec![ProblemItem::pointer(pointer, detail)],
        }
    }

    /// An internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::BadRequest { .. } => (
                StatusCode::BAD_REQUEST,
                "tag:telecom-gis,2026:bad-request",
                "Bad request",
            ),
            ApiError::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "tag:telecom-gis,2026:invalid-feature",
                "Invalid feature",
            ),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "about:blank", "Not Found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "about:blank",
                "Method Not Allowed",
            ),
            ApiError::Unauthorized(_) | ApiError::InvalidToken(_) => (
                StatusCode::UNAUTHORIZED,
                "tag:telecom-gis,2026:unauthorized",
                "Unauthorized",
            ),
            ApiError::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "tag:telecom-gis,2026:forbidden",
                "Forbidden",
            ),
            ApiError::PreconditionRequired(_) => (
                StatusCode::PRECONDITION_REQUIRED,
                "tag:telecom-gis,2026:if-match-required",
                "Precondition Required",
            ),
            ApiError::PreconditionFailed { .. } => (
                StatusCode::PRECONDITION_FAILED,
                "tag:telecom-gis,2026:stale-etag",
                "Precondition Failed",
            ),
            ApiError::Conflict { .. } => (
                StatusCode::CONFLICT,
                "tag:telecom-gis,2026:conflict",
                "Conflict with stored data",
            ),
            ApiError::UnsupportedMediaType(_) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "about:blank",
                "Unsupported Media Type",
            ),
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "about:blank",
                "Content Too Large",
            ),
            ApiError::NotAcceptable(_) => {
                (StatusCode::NOT_ACCEPTABLE, "about:blank", "Not Acceptable")
            }
            ApiError::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "tag:telecom-gis,2026:rate-limited",
                "Too Many Requests",
            ),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "about:blank",
                "Service Unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "Internal Server Error",
            ),
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (status, type_, title) = self.parts();
        let (detail, errors) = match self {
            ApiError::BadRequest { detail, errors } => (detail.clone(), errors.clone()),
            ApiError::Invalid(inv) => {
                let n = inv.errors.len();
                let first = inv
                    .errors
                    .first()
                    .map(|e| format!("{} {}", e.pointer, e.detail))
                    .unwrap_or_default();
                (
                    if n == 1 {
                        format!("the feature is invalid: {first}")
                    } else {
                        format!("the feature has {n} invalid fields; first: {first}")
                    },
                    inv.errors
                        .iter()
                        .map(|e| ProblemItem::pointer(&e.pointer, &e.detail))
                        .collect(),
                )
            }
            ApiError::Conflict { pointer, detail } => {
                (detail.clone(), vec![ProblemItem::pointer(pointer, detail)])
            }
            ApiError::PreconditionRequired(d) => {
                (d.clone(), vec![ProblemItem::header("If-Match", d)])
            }
            ApiError::PreconditionFailed { detail, .. } => (
                detail.clone(),
                vec![ProblemItem::header("If-Match", detail)],
            ),
            ApiError::Unauthorized(d) | ApiError::InvalidToken(d) => {
                (d.clone(), vec![ProblemItem::header("Authorization", d)])
            }
            ApiError::NotFound(d)
            | ApiError::Forbidden(d)
            | ApiError::UnsupportedMediaType(d)
            | ApiError::PayloadTooLarge(d)
            | ApiError::NotAcceptable(d)
            | ApiError::Unavailable(d)
            | ApiError::TooManyRequests { detail: d, .. } => (d.clone(), vec![]),
            ApiError::MethodNotAllowed => (
                "this method is not supported on this resource".into(),
                vec![],
            ),
            ApiError::Internal(_) => (
                "the server failed to handle the request; the error is logged".into(),
                vec![],
            ),
        };
        Problem {
            type_,
            title,
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Conflict { pointer, detail } => ApiError::Conflict { pointer, detail },
            DbError::Invalid(inv) => ApiError::Invalid(inv),
            other if other.is_unavailable() => {
                // Debug only: the change listener logs the outage once.
                tracing::debug!(error = %other, "database unavailable");
                ApiError::Unavailable(
                    "the database is not reachable; coverage queries still work; retry shortly"
                        .into(),
                )
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::Invalid(e)
    }
}

/// `Retry-After` of every 503 answer, seconds.
pub const RETRY_AFTER_SECS: &str = "5";

/// Content type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(msg) = &self {
            tracing::error!(error = %msg, "request failed");
        }
        let problem = self.problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            ApiError::Unauthorized(_) => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"telecom-gis\""),
                );
            }
            ApiError::InvalidToken(_) => {
                res.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"telecom-gis\", error=\"invalid_token\"",
                    ),
                );
            }
            ApiError::PreconditionFailed {
                current_etag: Some(etag),
                ..
            } => {
                if let Ok(v) = HeaderValue::from_str(etag) {
                    res.headers_mut().insert(header::ETAG, v);
                }
            }
            _ => {}
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        if let ApiError::TooManyRequests { retry_after_s, .. } = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s.max(1)));
        }
        res
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        match e {
            Denied::SignInRequired(d) => ApiError::Unauthorized(d),
            Denied::Forbidden(d) => ApiError::Forbidden(d),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Denied(d) => d.into(),
            ServiceError::NotFound(d) => ApiError::NotFound(d),
            ServiceError::Malformed { pointer, detail } => ApiError::body(&pointer, detail),
            ServiceError::Invalid(inv) => ApiError::Invalid(inv),
            ServiceError::BadOption { option, detail } => ApiError::param(option, detail),
            ServiceError::Unsupported(detail) => ApiError::BadRequest {
                detail,
                errors: vec![],
            },
            ServiceError::Conflict { pointer, detail } => ApiError::Conflict { pointer, detail },
            ServiceError::PreconditionRequired(d) => ApiError::PreconditionRequired(d),
            ServiceError::PreconditionFailed {
                detail,
                current_etag,
            } => ApiError::PreconditionFailed {
                detail,
                current_etag: Some(current_etag),
            },
            ServiceError::Db(e) => e.into(),
            ServiceError::Cancelled(c) => ApiError::Unavailable(c.to_string()),
            e
            @ (ServiceError::Output { .. } | ServiceError::Task { .. } | ServiceError::Cpu(_)) => {
                ApiError::Internal(error_chain(&e))
            }
        }
    }
}

/// An error and its sources, for the log.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
