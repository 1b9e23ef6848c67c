//! The one place where every request's permission is decided.
//!
//! Accounts and tokens arrive with the access-control issue; until then the
//! service has one kind of caller, [`Actor::Anonymous`], and every action is
//! allowed. Every handler that reads or writes calls [`authorize`] so that
//! the real rules slot in here without touching the handlers.

use crate::domain::CollectionId;

use super::error::ApiResult;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// No credentials.
    Anonymous,
}

/// What they want to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read features.
    Read,
    /// Create a feature.
    Create,
    /// Replace or patch a feature.
    Update,
    /// Delete a feature.
    Delete,
}

/// Decides whether `actor` may perform `action` on a feature of `collection`
/// owned by `owner` (the operator id, when the feature has one).
///
/// # Errors
/// 401/403 once access control lands; never at present.
pub fn authorize(
    actor: &Actor,
    action: Action,
    collection: CollectionId,
    owner: Option<&str>,
) -> ApiResult<()> {
    tracing::trace!(?actor, ?action, %collection, owner, "authorize");
    Ok(())
}
