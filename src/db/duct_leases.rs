//! Leases of duct space and the loads of the ducts they occupy (migration
//! 0008).

use chrono::{DateTime, Utc};
use geozero::wkb;
use serde::Deserialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, QueryBuilder};

use super::DbResult;
use crate::domain::duct::LeaseState;
use crate::domain::lease::{DuctLoad, Lease, LeaseChange, Segment, SubductLoad};

/// The lease states that hold room, as SQL.
const HOLDING: &str = "('requested', 'approved', 'active')";

#[derive(Deserialize)]
struct SegmentRow {
    bank_id: i64,
    duct_id: i64,
    duct: String,
    subduct_id: Option<i64>,
    subduct: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    operator_id: String,
    state: String,
    cable_diameter_mm: f64,
    fibre_count: Option<i32>,
    fibre_route_id: Option<i64>,
    reference: Option<String>,
    note: Option<String>,
    requested_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    activated_at: Option<DateTime<Utc>>,
    released_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    segments: Json<Vec<SegmentRow>>,
    geom: Option<wkb::Decode<geo::Geometry<f64>>>,
}

impl Row {
    fn into_domain(self) -> Option<Lease> {
        let geometry = match self.geom.and_then(|g| g.geometry) {
            Some(geo::Geometry::MultiLineString(m)) => m,
            Some(geo::Geometry::LineString(l)) => geo::MultiLineString(vec![l]),
            _ => geo::MultiLineString(vec![]),
        };
        Some(Lease {
            id: self.id,
            operator: self.operator_id,
            state: LeaseState::parse(&self.state)?,
            cable_diameter_mm: self.cable_diameter_mm,
            fibre_count: self.fibre_count,
            fibre_route_id: self.fibre_route_id,
            reference: self.reference,
            note: self.note,
            requested_at: self.requested_at,
            decided_at: self.decided_at,
            activated_at: self.activated_at,
            released_at: self.released_at,
            updated_at: self.updated_at,
            segments: self
                .segments
                .0
                .into_iter()
                .map(|s| Segment {
                    bank_id: s.bank_id,
                    duct_id: s.duct_id,
                    duct: s.duct,
                    subduct_id: s.subduct_id,
                    subduct: s.subduct,
                })
                .collect(),
            geometry,
        })
    }
}

const SELECT: &str = "select l.id, l.operator_id, l.state, l.cable_diameter_mm, l.fibre_count,
        l.fibre_route_id, l.reference, l.note, l.requested_at, l.decided_at, l.activated_at,
        l.released_at, l.updated_at,
        coalesce((select json_agg(json_build_object('bank_id', s.bank_id, 'duct_id', s.duct_id,
                         'duct', s.duct, 'subduct_id', s.subduct_id, 'subduct', s.subduct)
                     order by s.seq)
                  from duct_lease_segments s where s.lease_id = l.id), '[]'::json) as segments,
        (select ST_Multi(ST_Collect(b.geom order by s.seq))
         from duct_lease_segments s join duct_banks b on b.id = s.bank_id
         where s.lease_id = l.id) as geom
    from duct_leases l where true";

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct LeaseFilter {
    /// Only leases the operator may see: its own, and those through banks
    /// it owns. `None`: every lease.
    pub visible_to: Option<String>,
    /// Only this lessee.
    pub operator: Option<String>,
    /// Only this state.
    pub state: Option<LeaseState>,
    /// Only leases through this bank.
    pub bank_id: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Leases to skip (by id).
    pub offset: i64,
}

fn push_filter<'a>(qb: &mut QueryBuilder<'a, sqlx::Postgres>, f: &'a LeaseFilter) {
    if let Some(op) = &f.visible_to {
        qb.push(" and (l.operator_id = ")
            .push_bind(op.as_str())
            .push(
                " or exists (select 1 from duct_lease_segments s join duct_banks b on b.id = s.bank_id
                             where s.lease_id = l.id and b.owner_id = ",
            )
            .push_bind(op.as_str())
            .push("))");
    }
    if let Some(op) = &f.operator {
        qb.push(" and l.operator_id = ").push_bind(op.as_str());
    }
    if let Some(st) = f.state {
        qb.push(" and l.state = ").push_bind(st.as_str());
    }
    if let Some(b) = f.bank_id {
        qb.push(" and exists (select 1 from duct_lease_segments s where s.lease_id = l.id and s.bank_id = ")
            .push_bind(b)
            .push(")");
    }
}

/// One page of leases matching `f`, by id, and how many match in all.
///
/// # Errors
/// On database failure.
pub async fn list(pool: &PgPool, f: &LeaseFilter) -> DbResult<(i64, Vec<Lease>)> {
    let mut qb = QueryBuilder::new(SELECT);
    push_filter(&mut qb, f);
    qb.push(" order by l.id limit ")
        .push_bind(f.limit)
        .push(" offset ")
        .push_bind(f.offset);
    let rows: Vec<Row> = qb.build_query_as().fetch_all(pool).await?;
    let mut count = QueryBuilder::new("select count(*) from duct_leases l where true");
    push_filter(&mut count, f);
    let n: i64 = count.build_query_scalar().fetch_one(pool).await?;
    Ok((n, rows.into_iter().filter_map(Row::into_domain).collect()))
}

/// One lease.
///
/// # Errors
/// On database failure.
pub async fn get(conn: &mut PgConnection, id: i64) -> DbResult<Option<Lease>> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} and l.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(Row::into_domain))
}

/// Locks a lease's row until the transaction ends; false when there is none.
///
/// # Errors
/// On database failure.
pub async fn lock(conn: &mut PgConnection, id: i64) -> DbResult<bool> {
    Ok(
        sqlx::query("select 1 from duct_leases where id = $1 for update")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

/// A bank a lease names, as locked for it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LockedBank {
    /// Bank id.
    pub id: i64,
    /// Owning operator (`None`: the city).
    pub owner_id: Option<String>,
    /// Structure at its start.
    pub from_structure_id: i64,
    /// Structure at its end.
    pub to_structure_id: i64,
}

/// Locks the banks `ids` against change (`FOR SHARE`: a bank replaced or
/// deleted concurrently waits for this transaction, and this one for it),
/// then every duct of them (`FOR UPDATE`, in id order: concurrent leases of
/// the same ducts take turns), and reads what each duct holds: the cables
/// of holding leases laid in it directly, its subducts and whether a
/// holding lease occupies each. Leases `except` do not count (none: -1).
///
/// # Errors
/// On database failure.
pub async fn lock_loads(
    conn: &mut PgConnection,
    ids: &[i64],
    except: i64,
) -> DbResult<(Vec<LockedBank>, Vec<DuctLoad>)> {
    let banks: Vec<LockedBank> = sqlx::query_as(
        "select id, owner_id, from_structure_id, to_structure_id from duct_banks
         where id = any($1) order by id for share",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let ducts: Vec<(i64, i64, String, f64)> = sqlx::query_as(
        "select id, bank_id, position, inner_diameter_mm from ducts
         where bank_id = any($1) order by id for update",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let duct_ids: Vec<i64> = ducts.iter().map(|d| d.0).collect();
    let cables: Vec<(i64, f64)> = sqlx::query_as(&format!(
        "select s.duct_id, l.cable_diameter_mm
         from duct_lease_segments s join duct_leases l on l.id = s.lease_id
         where s.duct_id = any($1) and s.subduct_id is null and l.state in {HOLDING} and l.id <> $2
         order by s.duct_id, l.id"
    ))
    .bind(&duct_ids)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?;
    let subducts: Vec<(i64, i64, String, f64, f64, Option<i64>)> = sqlx::query_as(&format!(
        "select sd.id, sd.duct_id, sd.position, sd.inner_diameter_mm, sd.outer_diameter_mm,
                (select min(l.id) from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                 where s.subduct_id = sd.id and l.state in {HOLDING} and l.id <> $2)
         from subducts sd where sd.duct_id = any($1)
         order by sd.duct_id, sd.position::int"
    ))
    .bind(&duct_ids)
    .bind(except)
    .fetch_all(&mut *conn)
    .await?;
    let loads = ducts
        .into_iter()
        .map(|(id, bank_id, position, inner_mm)| DuctLoad {
            id,
            bank_id,
            position,
            inner_mm,
            cables_mm: cables.iter().filter(|c| c.0 == id).map(|c| c.1).collect(),
            subducts: subducts
                .iter()
                .filter(|s| s.1 == id)
                .map(|s| SubductLoad {
                    id: s.0,
                    position: s.2.clone(),
                    inner_mm: s.3,
                    outer_mm: s.4,
                    occupied_by: s.5,
                })
                .collect(),
        })
        .collect();
    Ok((banks, loads))
}

/// What a new lease stores.
#[derive(Debug, Clone)]
pub struct LeaseRow<'a> {
    /// The lessee.
    pub operator: &'a str,
    /// Cable outer diameter, mm.
    pub cable_diameter_mm: f64,
    /// Fibres.
    pub fibre_count: Option<i32>,
    /// The fibre route carried.
    pub fibre_route_id: Option<i64>,
    /// Reference.
    pub reference: Option<&'a str>,
    /// Note.
    pub note: Option<&'a str>,
    /// The resolved segments, in order.
    pub segments: &'a [Segment],
}

/// Inserts a requested lease with its segments; returns its id.
///
/// # Errors
/// On database failure.
pub async fn insert(conn: &mut PgConnection, l: &LeaseRow<'_>) -> DbResult<i64> {
    let id: i64 = sqlx::query_scalar(
        "insert into duct_leases (operator_id, cable_diameter_mm, fibre_count, fibre_route_id, reference, note)
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind(l.operator)
    .bind(l.cable_diameter_mm)
    .bind(l.fibre_count)
    .bind(l.fibre_route_id)
    .bind(l.reference)
    .bind(l.note)
    .fetch_one(&mut *conn)
    .await
    .map_err(super::map_constraint)?;
    let seqs: Vec<i32> = (0..l.segments.len() as i32).collect();
    let banks: Vec<i64> = l.segments.iter().map(|s| s.bank_id).collect();
    let ducts: Vec<i64> = l.segments.iter().map(|s| s.duct_id).collect();
    let subducts: Vec<Option<i64>> = l.segments.iter().map(|s| s.subduct_id).collect();
    let duct_pos: Vec<&str> = l.segments.iter().map(|s| s.duct.as_str()).collect();
    let sub_pos: Vec<Option<&str>> = l.segments.iter().map(|s| s.subduct.as_deref()).collect();
    sqlx::query(
        "insert into duct_lease_segments (lease_id, seq, bank_id, duct_id, subduct_id, duct, subduct)
         select $1, * from unnest($2::int[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[])",
    )
    .bind(id)
    .bind(&seqs)
    .bind(&banks)
    .bind(&ducts)
    .bind(&subducts)
    .bind(&duct_pos)
    .bind(&sub_pos)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Moves a lease to `change.state`, stamping the matching time.
///
/// # Errors
/// On database failure.
pub async fn set_state(conn: &mut PgConnection, id: i64, change: &LeaseChange) -> DbResult<()> {
    sqlx::query(
        "update duct_leases set state = $2,
                note = coalesce($3, note),
                reference = coalesce($4, reference),
                decided_at = case when $2 in ('approved', 'rejected') then now() else decided_at end,
                activated_at = case when $2 = 'active' then now() else activated_at end,
                released_at = case when $2 = 'released' then now() else released_at end
         where id = $1",
    )
    .bind(id)
    .bind(change.state.as_str())
    .bind(&change.note)
    .bind(&change.reference)
    .execute(conn)
    .await?;
    Ok(())
}
