//! Fibre routes.

use chrono::{DateTime, Utc};
use geozero::wkb;
use sqlx::{PgConnection, PgPool, QueryBuilder};

use super::filter::{ItemFilter, push_conditions, push_page};
use super::{DbError, DbResult, map_constraint};
use crate::domain::fibre::{FibreRoute, NewFibreRoute, Placement};
use crate::domain::{FibreRouteId, Invalid, Status};

#[derive(sqlx::FromRow)]
struct Row {
    id: FibreRouteId,
    operator_id: String,
    name: Option<String>,
    placement: Placement,
    fibre_count: i32,
    capacity_gbps: Option<f64>,
    status: Status,
    external_id: Option<String>,
    synthetic: bool,
    length_m: f64,
    geom: wkb::Decode<geo::Geometry<f64>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_domain(self) -> Option<FibreRoute> {
        Some(FibreRoute {
            geometry: self.geom.geometry?,
            id: self.id,
            operator: self.operator_id,
            name: self.name,
            placement: self.placement,
            fibre_count: self.fibre_count,
            capacity_gbps: self.capacity_gbps,
            status: self.status,
            external_id: self.external_id,
            synthetic: self.synthetic,
            length_m: self.length_m,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const SELECT: &str =
    "select f.id, f.operator_id, f.name, f.placement, f.fibre_count, f.capacity_gbps, f.status,
        f.external_id, f.synthetic, f.length_m, f.geom, f.created_at, f.updated_at
    from fibre_routes f where true";

fn column(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "operator" => ("f.operator_id = ", ""),
        "status" => ("f.status = ", ""),
        "placement" => ("f.placement = ", ""),
        "external_id" => ("f.external_id = ", ""),
        _ => return None,
    })
}

/// Every feature of the layer, in f.id order (on the caller's connection
/// or transaction: the read model loads every layer in one snapshot).
///
/// # Errors
/// On database failure.
pub async fn all<'e>(ex: impl sqlx::PgExecutor<'e>) -> DbResult<Vec<FibreRoute>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} order by f.id"))
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().filter_map(Row::into_domain).collect())
}

/// One page of fibre routes matching `filter`, ordered by id.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool, filter: &ItemFilter) -> DbResult<Vec<FibreRoute>> {
    let mut qb = QueryBuilder::new(SELECT);
    push_conditions(&mut qb, filter, "f.geom", column);
    push_page(&mut qb, filter, "f.id");
    let rows: Vec<Row> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(Row::into_domain).collect())
}

/// The operator and geometry (lon/lat) of every fibre route, for the
/// extent of what a viewer sees.
///
/// # Errors
/// On database failure.
pub async fn geometries(pool: &PgPool) -> DbResult<Vec<(String, geo::Geometry<f64>)>> {
    let rows: Vec<(String, wkb::Decode<geo::Geometry<f64>>)> =
        sqlx::query_as("select operator_id, geom from fibre_routes")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(operator, g)| Some((operator, g.geometry?)))
        .collect())
}

/// The number of fibre routes matching `filter`.
///
/// # Errors
/// On database failure.
pub async fn count(pool: &PgPool, filter: &ItemFilter) -> DbResult<i64> {
    let mut qb = QueryBuilder::new("select count(*) from fibre_routes f where true");
    push_conditions(&mut qb, filter, "f.geom", column);
    Ok(qb.build_query_scalar().fetch_one(pool).await?)
}

/// One fibre route by id.
///
/// # Errors
/// On database failure.
pub async fn get(conn: &mut PgConnection, id: FibreRouteId) -> DbResult<Option<FibreRoute>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} and f.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(Row::into_domain))
}

/// Fails with [`DbError::Invalid`] when `operator` is not registered.
pub(crate) async fn check_operator(conn: &mut PgConnection, operator: &str) -> DbResult<()> {
    let missing = super::operators::missing(conn, &[operator.to_owned()]).await?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DbError::Invalid(Invalid::one(
            "/properties/operator",
            format!("unknown operator '{operator}': register it first (GET /operators lists them)"),
        )))
    }
}

/// Inserts a fibre route; returns its id. Run it inside a transaction.
///
/// # Errors
/// [`DbError::Invalid`] for an unknown operator, [`DbError::Conflict`] for a
/// duplicate external id, else on database failure.
pub async fn insert(conn: &mut PgConnection, f: &NewFibreRoute) -> DbResult<FibreRouteId> {
    check_operator(conn, &f.operator).await?;
    sqlx::query_scalar(
        "insert into fibre_routes (operator_id, name, placement, fibre_count, capacity_gbps, status, external_id, synthetic, geom)
         values ($1, $2, $3, $4, $5, $6, $7, $8, ST_SetSRID($9::geometry, 4326))
         on conflict (operator_id, external_id) do nothing
         returning id",
    )
    .bind(&f.operator)
    .bind(&f.name)
    .bind(f.placement.as_str())
    .bind(f.fibre_count)
    .bind(f.capacity_gbps)
    .bind(f.status.as_str())
    .bind(&f.external_id)
    .bind(f.synthetic)
    .bind(wkb::Encode(f.geometry.clone()))
    .fetch_optional(conn)
    .await
    .map_err(map_constraint)?
    .ok_or_else(|| DbError::Conflict {
        pointer: "/properties/external_id".into(),
        detail: "this operator already has a fibre route with this external_id".into(),
    })
}

/// Replaces fibre route `id`; false when it does not exist.
///
/// # Errors
/// As [`insert`].
pub async fn replace(
    conn: &mut PgConnection,
    id: FibreRouteId,
    f: &NewFibreRoute,
) -> DbResult<bool> {
    check_operator(conn, &f.operator).await?;
    let done = sqlx::query(
        "update fibre_routes set operator_id = $2, name = $3, placement = $4, fibre_count = $5, capacity_gbps = $6,
                status = $7, external_id = $8, synthetic = $9, geom = ST_SetSRID($10::geometry, 4326)
         where id = $1",
    )
    .bind(id)
    .bind(&f.operator)
    .bind(&f.name)
    .bind(f.placement.as_str())
    .bind(f.fibre_count)
    .bind(f.capacity_gbps)
    .bind(f.status.as_str())
    .bind(&f.external_id)
    .bind(f.synthetic)
    .bind(wkb::Encode(f.geometry.clone()))
    .execute(conn)
    .await
    .map_err(map_constraint)?;
    Ok(done.rows_affected() > 0)
}

/// Deletes fibre route `id`; false when it did not exist.
///
/// # Errors
/// On database failure.
pub async fn delete(conn: &mut PgConnection, id: FibreRouteId) -> DbResult<bool> {
    let done = sqlx::query("delete from fibre_routes where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
