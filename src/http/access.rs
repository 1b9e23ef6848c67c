//! Who is calling: the [`Actor`] extractor (an `Authorization: Bearer`
//! token, or nobody) and the request id. What the caller may do is decided
//! by [`crate::service::policy`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::AppState;
use super::error::ApiError;
pub use crate::domain::account::Actor;

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Actor, ApiError> {
        if let Some(actor) = parts.extensions.get::<Actor>() {
            return Ok(actor.clone());
        }
        let Some(token) = bearer_token(&parts.headers)? else {
            return Ok(Actor::Anonymous);
        };
        let account = crate::db::tokens::authenticate(&st.pool, token)
            .await?
            .ok_or_else(|| {
                ApiError::InvalidToken("the API token is unknown or has been revoked".into())
            })?;
        let actor = Actor::Account(account);
        parts.extensions.insert(actor.clone());
        Ok(actor)
    }
}

/// The bearer token of a request: `None` without an `Authorization`
/// header, else the token of `Bearer <token>` (scheme in any case, the token
/// trimmed of surrounding whitespace). The one parser of the header: the
/// [`Actor`] extractor authenticates this token and the rate limit
/// ([`super::limits::rate_limit`]) is keyed on it, so spelling the same
/// token differently cannot buy a second budget.
///
/// # Errors
/// [`ApiError::InvalidToken`] (401) when the header is not `Bearer <token>`:
/// another scheme, no token, bytes that are not visible ASCII, or the header
/// given more than once.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let malformed =
        || ApiError::InvalidToken("the Authorization header must be 'Bearer <token>', once".into());
    if values.next().is_some() {
        return Err(malformed());
    }
    value
        .to_str()
        .ok()
        .and_then(|v| {
            let (scheme, rest) = v.trim_start().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or_else(malformed)
}

/// The request id (`X-Request-Id`), recorded in the audit history.
pub fn request_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect())
}
