//! Tower statistics per district for the underserved analysis.

use sqlx::PgPool;

use super::DbResult;

/// Tower counts of one district (operational towers only).
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct TowerStats {
    /// District code.
    pub code: String,
    /// District name.
    pub name: String,
    /// Resident population.
    pub population: i64,
    /// Geodesic area, km².
    pub area_km2: f64,
    /// Operational towers inside the district.
    pub towers: i64,
    /// Of which shared with at least one tenant.
    pub shared_towers: i64,
    /// Of which compact or camouflaged ("type 2").
    pub compact_towers: i64,
    /// Of which bulky masts ("type 1").
    pub type1_towers: i64,
    /// Operational underground fibre inside the district, km (geodesic).
    pub underground_km: f64,
    /// Operational aerial fibre inside the district, km.
    pub aerial_km: f64,
    /// Operational submarine fibre inside the district, km.
    pub submarine_km: f64,
}

/// Tower statistics of every district, ordered by code.
///
/// # Errors
/// On database failure.
pub async fn tower_stats(pool: &PgPool) -> DbResult<Vec<TowerStats>> {
    Ok(sqlx::query_as(include_str!("sql/district_tower_stats.sql"))
        .fetch_all(pool)
        .await?)
}

/// City-wide plan indicators.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct CityTotals {
    /// Operational towers.
    pub towers: i64,
    /// Operational towers shared with at least one tenant (shared sites).
    pub shared_sites: i64,
    /// Operational bulky (type 1) masts.
    pub type1_masts: i64,
    /// Operational compact or camouflaged (type 2) masts.
    pub type2_masts: i64,
    /// Operational underground fibre, km.
    pub fibre_underground_km: f64,
    /// Operational aerial fibre, km.
    pub fibre_aerial_km: f64,
    /// Operational submarine fibre, km.
    pub fibre_submarine_km: f64,
    /// Operational data centres.
    pub data_centres: i64,
}

/// City totals over all stored assets.
///
/// # Errors
/// On database failure.
pub async fn city_totals(pool: &PgPool) -> DbResult<CityTotals> {
    Ok(sqlx::query_as(include_str!("sql/city_totals.sql"))
        .fetch_one(pool)
        .await?)
}
