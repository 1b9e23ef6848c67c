//! The import use-case: bulk files read by [`crate::import`] are checked
//! against the permission policy row by row and upserted by each operator's
//! `external_id` in one transaction, with one audit row per created or
//! updated feature (its stored form), then the coverage index is refreshed.
//! A dry run performs the same writes and rolls back, so its counts are exact.

use std::collections::HashMap;
use std::io::Read;

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::Service;
use super::error::{ServiceError, ServiceResult};
use super::features::Caller;
use super::policy::{Action, Actor, Denied, authorize, authorize_tower};
use super::record::{Key, Record};
use crate::db::history::{Change, Op};
use crate::db::{self, DbError};
use crate::domain::CollectionId;
use crate::domain::account::Account;
use crate::domain::tower::{NewTower, Tower};
use crate::import::{
    AREA_MARGIN_DEG, Candidate, Context, Format, ImportOptions, Item, Loc, Mode, Msg, Report,
    VIETNAM_EXTENT, read,
};

async fn service_area(pool: &PgPool) -> Result<[f64; 4], DbError> {
    Ok(match db::extent(pool, CollectionId::Districts).await? {
        Some([w, s, e, n]) => [
            w - AREA_MARGIN_DEG,
            s - AREA_MARGIN_DEG,
            e + AREA_MARGIN_DEG,
            n + AREA_MARGIN_DEG,
        ],
        None => VIETNAM_EXTENT,
    })
}

impl Service {
    /// Checks that `actor` may import into `options.layer` (before the file
    /// is read): writers only; a carrier imports its own operator's assets,
    /// so its `options.operator` is pinned to it (rows of others are then
    /// refused like rows of another file's operator).
    ///
    /// # Errors
    /// [`ServiceError::Denied`].
    pub fn authorize_import(
        &self,
        actor: &Actor,
        options: &mut ImportOptions,
    ) -> ServiceResult<()> {
        if *actor == Actor::Anonymous {
            return Err(super::policy::sign_in_required("importing").into());
        }
        authorize(
            actor,
            Action::Create,
            options.layer,
            actor.carrier_operator(),
        )?;
        if let Some(mine) = actor.carrier_operator() {
            match options.operator.as_deref() {
                None => options.operator = Some(mine.to_owned()),
                Some(op) => authorize(actor, Action::Create, options.layer, Some(op))?,
            }
        }
        Ok(())
    }

    /// Imports `input` into the database per `options`, calling `progress`
    /// with the number of rows read after each batch. In commit mode the data is
    /// stored only when no row is refused; in a dry run nothing is stored. Both
    /// run the same checks and writes in one transaction, which a dry run (or a
    /// refused commit) rolls back, so the counts are exact.
    ///
    /// # Errors
    /// [`ServiceError::Denied`] when the caller may not import into the layer
    /// (or for another operator); [`ServiceError::Unsupported`] for districts,
    /// OpenCelliD into another layer than towers, or an unknown operator;
    /// [`ServiceError::Db`] when the database fails (nothing is stored).
    pub async fn import(
        &self,
        caller: &Caller,
        input: Box<dyn Read + Send>,
        mut options: ImportOptions,
        progress: &(dyn Fn(u64) + Sync),
    ) -> ServiceResult<Report> {
        let who = caller.account("importing")?;
        self.authorize_import(&caller.actor, &mut options)?;
        let pool = &self.pool;
        if options.layer == CollectionId::Districts {
            return Err(ServiceError::Unsupported(format!(
                "{} cannot be imported; layers are towers, fibre-routes, data-centres, \
                 structures and duct-banks",
                options.layer
            )));
        }
        if options.format == Format::Opencellid && options.layer != CollectionId::Towers {
            return Err(ServiceError::Unsupported(
                "OpenCelliD files import into the towers layer only".into(),
            ));
        }
        let operators = db::operators::list(pool).await?;
        if let Some(op) = &options.operator
            && !operators.iter().any(|o| &o.id == op)
        {
            return Err(ServiceError::Unsupported(format!(
                "unknown operator '{op}' (GET /operators lists them)"
            )));
        }
        // Duct banks are anchored at the stored structures: their ends are
        // found among them (the writer's transaction checks them again).
        let structures = if options.layer == CollectionId::DuctBanks {
            let all = db::structures::all(pool).await?;
            Some(std::sync::Arc::new(crate::import::StructureIndex::new(
                all.iter().map(|s| (s.id, s.lon, s.lat)),
            )))
        } else {
            None
        };
        let ctx = Context {
            area: service_area(pool).await?,
            region: (*self.region).clone(),
            operators,
            options: options.clone(),
            structures,
        };
        let mut report = Report::new(&options);
        let (tx, mut rx) = mpsc::channel::<Msg>(2);
        let mut conn = pool.begin().await?;
        let mut failed: Option<ServiceError> = None;
        // The reader parses the file on the CPU pool; it stops when this
        // future is dropped (its channel closes, and its flag is raised).
        let reader = crate::cpu::run(move |_| read::produce(input, &ctx, &tx));
        let writer = async {
            while let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Warning(w) => report.warnings.push(w),
                    Msg::Fatal(p) => report.problem(options.max_problems, p),
                    Msg::Batch(batch) => {
                        if failed.is_none()
                            && let Err(e) =
                                write_batch(&mut conn, batch, &mut report, &options, who, caller)
                                    .await
                        {
                            // Keep reading to report every row, but write no more.
                            failed = Some(e);
                        }
                        progress(report.rows);
                    }
                }
            }
        };
        let (read, ()) = tokio::join!(reader, writer);
        read?;
        if let Some(e) = failed {
            return Err(e);
        }
        if options.mode == Mode::Commit && !report.has_errors() {
            conn.commit().await?;
            report.committed = true;
            let refreshed = match options.layer {
                CollectionId::Towers => self.coverage.reload(pool).await,
                _ => self.coverage.reload_layers(pool).await,
            };
            if let Err(e) = refreshed {
                tracing::warn!(error = %e, "coverage index refresh after import failed; the change listener will retry");
            }
        } else {
            conn.rollback().await?;
        }
        Ok(report)
    }
}

/// The stored forms of the live features of `layer` with these ids, by id
/// (the audit history's documents).
async fn stored_documents(
    conn: &mut sqlx::PgConnection,
    layer: CollectionId,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Value>> {
    let mut out = HashMap::with_capacity(ids.len());
    for rec in Record::load_many(conn, layer, ids).await? {
        if let Key::Id(id) = rec.key() {
            out.insert(id, rec.stored_document()?);
        }
    }
    Ok(out)
}

/// Whether `actor` may write `after` over `before` (the stored tower with
/// the same external id, if any).
fn authorize_row_tower(
    actor: &Actor,
    before: Option<&Tower>,
    after: &NewTower,
) -> Result<(), Denied> {
    let action = if before.is_some() {
        Action::Update
    } else {
        Action::Create
    };
    authorize_tower(actor, action, before, Some(after))
}

async fn write_batch(
    conn: &mut sqlx::PgConnection,
    batch: Vec<Candidate>,
    report: &mut Report,
    options: &ImportOptions,
    who: &Account,
    caller: &Caller,
) -> ServiceResult<()> {
    let max = options.max_problems;
    let layer = options.layer;
    if layer.is_duct_network() {
        return write_owned_batch(conn, batch, report, options, who, caller).await;
    }
    let table = match layer {
        CollectionId::Towers => "towers",
        CollectionId::FibreRoutes => "fibre_routes",
        _ => "data_centres",
    };
    // The stored versions of the features this batch may update: for the
    // permission rules and the history's `before`.
    let keys: Vec<(String, String)> = batch
        .iter()
        .filter_map(|c| match &c.result {
            Ok(Item::Tower(t)) => Some((t.operator.clone(), t.external_id.clone()?)),
            Ok(Item::Fibre(f)) => Some((f.operator.clone(), f.external_id.clone()?)),
            Ok(Item::DataCentre(d)) => Some((d.operator.clone(), d.external_id.clone()?)),
            Ok(Item::Structure(_) | Item::DuctBank(_)) | Err(_) => None,
        })
        .collect();
    let existing = db::imports::existing_ids(conn, table, &keys).await?;
    let before: std::collections::HashMap<i64, Value> =
        stored_documents(conn, layer, &existing).await?;
    let stored_towers: std::collections::HashMap<(String, String), crate::domain::tower::Tower> =
        if layer == CollectionId::Towers {
            let ids: Vec<crate::domain::TowerId> = existing
                .iter()
                .copied()
                .map(crate::domain::TowerId)
                .collect();
            db::towers::get_many(conn, &ids)
                .await?
                .into_iter()
                .filter_map(|t| Some(((t.operator.clone(), t.external_id.clone()?), t)))
                .collect()
        } else {
            Default::default()
        };
    let mut changed: Vec<i64> = Vec::new();
    let mut towers: Vec<(Loc, u64, NewTower)> = Vec::new();
    for c in batch {
        report.rows += c.rows;
        let refused = |field: &str, reason: String| {
            Ok(db::imports::Outcome::Refused(field.to_owned(), reason))
        };
        match c.result {
            Err(problems) => {
                report.rejected += c.rows;
                for p in problems {
                    report.problem(max, p);
                }
            }
            Ok(Item::Tower(t)) => {
                let key = (
                    t.operator.clone(),
                    t.external_id.clone().unwrap_or_default(),
                );
                match authorize_row_tower(&caller.actor, stored_towers.get(&key), &t) {
                    Ok(()) => towers.push((c.loc, c.rows, t)),
                    Err(denied) => tally(
                        report,
                        max,
                        c.loc,
                        c.rows,
                        refused("operator", denied.to_string()),
                        &mut changed,
                    )?,
                }
            }
            Ok(Item::Fibre(f)) => {
                let outcome =
                    match authorize(&caller.actor, Action::Create, layer, Some(&f.operator)) {
                        Ok(()) => db::imports::upsert_fibre_route(conn, &f).await,
                        Err(denied) => refused("operator", denied.to_string()),
                    };
                tally(report, max, c.loc, c.rows, outcome, &mut changed)?;
            }
            Ok(Item::DataCentre(d)) => {
                let outcome =
                    match authorize(&caller.actor, Action::Create, layer, Some(&d.operator)) {
                        Ok(()) => db::imports::upsert_data_centre(conn, &d).await,
                        Err(denied) => refused("operator", denied.to_string()),
                    };
                tally(report, max, c.loc, c.rows, outcome, &mut changed)?;
            }
            // Written by write_owned_batch.
            Ok(Item::Structure(_) | Item::DuctBank(_)) => {}
        }
    }
    if !towers.is_empty() {
        let list: Vec<NewTower> = towers.iter().map(|(_, _, t)| t.clone()).collect();
        let outcomes = db::imports::upsert_towers(conn, &list).await?;
        for ((loc, rows, _), outcome) in towers.into_iter().zip(outcomes) {
            tally(report, max, loc, rows, Ok(outcome), &mut changed)?;
        }
    }
    // The history of every created or updated feature, in this transaction.
    let after: Vec<(i64, Value)> = stored_documents(conn, layer, &changed)
        .await?
        .into_iter()
        .collect();
    let ids: Vec<String> = after.iter().map(|(id, _)| id.to_string()).collect();
    let changes = import_changes(layer, &after, &before, &ids, who, caller);
    Ok(db::history::record_many(conn, &changes).await?)
}

/// [`write_batch`] for the duct layers (structures, duct banks): each row
/// upserted by its owner (`city` or an operator) and `external_id`, with
/// the same store functions, checks and permission rules as the features
/// API (a bank's ends at its structures, a duct a lease holds kept), each
/// in a savepoint so a refused row leaves the rest of the batch intact.
/// A structure that moves takes its banks' ends along (as through the
/// API), and those banks' changes are in the history too.
async fn write_owned_batch(
    conn: &mut sqlx::PgConnection,
    batch: Vec<Candidate>,
    report: &mut Report,
    options: &ImportOptions,
    who: &Account,
    caller: &Caller,
) -> ServiceResult<()> {
    let max = options.max_problems;
    let layer = options.layer;
    let keys: Vec<(String, String)> = batch
        .iter()
        .filter_map(|c| match &c.result {
            Ok(Item::Structure(s)) => Some((s.owner.as_str().to_owned(), s.external_id.clone()?)),
            Ok(Item::DuctBank(b)) => Some((b.owner.as_str().to_owned(), b.external_id.clone()?)),
            _ => None,
        })
        .collect();
    let table = if layer == CollectionId::Structures {
        "structures"
    } else {
        "duct_banks"
    };
    let owned = db::imports::existing_owned(conn, table, &keys).await?;
    let ids: Vec<i64> = owned.values().copied().collect();
    let before = stored_documents(conn, layer, &ids).await?;
    let mut changed: Vec<i64> = Vec::new();
    // Banks moved with their structures: id → stored form before.
    let mut followers: HashMap<i64, Value> = HashMap::new();
    for c in batch {
        report.rows += c.rows;
        let item = match c.result {
            Err(problems) => {
                report.rejected += c.rows;
                for p in problems {
                    report.problem(max, p);
                }
                continue;
            }
            Ok(item) => item,
        };
        let (owner, ext) = match &item {
            Item::Structure(s) => (&s.owner, &s.external_id),
            Item::DuctBank(b) => (&b.owner, &b.external_id),
            _ => continue,
        };
        let id = ext
            .as_ref()
            .and_then(|e| owned.get(&(owner.as_str().to_owned(), e.clone())))
            .copied();
        let action = if id.is_some() {
            Action::Update
        } else {
            Action::Create
        };
        let outcome = match authorize(&caller.actor, action, layer, owner.column()) {
            Err(denied) => Ok(db::imports::Outcome::Refused(
                "owner".into(),
                denied.to_string(),
            )),
            Ok(()) => {
                if let (Item::Structure(_), Some(id)) = (&item, id) {
                    for (bank, doc) in super::features::banks_following(conn, id).await? {
                        followers.entry(bank).or_insert(doc);
                    }
                }
                upsert_owned(conn, id, &item).await
            }
        };
        tally(report, max, c.loc, c.rows, outcome, &mut changed)?;
    }
    let after: Vec<(i64, Value)> = stored_documents(conn, layer, &changed)
        .await?
        .into_iter()
        .collect();
    let bank_ids: Vec<i64> = followers.keys().copied().collect();
    let banks_after = stored_documents(conn, CollectionId::DuctBanks, &bank_ids).await?;
    let moved: Vec<(i64, &Value, &Value)> = followers
        .iter()
        .filter_map(|(id, old)| {
            let new = banks_after.get(id)?;
            (new != old).then_some((*id, old, new))
        })
        .collect();
    let fids: Vec<String> = after
        .iter()
        .map(|(id, _)| id.to_string())
        .chain(moved.iter().map(|(id, _, _)| id.to_string()))
        .collect();
    let mut changes = import_changes(layer, &after, &before, &fids[..after.len()], who, caller);
    for ((_, old, new), fid) in moved.iter().zip(&fids[after.len()..]) {
        changes.push(Change {
            collection: CollectionId::DuctBanks,
            feature_id: fid,
            op: Op::Update,
            actor: who,
            request_id: caller.request_id.as_deref(),
            before: Some(old),
            after: Some(new),
        });
    }
    Ok(db::history::record_many(conn, &changes).await?)
}

/// The history rows of the features of `layer` an import stored: each one's
/// stored form in `after` (feature ids `fids`, in the same order) against
/// its form `before` the import (none: it was created).
fn import_changes<'a>(
    layer: CollectionId,
    after: &'a [(i64, Value)],
    before: &'a HashMap<i64, Value>,
    fids: &'a [String],
    who: &'a Account,
    caller: &'a Caller,
) -> Vec<Change<'a>> {
    after
        .iter()
        .zip(fids)
        .map(|((id, doc), fid)| {
            let old = before.get(id);
            Change {
                collection: layer,
                feature_id: fid,
                op: if old.is_some() {
                    Op::Update
                } else {
                    Op::Create
                },
                actor: who,
                request_id: caller.request_id.as_deref(),
                before: old,
                after: Some(doc),
            }
        })
        .collect()
}

/// Stores one structure or duct bank over `id` (or as a new one) in a
/// savepoint: rolled back alone when the store refuses it.
async fn upsert_owned(
    conn: &mut sqlx::PgConnection,
    id: Option<i64>,
    item: &Item,
) -> Result<db::imports::Outcome, DbError> {
    use db::imports::Outcome;
    use sqlx::Acquire;
    let mut sp = conn.begin().await?;
    let result: Result<Outcome, DbError> = async {
        Ok(match (item, id) {
            (Item::Structure(s), Some(id)) => match db::structures::get(&mut sp, id).await? {
                Some(stored) if s.same_as(&stored) => Outcome::Unchanged,
                _ => {
                    db::structures::replace(&mut sp, id, s).await?;
                    Outcome::Updated(id)
                }
            },
            (Item::Structure(s), None) => {
                Outcome::Created(db::structures::insert(&mut sp, s).await?)
            }
            (Item::DuctBank(b), Some(id)) => match db::duct_banks::get(&mut sp, id).await? {
                Some(stored) if b.same_as(&stored) => Outcome::Unchanged,
                _ => {
                    db::duct_banks::replace(&mut sp, id, b).await?;
                    Outcome::Updated(id)
                }
            },
            (Item::DuctBank(b), None) => {
                Outcome::Created(db::duct_banks::insert(&mut sp, b).await?)
            }
            _ => Outcome::Unchanged,
        })
    }
    .await;
    match result {
        Ok(o) => {
            sp.commit().await?;
            Ok(o)
        }
        Err(e) => {
            sp.rollback().await?;
            Err(e)
        }
    }
}

/// Adds one outcome to the report; a refused write (a conflict or invalid
/// reference found by the database) becomes a problem of that row.
fn tally(
    report: &mut Report,
    max: usize,
    loc: Loc,
    rows: u64,
    outcome: Result<db::imports::Outcome, DbError>,
    changed: &mut Vec<i64>,
) -> Result<(), DbError> {
    use db::imports::Outcome;
    match outcome {
        Ok(Outcome::Created(id)) => {
            report.created += 1;
            changed.push(id);
        }
        Ok(Outcome::Updated(id)) => {
            report.updated += 1;
            changed.push(id);
        }
        Ok(Outcome::Unchanged) => report.unchanged += 1,
        Ok(Outcome::Refused(field, reason)) => {
            report.rejected += rows;
            report.problem(max, loc.problem(field, reason));
            return Ok(());
        }
        Err(DbError::Conflict { pointer, detail }) => {
            report.rejected += rows;
            report.problem(max, loc.problem(pointer, detail));
            return Ok(());
        }
        Err(DbError::Invalid(inv)) => {
            report.rejected += rows;
            for e in inv.errors {
                report.problem(max, loc.problem(e.pointer, e.detail));
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    report.accepted += rows;
    Ok(())
}
