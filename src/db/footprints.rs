//! Persisted terrain-aware footprints (`coverage_footprints`): a cache the
//! coverage index loads at start instead of recomputing (see
//! [`crate::coverage::link::RadialFootprint`]).

use sqlx::PgPool;

use super::DbResult;
use crate::coverage::index::{FootprintCache, FootprintRow};

/// The footprints stored under `model_key`, by sector id.
///
/// # Errors
/// When the query fails.
pub async fn load(pool: &PgPool, model_key: &[u8; 32]) -> DbResult<FootprintCache> {
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "select sector_id, input_key, footprint from coverage_footprints where model_key = $1",
    )
    .bind(model_key.as_slice())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, key, fp)| Some((id, (<[u8; 32]>::try_from(key).ok()?, fp))))
        .collect())
}

/// Stores `rows` under `model_key`, replacing what their sectors held;
/// rows of sectors deleted meanwhile are skipped. Written 1,000 at a time.
///
/// # Errors
/// When a statement fails.
pub async fn save(pool: &PgPool, model_key: &[u8; 32], rows: &[FootprintRow]) -> DbResult<u64> {
    let mut written = 0;
    for part in rows.chunks(1000) {
        let ids: Vec<i64> = part.iter().map(|r| r.sector_id).collect();
        let keys: Vec<Vec<u8>> = part.iter().map(|r| r.input_key.to_vec()).collect();
        let fps: Vec<Vec<u8>> = part.iter().map(|r| r.footprint.clone()).collect();
        written += sqlx::query(include_str!("sql/footprints_save.sql"))
            .bind(model_key.as_slice())
            .bind(&ids)
            .bind(&keys)
            .bind(&fps)
            .execute(pool)
            .await?
            .rows_affected();
    }
    Ok(written)
}
