//! Duct banks with their ducts and subducts (migration 0008).

use chrono::{DateTime, Utc};
use geozero::wkb;
use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, QueryBuilder};

use super::filter::{ItemFilter, push_conditions, push_page};
use super::structures::check_owner;
use super::{DbError, DbResult, map_constraint};
use crate::domain::Invalid;
use crate::domain::duct_bank::bounds::END_TOLERANCE_M;
use crate::domain::duct_bank::{Duct, DuctBank, DuctMaterial, Encasement, NewDuctBank, Subduct};
use crate::domain::structure::{NetworkStatus, Owner};

#[derive(Deserialize)]
struct SubductRow {
    id: i64,
    position: String,
    inner_diameter_mm: f64,
    outer_diameter_mm: f64,
    colour: Option<String>,
}

#[derive(Deserialize)]
struct DuctRow {
    id: i64,
    position: String,
    inner_diameter_mm: f64,
    material: Option<DuctMaterial>,
    subducts: Vec<SubductRow>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    owner_id: Option<String>,
    from_structure_id: i64,
    to_structure_id: i64,
    name: Option<String>,
    configuration: Option<String>,
    encasement: Option<Encasement>,
    depth_m: Option<f64>,
    status: NetworkStatus,
    external_id: Option<String>,
    synthetic: bool,
    length_m: f64,
    geom: wkb::Decode<geo::Geometry<f64>>,
    ducts: Json<Vec<DuctRow>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn into_domain(self) -> Option<DuctBank> {
        let geo::Geometry::LineString(geometry) = self.geom.geometry? else {
            return None;
        };
        Some(DuctBank {
            id: self.id,
            owner: Owner::from_column(self.owner_id),
            from_structure_id: self.from_structure_id,
            to_structure_id: self.to_structure_id,
            name: self.name,
            configuration: self.configuration,
            encasement: self.encasement,
            depth_m: self.depth_m,
            status: self.status,
            external_id: self.external_id,
            synthetic: self.synthetic,
            length_m: self.length_m,
            geometry,
            ducts: self
                .ducts
                .0
                .into_iter()
                .map(|d| Duct {
                    id: Some(d.id),
                    position: d.position,
                    inner_diameter_mm: d.inner_diameter_mm,
                    material: d.material,
                    subducts: d
                        .subducts
                        .into_iter()
                        .map(|s| Subduct {
                            id: Some(s.id),
                            position: s.position,
                            inner_diameter_mm: s.inner_diameter_mm,
                            outer_diameter_mm: s.outer_diameter_mm,
                            colour: s.colour,
                        })
                        .collect(),
                })
                .collect(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const SELECT: &str = include_str!("sql/duct_banks_select.sql");

fn column(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "owner" => ("coalesce(b.owner_id, 'city') = ", ""),
        "status" => ("b.status = ", ""),
        "encasement" => ("b.encasement = ", ""),
        "external_id" => ("b.external_id = ", ""),
        "structure_id" => (
            "",
            " in (b.from_structure_id::text, b.to_structure_id::text)",
        ),
        _ => return None,
    })
}

/// Every duct bank, in id order.
///
/// # Errors
/// On database failure.
pub async fn all<'e>(ex: impl sqlx::PgExecutor<'e>) -> DbResult<Vec<DuctBank>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} order by b.id"))
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().filter_map(Row::into_domain).collect())
}

/// One page of duct banks matching `filter`, ordered by id.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool, filter: &ItemFilter) -> DbResult<Vec<DuctBank>> {
    let mut qb = QueryBuilder::new(SELECT);
    push_conditions(&mut qb, filter, "b.geom", column);
    push_page(&mut qb, filter, "b.id");
    let rows: Vec<Row> = qb.build_query_as().fetch_all(pool).await?;
    Ok(rows.into_iter().filter_map(Row::into_domain).collect())
}

/// The number of duct banks matching `filter`.
///
/// # Errors
/// On database failure.
pub async fn count(pool: &PgPool, filter: &ItemFilter) -> DbResult<i64> {
    let mut qb = QueryBuilder::new("select count(*) from duct_banks b where true");
    push_conditions(&mut qb, filter, "b.geom", column);
    Ok(qb.build_query_scalar().fetch_one(pool).await?)
}

/// One duct bank by id.
///
/// # Errors
/// On database failure.
pub async fn get(conn: &mut PgConnection, id: i64) -> DbResult<Option<DuctBank>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} and b.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(Row::into_domain))
}

/// Checks that the bank's structures exist and that its first and last
/// positions lie within [`END_TOLERANCE_M`] of them (geodesic distance).
async fn check_ends(conn: &mut PgConnection, b: &NewDuctBank) -> DbResult<()> {
    let (Some(first), Some(last)) = (b.geometry.0.first(), b.geometry.0.last()) else {
        return Ok(());
    };
    let mut errors = Invalid::default();
    let last_index = b.geometry.0.len() - 1;
    for (member, id, at, index, which) in [
        ("from_structure_id", b.from_structure_id, first, 0, "first"),
        (
            "to_structure_id",
            b.to_structure_id,
            last,
            last_index,
            "last",
        ),
    ] {
        let d: Option<f64> = sqlx::query_scalar(
            "select ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography)
             from structures where id = $1",
        )
        .bind(id)
        .bind(at.x)
        .bind(at.y)
        .fetch_optional(&mut *conn)
        .await?;
        match d {
            None => errors.push(
                format!("/properties/{member}"),
                format!("no structure {id}: a duct bank begins and ends at structures (GET /collections/structures/items)"),
            ),
            Some(d) if d > END_TOLERANCE_M => errors.push(
                format!("/geometry/coordinates/{index}"),
                format!(
                    "the line's {which} position lies {d:.2} m from structure {id} ({member}); \
                     a bank's ends must lie within {END_TOLERANCE_M} m of its structures"
                ),
            ),
            Some(_) => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(DbError::Invalid(errors))
    }
}

/// Ids of the leases holding room (requested, approved, active) that use
/// bank `id`, with the duct and subduct ids they occupy.
///
/// # Errors
/// On database failure.
pub async fn holding_leases(
    conn: &mut PgConnection,
    id: i64,
) -> DbResult<Vec<(i64, i64, Option<i64>)>> {
    Ok(sqlx::query_as(
        "select l.id, s.duct_id, s.subduct_id
         from duct_lease_segments s join duct_leases l on l.id = s.lease_id
         where s.bank_id = $1 and l.state in ('requested', 'approved', 'active')
         order by l.id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Refuses to remove ducts or subducts that leases holding room use.
fn check_kept(
    held: &[(i64, i64, Option<i64>)],
    before: &DuctBank,
    after: &NewDuctBank,
) -> DbResult<()> {
    for d in &before.ducts {
        let kept = after.ducts.iter().find(|n| n.position == d.position);
        for (lease, duct_id, subduct_id) in held {
            if Some(*duct_id) != d.id {
                continue;
            }
            let gone = match (kept, subduct_id) {
                (None, _) => Some(format!("duct {}", d.position)),
                (Some(k), Some(sid)) => d
                    .subducts
                    .iter()
                    .find(|s| s.id == Some(*sid))
                    .filter(|s| !k.subducts.iter().any(|n| n.position == s.position))
                    .map(|s| format!("subduct {} of duct {}", s.position, d.position)),
                (Some(_), None) => None,
            };
            if let Some(what) = gone {
                return Err(DbError::Conflict {
                    pointer: "/properties/ducts".into(),
                    detail: format!(
                        "{what} is used by lease {lease}, which holds room in it: release or \
                         reject the lease before removing it"
                    ),
                });
            }
        }
    }
    Ok(())
}

async fn write_ducts(conn: &mut PgConnection, bank_id: i64, b: &NewDuctBank) -> DbResult<()> {
    let positions: Vec<&str> = b.ducts.iter().map(|d| d.position.as_str()).collect();
    sqlx::query("delete from ducts where bank_id = $1 and position <> all($2)")
        .bind(bank_id)
        .bind(&positions)
        .execute(&mut *conn)
        .await?;
    for d in &b.ducts {
        let duct_id: i64 = sqlx::query_scalar(
            "insert into ducts (bank_id, position, inner_diameter_mm, material)
             values ($1, $2, $3, $4)
             on conflict (bank_id, position) do update
                 set inner_diameter_mm = excluded.inner_diameter_mm, material = excluded.material
             returning id",
        )
        .bind(bank_id)
        .bind(&d.position)
        .bind(d.inner_diameter_mm)
        .bind(d.material)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_constraint)?;
        let subs: Vec<&str> = d.subducts.iter().map(|s| s.position.as_str()).collect();
        sqlx::query("delete from subducts where duct_id = $1 and position <> all($2)")
            .bind(duct_id)
            .bind(&subs)
            .execute(&mut *conn)
            .await?;
        for s in &d.subducts {
            sqlx::query(
                "insert into subducts (duct_id, position, inner_diameter_mm, outer_diameter_mm, colour)
                 values ($1, $2, $3, $4, $5)
                 on conflict (duct_id, position) do update
                     set inner_diameter_mm = excluded.inner_diameter_mm,
                         outer_diameter_mm = excluded.outer_diameter_mm,
                         colour = excluded.colour",
            )
            .bind(duct_id)
            .bind(&s.position)
            .bind(s.inner_diameter_mm)
            .bind(s.outer_diameter_mm)
            .bind(&s.colour)
            .execute(&mut *conn)
            .await
            .map_err(map_constraint)?;
        }
    }
    Ok(())
}

/// Inserts a duct bank with its ducts and subducts; returns its id. Run it
/// inside a transaction.
///
/// # Errors
/// [`DbError::Invalid`] for an unknown owner or structure, or ends that are
/// not at the structures; [`DbError::Conflict`] for a duplicate external id;
/// else on database failure.
pub async fn insert(conn: &mut PgConnection, b: &NewDuctBank) -> DbResult<i64> {
    check_owner(conn, &b.owner).await?;
    check_ends(conn, b).await?;
    let id: i64 = sqlx::query_scalar(
        "insert into duct_banks (owner_id, from_structure_id, to_structure_id, name, configuration,
                                 encasement, depth_m, status, external_id, synthetic, geom)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ST_SetSRID($11::geometry, 4326))
         returning id",
    )
    .bind(b.owner.column())
    .bind(b.from_structure_id)
    .bind(b.to_structure_id)
    .bind(&b.name)
    .bind(&b.configuration)
    .bind(b.encasement)
    .bind(b.depth_m)
    .bind(b.status)
    .bind(&b.external_id)
    .bind(b.synthetic)
    .bind(wkb::Encode(geo::Geometry::LineString(b.geometry.clone())))
    .fetch_one(&mut *conn)
    .await
    .map_err(map_constraint)?;
    write_ducts(conn, id, b).await?;
    Ok(id)
}

/// Replaces duct bank `id`; false when it does not exist. Ducts and
/// subducts keep their ids where their positions stay (leases name them).
///
/// # Errors
/// As [`insert`]; [`DbError::Conflict`] when a duct or subduct a lease holds
/// room in would be removed.
pub async fn replace(conn: &mut PgConnection, id: i64, b: &NewDuctBank) -> DbResult<bool> {
    let Some(before) = get(conn, id).await? else {
        return Ok(false);
    };
    check_owner(conn, &b.owner).await?;
    check_ends(conn, b).await?;
    let held = holding_leases(conn, id).await?;
    check_kept(&held, &before, b)?;
    sqlx::query(
        "update duct_banks set owner_id = $2, from_structure_id = $3, to_structure_id = $4, name = $5,
                configuration = $6, encasement = $7, depth_m = $8, status = $9, external_id = $10,
                synthetic = $11, geom = ST_SetSRID($12::geometry, 4326)
         where id = $1",
    )
    .bind(id)
    .bind(b.owner.column())
    .bind(b.from_structure_id)
    .bind(b.to_structure_id)
    .bind(&b.name)
    .bind(&b.configuration)
    .bind(b.encasement)
    .bind(b.depth_m)
    .bind(b.status)
    .bind(&b.external_id)
    .bind(b.synthetic)
    .bind(wkb::Encode(geo::Geometry::LineString(b.geometry.clone())))
    .execute(&mut *conn)
    .await
    .map_err(map_constraint)?;
    write_ducts(conn, id, b).await?;
    Ok(true)
}

/// One conduit (a duct, or a subduct of one) of an active bank and what it
/// holds; see `sql/duct_network.sql`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConduitRow {
    /// The bank.
    pub bank_id: i64,
    /// Its first structure.
    pub from_structure_id: i64,
    /// Its last structure.
    pub to_structure_id: i64,
    /// Its geodesic length, metres.
    pub length_m: f64,
    /// Its owning operator (`None`: the city).
    pub owner_id: Option<String>,
    /// The duct (`None`: a bank without ducts).
    pub duct_id: Option<i64>,
    /// The duct's position.
    pub duct: Option<String>,
    /// The subduct, for a subduct's row.
    pub subduct_id: Option<i64>,
    /// The subduct's number.
    pub subduct: Option<String>,
    /// Inner diameter, mm.
    pub inner_mm: Option<f64>,
    /// Outer diameters of what it holds, mm.
    pub held_mm: Vec<f64>,
}

/// Every conduit of the active banks (of `only` these, when given), by
/// bank, duct, subduct.
///
/// # Errors
/// On database failure.
pub async fn conduits<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    only: Option<&[i64]>,
) -> DbResult<Vec<ConduitRow>> {
    Ok(sqlx::query_as(include_str!("sql/duct_network.sql"))
        .bind(only)
        .fetch_all(ex)
        .await?)
}

/// The lines of the active banks, lon/lat, by id.
///
/// # Errors
/// On database failure.
pub async fn active_lines<'e>(
    ex: impl sqlx::PgExecutor<'e>,
) -> DbResult<Vec<(i64, geo::LineString<f64>)>> {
    let rows: Vec<(i64, wkb::Decode<geo::Geometry<f64>>)> =
        sqlx::query_as("select id, geom from duct_banks where status = 'active' order by id")
            .fetch_all(ex)
            .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, g)| match g.geometry {
            Some(geo::Geometry::LineString(l)) => Some((id, l)),
            _ => None,
        })
        .collect())
}
