//! Soft deletion: a deleted asset's rows move, unchanged, to the `deleted_*`
//! tables (migration 0004), so it leaves every layer, index, analysis and
//! tile; a restore moves them back with the same ids and timestamps.

use sqlx::PgConnection;

use super::{DbResult, map_constraint};
use crate::domain::CollectionId;

/// A feature key: a numeric id, or a district code.
#[derive(Debug, Clone, Copy)]
pub enum FeatureKey<'a> {
    /// Towers, fibre routes, data centres.
    Id(i64),
    /// Districts.
    Code(&'a str),
}

/// Statements that move a feature out of (delete) or back into (restore)
/// its live tables, in order. `$1` is the key. For a delete, the last
/// statement moves the main row; for a restore, the first one does: its row
/// count tells whether the feature was there.
fn statements(c: CollectionId, delete: bool) -> &'static [&'static str] {
    match (c, delete) {
        (CollectionId::Towers, true) => &[
            "insert into deleted_sectors select * from sectors where tower_id = $1",
            "insert into deleted_tower_tenants select * from tower_tenants where tower_id = $1",
            "with t as (delete from towers where id = $1 returning *)
             insert into deleted_towers select * from t",
        ],
        (CollectionId::Towers, false) => &[
            "insert into towers (id, operator_id, site_code, name, structure_type, height_m, status,
                                 external_id, synthetic, geom, created_at, updated_at)
             select id, operator_id, site_code, name, structure_type, height_m, status,
                    external_id, synthetic, geom, created_at, updated_at
             from deleted_towers where id = $1",
            "insert into sectors (id, tower_id, operator_id, technology, frequency_mhz, azimuth_deg,
                                  beamwidth_deg, tilt_deg, height_m, eirp_dbm, range_m,
                                  created_at, updated_at)
             select id, tower_id, operator_id, technology, frequency_mhz, azimuth_deg,
                    beamwidth_deg, tilt_deg, height_m, eirp_dbm, range_m, created_at, updated_at
             from deleted_sectors where tower_id = $1",
            "insert into tower_tenants (tower_id, operator_id)
             select tower_id, operator_id from deleted_tower_tenants where tower_id = $1",
            "delete from deleted_sectors where tower_id = $1",
            "delete from deleted_tower_tenants where tower_id = $1",
            "delete from deleted_towers where id = $1",
        ],
        (CollectionId::FibreRoutes, true) => &[
            "with t as (delete from fibre_routes where id = $1 returning *)
             insert into deleted_fibre_routes select * from t",
        ],
        (CollectionId::FibreRoutes, false) => &[
            "insert into fibre_routes (id, operator_id, name, placement, fibre_count, capacity_gbps,
                                       status, external_id, synthetic, geom, created_at, updated_at)
             select id, operator_id, name, placement, fibre_count, capacity_gbps, status,
                    external_id, synthetic, geom, created_at, updated_at
             from deleted_fibre_routes where id = $1",
            "delete from deleted_fibre_routes where id = $1",
        ],
        (CollectionId::DataCentres, true) => &[
            "with t as (delete from data_centres where id = $1 returning *)
             insert into deleted_data_centres select * from t",
        ],
        (CollectionId::DataCentres, false) => &[
            "insert into data_centres (id, operator_id, name, tier, power_mw, racks, status,
                                       external_id, synthetic, geom, created_at, updated_at)
             select id, operator_id, name, tier, power_mw, racks, status, external_id, synthetic,
                    geom, created_at, updated_at
             from deleted_data_centres where id = $1",
            "delete from deleted_data_centres where id = $1",
        ],
        (CollectionId::Districts, true) => &[
            "with t as (delete from districts where code = $1 returning *)
             insert into deleted_districts select * from t",
        ],
        (CollectionId::Districts, false) => &[
            "insert into districts (code, name, name_ascii, population, geom, created_at, updated_at)
             select code, name, name_ascii, population, geom, created_at, updated_at
             from deleted_districts where code = $1",
            "delete from deleted_districts where code = $1",
        ],
        (CollectionId::Structures, true) => &[
            "with t as (delete from structures where id = $1 returning *)
             insert into deleted_structures select * from t",
        ],
        (CollectionId::Structures, false) => &[
            "insert into structures (id, owner_id, kind, name, status, external_id, synthetic, geom,
                                     created_at, updated_at)
             select id, owner_id, kind, name, status, external_id, synthetic, geom, created_at, updated_at
             from deleted_structures where id = $1",
            "delete from deleted_structures where id = $1",
        ],
        (CollectionId::DuctBanks, true) => &[
            "with t as (delete from subducts where duct_id in (select id from ducts where bank_id = $1)
                        returning *)
             insert into deleted_subducts select * from t",
            "with t as (delete from ducts where bank_id = $1 returning *)
             insert into deleted_ducts select * from t",
            "with t as (delete from duct_banks where id = $1 returning *)
             insert into deleted_duct_banks select * from t",
        ],
        (CollectionId::DuctBanks, false) => &[
            "insert into duct_banks (id, owner_id, from_structure_id, to_structure_id, name,
                                     configuration, encasement, depth_m, status, external_id,
                                     synthetic, geom, created_at, updated_at)
             select id, owner_id, from_structure_id, to_structure_id, name, configuration,
                    encasement, depth_m, status, external_id, synthetic, geom, created_at, updated_at
             from deleted_duct_banks where id = $1",
            "insert into ducts select * from deleted_ducts where bank_id = $1",
            "insert into subducts select * from deleted_subducts
             where duct_id in (select id from deleted_ducts where bank_id = $1)",
            "delete from deleted_subducts where duct_id in (select id from deleted_ducts where bank_id = $1)",
            "delete from deleted_ducts where bank_id = $1",
            "delete from deleted_duct_banks where id = $1",
        ],
    }
}

async fn run(
    conn: &mut PgConnection,
    c: CollectionId,
    key: FeatureKey<'_>,
    delete: bool,
) -> DbResult<bool> {
    let sql = statements(c, delete);
    for (i, statement) in sql.iter().enumerate() {
        let q = sqlx::query(statement);
        let q = match key {
            FeatureKey::Id(id) => q.bind(id),
            FeatureKey::Code(code) => q.bind(code),
        };
        let n = q
            .execute(&mut *conn)
            .await
            .map_err(map_constraint)?
            .rows_affected();
        let main = if delete { i + 1 == sql.len() } else { i == 0 };
        if main && n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Moves a live feature to the deleted tables (on the caller's transaction).
/// Returns false when there is no such live feature.
///
/// # Errors
/// On database failure.
pub async fn soft_delete(
    conn: &mut PgConnection,
    c: CollectionId,
    key: FeatureKey<'_>,
) -> DbResult<bool> {
    run(conn, c, key, true).await
}

/// Moves a deleted feature back to the live tables, exactly as it was.
/// Returns false when there is no such deleted feature.
///
/// # Errors
/// [`super::DbError::Conflict`] when a live feature now holds its unique
/// values (site code, external id, district code); on database failure.
pub async fn restore(
    conn: &mut PgConnection,
    c: CollectionId,
    key: FeatureKey<'_>,
) -> DbResult<bool> {
    run(conn, c, key, false).await
}

/// Locks a live feature's row until the transaction ends (`FOR UPDATE`), so
/// concurrent writers of one feature take turns. Returns false when there
/// is no such live feature.
///
/// # Errors
/// On database failure.
pub async fn lock(conn: &mut PgConnection, c: CollectionId, key: FeatureKey<'_>) -> DbResult<bool> {
    let sql = match c {
        CollectionId::Towers => "select 1 from towers where id = $1 for update",
        CollectionId::FibreRoutes => "select 1 from fibre_routes where id = $1 for update",
        CollectionId::DataCentres => "select 1 from data_centres where id = $1 for update",
        CollectionId::Districts => "select 1 from districts where code = $1 for update",
        CollectionId::Structures => "select 1 from structures where id = $1 for update",
        CollectionId::DuctBanks => "select 1 from duct_banks where id = $1 for update",
    };
    let q = sqlx::query(sql);
    let q = match key {
        FeatureKey::Id(id) => q.bind(id),
        FeatureKey::Code(code) => q.bind(code),
    };
    Ok(q.fetch_optional(&mut *conn).await?.is_some())
}
