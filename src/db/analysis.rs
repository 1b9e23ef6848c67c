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

/// The duct network's plan indicators (issue 17).
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct DuctIndicators {
    /// Active duct banks, km (geodesic).
    pub bank_km: f64,
    /// Active duct banks.
    pub banks: i64,
    /// Ducts in them.
    pub ducts: i64,
    /// Mean fill of those ducts (0–1).
    pub average_fill: f64,
    /// Highest fill of a duct (0–1).
    pub max_fill: f64,
    /// Banks with a duct over its fill limit.
    pub banks_over_limit: i64,
    /// Banks where a cable of the smallest size that counts still fits.
    pub banks_with_room: i64,
    /// Operational aerial fibre within 50 m of a bank with room, km: what
    /// could move underground without new civil works.
    pub aerial_km_near_room: f64,
}

/// The duct indicators under the fill limits `(one, two, three or more)`,
/// counting as room a conduit that takes a cable of `room_mm`.
///
/// # Errors
/// On database failure.
pub async fn duct_indicators(
    pool: &PgPool,
    limits: (f64, f64, f64),
    room_mm: f64,
) -> DbResult<DuctIndicators> {
    let mut tx = pool.begin().await?;
    // The planner's estimates here are large enough to trigger JIT, which
    // then takes 85 % of the time (990 of 1,170 ms on the sample).
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    let row = sqlx::query_as(concat!(
        include_str!("sql/duct_room.sql"),
        include_str!("sql/duct_indicators.sql")
    ))
    .bind(limits.0)
    .bind(limits.1)
    .bind(limits.2)
    .bind(room_mm)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// One district of the undergrounding programme (issue 17).
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct UndergroundingRow {
    /// District code.
    pub code: String,
    /// District name.
    pub name: String,
    /// Operational aerial fibre inside the district, km: still to move.
    pub aerial_km: f64,
    /// Operational underground fibre inside it, km.
    pub underground_km: f64,
    /// Of which moved from aerial (the history holds the change), km.
    pub moved_km: f64,
    /// Aerial fibre within 50 m of a duct bank with room, km.
    pub aerial_km_near_room: f64,
    /// Active duct banks whose middle lies in the district, km.
    pub bank_km: f64,
}

/// The undergrounding programme per district, under the fill limits
/// `(one, two, three or more)`, counting as room a conduit that takes a
/// cable of `room_mm`.
///
/// # Errors
/// On database failure.
pub async fn undergrounding(
    pool: &PgPool,
    limits: (f64, f64, f64),
    room_mm: f64,
) -> DbResult<Vec<UndergroundingRow>> {
    let mut tx = pool.begin().await?;
    // As for the duct indicators: JIT would cost more than the query.
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    let rows = sqlx::query_as(concat!(
        include_str!("sql/duct_room.sql"),
        include_str!("sql/fibre_moved.sql"),
        include_str!("sql/undergrounding.sql")
    ))
    .bind(limits.0)
    .bind(limits.1)
    .bind(limits.2)
    .bind(room_mm)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}

/// One street segment of the undergrounding programme (a main street's
/// part inside one district; issue 17).
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StreetSegmentRow {
    /// The street's id.
    pub street_id: i64,
    /// Street name.
    pub name: String,
    /// District code.
    pub code: String,
    /// District name.
    pub district: String,
    /// The segment's geodesic length, km.
    pub length_km: f64,
    /// Operational aerial fibre along it (within the corridor), km: still to move.
    pub aerial_km: f64,
    /// Fibre along it moved from aerial to underground (the history holds the change), km.
    pub moved_km: f64,
    /// Active duct banks along it, km.
    pub bank_km: f64,
    /// Of which banks with room, km.
    pub bank_km_with_room: f64,
}

/// The undergrounding programme per street segment: along each main
/// street's part inside each district, within `corridor_m` metres, the
/// aerial fibre to move, the fibre moved, and the duct banks (with room for
/// a cable of `room_mm` under the fill limits `(one, two, three or more)`),
/// the segments with the most aerial fibre first.
///
/// # Errors
/// On database failure.
pub async fn undergrounding_streets(
    pool: &PgPool,
    limits: (f64, f64, f64),
    room_mm: f64,
    corridor_m: f64,
) -> DbResult<Vec<StreetSegmentRow>> {
    let mut tx = pool.begin().await?;
    sqlx::query("set local jit = off").execute(&mut *tx).await?;
    let rows = sqlx::query_as(concat!(
        include_str!("sql/duct_room.sql"),
        include_str!("sql/fibre_moved.sql"),
        include_str!("sql/undergrounding_streets.sql")
    ))
    .bind(limits.0)
    .bind(limits.1)
    .bind(limits.2)
    .bind(room_mm)
    .bind(corridor_m)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows)
}
