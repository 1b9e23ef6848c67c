//! Bulk import of towers, fibre routes and data centres from GeoJSON, CSV
//! and OpenCelliD files: validation report (dry run) or an all-or-nothing
//! commit in one transaction, upserting by each operator's `external_id`.
//!
//! The input is streamed: a blocking reader thread parses and validates
//! rows (with the same `New…::from_feature` validators as the API) and hands
//! batches over a bounded channel to the writer, which upserts them inside
//! one transaction. Memory stays bounded by the batch size, the capped
//! problem list and one key per row for duplicate detection (OpenCelliD
//! also keeps a compact record per cell to group cells into sites).
//! Coordinates are lon/lat (EPSG:4326) throughout.

pub mod gpkg;
pub mod opencellid;
pub mod read;

use std::collections::HashSet;
use std::io::Read;

use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::mpsc;

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::db::history::{Change, Op};
use crate::db::{self, DbError};
use crate::domain::CollectionId;
use crate::domain::account::Account;
use crate::domain::data_centre::NewDataCentre;
use crate::domain::fibre::NewFibreRoute;
use crate::domain::operator::Operator;
use crate::domain::tower::NewTower;

pub use opencellid::OpenCellIdOptions;

/// Input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A GeoJSON FeatureCollection (RFC 7946, lon/lat).
    Geojson,
    /// CSV with a header: `lon`,`lat` columns (points) or a `wkt` column.
    Csv,
    /// An OpenCelliD cell export (`radio,mcc,net,area,cell,…`), towers only.
    Opencellid,
    /// A GeoPackage (the layer's feature table, or the first one).
    Gpkg,
}

impl Format {
    /// Parses the `format` parameter.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "geojson" | "json" => Format::Geojson,
            "csv" => Format::Csv,
            "opencellid" => Format::Opencellid,
            "gpkg" => Format::Gpkg,
            _ => return None,
        })
    }

    /// The format a file's extension suggests (`.geojson`/`.json`, `.csv`,
    /// `.gpkg`); a `.csv` whose header starts with OpenCelliD's columns
    /// (`radio,mcc,net,area`) is OpenCelliD. `None` when the extension says
    /// nothing.
    pub fn from_path(path: &std::path::Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match Self::parse(&ext)? {
            Format::Csv if starts_like_opencellid(path) => Some(Format::Opencellid),
            f => Some(f),
        }
    }

    /// The name used in parameters and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Geojson => "geojson",
            Format::Csv => "csv",
            Format::Opencellid => "opencellid",
            Format::Gpkg => "gpkg",
        }
    }
}

/// Whether to store the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    /// Validate and report what would happen; store nothing.
    #[serde(rename = "dry-run")]
    DryRun,
    /// Store everything, or nothing when any row is refused.
    #[serde(rename = "commit")]
    Commit,
}

impl Mode {
    /// Parses the `mode` parameter (`dry-run` or `commit`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dry-run" => Some(Mode::DryRun),
            "commit" => Some(Mode::Commit),
            _ => None,
        }
    }
}

/// Settings of one import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Target layer: towers, fibre-routes or data-centres.
    pub layer: CollectionId,
    /// Input format.
    pub format: Format,
    /// Dry run or commit.
    pub mode: Mode,
    /// The operator the file belongs to: fills a missing `operator` and
    /// refuses rows of any other operator.
    pub operator: Option<String>,
    /// Features written per batch.
    pub batch_size: usize,
    /// Problems listed in the report (the rest are only counted).
    pub max_problems: usize,
    /// OpenCelliD site grouping and sector defaults.
    pub opencellid: OpenCellIdOptions,
}

impl ImportOptions {
    /// Options with the defaults: batches of 1,000, at most 1,000 problems.
    pub fn new(layer: CollectionId, format: Format, mode: Mode) -> Self {
        Self {
            layer,
            format,
            mode,
            operator: None,
            batch_size: 1000,
            max_problems: 1000,
            opencellid: OpenCellIdOptions::default(),
        }
    }
}

/// One problem of the report.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// 1-based data row (CSV, OpenCelliD; the header is not counted, so row
    /// n is line n + 1 of a file without blank lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// 0-based feature index (GeoJSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<u64>,
    /// The column (CSV) or JSON Pointer (GeoJSON) at fault; empty for the
    /// file as a whole.
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

/// The answer of an import: counts, warnings and the (capped) problems.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `dry-run` or `commit`.
    pub mode: String,
    /// Target layer.
    pub layer: String,
    /// Input format.
    pub format: String,
    /// Data rows (or features) read.
    pub rows: u64,
    /// Rows that passed every check.
    pub accepted: u64,
    /// Features that are (or, in a dry run, would be) created.
    pub created: u64,
    /// Existing features (same operator and external id) replaced.
    pub updated: u64,
    /// Existing features that already held the same values.
    pub unchanged: u64,
    /// Rows refused.
    pub rejected: u64,
    /// Remarks that do not refuse a row (assumed defaults, data quality).
    pub warnings: Vec<String>,
    /// The first problems, in input order.
    pub problems: Vec<Problem>,
    /// Every problem found, including those beyond the listed ones.
    pub problems_total: u64,
    /// True when the import was stored.
    pub committed: bool,
}

impl Report {
    fn new(o: &ImportOptions) -> Self {
        Self {
            mode: match o.mode {
                Mode::DryRun => "dry-run".into(),
                Mode::Commit => "commit".into(),
            },
            layer: o.layer.as_str().into(),
            format: o.format.as_str().into(),
            rows: 0,
            accepted: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            rejected: 0,
            warnings: Vec::new(),
            problems: Vec::new(),
            problems_total: 0,
            committed: false,
        }
    }

    fn problem(&mut self, max: usize, p: Problem) {
        self.problems_total += 1;
        if self.problems.len() < max {
            self.problems.push(p);
        }
    }

    /// True when any row was refused or the file could not be read to its end.
    pub fn has_errors(&self) -> bool {
        self.problems_total > 0
    }
}

/// Errors that stop an import before a report can be made.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The layer or format cannot be imported (e.g. districts, GeoPackage).
    #[error("{0}")]
    Unsupported(String),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Db(DbError::Sqlx(e))
    }
}

/// Where a candidate came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loc {
    /// 1-based data row.
    Row(u64),
    /// 0-based feature index.
    Feature(u64),
}

impl Loc {
    pub(crate) fn problem(self, field: impl Into<String>, reason: impl Into<String>) -> Problem {
        let (row, feature) = match self {
            Loc::Row(r) => (Some(r), None),
            Loc::Feature(f) => (None, Some(f)),
        };
        Problem {
            row,
            feature,
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Loc::Row(r) => format!("row {r}"),
            Loc::Feature(f) => format!("feature {f}"),
        }
    }
}

/// A validated feature of one of the writable layers.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Tower(NewTower),
    Fibre(NewFibreRoute),
    DataCentre(NewDataCentre),
}

/// One parsed feature (standing for `rows` input rows) or its problems.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub loc: Loc,
    pub rows: u64,
    pub result: Result<Item, Vec<Problem>>,
}

/// What the reader thread sends to the writer.
#[derive(Debug)]
pub(crate) enum Msg {
    Batch(Vec<Candidate>),
    Warning(String),
    /// The file cannot be read further.
    Fatal(Problem),
}

/// What the reader needs to know about the database.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub options: ImportOptions,
    pub operators: Vec<Operator>,
    /// Plausible lon/lat extent `[west, south, east, north]` of the
    /// service's data: a point outside it whose swapped coordinates lie
    /// inside is refused as lon/lat swapped.
    pub area: [f64; 4],
}

impl Context {
    pub(crate) fn known_operator(&self, id: &str) -> bool {
        self.operators.iter().any(|o| o.id == id)
    }
}

/// Vietnam's lon/lat extent with a margin, used when no district is loaded.
pub use crate::domain::region::COUNTRY_BBOX as VIETNAM_EXTENT;

/// Margin added around the districts' extent, degrees.
pub const AREA_MARGIN_DEG: f64 = 1.0;

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

/// The future of [`Audit::documents`]: `(feature id, GeoJSON)` pairs.
pub type Documents<'c> =
    Pin<Box<dyn Future<Output = Result<Vec<(i64, Value)>, DbError>> + Send + 'c>>;

/// What an import needs from its caller: who imports (for permissions and
/// the audit history) and how features are rendered for the history.
pub trait Audit: Send + Sync {
    /// The GeoJSON documents (as the items API serves them, without links)
    /// of the live features of `layer` with these ids.
    fn documents<'c>(
        &'c self,
        conn: &'c mut sqlx::PgConnection,
        layer: CollectionId,
        ids: &'c [i64],
    ) -> Documents<'c>;
    /// Who imports.
    fn account(&self) -> &Account;
    /// The request id, for the history.
    fn request_id(&self) -> Option<&str>;
    /// Whether the account may write this tower over `before` (the stored
    /// one with the same external id, if any): `Err(reason)` refuses the row.
    fn authorize_tower(
        &self,
        before: Option<&crate::domain::tower::Tower>,
        after: &NewTower,
    ) -> Result<(), String>;
    /// Whether the account may write an asset of operator `owner`.
    fn authorize_owner(&self, layer: CollectionId, owner: &str) -> Result<(), String>;
}

/// Imports `input` into the database per `options`, calling `progress`
/// with the number of rows read after each batch. In commit mode the data is
/// stored only when no row is refused; in a dry run nothing is stored. Both
/// run the same checks and writes in one transaction, which a dry run (or a
/// refused commit) rolls back, so the counts are exact.
///
/// # Errors
/// [`ImportError::Unsupported`] for districts, or OpenCelliD into another
/// layer than towers;
/// [`ImportError::Db`] when the database fails (nothing is stored).
pub async fn run(
    pool: &PgPool,
    input: Box<dyn Read + Send>,
    options: ImportOptions,
    progress: &(dyn Fn(u64) + Sync),
    audit: &dyn Audit,
) -> Result<Report, ImportError> {
    if options.layer == CollectionId::Districts {
        return Err(ImportError::Unsupported(
            "districts cannot be imported; layers are towers, fibre-routes and data-centres".into(),
        ));
    }
    if options.format == Format::Opencellid && options.layer != CollectionId::Towers {
        return Err(ImportError::Unsupported(
            "OpenCelliD files import into the towers layer only".into(),
        ));
    }
    let operators = db::operators::list(pool).await?;
    if let Some(op) = &options.operator
        && !operators.iter().any(|o| &o.id == op)
    {
        return Err(ImportError::Unsupported(format!(
            "unknown operator '{op}' (GET /operators lists them)"
        )));
    }
    let ctx = Context {
        area: service_area(pool).await?,
        operators,
        options: options.clone(),
    };
    let mut report = Report::new(&options);
    let (tx, mut rx) = mpsc::channel::<Msg>(2);
    let reader = tokio::task::spawn_blocking(move || read::produce(input, &ctx, &tx));
    let mut conn = pool.begin().await?;
    let mut failed: Option<DbError> = None;
    while let Some(msg) = rx.recv().await {
        match msg {
            Msg::Warning(w) => report.warnings.push(w),
            Msg::Fatal(p) => report.problem(options.max_problems, p),
            Msg::Batch(batch) => {
                if failed.is_none()
                    && let Err(e) =
                        write_batch(&mut conn, batch, &mut report, &options, audit).await
                {
                    // Keep reading to report every row, but write no more.
                    failed = Some(e);
                }
                progress(report.rows);
            }
        }
    }
    reader
        .await
        .map_err(|e| ImportError::Unsupported(format!("reader failed: {e}")))?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if options.mode == Mode::Commit && !report.has_errors() {
        conn.commit().await?;
        report.committed = true;
    } else {
        conn.rollback().await?;
    }
    Ok(report)
}

async fn write_batch(
    conn: &mut sqlx::PgConnection,
    batch: Vec<Candidate>,
    report: &mut Report,
    options: &ImportOptions,
    audit: &dyn Audit,
) -> Result<(), DbError> {
    let max = options.max_problems;
    let layer = options.layer;
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
            Err(_) => None,
        })
        .collect();
    let existing = db::imports::existing_ids(conn, table, &keys).await?;
    let before: std::collections::HashMap<i64, Value> = audit
        .documents(conn, layer, &existing)
        .await?
        .into_iter()
        .collect();
    let stored_towers: std::collections::HashMap<(String, String), crate::domain::tower::Tower> =
        if layer == CollectionId::Towers {
            db::towers::get_many(conn, &existing)
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
                match audit.authorize_tower(stored_towers.get(&key), &t) {
                    Ok(()) => towers.push((c.loc, c.rows, t)),
                    Err(reason) => tally(
                        report,
                        max,
                        c.loc,
                        c.rows,
                        refused("operator", reason),
                        &mut changed,
                    )?,
                }
            }
            Ok(Item::Fibre(f)) => {
                let outcome = match audit.authorize_owner(layer, &f.operator) {
                    Ok(()) => db::imports::upsert_fibre_route(conn, &f).await,
                    Err(reason) => refused("operator", reason),
                };
                tally(report, max, c.loc, c.rows, outcome, &mut changed)?;
            }
            Ok(Item::DataCentre(d)) => {
                let outcome = match audit.authorize_owner(layer, &d.operator) {
                    Ok(()) => db::imports::upsert_data_centre(conn, &d).await,
                    Err(reason) => refused("operator", reason),
                };
                tally(report, max, c.loc, c.rows, outcome, &mut changed)?;
            }
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
    let after = audit.documents(conn, layer, &changed).await?;
    let ids: Vec<String> = after.iter().map(|(id, _)| id.to_string()).collect();
    let changes: Vec<Change<'_>> = after
        .iter()
        .zip(&ids)
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
                actor: audit.account(),
                request_id: audit.request_id(),
                before: old,
                after: Some(doc),
            }
        })
        .collect();
    db::history::record_many(conn, &changes).await
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

/// Row keys already seen in this file, to report duplicates with both rows.
/// Each key is kept as a 128-bit hash (two SipHash passes), so a
/// million-row file costs tens of megabytes, not a copy of every key; a false
/// duplicate would need a 128-bit collision.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    keys: std::collections::HashMap<u128, u64>,
}

impl Seen {
    fn hash(kind: &str, operator: &str, value: &str) -> u128 {
        use std::hash::{Hash, Hasher};
        let half = |salt: u8| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (salt, kind, operator, value).hash(&mut h);
            h.finish()
        };
        (u128::from(half(1)) << 64) | u128::from(half(2))
    }

    /// Records `(kind, operator, value)` at `loc`; returns where it was seen
    /// first when it is a duplicate.
    pub(crate) fn check(
        &mut self,
        kind: &str,
        operator: &str,
        value: &str,
        loc: Loc,
    ) -> Option<Loc> {
        const FEATURE: u64 = 1 << 63;
        let code = match loc {
            Loc::Row(r) => r,
            Loc::Feature(f) => f | FEATURE,
        };
        match self.keys.entry(Self::hash(kind, operator, value)) {
            std::collections::hash_map::Entry::Occupied(e) => {
                let first = *e.get();
                Some(if first & FEATURE != 0 {
                    Loc::Feature(first & !FEATURE)
                } else {
                    Loc::Row(first)
                })
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(code);
                None
            }
        }
    }
}

/// Ids of operators in a set, for error messages.
pub(crate) fn operator_ids(ops: &[Operator]) -> String {
    let ids: HashSet<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.join(", ")
}

/// True when the file's first line (BOM and case aside) begins with
/// OpenCelliD's `radio,mcc,net,area` columns.
fn starts_like_opencellid(path: &std::path::Path) -> bool {
    use std::io::BufRead;
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = String::new();
    if std::io::BufReader::new(file).read_line(&mut first).is_err() {
        return false;
    }
    let columns: Vec<String> = first
        .trim_start_matches('\u{feff}')
        .split(',')
        .take(4)
        .map(|c| c.trim().trim_matches('"').to_ascii_lowercase())
        .collect();
    columns == ["radio", "mcc", "net", "area"]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_with_opencellid_columns_is_read_as_opencellid() {
        let dir = tempfile::tempdir().unwrap();
        let cells = dir.path().join("cells.csv");
        std::fs::write(
            &cells,
            "\u{feff}radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\r\n",
        )
        .unwrap();
        assert_eq!(Format::from_path(&cells), Some(Format::Opencellid));
        let towers = dir.path().join("towers.csv");
        std::fs::write(&towers, "external_id,operator,site_code,lon,lat\n").unwrap();
        assert_eq!(Format::from_path(&towers), Some(Format::Csv));
        assert_eq!(
            Format::from_path(&dir.path().join("x.gpkg")),
            Some(Format::Gpkg)
        );
        assert_eq!(Format::from_path(&dir.path().join("x.txt")), None);
    }
}
