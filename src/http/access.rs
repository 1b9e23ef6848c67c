//! Who is calling: the [`Actor`] extractor (an `Authorization: Bearer`
//! token, or nobody) and the request id. What the caller may do is decided
//! by [`crate::service::policy`].

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
pub use crate::domain::account::Actor;

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Actor, ApiError> {
        if let Some(actor) = parts.extensions.get::<Actor>() {
            return Ok(actor.clone());
        }
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Actor::Anonymous);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::InvalidToken("the Authorization header must be 'Bearer <token>'".into())
            })?;
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

/// The request id (`X-Request-Id`), recorded in the audit history.
pub fn request_id(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect())
}
