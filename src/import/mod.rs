//! Readers of bulk-import files (GeoJSON, CSV, OpenCelliD, GeoPackage): they
//! parse and validate rows with the same `New…::from_feature` validators as
//! the API and hand batches of candidates to the import use-case
//! ([`crate::service::imports`]), which writes them in one transaction.
//!
//! The input is streamed: a blocking reader thread parses and validates
//! rows and hands batches over a bounded channel to the writer. Memory stays bounded by the batch size, the capped
//! problem list and one key per row for duplicate detection (OpenCelliD
//! also keeps a compact record per cell to group cells into sites).
//! Coordinates are lon/lat (EPSG:4326) throughout.

pub mod gpkg;
pub mod opencellid;
pub mod read;

use std::collections::HashSet;

use serde::Serialize;

use crate::domain::CollectionId;
use crate::domain::data_centre::NewDataCentre;
use crate::domain::duct_bank::NewDuctBank;
use crate::domain::fibre::NewFibreRoute;
use crate::domain::operator::Operator;
use crate::domain::structure::NewStructure;
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
    /// Target layer: towers, fibre-routes, data-centres, structures or duct-banks.
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
    pub(crate) fn new(o: &ImportOptions) -> Self {
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

    pub(crate) fn problem(&mut self, max: usize, p: Problem) {
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
    Structure(NewStructure),
    DuctBank(NewDuctBank),
}

impl Item {
    /// The kind of route of a fibre route, for the region check.
    pub(crate) fn route(&self) -> Option<crate::domain::region::Route> {
        match self {
            Item::Fibre(f) => Some(f.route()),
            _ => None,
        }
    }
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
    /// Where asset geometries may lie: a row outside is a problem.
    pub region: crate::domain::region::ServiceRegion,
    /// The stored structures, for an import of duct banks (whose ends are
    /// found at them); `None` for other layers.
    pub structures: Option<std::sync::Arc<StructureIndex>>,
}

/// The stored structures by position, to find the structure at each end of
/// an imported duct bank (within [`END_TOLERANCE_M`], as the store checks).
///
/// [`END_TOLERANCE_M`]: crate::domain::duct_bank::bounds::END_TOLERANCE_M
#[derive(Debug, Default)]
pub(crate) struct StructureIndex {
    tree: rstar::RTree<rstar::primitives::GeomWithData<[f64; 2], i64>>,
    by_id: std::collections::HashMap<i64, [f64; 2]>,
}

impl StructureIndex {
    /// The index of `(id, lon, lat)` structures.
    pub(crate) fn new(structures: impl IntoIterator<Item = (i64, f64, f64)>) -> Self {
        let points: Vec<_> = structures
            .into_iter()
            .map(|(id, lon, lat)| rstar::primitives::GeomWithData::new([lon, lat], id))
            .collect();
        let by_id = points.iter().map(|p| (p.data, *p.geom())).collect();
        Self {
            tree: rstar::RTree::bulk_load(points),
            by_id,
        }
    }

    /// The structure at lon/lat: `given` when it lies within the tolerance
    /// (an id from the file that is right here), else the nearest one
    /// within it; `Err` with the distance to the nearest when none is.
    pub(crate) fn at(&self, lon: f64, lat: f64, given: Option<i64>) -> Result<i64, Option<f64>> {
        use geo::{Distance, Haversine, Point};
        let tolerance = crate::domain::duct_bank::bounds::END_TOLERANCE_M;
        let here = Point::new(lon, lat);
        let metres = |p: &[f64; 2]| Haversine.distance(here, Point::new(p[0], p[1]));
        if let Some(id) = given
            && self.by_id.get(&id).is_some_and(|p| metres(p) <= tolerance)
        {
            return Ok(id);
        }
        let nearest = self
            .tree
            .nearest_neighbor([lon, lat])
            .map(|p| (p.data, metres(p.geom())));
        match nearest {
            Some((id, d)) if d <= tolerance => Ok(id),
            Some((_, d)) => Err(Some(d)),
            None => Err(None),
        }
    }
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
