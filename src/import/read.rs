//! Format readers: turn a byte stream into validated candidates, batch by
//! batch, on a blocking thread. Every feature goes through the API's own
//! validators (`New…::from_feature`); this module only maps columns to
//! properties and adds the import's checks (external id present, known
//! operators, lon/lat swapped, duplicates within the file).

use std::io::{BufRead, BufReader, Read};

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::{Candidate, Context, Format, Item, Loc, Msg, Problem, Seen};
use crate::domain::CollectionId;
use crate::domain::data_centre::NewDataCentre;
use crate::domain::duct_bank::NewDuctBank;
use crate::domain::fibre::NewFibreRoute;
use crate::domain::geometry::{Counted, GeometryLimits, over_limit};
use crate::domain::structure::NewStructure;
use crate::domain::tower::NewTower;
use crate::format::json::{self, BoundedValue, Budget, Exceeded, JsonLimits};
use crate::format::{GeometryBudget, GeometryReadError, MAX_GEOMETRY_DEPTH};

/// Collects candidates and sends them in batches.
pub(crate) struct Sink<'a> {
    tx: &'a mpsc::Sender<Msg>,
    batch: Vec<Candidate>,
    size: usize,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(tx: &'a mpsc::Sender<Msg>, size: usize) -> Self {
        Self {
            tx,
            batch: Vec::with_capacity(size.max(1)),
            size: size.max(1),
        }
    }

    pub(crate) fn push(&mut self, c: Candidate) {
        self.batch.push(c);
        if self.batch.len() >= self.size {
            self.flush();
        }
    }

    pub(crate) fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            // The writer only goes away on a database failure; then stop quietly.
            let _ = self.tx.blocking_send(Msg::Batch(batch));
        }
    }

    pub(crate) fn send(&self, msg: Msg) {
        let _ = self.tx.blocking_send(msg);
    }
}

/// Skips a UTF-8 byte order mark at the start of `input`.
pub(crate) fn without_bom(input: Box<dyn Read + Send>) -> BufReader<Box<dyn Read + Send>> {
    let mut r = BufReader::with_capacity(256 * 1024, input);
    if let Ok(buf) = r.fill_buf()
        && buf.starts_with(b"\xEF\xBB\xBF")
    {
        r.consume(3);
    }
    r
}

/// Reads `input` per `ctx` and sends batches to `tx` (the reader thread).
pub(crate) fn produce(input: Box<dyn Read + Send>, ctx: &Context, tx: &mpsc::Sender<Msg>) {
    let mut sink = Sink::new(tx, ctx.options.batch_size);
    let input = without_bom(input);
    match ctx.options.format {
        Format::Geojson => geojson(input, ctx, &mut sink),
        Format::Csv => csv(input, ctx, &mut sink),
        Format::Opencellid => super::opencellid::produce(input, ctx, &mut sink),
        Format::Gpkg => super::gpkg::produce(input, ctx, &mut sink),
    }
    sink.flush();
}

/// How validator pointers are named in the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// JSON Pointers as they are (GeoJSON).
    Pointer,
    /// CSV with `lon` and `lat` columns.
    LonLat,
    /// CSV with a `wkt` column.
    Wkt,
    /// GeoPackage columns, geometry in `geom`.
    Gpkg,
}

fn field_name(pointer: &str, naming: Naming) -> String {
    if naming == Naming::Pointer {
        return pointer.to_owned();
    }
    if let Some(rest) = pointer.strip_prefix("/properties/") {
        return rest.to_owned();
    }
    match (naming, pointer) {
        (Naming::LonLat, p) if p.starts_with("/geometry/coordinates/0") => "lon".into(),
        (Naming::LonLat, p) if p.starts_with("/geometry/coordinates/1") => "lat".into(),
        (Naming::LonLat, p) if p.starts_with("/geometry") => "lon,lat".into(),
        (Naming::Wkt, p) if p.starts_with("/geometry") => "wkt".into(),
        (Naming::Gpkg, p) if p.starts_with("/geometry") => "geom".into(),
        (_, p) => p.trim_start_matches('/').to_owned(),
    }
}

fn inside(area: &[f64; 4], lon: f64, lat: f64) -> bool {
    lon >= area[0] && lon <= area[2] && lat >= area[1] && lat <= area[3]
}

/// The lon/lat-swap check: `Some(reason)` when the point lies outside the
/// service area but its swapped coordinates lie inside.
pub(crate) fn swapped(area: &[f64; 4], lon: f64, lat: f64) -> Option<String> {
    (!inside(area, lon, lat) && inside(area, lat, lon)).then(|| {
        format!(
            "lon {lon}, lat {lat} lies outside the service area, but lon {lat}, lat {lon} lies inside: are longitude and latitude swapped?"
        )
    })
}

fn geometry_swapped(area: &[f64; 4], g: &geo::Geometry<f64>) -> Option<String> {
    use geo::BoundingRect;
    let r = g.bounding_rect()?;
    let c = r.center();
    swapped(area, c.x, c.y)
}

/// Validates one feature (geometry and properties) for the target layer,
/// with the import's own checks; returns its candidate.
fn validate(
    ctx: &Context,
    loc: Loc,
    geometry: Option<&Value>,
    mut props: Map<String, Value>,
    mut problems: Vec<Problem>,
    naming: Naming,
    seen: &mut Seen,
) -> Candidate {
    let field = |p: &str| field_name(p, naming);
    // The duct layers name their owner (`city` or an operator) in `owner`.
    let owner_key = if ctx.options.layer.is_duct_network() {
        "owner"
    } else {
        "operator"
    };
    if let Some(op) = &ctx.options.operator {
        match props.get(owner_key) {
            None | Some(Value::Null) => {
                props.insert(owner_key.into(), Value::String(op.clone()));
            }
            Some(Value::String(s)) if s == op => {}
            Some(other) => problems.push(loc.problem(
                field(&format!("/properties/{owner_key}")),
                format!("this file is imported for operator '{op}', not {other}"),
            )),
        }
    }
    if ctx.options.layer == CollectionId::DuctBanks {
        bank_ends(ctx, loc, geometry, &mut props, &mut problems, naming);
    }
    let validated = match ctx.options.layer {
        CollectionId::Towers => NewTower::from_feature(geometry, &props).map(Item::Tower),
        CollectionId::FibreRoutes => NewFibreRoute::from_feature(geometry, &props).map(Item::Fibre),
        CollectionId::Structures => {
            NewStructure::from_feature(geometry, &props).map(Item::Structure)
        }
        CollectionId::DuctBanks => NewDuctBank::from_feature(geometry, &props).map(Item::DuctBank),
        _ => NewDataCentre::from_feature(geometry, &props).map(Item::DataCentre),
    };
    let item = match validated {
        Ok(item) => Some(item),
        Err(invalid) => {
            problems.extend(
                invalid
                    .errors
                    .into_iter()
                    .map(|e| loc.problem(field(&e.pointer), e.detail)),
            );
            None
        }
    };
    if let Some(item) = &item {
        let (operator, external_id, refs, g) = match item {
            Item::Tower(t) => (
                t.operator.clone(),
                &t.external_id,
                t.referenced_operators(),
                geo::Geometry::Point(geo::Point::new(t.lon, t.lat)),
            ),
            Item::Fibre(f) => (
                f.operator.clone(),
                &f.external_id,
                vec![("/properties/operator".to_owned(), f.operator.clone())],
                f.geometry.clone(),
            ),
            Item::DataCentre(d) => (
                d.operator.clone(),
                &d.external_id,
                vec![("/properties/operator".to_owned(), d.operator.clone())],
                d.geometry.clone(),
            ),
            Item::Structure(x) => (
                owner_text(&x.owner),
                &x.external_id,
                owner_refs(&x.owner),
                geo::Geometry::Point(geo::Point::new(x.lon, x.lat)),
            ),
            Item::DuctBank(b) => (
                owner_text(&b.owner),
                &b.external_id,
                owner_refs(&b.owner),
                geo::Geometry::LineString(b.geometry.clone()),
            ),
        };
        for (pointer, id) in refs {
            if !ctx.known_operator(&id) {
                problems.push(loc.problem(
                    field(&pointer),
                    format!(
                        "unknown operator '{id}'; operators are {}",
                        super::operator_ids(&ctx.operators)
                    ),
                ));
            }
        }
        let geometry_field = || match naming {
            Naming::LonLat => "lon,lat".to_owned(),
            Naming::Wkt => "wkt".to_owned(),
            Naming::Gpkg => "geom".to_owned(),
            Naming::Pointer => "/geometry/coordinates".to_owned(),
        };
        if let Some(reason) = geometry_swapped(&ctx.area, &g) {
            problems.push(loc.problem(geometry_field(), reason));
        } else if let Err(outside) = ctx.region.check(&g, item.route()) {
            problems.extend(
                outside
                    .errors
                    .into_iter()
                    .map(|e| loc.problem(geometry_field(), e.detail)),
            );
        }
        match external_id {
            None => problems.push(loc.problem(
                field("/properties/external_id"),
                "is required for import: it is the key that makes re-importing a file an update",
            )),
            Some(ext) => {
                if let Some(first) = seen.check("external_id", &operator, ext, loc) {
                    problems.push(loc.problem(
                        field("/properties/external_id"),
                        format!(
                            "duplicate external_id '{ext}' of '{operator}': {} and {} both have it",
                            first.describe(),
                            loc.describe()
                        ),
                    ));
                }
            }
        }
        if let Item::Tower(t) = item
            && let Some(first) = seen.check("site_code", &operator, &t.site_code, loc)
        {
            problems.push(loc.problem(
                field("/properties/site_code"),
                format!(
                    "duplicate site_code '{}' of '{operator}': {} and {} both have it",
                    t.site_code,
                    first.describe(),
                    loc.describe()
                ),
            ));
        }
    }
    Candidate {
        loc,
        rows: 1,
        result: match item {
            Some(item) if problems.is_empty() => Ok(item),
            _ => Err(problems),
        },
    }
}

/// An owner as the import keys it (`city` or the operator id).
fn owner_text(o: &crate::domain::structure::Owner) -> String {
    o.as_str().to_owned()
}

/// The operator an owner references, to check that it is known.
fn owner_refs(o: &crate::domain::structure::Owner) -> Vec<(String, String)> {
    o.column()
        .map(|op| vec![("/properties/owner".to_owned(), op.to_owned())])
        .unwrap_or_default()
}

/// Sets a duct bank's `from_structure_id` and `to_structure_id` to the
/// stored structures at its first and last positions (within the 1 m the
/// store checks): an id the file gives is kept when that structure is
/// there, else the nearest one there is taken (so an export of another
/// database imports by position). A bank end with no structure there is a
/// problem: import the structures first.
fn bank_ends(
    ctx: &Context,
    loc: Loc,
    geometry: Option<&Value>,
    props: &mut Map<String, Value>,
    problems: &mut Vec<Problem>,
    naming: Naming,
) {
    let Some(index) = &ctx.structures else {
        return;
    };
    let Some(coords) = geometry
        .and_then(|g| g.get("coordinates"))
        .and_then(Value::as_array)
        .filter(|c| c.len() >= 2)
    else {
        return; // the validator reports the geometry
    };
    let position = |v: Option<&Value>| -> Option<(f64, f64)> {
        let p = v?.as_array()?;
        Some((p.first()?.as_f64()?, p.get(1)?.as_f64()?))
    };
    for (key, end, which) in [
        ("from_structure_id", coords.first(), "first"),
        ("to_structure_id", coords.last(), "last"),
    ] {
        let Some((lon, lat)) = position(end) else {
            return;
        };
        let given = props.get(key).and_then(Value::as_i64);
        match index.at(lon, lat, given) {
            Ok(id) => {
                props.insert(key.into(), Value::from(id));
            }
            Err(nearest) => {
                let how_far = nearest.map_or_else(
                    || "there are no structures yet".to_owned(),
                    |d| format!("the nearest is {d:.1} m away"),
                );
                problems.push(loc.problem(
                    field_name(&format!("/properties/{key}"), naming),
                    format!(
                        "no structure within {} m of the bank's {which} position (lon {lon}, lat {lat}); {how_far}: import the structures first",
                        crate::domain::duct_bank::bounds::END_TOLERANCE_M
                    ),
                ));
                // Keep the validator from reporting the missing id again.
                props.insert(
                    key.into(),
                    Value::from(i64::MAX - i64::from(which == "last")),
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// GeoJSON: a FeatureCollection read feature by feature.
// ---------------------------------------------------------------------------

struct Collection<'a, F: FnMut(Value, Option<Exceeded>)> {
    each: &'a mut F,
    kind: &'a mut Option<String>,
}

impl<'de, F: FnMut(Value, Option<Exceeded>)> DeserializeSeed<'de> for Collection<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Value, Option<Exceeded>)> Visitor<'de> for Collection<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "features" => map.next_value_seed(Features {
                    each: &mut *self.each,
                })?,
                "type" => *self.kind = Some(map.next_value::<String>()?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Features<'a, F: FnMut(Value, Option<Exceeded>)> {
    each: &'a mut F,
}

impl<'de, F: FnMut(Value, Option<Exceeded>)> DeserializeSeed<'de> for Features<'_, F> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value, Option<Exceeded>)> Visitor<'de> for Features<'_, F> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of GeoJSON Features")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // Each feature within its own budget: one over it is skipped (read,
        // not built) and reported, and the next is read afresh.
        let mut budget = Budget::skipping(JsonLimits::default());
        while let Some(v) = seq.next_element_seed(BoundedValue {
            budget: &mut budget,
        })? {
            (self.each)(v, budget.exceeded());
            budget.reset();
        }
        Ok(())
    }
}

fn geojson(input: impl Read, ctx: &Context, sink: &mut Sink<'_>) {
    let mut seen = Seen::default();
    let mut index = 0u64;
    let mut kind = None;
    let mut each = |v: Value, over: Option<Exceeded>| {
        let loc = Loc::Feature(index);
        index += 1;
        let candidate = match v {
            _ if over.is_some() => Candidate {
                loc,
                rows: 1,
                result: Err(vec![loc.problem(
                    "",
                    format!(
                        "the feature holds {}",
                        over.map(|e| e.to_string()).unwrap_or_default()
                    ),
                )]),
            },
            Value::Object(mut obj)
                if obj.get("type").and_then(Value::as_str) == Some("Feature") =>
            {
                let props = match obj.remove("properties") {
                    Some(Value::Object(p)) => p,
                    _ => Map::new(),
                };
                validate(
                    ctx,
                    loc,
                    obj.get("geometry"),
                    props,
                    Vec::new(),
                    Naming::Pointer,
                    &mut seen,
                )
            }
            _ => Candidate {
                loc,
                rows: 1,
                result: Err(vec![loc.problem("/type", "not a GeoJSON Feature")]),
            },
        };
        sink.push(candidate);
    };
    let mut de = serde_json::Deserializer::from_reader(input);
    let parsed = Collection {
        each: &mut each,
        kind: &mut kind,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    let fatal = match parsed {
        Err(e) => Some(format!(
            "malformed JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        )),
        Ok(()) if kind.as_deref() != Some("FeatureCollection") => Some(
            "the file is not a GeoJSON FeatureCollection (\"type\" must be \"FeatureCollection\")"
                .into(),
        ),
        Ok(()) => None,
    };
    if let Some(reason) = fatal {
        sink.flush();
        sink.send(Msg::Fatal(Problem {
            row: None,
            feature: Some(index),
            field: String::new(),
            reason,
        }));
    }
}

// ---------------------------------------------------------------------------
// CSV: a header, then one feature per row.
// ---------------------------------------------------------------------------

/// CSV columns read as numbers (when they parse as one).
const NUMERIC: &[&str] = &[
    "height_m",
    "depth_m",
    "from_structure_id",
    "to_structure_id",
    "fibre_count",
    "capacity_gbps",
    "tier",
    "power_mw",
    "racks",
];

/// Turns one CSV cell into a property value (`None` for an empty cell).
pub(crate) fn cell_value(
    column: &str,
    text: &str,
    loc: Loc,
    problems: &mut Vec<Problem>,
) -> Option<Value> {
    if text.is_empty() {
        return None;
    }
    Some(match column {
        c if NUMERIC.contains(&c) => match text.parse::<f64>() {
            Ok(x) if x.fract() == 0.0 && x.abs() < 9e15 => Value::from(x as i64),
            Ok(x) => serde_json::Number::from_f64(x)
                .map_or_else(|| Value::String(text.into()), Value::Number),
            Err(_) => Value::String(text.into()),
        },
        "synthetic" => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Value::Bool(true),
            "false" | "0" | "no" => Value::Bool(false),
            _ => Value::String(text.into()),
        },
        // GDAL writes a string list to GeoPackage as `(2:vnpt,mobifone)`.
        "tenants" if text.starts_with('(') && text.ends_with(')') && text.contains(':') => {
            let inner = &text[text.find(':').map_or(1, |i| i + 1)..text.len() - 1];
            Value::Array(
                inner
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(|t| Value::String(t.into()))
                    .collect(),
            )
        }
        "tenants" if !text.starts_with('[') => Value::Array(
            text.split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(|t| Value::String(t.into()))
                .collect(),
        ),
        "tenants" | "sectors" | "ducts" => {
            match json::from_slice(text.as_bytes(), JsonLimits::default()) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(loc.problem(column, format!("is not valid JSON: {e}")));
                    return None;
                }
            }
        }
        _ => Value::String(text.into()),
    })
}

fn parse_coordinate(
    text: Option<&str>,
    column: &str,
    loc: Loc,
    problems: &mut Vec<Problem>,
) -> Option<f64> {
    match text.map(str::trim) {
        None | Some("") => {
            problems.push(loc.problem(column, "is required"));
            None
        }
        Some(t) => match t.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(x),
            _ => {
                problems.push(loc.problem(
                    column,
                    format!("'{t}' is not a number (decimal degrees with a '.')"),
                ));
                None
            }
        },
    }
}

/// A geometry as a GeoJSON geometry object, for the validators.
pub(crate) fn geometry_value(g: &geo::Geometry<f64>) -> Value {
    let g = geojson::Geometry::new(geojson::Value::from(g));
    serde_json::to_value(g).unwrap_or(Value::Null)
}

/// What a geometry reader of an import for `layer` may read: the nesting
/// depth and the layer's vertex limit.
pub(crate) fn geometry_budget(layer: CollectionId) -> GeometryBudget {
    GeometryBudget {
        max_depth: MAX_GEOMETRY_DEPTH,
        max_positions: GeometryLimits::of(layer).max_vertices,
    }
}

/// A geometry reader's refusal as a problem of a feature of `layer` (the
/// vertex limit worded as the API words it).
pub(crate) fn geometry_problem(layer: CollectionId, e: &GeometryReadError) -> String {
    match e {
        GeometryReadError::Positions { found, .. } => over_limit(layer, Counted::Vertices, *found),
        other => other.to_string(),
    }
}

fn wkt_geometry(text: &str, layer: CollectionId) -> Result<Value, String> {
    let g = crate::format::wkt::read(text, geometry_budget(layer))
        .map_err(|e| geometry_problem(layer, &e))?;
    Ok(geometry_value(&g))
}

/// Validates one row of a table (GeoPackage): as CSV, with the geometry
/// column named `geom`. A missing geometry is reported by the caller.
pub(crate) fn validate_row(
    ctx: &Context,
    loc: Loc,
    geometry: Option<Value>,
    props: Map<String, Value>,
    mut problems: Vec<Problem>,
    seen: &mut Seen,
) -> Candidate {
    match geometry {
        Some(g) => validate(ctx, loc, Some(&g), props, problems, Naming::Gpkg, seen),
        None => {
            let mut c = validate(ctx, loc, None, props, Vec::new(), Naming::Gpkg, seen);
            if let Err(rest) = c.result {
                problems.extend(rest.into_iter().filter(|p| p.field != "geom"));
            }
            c.result = Err(problems);
            c
        }
    }
}

fn csv(input: impl Read, ctx: &Context, sink: &mut Sink<'_>) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let fatal = |sink: &mut Sink<'_>, row: Option<u64>, reason: String| {
        sink.flush();
        sink.send(Msg::Fatal(Problem {
            row,
            feature: None,
            field: String::new(),
            reason,
        }));
    };
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
            .collect(),
        Err(e) => return fatal(sink, None, format!("cannot read the CSV header: {e}")),
    };
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let (lon_col, lat_col, wkt_col) = (
        col(&["lon", "longitude", "lng"]),
        col(&["lat", "latitude"]),
        col(&["wkt"]),
    );
    let naming = match (wkt_col, lon_col, lat_col) {
        (Some(_), _, _) => Naming::Wkt,
        (None, Some(_), Some(_)) => Naming::LonLat,
        _ => {
            return fatal(
                sink,
                None,
                format!(
                    "the header needs lon and lat columns (decimal degrees, EPSG:4326) or a wkt column; it has: {}",
                    headers.join(", ")
                ),
            );
        }
    };
    let geometry_cols = [lon_col, lat_col, wkt_col];
    let mut seen = Seen::default();
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return fatal(sink, Some(row + 1), format!("unreadable CSV: {e}")),
        }
        row += 1;
        let loc = Loc::Row(row);
        let mut problems = Vec::new();
        if record.len() > headers.len() {
            problems.push(loc.problem(
                "",
                format!(
                    "the row has {} fields, the header {}: quote fields that contain commas",
                    record.len(),
                    headers.len()
                ),
            ));
        }
        let mut props = Map::new();
        for (i, name) in headers.iter().enumerate() {
            if geometry_cols.contains(&Some(i)) || name.is_empty() {
                continue;
            }
            if let Some(v) = record
                .get(i)
                .and_then(|t| cell_value(name, t, loc, &mut problems))
            {
                props.insert(name.clone(), v);
            }
        }
        let geometry = match naming {
            Naming::Wkt => match record.get(wkt_col.unwrap_or(0)).map(str::trim) {
                None | Some("") => {
                    problems.push(loc.problem("wkt", "is required"));
                    None
                }
                Some(t) => match wkt_geometry(t, ctx.options.layer) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        problems.push(loc.problem("wkt", e));
                        None
                    }
                },
            },
            _ => {
                let lon = parse_coordinate(
                    lon_col.and_then(|i| record.get(i)),
                    "lon",
                    loc,
                    &mut problems,
                );
                let lat = parse_coordinate(
                    lat_col.and_then(|i| record.get(i)),
                    "lat",
                    loc,
                    &mut problems,
                );
                match (lon, lat) {
                    (Some(x), Some(y)) => {
                        Some(serde_json::json!({"type": "Point", "coordinates": [x, y]}))
                    }
                    _ => None,
                }
            }
        };
        let candidate = if geometry.is_none() {
            // Report the geometry's own problem, and still check the properties.
            let mut c = validate(ctx, loc, None, props, Vec::new(), naming, &mut seen);
            let rest = match c.result {
                Err(p) => p,
                Ok(_) => Vec::new(),
            };
            problems.extend(
                rest.into_iter()
                    .filter(|p| !matches!(p.field.as_str(), "lon" | "lat" | "lon,lat" | "wkt")),
            );
            c.result = Err(problems);
            c
        } else {
            validate(
                ctx,
                loc,
                geometry.as_ref(),
                props,
                problems,
                naming,
                &mut seen,
            )
        };
        sink.push(candidate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_columns_and_geojson_pointers_are_named_for_the_reader() {
        assert_eq!(
            field_name("/properties/height_m", Naming::LonLat),
            "height_m"
        );
        assert_eq!(field_name("/geometry/coordinates/1", Naming::LonLat), "lat");
        assert_eq!(field_name("/geometry", Naming::Wkt), "wkt");
        assert_eq!(
            field_name("/properties/x", Naming::Pointer),
            "/properties/x"
        );
    }

    #[test]
    fn a_point_whose_swapped_coordinates_fall_in_the_area_is_flagged() {
        let area = [107.0, 15.0, 109.0, 17.0];
        assert!(swapped(&area, 16.05, 108.2).is_some());
        assert!(swapped(&area, 108.2, 16.05).is_none());
        assert!(swapped(&area, 2.35, 48.85).is_none());
    }
}
