//! Towers, their tenants and sectors.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, QueryBuilder};

use super::filter::{ItemFilter, push_conditions, push_page};
use super::{DbError, DbResult, map_constraint};
use crate::domain::tower::{NewTower, Sector, StructureType, Technology, Tower};
use crate::domain::{Invalid, SectorId, Status, TowerId};

#[derive(sqlx::FromRow)]
struct TowerRow {
    id: TowerId,
    operator_id: String,
    site_code: String,
    name: Option<String>,
    structure_type: StructureType,
    height_m: f64,
    status: Status,
    tenants: Vec<String>,
    external_id: Option<String>,
    synthetic: bool,
    lon: f64,
    lat: f64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct SectorRow {
    id: SectorId,
    tower_id: TowerId,
    operator_id: String,
    technology: Technology,
    frequency_mhz: f64,
    azimuth_deg: f64,
    beamwidth_deg: f64,
    tilt_deg: f64,
    height_m: f64,
    eirp_dbm: f64,
    range_m: Option<f64>,
}

impl From<SectorRow> for Sector {
    fn from(r: SectorRow) -> Self {
        Sector {
            id: r.id,
            tower_id: r.tower_id,
            operator: r.operator_id,
            technology: r.technology,
            frequency_mhz: r.frequency_mhz,
            azimuth_deg: r.azimuth_deg,
            beamwidth_deg: r.beamwidth_deg,
            tilt_deg: r.tilt_deg,
            height_m: r.height_m,
            eirp_dbm: r.eirp_dbm,
            range_m: r.range_m,
        }
    }
}

const SELECT: &str = include_str!("sql/towers_select.sql");

/// Maps a queryable of the towers collection to SQL around its bound value.
fn column(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "operator" => ("t.operator_id = ", ""),
        "status" => ("t.status = ", ""),
        "structure_type" => ("t.structure_type = ", ""),
        "site_code" => ("t.site_code = ", ""),
        "external_id" => ("t.external_id = ", ""),
        "tenant" => (
            "exists (select 1 from tower_tenants tt where tt.tower_id = t.id and tt.operator_id = ",
            ")",
        ),
        "technology" => (
            "exists (select 1 from sectors s where s.tower_id = t.id and s.technology = ",
            ")",
        ),
        _ => return None,
    })
}

async fn attach_sectors(pool: &mut PgConnection, rows: Vec<TowerRow>) -> DbResult<Vec<Tower>> {
    let ids: Vec<TowerId> = rows.iter().map(|r| r.id).collect();
    let sectors: Vec<SectorRow> = sqlx::query_as(
        "select id, tower_id, operator_id, technology, frequency_mhz, azimuth_deg, beamwidth_deg,
                tilt_deg, height_m, eirp_dbm, range_m
         from sectors where tower_id = any($1) order by tower_id, id",
    )
    .bind(&ids)
    .fetch_all(&mut *pool)
    .await?;
    let mut by_tower: std::collections::HashMap<TowerId, Vec<Sector>> =
        std::collections::HashMap::with_capacity(rows.len());
    for s in sectors {
        by_tower.entry(s.tower_id).or_default().push(s.into());
    }
    Ok(rows
        .into_iter()
        .map(|r| Tower {
            sectors: by_tower.remove(&r.id).unwrap_or_default(),
            id: r.id,
            operator: r.operator_id,
            site_code: r.site_code,
            name: r.name,
            structure_type: r.structure_type,
            height_m: r.height_m,
            status: r.status,
            tenants: r.tenants,
            external_id: r.external_id,
            synthetic: r.synthetic,
            lon: r.lon,
            lat: r.lat,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect())
}

/// One page of towers matching `filter`, ordered by id, with sectors.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool, filter: &ItemFilter) -> DbResult<Vec<Tower>> {
    let mut conn = pool.acquire().await?;
    let mut qb = QueryBuilder::new(SELECT);
    push_conditions(&mut qb, filter, "t.geom", column);
    push_page(&mut qb, filter, "t.id");
    let rows: Vec<TowerRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    attach_sectors(&mut conn, rows).await
}

/// The number of towers matching `filter` (paging ignored).
///
/// # Errors
/// On database failure.
pub async fn count(pool: &PgPool, filter: &ItemFilter) -> DbResult<i64> {
    let mut qb = QueryBuilder::new("select count(*) from towers t where true");
    push_conditions(&mut qb, filter, "t.geom", column);
    Ok(qb.build_query_scalar().fetch_one(pool).await?)
}

/// Every tower with its sectors, in id order (on the caller's connection
/// or transaction: the read model loads every layer in one snapshot).
///
/// # Errors
/// On database failure.
pub async fn all(conn: &mut PgConnection) -> DbResult<Vec<Tower>> {
    let rows: Vec<TowerRow> = sqlx::query_as(&format!("{SELECT} order by t.id"))
        .fetch_all(&mut *conn)
        .await?;
    attach_sectors(conn, rows).await
}

/// One tower by id.
///
/// # Errors
/// On database failure.
pub async fn get(conn: &mut PgConnection, id: TowerId) -> DbResult<Option<Tower>> {
    let row: Option<TowerRow> = sqlx::query_as(&format!("{SELECT} and t.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(attach_sectors(conn, row.into_iter().collect()).await?.pop())
}

async fn check_references(conn: &mut PgConnection, t: &NewTower) -> DbResult<()> {
    let refs = t.referenced_operators();
    let ids: Vec<String> = refs.iter().map(|(_, id)| id.clone()).collect();
    let missing = super::operators::missing(&mut *conn, &ids).await?;
    if missing.is_empty() {
        return Ok(());
    }
    let mut invalid = Invalid::default();
    for (pointer, id) in refs.into_iter().filter(|(_, id)| missing.contains(id)) {
        invalid.push(
            pointer,
            format!("unknown operator '{id}': register it first (GET /operators lists them)"),
        );
    }
    Err(DbError::Invalid(invalid))
}

/// Writes the tenants and sectors of tower `id` (`fresh`: just inserted,
/// so it has none yet).
async fn write_children(
    conn: &mut PgConnection,
    id: TowerId,
    t: &NewTower,
    fresh: bool,
) -> DbResult<()> {
    // One statement (one round trip): the tenants no longer listed go, the
    // new ones come; those kept are not touched. (`tenants` holds no
    // duplicate: the domain refuses them.)
    let tenants = if fresh {
        "insert into tower_tenants (tower_id, operator_id) select $1, unnest($2::text[])"
    } else {
        "with gone as (delete from tower_tenants \
                        where tower_id = $1 and operator_id <> all($2::text[])) \
         insert into tower_tenants (tower_id, operator_id) \
         select $1, unnest($2::text[]) on conflict do nothing"
    };
    if !(fresh && t.tenants.is_empty()) {
        sqlx::query(tenants)
            .bind(id)
            .bind(&t.tenants)
            .execute(&mut *conn)
            .await
            .map_err(map_constraint)?;
    }
    // A sector id must belong to this tower: ids of other towers' sectors are refused.
    let wanted: Vec<SectorId> = t.sectors.iter().filter_map(|s| s.id).collect();
    if !wanted.is_empty() {
        let foreign: Vec<SectorId> = sqlx::query_scalar(
            "select i from unnest($1::bigint[]) i where not exists (select 1 from sectors s where s.id = i and s.tower_id = $2)",
        )
        .bind(&wanted)
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        if !foreign.is_empty() {
            let mut invalid = Invalid::default();
            for (i, s) in t.sectors.iter().enumerate() {
                if s.id.is_some_and(|sid| foreign.contains(&sid)) {
                    invalid.push(
                        format!("/properties/sectors/{i}/id"),
                        "no sector with this id on this tower; omit the id to add a new sector",
                    );
                }
            }
            return Err(DbError::Invalid(invalid));
        }
    }
    let s = &t.sectors;
    sqlx::query(include_str!("sql/sectors_upsert.sql"))
        .bind(id)
        .bind(s.iter().map(|s| s.id).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.operator.clone()).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.technology.as_str()).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.frequency_mhz).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.azimuth_deg).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.beamwidth_deg).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.tilt_deg).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.height_m).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.eirp_dbm).collect::<Vec<_>>())
        .bind(s.iter().map(|s| s.range_m).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .map_err(map_constraint)?;
    Ok(())
}

/// Inserts a tower with its tenants and sectors; returns its id.
/// Run it inside a transaction: on error, roll back.
///
/// # Errors
/// [`DbError::Invalid`] for unknown operators, [`DbError::Conflict`] for a
/// duplicate site code or external id, else on database failure.
pub async fn insert(conn: &mut PgConnection, t: &NewTower) -> DbResult<TowerId> {
    check_references(conn, t).await?;
    let id: TowerId = sqlx::query_scalar(
        "insert into towers (operator_id, site_code, name, structure_type, height_m, status, external_id, synthetic, geom)
         values ($1, $2, $3, $4, $5, $6, $7, $8, ST_SetSRID(ST_MakePoint($9, $10), 4326))
         returning id",
    )
    .bind(&t.operator)
    .bind(&t.site_code)
    .bind(&t.name)
    .bind(t.structure_type.as_str())
    .bind(t.height_m)
    .bind(t.status.as_str())
    .bind(&t.external_id)
    .bind(t.synthetic)
    .bind(t.lon)
    .bind(t.lat)
    .fetch_one(&mut *conn)
    .await
    .map_err(map_constraint)?;
    write_children(conn, id, t, true).await?;
    Ok(id)
}

/// Inserts a tower unless the operator already has one with the same site
/// code; returns the new id, or `None` when it existed (nothing changed).
///
/// # Errors
/// As [`insert`].
pub async fn insert_if_absent(conn: &mut PgConnection, t: &NewTower) -> DbResult<Option<TowerId>> {
    let exists: bool = sqlx::query_scalar(
        "select exists (select 1 from towers where operator_id = $1 and site_code = $2)",
    )
    .bind(&t.operator)
    .bind(&t.site_code)
    .fetch_one(&mut *conn)
    .await?;
    if exists {
        return Ok(None);
    }
    insert(conn, t).await.map(Some)
}

/// Replaces tower `id` (attributes, location, tenants and sectors); sectors
/// with an `id` keep it. Returns false when no such tower exists.
///
/// # Errors
/// As [`insert`].
pub async fn replace(conn: &mut PgConnection, id: TowerId, t: &NewTower) -> DbResult<bool> {
    check_references(conn, t).await?;
    let done = sqlx::query(
        "update towers set operator_id = $2, site_code = $3, name = $4, structure_type = $5, height_m = $6,
                status = $7, external_id = $8, synthetic = $9, geom = ST_SetSRID(ST_MakePoint($10, $11), 4326)
         where id = $1",
    )
    .bind(id)
    .bind(&t.operator)
    .bind(&t.site_code)
    .bind(&t.name)
    .bind(t.structure_type.as_str())
    .bind(t.height_m)
    .bind(t.status.as_str())
    .bind(&t.external_id)
    .bind(t.synthetic)
    .bind(t.lon)
    .bind(t.lat)
    .execute(&mut *conn)
    .await
    .map_err(map_constraint)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    write_children(conn, id, t, false).await?;
    Ok(true)
}

/// Deletes tower `id` with its sectors; false when it did not exist.
///
/// # Errors
/// On database failure.
pub async fn delete(conn: &mut PgConnection, id: TowerId) -> DbResult<bool> {
    let done = sqlx::query("delete from towers where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Inserts many new towers (with tenants and sectors) in a few statements;
/// returns their ids in input order. Sector ids in the input are ignored.
/// Run it inside a transaction.
///
/// # Errors
/// As [`insert`]; on error nothing of the batch should be committed.
pub async fn insert_many(conn: &mut PgConnection, towers: &[NewTower]) -> DbResult<Vec<TowerId>> {
    let mut ops: Vec<String> = towers
        .iter()
        .flat_map(|t| std::iter::once(t.operator.clone()).chain(t.tenants.iter().cloned()))
        .collect();
    ops.sort();
    ops.dedup();
    let missing = super::operators::missing(&mut *conn, &ops).await?;
    if let Some(m) = missing.first() {
        return Err(DbError::Invalid(Invalid::one(
            "/properties/operator",
            format!("unknown operator '{m}'"),
        )));
    }
    let ids: Vec<TowerId> = sqlx::query_scalar(include_str!("sql/towers_insert_many.sql"))
        .bind(
            towers
                .iter()
                .map(|t| t.operator.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            towers
                .iter()
                .map(|t| t.site_code.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(towers.iter().map(|t| t.name.as_deref()).collect::<Vec<_>>())
        .bind(
            towers
                .iter()
                .map(|t| t.structure_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(towers.iter().map(|t| t.height_m).collect::<Vec<_>>())
        .bind(towers.iter().map(|t| t.status.as_str()).collect::<Vec<_>>())
        .bind(
            towers
                .iter()
                .map(|t| t.external_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(towers.iter().map(|t| t.synthetic).collect::<Vec<_>>())
        .bind(towers.iter().map(|t| t.lon).collect::<Vec<_>>())
        .bind(towers.iter().map(|t| t.lat).collect::<Vec<_>>())
        .fetch_all(&mut *conn)
        .await
        .map_err(map_constraint)?;
    let (mut tt_tower, mut tt_op) = (Vec::new(), Vec::new());
    for (id, t) in ids.iter().zip(towers) {
        for op in &t.tenants {
            tt_tower.push(*id);
            tt_op.push(op.as_str());
        }
    }
    sqlx::query("insert into tower_tenants (tower_id, operator_id) select * from unnest($1::bigint[], $2::text[])")
        .bind(&tt_tower)
        .bind(&tt_op)
        .execute(&mut *conn)
        .await
        .map_err(map_constraint)?;
    let sectors: Vec<(TowerId, &crate::domain::tower::NewSector)> = ids
        .iter()
        .zip(towers)
        .flat_map(|(id, t)| t.sectors.iter().map(move |s| (*id, s)))
        .collect();
    sqlx::query(
        "insert into sectors (tower_id, operator_id, technology, frequency_mhz, azimuth_deg, beamwidth_deg,
                              tilt_deg, height_m, eirp_dbm, range_m)
         select * from unnest($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::float8[],
                              $7::float8[], $8::float8[], $9::float8[], $10::float8[])",
    )
    .bind(sectors.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.operator.as_str()).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.technology.as_str()).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.frequency_mhz).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.azimuth_deg).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.beamwidth_deg).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.tilt_deg).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.height_m).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.eirp_dbm).collect::<Vec<_>>())
    .bind(sectors.iter().map(|(_, s)| s.range_m).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .map_err(map_constraint)?;
    Ok(ids)
}

/// Every (operator, site code) pair already stored.
///
/// # Errors
/// On database failure.
pub async fn site_codes(conn: &mut PgConnection) -> DbResult<Vec<(String, String)>> {
    Ok(sqlx::query_as("select operator_id, site_code from towers")
        .fetch_all(conn)
        .await?)
}

/// The towers with the given ids (with tenants and sectors), ordered by id;
/// ids that do not exist are left out.
///
/// # Errors
/// On database failure.
pub async fn get_many(conn: &mut PgConnection, ids: &[TowerId]) -> DbResult<Vec<Tower>> {
    let rows: Vec<TowerRow> = sqlx::query_as(&format!("{SELECT} and t.id = any($1) order by t.id"))
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    attach_sectors(conn, rows).await
}
