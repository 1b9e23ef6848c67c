//! Districts (analysis areas).

use chrono::{DateTime, Utc};
use geozero::wkb;
use sqlx::{PgConnection, PgPool, QueryBuilder};

use super::filter::{ItemFilter, push_conditions, push_page};
use super::{DbResult, map_constraint};
use crate::domain::DistrictCode;
use crate::domain::district::{District, NewDistrict};

#[derive(sqlx::FromRow)]
struct Row {
    code: DistrictCode,
    name: String,
    name_ascii: String,
    population: i64,
    area_km2: f64,
    geom: wkb::Decode<geo::Geometry<f64>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_domain(self) -> Option<District> {
        let geo::Geometry::MultiPolygon(geometry) = self.geom.geometry? else {
            return None;
        };
        Some(District {
            geometry,
            code: self.code,
            name: self.name,
            name_ascii: self.name_ascii,
            population: self.population,
            area_km2: self.area_km2,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const SELECT: &str = "select d.code, d.name, d.name_ascii, d.population, d.area_km2, d.geom, d.created_at, d.updated_at
    from districts d where true";

fn column(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "code" => ("d.code = ", ""),
        "name" => ("d.name = ", ""),
        _ => return None,
    })
}

/// Every feature of the layer, in d.code order (on the caller's connection
/// or transaction: the read model loads every layer in one snapshot).
///
/// # Errors
/// On database failure.
pub async fn all<'e>(ex: impl sqlx::PgExecutor<'e>) -> DbResult<Vec<District>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} order by d.code"))
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().filter_map(Row::into_domain).collect())
}

/// One page of districts matching `filter`, ordered by code.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool, filter: &ItemFilter) -> DbResult<Vec<District>> {
    let mut qb = QueryBuilder::new(SELECT);
    push_conditions(&mut qb, filter, "d.geom", column);
    push_page(&mut qb, filter, "d.code");
    let rows: Vec<Row> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(Row::into_domain).collect())
}

/// The number of districts matching `filter`.
///
/// # Errors
/// On database failure.
pub async fn count(pool: &PgPool, filter: &ItemFilter) -> DbResult<i64> {
    let mut qb = QueryBuilder::new("select count(*) from districts d where true");
    push_conditions(&mut qb, filter, "d.geom", column);
    Ok(qb.build_query_scalar().fetch_one(pool).await?)
}

/// One district by code.
///
/// # Errors
/// On database failure.
pub async fn get(conn: &mut PgConnection, code: &DistrictCode) -> DbResult<Option<District>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} and d.code = $1"))
        .bind(code)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(Row::into_domain))
}

/// Inserts a district (exterior rings stored counter-clockwise).
///
/// # Errors
/// [`super::DbError::Conflict`] when the code exists, else on database failure.
pub async fn insert(conn: &mut PgConnection, d: &NewDistrict) -> DbResult<DistrictCode> {
    super::check_polygon_validity(conn, &geo::Geometry::MultiPolygon(d.geometry.clone())).await?;
    sqlx::query("insert into districts (code, name, name_ascii, population, geom)
                 values ($1, $2, $3, $4, ST_Multi(ST_ForcePolygonCCW(ST_SetSRID($5::geometry, 4326))))")
        .bind(&d.code)
        .bind(&d.name)
        .bind(&d.name_ascii)
        .bind(d.population)
        .bind(wkb::Encode(geo::Geometry::MultiPolygon(d.geometry.clone())))
        .execute(conn)
        .await
        .map_err(map_constraint)?;
    Ok(d.code.clone())
}

/// Inserts or updates a district by code (used by the sample loader).
///
/// # Errors
/// On database failure.
pub async fn upsert(conn: &mut PgConnection, d: &NewDistrict) -> DbResult<()> {
    super::check_polygon_validity(conn, &geo::Geometry::MultiPolygon(d.geometry.clone())).await?;
    sqlx::query("insert into districts (code, name, name_ascii, population, geom)
                 values ($1, $2, $3, $4, ST_Multi(ST_ForcePolygonCCW(ST_SetSRID($5::geometry, 4326))))
                 on conflict (code) do update set name = excluded.name, name_ascii = excluded.name_ascii,
                     population = excluded.population, geom = excluded.geom
                 where (districts.name, districts.name_ascii, districts.population, districts.geom)
                       is distinct from (excluded.name, excluded.name_ascii, excluded.population, excluded.geom)")
        .bind(&d.code)
        .bind(&d.name)
        .bind(&d.name_ascii)
        .bind(d.population)
        .bind(wkb::Encode(geo::Geometry::MultiPolygon(d.geometry.clone())))
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces district `code` (the code itself may change to `d.code`); false
/// when it does not exist.
///
/// # Errors
/// As [`insert`].
pub async fn replace(
    conn: &mut PgConnection,
    code: &DistrictCode,
    d: &NewDistrict,
) -> DbResult<bool> {
    super::check_polygon_validity(conn, &geo::Geometry::MultiPolygon(d.geometry.clone())).await?;
    let done = sqlx::query(
        "update districts set code = $2, name = $3, name_ascii = $4, population = $5,
                 geom = ST_Multi(ST_ForcePolygonCCW(ST_SetSRID($6::geometry, 4326)))
                 where code = $1",
    )
    .bind(code)
    .bind(&d.code)
    .bind(&d.name)
    .bind(&d.name_ascii)
    .bind(d.population)
    .bind(wkb::Encode(geo::Geometry::MultiPolygon(d.geometry.clone())))
    .execute(conn)
    .await
    .map_err(map_constraint)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes district `code`; false when it did not exist.
///
/// # Errors
/// On database failure.
pub async fn delete(conn: &mut PgConnection, code: &DistrictCode) -> DbResult<bool> {
    let done = sqlx::query("delete from districts where code = $1")
        .bind(code)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
