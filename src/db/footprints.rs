//! Persisted terrain-aware footprints (`coverage_footprints`): a cache the
//! coverage index loads at start instead of recomputing (see
//! [`crate::coverage::link::RadialFootprint`]).

use sqlx::PgPool;

use super::DbResult;
use crate::coverage::index::{FootprintCache, FootprintRow};

/// A stored footprint with the model key it was computed under.
#[derive(Debug, Clone)]
pub struct StoredFootprint {
    /// SHA-256 of the model and terrain ([`crate::coverage::link::Terrain`]).
    pub model_key: Vec<u8>,
    /// Sector id.
    pub sector_id: i64,
    /// SHA-256 of the transmitter and beam.
    pub input_key: [u8; 32],
    /// The encoded footprint.
    pub footprint: Vec<u8>,
}

/// Every stored footprint (one per sector), whatever its model key: read
/// while the terrain loads, before its key is known; [`for_model`] keeps
/// those of the model in use.
///
/// # Errors
/// When the query fails.
pub async fn load_all(pool: &PgPool) -> DbResult<Vec<StoredFootprint>> {
    type Row = (Vec<u8>, i64, Vec<u8>, Vec<u8>);
    let rows: Vec<Row> = sqlx::query_as(
        "select model_key, sector_id, input_key, footprint from coverage_footprints",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(model_key, sector_id, key, footprint)| {
            Some(StoredFootprint {
                model_key,
                sector_id,
                input_key: <[u8; 32]>::try_from(key).ok()?,
                footprint,
            })
        })
        .collect())
}

/// The footprints of `rows` stored under `model_key`, by sector id.
pub fn for_model(rows: Vec<StoredFootprint>, model_key: &[u8; 32]) -> FootprintCache {
    rows.into_iter()
        .filter(|r| r.model_key == model_key.as_slice())
        .map(|r| (r.sector_id, (r.input_key, r.footprint)))
        .collect()
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
