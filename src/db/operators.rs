//! Operators (carriers).

use sqlx::{PgExecutor, PgPool};

use super::DbResult;
use crate::domain::operator::Operator;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    mcc: Option<i16>,
    mnc: Option<i16>,
}

/// Every operator, ordered by id.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool) -> DbResult<Vec<Operator>> {
    let rows: Vec<Row> = sqlx::query_as("select id, name, mcc, mnc from operators order by id")
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| Operator {
            id: r.id,
            name: r.name,
            mcc: r.mcc,
            mnc: r.mnc,
        })
        .collect())
}

/// Inserts or updates an operator by id (an identical row is left untouched).
///
/// # Errors
/// On database failure or a value that breaks a constraint.
pub async fn upsert(db: impl PgExecutor<'_>, op: &Operator) -> DbResult<()> {
    sqlx::query(
        "insert into operators (id, name, mcc, mnc) values ($1, $2, $3, $4)
         on conflict (id) do update set name = excluded.name, mcc = excluded.mcc, mnc = excluded.mnc
         where (operators.name, operators.mcc, operators.mnc) is distinct from (excluded.name, excluded.mcc, excluded.mnc)",
    )
    .bind(&op.id)
    .bind(&op.name)
    .bind(op.mcc)
    .bind(op.mnc)
    .execute(db)
    .await?;
    Ok(())
}

/// The ids among `ids` that are not registered operators.
///
/// # Errors
/// On database failure.
pub async fn missing(db: impl PgExecutor<'_>, ids: &[String]) -> DbResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "select i from unnest($1::text[]) as i where not exists (select 1 from operators o where o.id = i)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?)
}
