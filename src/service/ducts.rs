//! The shared underground network's use-cases (issue 17): lease requests
//! and their life cycle, the route finder and the capacity map.
//!
//! **Leases.** A request locks the banks it names (`FOR SHARE`) and their
//! ducts (`FOR UPDATE`, in id order), reads what each duct holds in the same
//! transaction, admits the cable in every segment under the city's
//! [`CapacityPolicy`] and stores the lease, or refuses it with a 409 naming
//! the duct and by how much; so two concurrent requests for the last room
//! take turns and only one gets it. A request reserves its room until it is
//! decided ([`LeaseState::holds_room`]). Every lease write records a history
//! row (`duct-leases`).
//!
//! **Snapshot.** The route finder and the capacity map read a
//! [`DuctNetwork`] built from PostGIS and kept while the `structures` and
//! `duct_banks` layer versions stay the same (a lease write moves the
//! latter); it is rebuilt by one reader at a time, on the CPU pool.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, SecondsFormat, Utc};
use rstar::RTree;
use rstar::primitives::{GeomWithData, Rectangle};
use serde_json::{Value, json};

use super::Service;
use super::error::{ServiceError, ServiceResult};
use super::features::Caller;
use super::policy::{LeaseView, authorize_lease_change, authorize_lease_request, sign_in_required};
use crate::db::duct_leases::{LeaseFilter, LeaseRow};
use crate::db::history::{Change, Op};
use crate::db::{self, Bbox};
use crate::domain::Invalid;
use crate::domain::duct::CapacityPolicy;
pub use crate::domain::duct::{AMPLE_FROM_MM, LOW_FROM_MM, capacity_class};
use crate::domain::lease::{Lease, LeaseChange, NewLease, Refused, Segment};
use crate::spatial::duct_route::{self, DuctNetwork, NoRoute, RouteQuery};

/// The history name of leases.
pub const LEASES: &str = "duct-leases";

/// One conduit of a bank in the snapshot, for the capacity map.
#[derive(Debug, Clone)]
struct ConduitInfo {
    duct_id: i64,
    subduct_id: Option<i64>,
    duct: String,
    subduct: Option<String>,
    inner_mm: f64,
    held_mm: Vec<f64>,
}

/// A bank of the snapshot, for the capacity map.
#[derive(Debug, Clone)]
struct BankInfo {
    owner: Option<String>,
    length_m: f64,
    line: geo::LineString<f64>,
    conduits: Vec<ConduitInfo>,
}

/// The duct network as of one pair of layer versions. A copy shares its
/// parts with the original (a persistent map of banks, shared topology and
/// R-tree), so a lease's patch copies little more than what it changes.
#[derive(Debug, Clone)]
pub struct DuctSnapshot {
    versions: (i64, i64),
    /// The graph.
    pub network: DuctNetwork,
    banks: imbl::HashMap<i64, Arc<BankInfo>>,
    tree: Arc<RTree<GeomWithData<Rectangle<[f64; 2]>, i64>>>,
}

/// The duct use-cases' shared state: the capacity policy and the snapshot.
#[derive(Debug, Default)]
pub struct DuctState {
    /// The fill limits (NEC Chapter 9 by default).
    pub policy: CapacityPolicy,
    snapshot: ArcSwapOption<DuctSnapshot>,
    building: tokio::sync::Mutex<()>,
    rebuilds: std::sync::atomic::AtomicU64,
}

impl DuctState {
    /// How many times the snapshot was built from PostGIS (a lease written
    /// by this service patches it instead).
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// State with the fill limits `policy`.
    pub fn new(policy: CapacityPolicy) -> Self {
        Self {
            policy,
            ..Self::default()
        }
    }
}

/// What a route search asks (`GET /ducts/route`).
#[derive(Debug, Clone)]
pub struct RouteRequest {
    /// Start, lon/lat degrees.
    pub from: (f64, f64),
    /// End, lon/lat degrees.
    pub to: (f64, f64),
    /// Outer diameter of the cable, mm.
    pub cable_diameter_mm: f64,
    /// The operator the route is for (the lessee of the lease request the
    /// answer drafts).
    pub operator: Option<String>,
    /// Structures to avoid.
    pub avoid: Vec<i64>,
    /// Extra cost of a bank the city does not own, as a share of its
    /// length (0: none).
    pub prefer_city: f64,
}

fn stamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A lease as a GeoJSON Feature (its banks' lines; `null` when they are
/// all gone).
pub fn lease_document(l: &Lease) -> Value {
    let geometry = if l.geometry.0.is_empty() {
        Value::Null
    } else {
        serde_json::to_value(geojson::Geometry::new(geojson::Value::from(&l.geometry)))
            .unwrap_or(Value::Null)
    };
    json!({
        "type": "Feature",
        "id": l.id,
        "geometry": geometry,
        "properties": {
            "operator": l.operator,
            "state": l.state.as_str(),
            "cable_diameter_mm": l.cable_diameter_mm,
            "fibre_count": l.fibre_count,
            "fibre_route_id": l.fibre_route_id,
            "reference": l.reference,
            "note": l.note,
            "requested_at": stamp(&l.requested_at),
            "decided_at": l.decided_at.as_ref().map(stamp),
            "activated_at": l.activated_at.as_ref().map(stamp),
            "released_at": l.released_at.as_ref().map(stamp),
            "updated_at": stamp(&l.updated_at),
            "segments": l.segments.iter().map(|s| json!({
                "bank_id": s.bank_id,
                "duct_id": s.duct_id,
                "duct": s.duct,
                "subduct_id": s.subduct_id,
                "subduct": subduct_number(s.subduct.as_deref()),
            })).collect::<Vec<_>>(),
        }
    })
}

/// A subduct's number as JSON (an integer, as lease requests name it).
fn subduct_number(position: Option<&str>) -> Value {
    match position {
        None => Value::Null,
        Some(p) => p.parse::<i64>().map_or_else(|_| json!(p), |n| json!(n)),
    }
}

/// A page of leases.
#[derive(Debug)]
pub struct LeasePage {
    /// How many match in all.
    pub matched: i64,
    /// The page, by id.
    pub leases: Vec<Lease>,
}

impl Service {
    /// The network snapshot as of the current layer versions (rebuilt when
    /// the structures or the banks, their ducts or leases changed).
    ///
    /// # Errors
    /// [`ServiceError::Db`]; [`ServiceError::Cpu`] when the pool is closed.
    pub async fn duct_snapshot(&self) -> ServiceResult<Arc<DuctSnapshot>> {
        let v = db::layers::versions(&self.pool).await?;
        let want = (v.structures, v.duct_banks);
        if let Some(s) = self.ducts.snapshot.load_full()
            && s.versions == want
        {
            return Ok(s);
        }
        let _one = self.ducts.building.lock().await;
        if let Some(s) = self.ducts.snapshot.load_full()
            && s.versions >= want
        {
            return Ok(s);
        }
        let mut tx = self.pool.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
        // JIT compilation costs ten times the query here (measured: 340 ms
        // of 870 ms on the sample); the plan is cheap without it.
        sqlx::query("set local jit = off").execute(&mut *tx).await?;
        let v = db::layers::versions(&mut *tx).await?;
        let structures = db::structures::all(&mut *tx).await?;
        let conduits = db::duct_banks::conduits(&mut *tx, None).await?;
        let lines = db::duct_banks::active_lines(&mut *tx).await?;
        tx.commit().await?;
        let policy = self.ducts.policy;
        let versions = (v.structures, v.duct_banks);
        let snap = crate::cpu::run(move |_| {
            build_snapshot(versions, &structures, conduits, lines, policy)
        })
        .await?;
        let snap = Arc::new(snap);
        self.ducts.snapshot.store(Some(snap.clone()));
        self.ducts
            .rebuilds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(snap)
    }

    /// Brings the snapshot up to date after a committed lease write that
    /// moved the `duct_banks` version over `span` and changed what the
    /// ducts of `banks` hold: only those banks' conduits are read again
    /// and patched into a copy of the snapshot. When the snapshot is not at
    /// the write's base version (another write came between), nothing is
    /// done and the next read rebuilds it. Failures are logged.
    async fn patch_snapshot(&self, span: Option<(i64, i64)>, banks: &[i64]) {
        let Some((base, now)) = span else { return };
        let at_base = |s: Option<Arc<DuctSnapshot>>| s.filter(|s| s.versions.1 == base);
        if at_base(self.ducts.snapshot.load_full()).is_none() {
            return;
        }
        let _one = self.ducts.building.lock().await;
        let Some(current) = at_base(self.ducts.snapshot.load_full()) else {
            return;
        };
        let rows = match db::duct_banks::conduits(&self.pool, Some(banks)).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "duct snapshot patch failed; the next read rebuilds it");
                return;
            }
        };
        let mut next = (*current).clone();
        let mut grouped: HashMap<i64, (Vec<duct_route::Conduit>, Vec<ConduitInfo>)> =
            HashMap::new();
        for c in rows {
            let entry = grouped.entry(c.bank_id).or_default();
            if let Some((conduit, info)) = conduit_of(c) {
                entry.0.push(conduit);
                entry.1.push(info);
            }
        }
        for (bank, (conduits, infos)) in grouped {
            next.network.set_conduits(bank, conduits);
            if let Some(info) = next.banks.get(&bank) {
                let patched = BankInfo {
                    conduits: infos,
                    ..(**info).clone()
                };
                next.banks.insert(bank, Arc::new(patched));
            }
        }
        next.versions.1 = now;
        self.ducts.snapshot.store(Some(Arc::new(next)));
    }

    /// Requests a lease: validates, locks, admits the cable in every
    /// segment and stores the lease as `requested`.
    ///
    /// # Errors
    /// [`ServiceError::Denied`]; [`ServiceError::Invalid`] (unknown bank,
    /// duct or subduct, banks that do not follow each other, unknown fibre
    /// route); [`ServiceError::Conflict`] (over fill, occupied subduct);
    /// [`ServiceError::Db`].
    pub async fn request_lease(&self, caller: &Caller, body: &Value) -> ServiceResult<Lease> {
        let req = NewLease::from_json(body)?;
        let operator = authorize_lease_request(&caller.actor, req.operator.as_deref())?;
        let who = caller.account("requesting a duct lease")?;
        let mut tx = self.pool.begin().await?;
        if !db::operators::missing(&mut *tx, std::slice::from_ref(&operator))
            .await?
            .is_empty()
        {
            return Err(Invalid::one("/operator", format!("unknown operator '{operator}'")).into());
        }
        if let Some(route) = req.fibre_route_id
            && db::fibre_routes::get(&mut tx, crate::domain::FibreRouteId(route))
                .await?
                .is_none()
        {
            return Err(Invalid::one("/fibre_route_id", format!("no fibre route {route}")).into());
        }
        let ids: Vec<i64> = req.segments.iter().map(|s| s.bank_id).collect();
        let (banks, loads) = db::duct_leases::lock_loads(&mut tx, &ids, -1).await?;
        let mut errors = Invalid::default();
        let mut segments = Vec::with_capacity(req.segments.len());
        let mut refusals = Vec::new();
        let mut previous: Option<&db::duct_leases::LockedBank> = None;
        for (i, s) in req.segments.iter().enumerate() {
            let Some(bank) = banks.iter().find(|b| b.id == s.bank_id) else {
                errors.push(
                    format!("/segments/{i}/bank_id"),
                    format!("no duct bank {}", s.bank_id),
                );
                previous = None;
                continue;
            };
            if let Some(p) = previous {
                let ends = [p.from_structure_id, p.to_structure_id];
                if !ends.contains(&bank.from_structure_id) && !ends.contains(&bank.to_structure_id)
                {
                    errors.push(
                        format!("/segments/{i}/bank_id"),
                        format!(
                            "duct bank {} does not continue from duct bank {}: they share no structure",
                            bank.id, p.id
                        ),
                    );
                }
            }
            previous = Some(bank);
            let Some(duct) = loads
                .iter()
                .find(|d| d.bank_id == s.bank_id && d.position == s.duct)
            else {
                errors.push(
                    format!("/segments/{i}/duct"),
                    format!("duct bank {} has no duct {}", s.bank_id, s.duct),
                );
                continue;
            };
            let sub = match &s.subduct {
                None => None,
                Some(n) => match duct.subducts.iter().find(|x| &x.position == n) {
                    Some(x) => Some(x),
                    None => {
                        errors.push(
                            format!("/segments/{i}/subduct"),
                            format!(
                                "duct {} of duct bank {} has no subduct {n}",
                                s.duct, s.bank_id
                            ),
                        );
                        continue;
                    }
                },
            };
            if let Err(r) = duct.admit(&self.ducts.policy, sub, req.cable_diameter_mm) {
                refusals.push((i, r));
            }
            segments.push(Segment {
                bank_id: s.bank_id,
                duct_id: duct.id,
                duct: duct.position.clone(),
                subduct_id: sub.map(|x| x.id),
                subduct: sub.map(|x| x.position.clone()),
            });
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        if let Some((i, r)) = refusals.first() {
            return Err(refusal(*i, r, refusals.len()));
        }
        let id = db::duct_leases::insert(
            &mut tx,
            &LeaseRow {
                operator: &operator,
                cable_diameter_mm: req.cable_diameter_mm,
                fibre_count: req.fibre_count,
                fibre_route_id: req.fibre_route_id,
                reference: req.reference.as_deref(),
                note: req.note.as_deref(),
                segments: &segments,
            },
        )
        .await?;
        let lease = db::duct_leases::get(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("lease {id}")))?;
        let after = lease_document(&lease);
        let id_text = id.to_string();
        let change = Change {
            collection: crate::domain::CollectionId::DuctBanks,
            feature_id: &id_text,
            op: Op::Create,
            actor: who,
            request_id: caller.request_id.as_deref(),
            before: None,
            after: Some(&after),
        };
        db::history::record_as(&mut tx, LEASES, &change).await?;
        let span = db::layers::commit_with_span(tx, crate::domain::CollectionId::DuctBanks).await?;
        tracing::info!(lease = id, operator, "duct lease requested");
        self.patch_snapshot(span, &ids).await;
        Ok(lease)
    }

    /// Moves a lease to another state (approve, reject, activate,
    /// release), in one transaction with its history row.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`]; [`ServiceError::Denied`];
    /// [`ServiceError::Invalid`]; [`ServiceError::Conflict`] for a jump the
    /// life cycle does not allow; [`ServiceError::Db`].
    pub async fn change_lease(
        &self,
        caller: &Caller,
        id: i64,
        body: &Value,
    ) -> ServiceResult<Lease> {
        if caller.actor == super::policy::Actor::Anonymous {
            return Err(sign_in_required("changing a duct lease").into());
        }
        let change = LeaseChange::from_json(body)?;
        let who = caller.account("changing a duct lease")?;
        let mut tx = self.pool.begin().await?;
        if !db::duct_leases::lock(&mut tx, id).await? {
            return Err(ServiceError::NotFound(format!("no duct lease {id}")));
        }
        let before = db::duct_leases::get(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no duct lease {id}")))?;
        let view = LeaseView::of(&caller.actor);
        let ids: Vec<i64> = before.segments.iter().map(|s| s.bank_id).collect();
        let owners: Vec<Option<String>> = sqlx::query_scalar(
            "select owner_id from duct_banks where id = any($1)
             union all select owner_id from deleted_duct_banks where id = any($1)",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
        if !sees_lease(&view, &before, &owners) {
            return Err(ServiceError::NotFound(format!("no duct lease {id}")));
        }
        authorize_lease_change(&caller.actor, &before.operator, &owners, change.state)?;
        if !before.state.may_become(change.state) {
            return Err(ServiceError::Conflict {
                pointer: "/state".into(),
                detail: format!(
                    "a lease that is {} cannot become {}: requested → approved or rejected, \
                     approved → active or released, active → released",
                    before.state.as_str(),
                    change.state.as_str()
                ),
            });
        }
        db::duct_leases::set_state(&mut tx, id, &change).await?;
        let after = db::duct_leases::get(&mut tx, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no duct lease {id}")))?;
        let (b, a) = (lease_document(&before), lease_document(&after));
        let id_text = id.to_string();
        let row = Change {
            collection: crate::domain::CollectionId::DuctBanks,
            feature_id: &id_text,
            op: Op::Update,
            actor: who,
            request_id: caller.request_id.as_deref(),
            before: Some(&b),
            after: Some(&a),
        };
        db::history::record_as(&mut tx, LEASES, &row).await?;
        let span = db::layers::commit_with_span(tx, crate::domain::CollectionId::DuctBanks).await?;
        tracing::info!(
            lease = id,
            state = change.state.as_str(),
            "duct lease changed"
        );
        self.patch_snapshot(span, &ids).await;
        Ok(after)
    }

    /// One lease, if the viewer may see it (404 otherwise: its existence is
    /// an occupancy detail too).
    ///
    /// # Errors
    /// [`ServiceError::Denied`] for the public; [`ServiceError::NotFound`].
    pub async fn lease(&self, caller: &Caller, id: i64) -> ServiceResult<Lease> {
        let view = LeaseView::of(&caller.actor);
        if view == LeaseView::None {
            return Err(denied_leases(&caller.actor).into());
        }
        let mut conn = self.pool.acquire().await?;
        let lease = db::duct_leases::get(&mut conn, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("no duct lease {id}")))?;
        let ids: Vec<i64> = lease.segments.iter().map(|s| s.bank_id).collect();
        let owners: Vec<Option<String>> =
            sqlx::query_scalar("select owner_id from duct_banks where id = any($1)")
                .bind(&ids)
                .fetch_all(&mut *conn)
                .await?;
        if !sees_lease(&view, &lease, &owners) {
            return Err(ServiceError::NotFound(format!("no duct lease {id}")));
        }
        Ok(lease)
    }

    /// The leases the viewer may see matching `filter`.
    ///
    /// # Errors
    /// [`ServiceError::Denied`] for the public; [`ServiceError::Db`].
    pub async fn leases(
        &self,
        caller: &Caller,
        mut filter: LeaseFilter,
    ) -> ServiceResult<LeasePage> {
        filter.visible_to = match LeaseView::of(&caller.actor) {
            LeaseView::None => return Err(denied_leases(&caller.actor).into()),
            LeaseView::All => None,
            LeaseView::Operator(op) => Some(op),
        };
        let (matched, leases) = db::duct_leases::list(&self.pool, &filter).await?;
        Ok(LeasePage { matched, leases })
    }

    /// The shortest route with room for a cable (see
    /// [`crate::spatial::duct_route`]).
    ///
    /// # Errors
    /// [`ServiceError::NotFound`] when no route has room (naming the first
    /// bank that blocks) or the ends are not connected.
    pub async fn duct_route(&self, req: RouteRequest) -> ServiceResult<Value> {
        let snap = self.duct_snapshot().await?;
        let cable_mm = req.cable_diameter_mm;
        let found = crate::cpu::run(move |_| {
            let q = RouteQuery {
                from: req.from,
                to: req.to,
                cable_mm: req.cable_diameter_mm,
                avoid: req.avoid.iter().copied().collect::<HashSet<_>>(),
                non_city_penalty: req.prefer_city,
            };
            let route = snap.network.route(&q);
            route.map(|r| route_document(&snap, &r, &req))
        })
        .await?;
        found.map_err(|e| match e {
            NoRoute::Blocked { bank_id } => ServiceError::NotFound(format!(
                "no route has room for a cable of {cable_mm} mm: duct bank {bank_id} is the first \
                 without room on the shortest path"
            )),
            other => ServiceError::NotFound(other.to_string()),
        })
    }

    /// The active banks in `bbox` (all when `None`), by id, from `offset`
    /// at most `limit` of them, with their free capacity as `view` may see
    /// it: a class (none / low / ample) for everyone, and per duct its fill
    /// and the largest cable that still fits for those signed in.
    ///
    /// # Errors
    /// [`ServiceError::Db`].
    pub async fn duct_capacity(
        &self,
        view: LeaseView,
        bbox: Option<Bbox>,
        (limit, offset): (usize, usize),
    ) -> ServiceResult<Value> {
        let snap = self.duct_snapshot().await?;
        let policy = self.ducts.policy;
        Ok(crate::cpu::run(move |_| {
            capacity_document(&snap, &policy, &view, bbox, (limit, offset))
        })
        .await?)
    }
}

impl Service {
    /// The undergrounding programme per district under the city's fill
    /// limits (see [`db::analysis::undergrounding`]).
    ///
    /// # Errors
    /// [`ServiceError::Db`].
    pub async fn undergrounding(&self) -> ServiceResult<Vec<db::analysis::UndergroundingRow>> {
        let p = self.ducts.policy;
        Ok(db::analysis::undergrounding(
            &self.pool,
            (p.one_cable, p.two_cables, p.three_or_more),
            LOW_FROM_MM,
        )
        .await?)
    }

    /// The undergrounding programme per street segment, within
    /// `corridor_m` metres of each (see
    /// [`db::analysis::undergrounding_streets`]).
    ///
    /// # Errors
    /// [`ServiceError::Db`].
    pub async fn undergrounding_streets(
        &self,
        corridor_m: f64,
    ) -> ServiceResult<Vec<db::analysis::StreetSegmentRow>> {
        let p = self.ducts.policy;
        Ok(db::analysis::undergrounding_streets(
            &self.pool,
            (p.one_cable, p.two_cables, p.three_or_more),
            LOW_FROM_MM,
            corridor_m,
        )
        .await?)
    }
}

fn denied_leases(actor: &super::policy::Actor) -> super::policy::Denied {
    match actor {
        super::policy::Actor::Anonymous => sign_in_required("reading duct leases (occupancy)"),
        _ => super::policy::Denied::Forbidden(
            "this token may not read duct leases: occupancy details are for the Department and \
             the operators concerned"
                .into(),
        ),
    }
}

/// True when `view` sees `lease`, whose banks are owned by `owners`.
fn sees_lease(view: &LeaseView, lease: &Lease, owners: &[Option<String>]) -> bool {
    match view {
        LeaseView::All => true,
        LeaseView::None => false,
        LeaseView::Operator(op) => {
            lease.operator == *op || owners.iter().any(|o| o.as_deref() == Some(op))
        }
    }
}

/// The 409 of a refused segment.
fn refusal(i: usize, r: &Refused, count: usize) -> ServiceError {
    let more = if count > 1 {
        format!(" ({} segments in all have no room)", count)
    } else {
        String::new()
    };
    ServiceError::Conflict {
        pointer: format!("/segments/{i}"),
        detail: format!("{r}{more}"),
    }
}

/// A conduit row as the route finder and the capacity map hold it (`None`
/// for the row of a bank without ducts).
fn conduit_of(c: db::duct_banks::ConduitRow) -> Option<(duct_route::Conduit, ConduitInfo)> {
    let (Some(duct_id), Some(duct), Some(inner_mm)) = (c.duct_id, c.duct, c.inner_mm) else {
        return None;
    };
    let conduit = duct_route::Conduit {
        duct_id,
        subduct_id: c.subduct_id,
        inner_mm,
        held_mm: c.held_mm.clone(),
    };
    let info = ConduitInfo {
        duct_id,
        subduct_id: c.subduct_id,
        duct,
        subduct: c.subduct,
        inner_mm,
        held_mm: c.held_mm,
    };
    Some((conduit, info))
}

fn build_snapshot(
    versions: (i64, i64),
    structures: &[crate::domain::structure::Structure],
    conduits: Vec<db::duct_banks::ConduitRow>,
    lines: Vec<(i64, geo::LineString<f64>)>,
    policy: CapacityPolicy,
) -> DuctSnapshot {
    let nodes: Vec<duct_route::Structure> = structures
        .iter()
        .map(|s| duct_route::Structure {
            id: s.id,
            lon: s.lon,
            lat: s.lat,
        })
        .collect();
    let mut lines: HashMap<i64, geo::LineString<f64>> = lines.into_iter().collect();
    let mut banks: Vec<duct_route::Bank> = Vec::new();
    let mut infos: HashMap<i64, BankInfo> = HashMap::new();
    for c in conduits {
        if banks.last().is_none_or(|b| b.id != c.bank_id) {
            banks.push(duct_route::Bank {
                id: c.bank_id,
                from: c.from_structure_id,
                to: c.to_structure_id,
                length_m: c.length_m,
                city_owned: c.owner_id.is_none(),
                conduits: Vec::new(),
            });
            infos.insert(
                c.bank_id,
                BankInfo {
                    owner: c.owner_id.clone(),
                    length_m: c.length_m,
                    line: lines
                        .remove(&c.bank_id)
                        .unwrap_or_else(|| geo::LineString(vec![])),
                    conduits: Vec::new(),
                },
            );
        }
        let bank_id = c.bank_id;
        let Some((conduit, info)) = conduit_of(c) else {
            continue;
        };
        if let Some(b) = banks.last_mut() {
            b.conduits.push(conduit);
        }
        if let Some(i) = infos.get_mut(&bank_id) {
            i.conduits.push(info);
        }
    }
    let tree = RTree::bulk_load(
        infos
            .iter()
            .filter_map(|(id, b)| {
                use geo::BoundingRect;
                let r = b.line.bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    *id,
                ))
            })
            .collect(),
    );
    DuctSnapshot {
        versions,
        network: DuctNetwork::new(&nodes, banks, policy),
        banks: infos.into_iter().map(|(id, b)| (id, Arc::new(b))).collect(),
        tree: Arc::new(tree),
    }
}

fn route_document(snap: &DuctSnapshot, r: &duct_route::Route, req: &RouteRequest) -> Value {
    let positions = |bank: i64, duct: i64, sub: Option<i64>| {
        snap.banks
            .get(&bank)
            .and_then(|b| {
                b.conduits
                    .iter()
                    .find(|c| c.duct_id == duct && c.subduct_id == sub)
            })
            .map_or((None, None), |c| (Some(c.duct.clone()), c.subduct.clone()))
    };
    let legs: Vec<Value> = r
        .legs
        .iter()
        .map(|l| {
            let (duct, subduct) = positions(l.bank_id, l.duct_id, l.subduct_id);
            json!({
                "bank_id": l.bank_id,
                "from_structure_id": l.from,
                "to_structure_id": l.to,
                "length_m": l.length_m,
                "duct_id": l.duct_id,
                "duct": duct,
                "subduct_id": l.subduct_id,
                "subduct": subduct_number(subduct.as_deref()),
            })
        })
        .collect();
    let lines: Vec<geo::LineString<f64>> = r
        .legs
        .iter()
        .filter_map(|l| snap.banks.get(&l.bank_id).map(|b| b.line.clone()))
        .collect();
    let geometry = serde_json::to_value(geojson::Geometry::new(geojson::Value::from(
        &geo::MultiLineString(lines),
    )))
    .unwrap_or(Value::Null);
    let segments: Vec<Value> = legs
        .iter()
        .map(|l| json!({"bank_id": l["bank_id"], "duct": l["duct"], "subduct": l["subduct"]}))
        .collect();
    json!({
        "type": "Feature",
        "geometry": geometry,
        "properties": {
            "from": {"lon": req.from.0, "lat": req.from.1},
            "to": {"lon": req.to.0, "lat": req.to.1},
            "cable_diameter_mm": req.cable_diameter_mm,
            "length_m": r.length_m,
            "structures": r.structures,
            "banks": legs,
            "lease_request": {
                "operator": req.operator,
                "cable_diameter_mm": req.cable_diameter_mm,
                "segments": segments,
            },
        }
    })
}

fn capacity_document(
    snap: &DuctSnapshot,
    policy: &CapacityPolicy,
    view: &LeaseView,
    bbox: Option<Bbox>,
    (limit, offset): (usize, usize),
) -> Value {
    let mut ids: Vec<i64> = match bbox {
        Some(b) => snap
            .tree
            .locate_in_envelope_intersecting(rstar::AABB::from_corners(
                [b.min_lon, b.min_lat],
                [b.max_lon, b.max_lat],
            ))
            .map(|g| g.data)
            .collect(),
        None => snap.banks.keys().copied().collect(),
    };
    ids.sort_unstable();
    let matched = ids.len();
    let features: Vec<Value> = ids
        .iter()
        .skip(offset)
        .take(limit)
        .filter_map(|id| {
            let b = snap.banks.get(id)?;
            let free: Vec<f64> = b
                .conduits
                .iter()
                .map(|c| {
                    if c.subduct.is_some() && !c.held_mm.is_empty() {
                        0.0
                    } else if c.subduct.is_some() {
                        policy.largest_cable_mm(c.inner_mm, &[])
                    } else {
                        policy.largest_cable_mm(c.inner_mm, &c.held_mm)
                    }
                })
                .collect();
            let largest = free.iter().copied().fold(0.0, f64::max);
            let ducts_only = b.conduits.iter().filter(|c| c.subduct.is_none());
            let max_fill = ducts_only
                .clone()
                .map(|c| crate::domain::duct::fill(c.inner_mm, &c.held_mm))
                .fold(0.0, f64::max);
            let mut props = json!({
                "bank_id": id,
                "owner": b.owner.as_deref().unwrap_or("city"),
                "length_m": b.length_m,
                "capacity_class": capacity_class(largest),
            });
            if view.sees_fill() {
                props["largest_cable_mm"] = json!(round2(largest));
                props["max_fill"] = json!(round4(max_fill));
                props["over_limit"] =
                    json!(b.conduits.iter().filter(|c| c.subduct.is_none()).any(|c| {
                        !c.held_mm.is_empty()
                            && crate::domain::duct::fill(c.inner_mm, &c.held_mm)
                                > policy.limit(c.held_mm.len()) + 1e-12
                    }));
                props["conduits"] = Value::Array(
                    b.conduits
                        .iter()
                        .zip(&free)
                        .map(|(c, f)| {
                            json!({
                                "duct": c.duct,
                                "subduct": subduct_number(c.subduct.as_deref()),
                                "inner_diameter_mm": c.inner_mm,
                                "items": c.held_mm.len(),
                                "fill": round4(crate::domain::duct::fill(c.inner_mm, &c.held_mm)),
                                "largest_cable_mm": round2(*f),
                            })
                        })
                        .collect(),
                );
            }
            let geometry =
                serde_json::to_value(geojson::Geometry::new(geojson::Value::from(&b.line)))
                    .unwrap_or(Value::Null);
            Some(json!({"type": "Feature", "id": id, "geometry": geometry, "properties": props}))
        })
        .collect();
    json!({
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": features.len(),
        "fill_limits": {
            "one_cable": policy.one_cable,
            "two_cables": policy.two_cables,
            "three_or_more": policy.three_or_more,
        },
        "capacity_classes": {
            "none": format!("no cable of {LOW_FROM_MM} mm fits"),
            "low": format!("the largest cable that fits is {LOW_FROM_MM}–{AMPLE_FROM_MM} mm"),
            "ample": format!("a cable of {AMPLE_FROM_MM} mm or more fits"),
        },
        "features": features,
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
