//! Structures of the underground network (migration 0008).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, QueryBuilder};

use super::filter::{ItemFilter, push_conditions, push_page};
use super::{DbError, DbResult, map_constraint};
use crate::domain::Invalid;
use crate::domain::structure::{NetworkStatus, NewStructure, Owner, Structure, StructureKind};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    owner_id: Option<String>,
    kind: StructureKind,
    name: Option<String>,
    status: NetworkStatus,
    external_id: Option<String>,
    synthetic: bool,
    lon: f64,
    lat: f64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Structure {
    fn from(r: Row) -> Self {
        Structure {
            id: r.id,
            owner: Owner::from_column(r.owner_id),
            kind: r.kind,
            name: r.name,
            status: r.status,
            external_id: r.external_id,
            synthetic: r.synthetic,
            lon: r.lon,
            lat: r.lat,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

const SELECT: &str =
    "select s.id, s.owner_id, s.kind, s.name, s.status, s.external_id, s.synthetic,
        ST_X(s.geom) as lon, ST_Y(s.geom) as lat, s.created_at, s.updated_at
    from structures s where true";

fn column(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "owner" => ("coalesce(s.owner_id, 'city') = ", ""),
        "kind" => ("s.kind = ", ""),
        "status" => ("s.status = ", ""),
        "external_id" => ("s.external_id = ", ""),
        _ => return None,
    })
}

/// Every structure, in id order.
///
/// # Errors
/// On database failure.
pub async fn all<'e>(ex: impl sqlx::PgExecutor<'e>) -> DbResult<Vec<Structure>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} order by s.id"))
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().map(Structure::from).collect())
}

/// One page of structures matching `filter`, ordered by id.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool, filter: &ItemFilter) -> DbResult<Vec<Structure>> {
    let mut qb = QueryBuilder::new(SELECT);
    push_conditions(&mut qb, filter, "s.geom", column);
    push_page(&mut qb, filter, "s.id");
    let rows: Vec<Row> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().map(Structure::from).collect())
}

/// The number of structures matching `filter`.
///
/// # Errors
/// On database failure.
pub async fn count(pool: &PgPool, filter: &ItemFilter) -> DbResult<i64> {
    let mut qb = QueryBuilder::new("select count(*) from structures s where true");
    push_conditions(&mut qb, filter, "s.geom", column);
    Ok(qb.build_query_scalar().fetch_one(pool).await?)
}

/// One structure by id.
///
/// # Errors
/// On database failure.
pub async fn get(conn: &mut PgConnection, id: i64) -> DbResult<Option<Structure>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} and s.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Structure::from))
}

/// Checks that an operator owner is registered.
///
/// # Errors
/// [`DbError::Invalid`] at `/properties/owner`.
pub(crate) async fn check_owner(conn: &mut PgConnection, owner: &Owner) -> DbResult<()> {
    let Some(op) = owner.column() else {
        return Ok(());
    };
    if super::operators::missing(conn, &[op.to_owned()])
        .await?
        .is_empty()
    {
        return Ok(());
    }
    Err(DbError::Invalid(Invalid::one(
        "/properties/owner",
        format!(
            "unknown operator '{op}': the owner is 'city' or a registered operator (GET /operators)"
        ),
    )))
}

/// Inserts a structure; returns its id. Run it inside a transaction.
///
/// # Errors
/// [`DbError::Invalid`] for an unknown owner, [`DbError::Conflict`] for a
/// duplicate external id, else on database failure.
pub async fn insert(conn: &mut PgConnection, s: &NewStructure) -> DbResult<i64> {
    check_owner(conn, &s.owner).await?;
    sqlx::query_scalar(
        "insert into structures (owner_id, kind, name, status, external_id, synthetic, geom)
         values ($1, $2, $3, $4, $5, $6, ST_SetSRID(ST_MakePoint($7, $8), 4326))
         returning id",
    )
    .bind(s.owner.column())
    .bind(s.kind)
    .bind(&s.name)
    .bind(s.status)
    .bind(&s.external_id)
    .bind(s.synthetic)
    .bind(s.lon)
    .bind(s.lat)
    .fetch_one(conn)
    .await
    .map_err(map_constraint)
}

/// Ids of the duct banks that begin or end at structure `id`.
///
/// # Errors
/// On database failure.
pub async fn banks_at(conn: &mut PgConnection, id: i64) -> DbResult<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "select id from duct_banks where from_structure_id = $1 or to_structure_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Replaces structure `id`; false when it does not exist. The duct banks
/// that begin or end there follow it: their end position moves to the
/// structure's new position (topological editing, as QGIS does), so a bank
/// never strands off its structure.
///
/// # Errors
/// As [`insert`].
pub async fn replace(conn: &mut PgConnection, id: i64, s: &NewStructure) -> DbResult<bool> {
    check_owner(conn, &s.owner).await?;
    let done = sqlx::query(
        "update structures set owner_id = $2, kind = $3, name = $4, status = $5, external_id = $6,
                synthetic = $7, geom = ST_SetSRID(ST_MakePoint($8, $9), 4326)
         where id = $1",
    )
    .bind(id)
    .bind(s.owner.column())
    .bind(s.kind)
    .bind(&s.name)
    .bind(s.status)
    .bind(&s.external_id)
    .bind(s.synthetic)
    .bind(s.lon)
    .bind(s.lat)
    .execute(&mut *conn)
    .await
    .map_err(map_constraint)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "update duct_banks b set geom = ST_SetPoint(b.geom, 0, s.geom)
         from structures s
         where s.id = $1 and b.from_structure_id = $1 and not ST_Equals(ST_StartPoint(b.geom), s.geom)",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "update duct_banks b set geom = ST_SetPoint(b.geom, ST_NPoints(b.geom) - 1, s.geom)
         from structures s
         where s.id = $1 and b.to_structure_id = $1 and not ST_Equals(ST_EndPoint(b.geom), s.geom)",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}
