//! Data-centre sites.

use chrono::{DateTime, Utc};
use geozero::wkb;
use sqlx::{PgConnection, PgPool, QueryBuilder};

use super::fibre_routes::check_operator;
use super::filter::{ItemFilter, push_conditions, push_page};
use super::{DbError, DbResult, map_constraint};
use crate::domain::data_centre::{DataCentre, NewDataCentre};
use crate::domain::{DataCentreId, Status};

#[derive(sqlx::FromRow)]
struct Row {
    id: DataCentreId,
    operator_id: String,
    name: String,
    tier: Option<i16>,
    power_mw: Option<f64>,
    racks: Option<i32>,
    status: Status,
    external_id: Option<String>,
    synthetic: bool,
    geom: wkb::Decode<geo::Geometry<f64>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_domain(self) -> Option<DataCentre> {
        Some(DataCentre {
            geometry: self.geom.geometry?,
            id: self.id,
            operator: self.operator_id,
            name: self.name,
            tier: self.tier,
            power_mw: self.power_mw,
            racks: self.racks,
            status: self.status,
            external_id: self.external_id,
            synthetic: self.synthetic,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const SELECT: &str =
    "select d.id, d.operator_id, d.name, d.tier, d.power_mw, d.racks, d.status, d.external_id,
        d.synthetic, d.geom, d.created_at, d.updated_at
    from data_centres d where true";

fn column(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "operator" => ("d.operator_id = ", ""),
        "status" => ("d.status = ", ""),
        "tier" => ("d.tier = (", ")::smallint"),
        "external_id" => ("d.external_id = ", ""),
        _ => return None,
    })
}

/// Every feature of the layer, in d.id order (on the caller's connection
/// or transaction: the read model loads every layer in one snapshot).
///
/// # Errors
/// On database failure.
pub async fn all<'e>(ex: impl sqlx::PgExecutor<'e>) -> DbResult<Vec<DataCentre>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} order by d.id"))
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().filter_map(Row::into_domain).collect())
}

/// One page of data centres matching `filter`, ordered by id.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool, filter: &ItemFilter) -> DbResult<Vec<DataCentre>> {
    let mut qb = QueryBuilder::new(SELECT);
    push_conditions(&mut qb, filter, "d.geom", column);
    push_page(&mut qb, filter, "d.id");
    let rows: Vec<Row> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(Row::into_domain).collect())
}

/// The number of data centres matching `filter`.
///
/// # Errors
/// On database failure.
pub async fn count(pool: &PgPool, filter: &ItemFilter) -> DbResult<i64> {
    let mut qb = QueryBuilder::new("select count(*) from data_centres d where true");
    push_conditions(&mut qb, filter, "d.geom", column);
    Ok(qb.build_query_scalar().fetch_one(pool).await?)
}

/// One data centre by id.
///
/// # Errors
/// On database failure.
pub async fn get(conn: &mut PgConnection, id: DataCentreId) -> DbResult<Option<DataCentre>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} and d.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(Row::into_domain))
}

/// Inserts a data centre; returns its id. Polygon rings are stored
/// counter-clockwise (exterior). Run it inside a transaction.
///
/// # Errors
/// [`DbError::Invalid`] for an unknown operator, [`DbError::Conflict`] for a
/// duplicate external id, else on database failure.
pub async fn insert(conn: &mut PgConnection, d: &NewDataCentre) -> DbResult<DataCentreId> {
    check_operator(conn, &d.operator).await?;
    super::check_polygon_validity(conn, &d.geometry).await?;
    sqlx::query_scalar(
        "insert into data_centres (operator_id, name, tier, power_mw, racks, status, external_id, synthetic, geom)
         values ($1, $2, $3, $4, $5, $6, $7, $8, ST_ForcePolygonCCW(ST_SetSRID($9::geometry, 4326)))
         on conflict (operator_id, external_id) do nothing
         returning id",
    )
    .bind(&d.operator)
    .bind(&d.name)
    .bind(d.tier)
    .bind(d.power_mw)
    .bind(d.racks)
    .bind(d.status.as_str())
    .bind(&d.external_id)
    .bind(d.synthetic)
    .bind(wkb::Encode(d.geometry.clone()))
    .fetch_optional(conn)
    .await
    .map_err(map_constraint)?
    .ok_or_else(|| DbError::Conflict {
        pointer: "/properties/external_id".into(),
        detail: "this operator already has a data centre with this external_id".into(),
    })
}

/// Replaces data centre `id`; false when it does not exist.
///
/// # Errors
/// As [`insert`].
pub async fn replace(
    conn: &mut PgConnection,
    id: DataCentreId,
    d: &NewDataCentre,
) -> DbResult<bool> {
    check_operator(conn, &d.operator).await?;
    super::check_polygon_validity(conn, &d.geometry).await?;
    let done = sqlx::query(
        "update data_centres set operator_id = $2, name = $3, tier = $4, power_mw = $5, racks = $6, status = $7,
                external_id = $8, synthetic = $9, geom = ST_ForcePolygonCCW(ST_SetSRID($10::geometry, 4326))
         where id = $1",
    )
    .bind(id)
    .bind(&d.operator)
    .bind(&d.name)
    .bind(d.tier)
    .bind(d.power_mw)
    .bind(d.racks)
    .bind(d.status.as_str())
    .bind(&d.external_id)
    .bind(d.synthetic)
    .bind(wkb::Encode(d.geometry.clone()))
    .execute(conn)
    .await
    .map_err(map_constraint)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes data centre `id`; false when it did not exist.
///
/// # Errors
/// On database failure.
pub async fn delete(conn: &mut PgConnection, id: DataCentreId) -> DbResult<bool> {
    let done = sqlx::query("delete from data_centres where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
