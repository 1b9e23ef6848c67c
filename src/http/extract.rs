//! Extractors and body parsing that turn every malformed request into a
//! problem+json error instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::AppState;
use super::error::{ApiError, ApiResult, ProblemItem};
use crate::domain::Invalid;
use crate::domain::geometry::is_accepted_crs;
use crate::format::json::{self, Exceeded, JsonError, JsonLimits};

/// The absolute base URL of the service for links, without a trailing
/// slash: the configured public URL, else `http(s)://<Host>` of the request
/// (GDAL's OAPIF driver needs absolute links).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl<S> FromRequestParts<S> for BaseUrl
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let st = AppState::from_ref(state);
        if let Some(url) = st.public_url {
            return Ok(BaseUrl(url.trim_end_matches('/').to_owned()));
        }
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
            })
            .or_else(|| {
                parts
                    .uri
                    .authority()
                    .map(axum::http::uri::Authority::as_str)
            })
            .unwrap_or("localhost");
        let proto = match parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|h| h.to_str().ok())
        {
            Some("https") => "https",
            _ => "http",
        };
        Ok(BaseUrl(format!("{proto}://{host}")))
    }
}

/// Path parameters, with rejections as problem+json (404).
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(PathParams(v)),
            Err(e) => Err(ApiError::NotFound(format!(
                "invalid path: {}",
                e.body_text()
            ))),
        }
    }
}

/// Turns a body-reading failure into a problem (413 when over the limit).
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(format!(
                "the request body exceeds {} bytes",
                super::MAX_BODY_BYTES
            ))
        } else {
            ApiError::BadRequest {
                detail: format!("could not read the request body: {}", e.body_text()),
                errors: vec![],
            }
        }
    })
}

/// Checks `Content-Type` (one of `accepted`, or absent) and `Content-Crs`
/// (CRS84/EPSG:4326 only), then parses the body as JSON within the default
/// [`JsonLimits`] (nesting depth and number of values, counted while
/// reading: an oversized body is never built in full).
///
/// # Errors
/// 415 for another media type, 400 for a foreign CRS, an empty body or a
/// JSON syntax error (with line and column), 413 for more JSON values than
/// the limit, 422 for nesting deeper than the limit.
pub fn json_body(headers: &HeaderMap, body: &Bytes, accepted: &[&str]) -> ApiResult<Value> {
    json_body_bytes_check(headers, body, accepted)?;
    json::from_slice(body, JsonLimits::default()).map_err(|e| match e {
        JsonError::Limit(over @ Exceeded::Values { .. }) => {
            ApiError::PayloadTooLarge(format!("the request body holds {over}"))
        }
        JsonError::Limit(over @ Exceeded::Depth { .. }) => {
            ApiError::Invalid(Invalid::one("", format!("the request body is {over}")))
        }
        JsonError::Syntax(e) => ApiError::body(
            "",
            format!(
                "not valid JSON at line {}, column {}: {e}",
                e.line(),
                e.column()
            ),
        ),
    })
}

/// The header and emptiness checks of [`json_body`], without parsing.
///
/// # Errors
/// As [`json_body`].
pub fn json_body_bytes_check(
    headers: &HeaderMap,
    body: &Bytes,
    accepted: &[&str],
) -> ApiResult<()> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct
            .to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !accepted.contains(&ct.as_str()) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "Content-Type '{ct}' is not accepted here; send one of: {}",
                accepted.join(", ")
            )));
        }
    }
    if let Some(crs) = headers.get("content-crs") {
        let crs = crs.to_str().unwrap_or("");
        if !is_accepted_crs(crs) {
            return Err(ApiError::BadRequest {
                detail: format!(
                    "Content-Crs '{crs}' is not supported: send lon/lat in CRS84 (EPSG:4326)"
                ),
                errors: vec![ProblemItem::header(
                    "Content-Crs",
                    "only CRS84 / EPSG:4326 is accepted",
                )],
            });
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::body(
            "",
            "the request body is empty; send a GeoJSON document",
        ));
    }
    Ok(())
}
