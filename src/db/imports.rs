//! Bulk import writes: upserts keyed by each operator's `external_id`,
//! batch by batch inside the caller's transaction.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::DbResult;
use crate::domain::data_centre::NewDataCentre;
use crate::domain::fibre::NewFibreRoute;
use crate::domain::tower::NewTower;
use crate::domain::{DataCentreId, FibreRouteId, TowerId};

/// What an upsert did with one input feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new feature was stored, with this id.
    Created(i64),
    /// An existing feature (same operator and external id) was replaced.
    Updated(i64),
    /// An existing feature already held exactly these values.
    Unchanged,
    /// Refused: `(field, reason)`, e.g. a site code another tower uses.
    Refused(String, String),
}

/// Upserts towers by `(operator, external_id)`: new ones are inserted in
/// multi-row statements, changed ones replaced (tenants and sectors too),
/// identical ones left alone. A new tower whose site code another tower of
/// the operator already has is refused. Every tower must carry an external
/// id. Returns one outcome per input, in order. Run it in a transaction.
///
/// # Errors
/// On database failure or a constraint the checks did not foresee; the
/// transaction must then be rolled back.
pub async fn upsert_towers(conn: &mut PgConnection, towers: &[NewTower]) -> DbResult<Vec<Outcome>> {
    let ops: Vec<&str> = towers.iter().map(|t| t.operator.as_str()).collect();
    let exts: Vec<&str> = towers
        .iter()
        .map(|t| t.external_id.as_deref().unwrap_or(""))
        .collect();
    let codes: Vec<&str> = towers.iter().map(|t| t.site_code.as_str()).collect();
    let existing: Vec<(i64, TowerId)> = sqlx::query_as(
        "select k.n, t.id from unnest($1::text[], $2::text[]) with ordinality k(op, ext, n)
         join towers t on t.operator_id = k.op and t.external_id = k.ext",
    )
    .bind(&ops)
    .bind(&exts)
    .fetch_all(&mut *conn)
    .await?;
    let taken: Vec<(i64, Option<String>)> = sqlx::query_as(
        "select k.n, t.external_id from unnest($1::text[], $2::text[], $3::text[]) with ordinality k(op, code, ext, n)
         join towers t on t.operator_id = k.op and t.site_code = k.code and t.external_id is distinct from k.ext",
    )
    .bind(&ops)
    .bind(&codes)
    .bind(&exts)
    .fetch_all(&mut *conn)
    .await?;
    let existing: HashMap<usize, TowerId> = existing
        .into_iter()
        .map(|(n, id)| (n as usize - 1, id))
        .collect();
    let taken: HashMap<usize, Option<String>> = taken
        .into_iter()
        .map(|(n, e)| (n as usize - 1, e))
        .collect();
    let ids: Vec<TowerId> = existing.values().copied().collect();
    let stored: HashMap<TowerId, crate::domain::tower::Tower> = super::towers::get_many(conn, &ids)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut outcomes = Vec::with_capacity(towers.len());
    let mut fresh: Vec<NewTower> = Vec::new();
    for (i, t) in towers.iter().enumerate() {
        if let Some(other) = taken.get(&i) {
            outcomes.push(Outcome::Refused(
                "site_code".into(),
                format!(
                    "site code '{}' is already used by another tower of '{}' (external_id {})",
                    t.site_code,
                    t.operator,
                    other.as_deref().unwrap_or("none")
                ),
            ));
            continue;
        }
        match existing.get(&i).and_then(|id| stored.get(id)) {
            Some(s) if t.same_as(s) => outcomes.push(Outcome::Unchanged),
            Some(s) => {
                super::towers::replace(conn, s.id, t).await?;
                outcomes.push(Outcome::Updated(s.id.get()));
            }
            None => {
                fresh.push(t.clone());
                outcomes.push(Outcome::Created(0));
            }
        }
    }
    if !fresh.is_empty() {
        let ids = super::towers::insert_many(conn, &fresh).await?;
        let mut ids = ids.into_iter();
        for o in &mut outcomes {
            if let Outcome::Created(id) = o {
                *id = ids.next().map(TowerId::get).unwrap_or_default();
            }
        }
    }
    Ok(outcomes)
}

/// `table` is spliced into the SQL, so only a literal from this module may
/// be given (hence `'static`); the values are bound.
async fn existing_id(
    conn: &mut PgConnection,
    table: &'static str,
    operator: &str,
    external_id: Option<&str>,
) -> DbResult<Option<i64>> {
    Ok(sqlx::query_scalar(&format!(
        "select id from {table} where operator_id = $1 and external_id = $2"
    ))
    .bind(operator)
    .bind(external_id)
    .fetch_optional(conn)
    .await?)
}

/// Upserts one fibre route by `(operator, external_id)`.
///
/// # Errors
/// As [`upsert_towers`].
pub async fn upsert_fibre_route(conn: &mut PgConnection, f: &NewFibreRoute) -> DbResult<Outcome> {
    match existing_id(conn, "fibre_routes", &f.operator, f.external_id.as_deref()).await? {
        Some(id) => {
            let id = FibreRouteId(id);
            let stored = super::fibre_routes::get(conn, id).await?;
            if stored.is_some_and(|s| f.same_as(&s)) {
                return Ok(Outcome::Unchanged);
            }
            super::fibre_routes::replace(conn, id, f).await?;
            Ok(Outcome::Updated(id.get()))
        }
        None => Ok(Outcome::Created(
            super::fibre_routes::insert(conn, f).await?.get(),
        )),
    }
}

/// Upserts one data centre by `(operator, external_id)`.
///
/// # Errors
/// As [`upsert_towers`].
pub async fn upsert_data_centre(conn: &mut PgConnection, d: &NewDataCentre) -> DbResult<Outcome> {
    match existing_id(conn, "data_centres", &d.operator, d.external_id.as_deref()).await? {
        Some(id) => {
            let id = DataCentreId(id);
            let stored = super::data_centres::get(conn, id).await?;
            if stored.is_some_and(|s| d.same_as(&s)) {
                return Ok(Outcome::Unchanged);
            }
            super::data_centres::replace(conn, id, d).await?;
            Ok(Outcome::Updated(id.get()))
        }
        None => Ok(Outcome::Created(
            super::data_centres::insert(conn, d).await?.get(),
        )),
    }
}

/// The ids of the stored rows of `table` (`structures` or `duct_banks`)
/// with these `(owner, external_id)` keys, where the owner is `city` (a
/// null `owner_id`) or an operator id.
///
/// # Errors
/// On database failure.
pub async fn existing_owned(
    conn: &mut PgConnection,
    table: &'static str,
    keys: &[(String, String)],
) -> DbResult<std::collections::HashMap<(String, String), i64>> {
    let (owners, exts): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(o, e)| (o.as_str(), e.as_str())).unzip();
    // `table` is one of two literals chosen by the caller, never input.
    let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "select k.owner, k.ext, t.id from unnest($1::text[], $2::text[]) k(owner, ext)
         join {table} t on coalesce(t.owner_id, 'city') = k.owner and t.external_id = k.ext"
    ))
    .bind(&owners)
    .bind(&exts)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(o, e, id)| ((o, e), id)).collect())
}

/// Ids of the live features of `table` (`towers`, `fibre_routes` or
/// `data_centres`) with these `(operator, external_id)` keys.
///
/// # Errors
/// On database failure.
pub async fn existing_ids(
    conn: &mut PgConnection,
    table: &'static str,
    keys: &[(String, String)],
) -> DbResult<Vec<i64>> {
    let (ops, exts): (Vec<&str>, Vec<&str>) =
        keys.iter().map(|(o, e)| (o.as_str(), e.as_str())).unzip();
    // `table` is one of three literals chosen by the caller, never input.
    Ok(sqlx::query_scalar(&format!(
        "select t.id from unnest($1::text[], $2::text[]) k(op, ext)
         join {table} t on t.operator_id = k.op and t.external_id = k.ext"
    ))
    .bind(&ops)
    .bind(&exts)
    .fetch_all(&mut *conn)
    .await?)
}
