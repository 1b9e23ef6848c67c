//! API tokens: created, listed, revoked, and looked up by hash.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{DbError, DbResult};
use crate::domain::Invalid;
use crate::domain::account::{Account, NewSecret, Role, hash_token};

/// A stored token, without its secret.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    /// Id (for `token revoke`).
    pub id: i64,
    /// Name given at creation.
    pub name: String,
    /// `admin`, `carrier` or `analyst`.
    pub role: String,
    /// A carrier's operator.
    pub operator_id: Option<String>,
    /// First characters of the token, to tell tokens apart.
    pub token_prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a token; returns its record and the secret (shown once, never
/// stored).
///
/// # Errors
/// [`DbError::Invalid`] for a carrier without an operator (or another role
/// with one), a blank name or an unknown operator; or on database failure.
pub async fn create(
    pool: &PgPool,
    name: &str,
    role: Role,
    operator: Option<&str>,
) -> DbResult<(TokenInfo, String)> {
    if (role == Role::Carrier) != operator.is_some() {
        return Err(DbError::Invalid(Invalid::one(
            "/operator",
            "a carrier token needs --operator; admin and analyst tokens take none",
        )));
    }
    if name.trim().is_empty() || name.len() > 200 {
        return Err(DbError::Invalid(Invalid::one(
            "/name",
            "a token needs a name of 1 to 200 characters",
        )));
    }
    let secret = NewSecret::generate();
    let info: TokenInfo = sqlx::query_as(
        "insert into api_tokens (name, role, operator_id, token_hash, token_prefix)
         values ($1, $2, $3, $4, $5)
         returning id, name, role, operator_id, token_prefix, created_at, revoked_at",
    )
    .bind(name.trim())
    .bind(role.as_str())
    .bind(operator)
    .bind(&secret.hash[..])
    .bind(secret.display_prefix())
    .fetch_one(pool)
    .await
    .map_err(super::map_constraint)?;
    Ok((info, secret.token))
}

/// Every token, newest last.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool) -> DbResult<Vec<TokenInfo>> {
    Ok(sqlx::query_as(
        "select id, name, role, operator_id, token_prefix, created_at, revoked_at
         from api_tokens order by id",
    )
    .fetch_all(pool)
    .await?)
}

/// Revokes the token with this id, or the only unrevoked one with this name
/// or prefix. Returns the revoked token, or `None` when nothing matches.
///
/// # Errors
/// [`DbError::Invalid`] when several unrevoked tokens match; on database
/// failure.
pub async fn revoke(pool: &PgPool, which: &str) -> DbResult<Option<TokenInfo>> {
    let id: Option<i64> = which.parse().ok();
    let mut tx = pool.begin().await?;
    let matches: Vec<i64> = sqlx::query_scalar(
        "select id from api_tokens
         where revoked_at is null and (id = $1 or name = $2 or token_prefix = $2)",
    )
    .bind(id)
    .bind(which)
    .fetch_all(&mut *tx)
    .await?;
    if matches.len() > 1 {
        return Err(DbError::Invalid(Invalid::one(
            "/token",
            format!(
                "{} tokens match '{which}'; revoke one by id ({})",
                matches.len(),
                matches
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )));
    }
    let info: Option<TokenInfo> = sqlx::query_as(
        "update api_tokens set revoked_at = now() where id = any($1)
         returning id, name, role, operator_id, token_prefix, created_at, revoked_at",
    )
    .bind(&matches)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// The account of a presented token, when it exists and is not revoked.
///
/// # Errors
/// On database failure.
pub async fn authenticate(pool: &PgPool, token: &str) -> DbResult<Option<Account>> {
    let hash = hash_token(token);
    let row: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
        "select id, name, role, operator_id from api_tokens
         where token_hash = $1 and revoked_at is null",
    )
    .bind(&hash[..])
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(id, name, role, operator)| {
        Some(Account {
            token_id: Some(id),
            name,
            role: Role::parse(&role)?,
            operator,
        })
    }))
}
