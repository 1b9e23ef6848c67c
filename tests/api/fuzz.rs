//! Time-bounded fuzzing of every parser of user input, on stable Rust:
//! GeoJSON features of each collection, geometries, the items, bbox and
//! filter parameters, the merge patch, and random requests through the real
//! router (no answer may be a 5xx, and a refused write changes nothing).
//!
//! Inputs mix fully random JSON and strings with mutations of valid
//! features and parameters, so the deep validation paths run too. Each
//! target runs `FUZZ_SECONDS` (default 2); `FUZZ_SEED` fixes the seed, which
//! every target prints. `scripts/fuzz.sh` runs them longer.

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;
use crate::common::*;
use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::domain::CollectionId;
use telecom_gis::domain::geometry::parse_geometry;
use telecom_gis::http::error::ApiError;
use telecom_gis::http::limits::RateLimits;
use telecom_gis::http::params::{MAX_LIMIT, items_filter, parse_bbox, parse_pairs};
use telecom_gis::service::features::parse_feature;

// ---------------------------------------------------------------- harness

/// One fuzz target: a seeded runner and a deadline.
struct Fuzz {
    name: &'static str,
    runner: TestRunner,
    seed: u64,
    start: Instant,
    budget: Duration,
    inputs: u64,
}

impl Fuzz {
    fn new(name: &'static str) -> Self {
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        let seconds: f64 = std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)
            .unwrap_or(2.0);
        // The seed and the target's name seed its generator, so targets
        // differ and each is reproducible on its own.
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        for (i, b) in name.bytes().enumerate() {
            bytes[8 + i % 24] ^= b;
        }
        let runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
        );
        println!("fuzz {name}: seed {seed} (FUZZ_SEED={seed} reproduces), {seconds} s");
        Self {
            name,
            runner,
            seed,
            start: Instant::now(),
            budget: Duration::from_secs_f64(seconds),
            inputs: 0,
        }
    }

    /// The next input, or `None` when the time is up.
    fn next<S: Strategy>(&mut self, strategy: &S) -> Option<S::Value> {
        if self.start.elapsed() >= self.budget {
            return None;
        }
        self.inputs += 1;
        Some(
            strategy
                .new_tree(&mut self.runner)
                .expect("strategies here never reject")
                .current(),
        )
    }

    /// Runs `check` on `input`; a panic or an `Err` fails the target.
    fn check<T: Debug>(&self, input: &T, check: impl FnOnce() -> Result<(), String>) {
        match catch_unwind(AssertUnwindSafe(check)) {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => self.fail(input, &msg),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                self.fail(input, &format!("panicked: {msg}"))
            }
        }
    }

    fn fail(&self, input: &dyn Debug, msg: &str) -> ! {
        panic!(
            "fuzz {}: failure at input {} (FUZZ_SEED={}): {msg}\ninput: {input:?}",
            self.name, self.inputs, self.seed
        )
    }

    fn done(self) {
        println!(
            "fuzz {}: {} inputs in {:.1} s, 0 failures",
            self.name,
            self.inputs,
            self.start.elapsed().as_secs_f64()
        );
    }
}

// ------------------------------------------------------------- strategies

const WORDS: &[&str] = &[
    "",
    " ",
    "Feature",
    "FeatureCollection",
    "Point",
    "MultiPoint",
    "LineString",
    "MultiLineString",
    "Polygon",
    "MultiPolygon",
    "GeometryCollection",
    "viettel",
    "vnpt",
    "mobifone",
    "fpt",
    "2G",
    "3G",
    "4G",
    "5G",
    "monopole",
    "rooftop",
    "operational",
    "planned",
    "retired",
    "underground",
    "aerial",
    "T01",
    "HC",
    "name",
    "urn:ogc:def:crs:EPSG::3857",
    "urn:ogc:def:crs:OGC:1.3:CRS84",
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    "NaN",
    "-0",
    "1e400",
    "null",
    "' or '1'='1",
    "'; drop table towers; --",
    "\u{0}",
    "\u{202e}ừ",
    "%00",
];

const KEYS: &[&str] = &[
    "type",
    "geometry",
    "properties",
    "coordinates",
    "geometries",
    "id",
    "crs",
    "bbox",
    "name",
    "operator",
    "site_code",
    "structure_type",
    "height_m",
    "status",
    "tenants",
    "sectors",
    "technology",
    "frequency_mhz",
    "azimuth_deg",
    "beamwidth_deg",
    "tilt_deg",
    "eirp_dbm",
    "range_m",
    "placement",
    "fibre_count",
    "capacity_gbps",
    "external_id",
    "tier",
    "power_mw",
    "racks",
    "code",
    "population",
    "synthetic",
];

fn number() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        (100.0..120.0f64).prop_map(|f| json!(f)),
        (5.0..25.0f64).prop_map(|f| json!(f)),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            180.0,
            -180.0,
            180.000_001,
            90.0,
            -90.5,
            360.0,
            361.0,
            3500.0,
            1e9,
            1e308,
            -1e308,
            5e-324,
        ])
        .prop_map(|f| json!(f)),
    ]
}

fn text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        2 => ".{0,12}",
        1 => "[a-z0-9_-]{0,10}",
        1 => Just("x".repeat(300)),
    ]
}

fn key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => text(),
    ]
}

/// Arrays of positions near Đà Nẵng, nested 1–3 deep.
fn coordinates() -> impl Strategy<Value = Value> + Clone {
    let position = prop_oneof![
        4 => (108.0..108.4f64, 15.9..16.2f64).prop_map(|(x, y)| json!([x, y])),
        1 => prop::collection::vec(number(), 0..4).prop_map(Value::Array),
    ];
    let line = prop::collection::vec(position.clone(), 0..6).prop_map(Value::Array);
    let lines = prop::collection::vec(line.clone(), 0..3).prop_map(Value::Array);
    let polys = prop::collection::vec(lines.clone(), 0..3).prop_map(Value::Array);
    prop_oneof![position, line, lines, polys]
}

fn any_json() -> impl Strategy<Value = Value> + Clone {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// One change somewhere in a JSON document: `path` picks a child at each
/// level (index modulo the number of children).
#[derive(Debug, Clone)]
enum Edit {
    Set(Vec<usize>, Value),
    Remove(Vec<usize>),
    Null(Vec<usize>),
    Duplicate(Vec<usize>),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> + Clone {
    let path = prop::collection::vec(any::<usize>(), 0..6);
    let replacement = prop_oneof![
        any_json(),
        number(),
        text().prop_map(Value::String),
        coordinates()
    ];
    let edit = prop_oneof![
        4 => (path.clone(), replacement).prop_map(|(p, v)| Edit::Set(p, v)),
        2 => path.clone().prop_map(Edit::Remove),
        1 => path.clone().prop_map(Edit::Null),
        1 => path.prop_map(Edit::Duplicate),
    ];
    prop::collection::vec(edit, 1..4)
}

fn apply(v: &mut Value, path: &[usize], edit: &Edit) {
    if let Some((&i, rest)) = path.split_first() {
        let remove_here = rest.is_empty() && matches!(edit, Edit::Remove(_));
        match v {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(i % m.len()).cloned().unwrap_or_default();
                if remove_here {
                    m.remove(&k);
                } else if let Some(child) = m.get_mut(&k) {
                    apply(child, rest, edit);
                }
                return;
            }
            Value::Array(a) if !a.is_empty() => {
                let j = i % a.len();
                if remove_here {
                    a.remove(j);
                } else {
                    apply(&mut a[j], rest, edit);
                }
                return;
            }
            _ => {}
        }
    }
    match edit {
        Edit::Set(_, x) => *v = x.clone(),
        Edit::Remove(_) | Edit::Null(_) => *v = Value::Null,
        Edit::Duplicate(_) => match v {
            Value::Array(a) if !a.is_empty() => a.push(a[0].clone()),
            Value::Object(_) => {}
            other => *other = json!([other.clone(), other.clone()]),
        },
    }
}

fn mutated(valid: Value, edits: &[Edit]) -> Value {
    let mut v = valid;
    for e in edits {
        let path = match e {
            Edit::Set(p, _) | Edit::Remove(p) | Edit::Null(p) | Edit::Duplicate(p) => p,
        };
        apply(&mut v, path, e);
    }
    v
}

fn valid_feature(c: CollectionId) -> Value {
    match c {
        CollectionId::Towers => tower_feature(),
        CollectionId::FibreRoutes => fibre_feature(),
        CollectionId::DataCentres => data_centre_feature(),
        CollectionId::Districts => district_feature(),
        CollectionId::Structures => structure_feature(),
        CollectionId::DuctBanks => duct_bank_feature(1, 2),
    }
}

/// Random JSON (1 in 5) or a mutation of a valid feature of `c`.
fn feature(c: CollectionId) -> impl Strategy<Value = Value> + Clone {
    let valid = valid_feature(c);
    prop_oneof![
        1 => any_json(),
        4 => edits().prop_map(move |e| mutated(valid.clone(), &e)),
    ]
}

/// A parser may refuse input only as a 400 or a 422, never otherwise; and
/// its problem document must render.
fn refused_cleanly(e: &ApiError) -> Result<(), String> {
    let p = e.problem();
    serde_json::to_vec(&p).map_err(|e| e.to_string())?;
    match e {
        ApiError::BadRequest { .. } | ApiError::Invalid(_) => Ok(()),
        other => Err(format!("refused as {} ({other})", p.status)),
    }
}

// ------------------------------------------------------ in-process targets

fn fuzz_features(name: &'static str, c: CollectionId) {
    let mut f = Fuzz::new(name);
    let strategy = feature(c);
    while let Some(v) = f.next(&strategy) {
        f.check(&v, || {
            // The split into Feature parts, then the whole validation of create.
            match parse_feature(c, &v) {
                Ok(()) => Ok(()),
                Err(e) => refused_cleanly(&ApiError::from(e)),
            }
        });
    }
    f.done();
}

#[test]
fn fuzz_tower_features() {
    fuzz_features("feature_towers", CollectionId::Towers);
}

#[test]
fn fuzz_fibre_route_features() {
    fuzz_features("feature_fibre_routes", CollectionId::FibreRoutes);
}

#[test]
fn fuzz_data_centre_features() {
    fuzz_features("feature_data_centres", CollectionId::DataCentres);
}

#[test]
fn fuzz_district_features() {
    fuzz_features("feature_districts", CollectionId::Districts);
}

#[test]
fn fuzz_geometries() {
    let mut f = Fuzz::new("geometry");
    let valid: Vec<Value> = CollectionId::ALL
        .iter()
        .map(|c| valid_feature(*c)["geometry"].clone())
        .chain([
            json!({"type": "MultiPolygon", "coordinates": [[[[108.0, 16.0], [108.1, 16.0], [108.1, 16.1], [108.0, 16.0]]]]}),
            json!({"type": "MultiLineString", "coordinates": [[[108.0, 16.0], [108.1, 16.0]], [[108.2, 16.0], [108.3, 16.1]]]}),
            json!({"type": "Polygon", "coordinates": [[[108.0, 16.0], [108.1, 16.0], [108.1, 16.1], [108.0, 16.1], [108.0, 16.0]],
                    [[108.02, 16.02], [108.03, 16.02], [108.03, 16.03], [108.02, 16.02]]]}),
        ])
        .collect();
    let strategy = (
        prop_oneof![
            1 => any_json(),
            1 => coordinates().prop_map(|c| json!({"type": "Polygon", "coordinates": c})),
            4 => (prop::sample::select(valid), edits()).prop_map(|(v, e)| mutated(v, &e)),
        ],
        prop::sample::select(CollectionId::ALL.to_vec()),
    );
    while let Some((v, layer)) = f.next(&strategy) {
        f.check(&(&v, layer), || {
            if let Ok(g) = parse_geometry(Some(&v), layer, "/geometry") {
                // Whatever is accepted is finite lon/lat.
                use geo::CoordsIter;
                if let Some(c) = g.coords_iter().find(|c| {
                    !(c.x.is_finite() && c.y.is_finite()) || c.x.abs() > 180.0 || c.y.abs() > 90.0
                }) {
                    return Err(format!("accepted a coordinate outside lon/lat: {c:?}"));
                }
            }
            Ok(())
        });
    }
    f.done();
}

/// A valid bbox string, a mutation of one, or random text.
fn bbox_text() -> impl Strategy<Value = String> + Clone {
    let nums = prop::collection::vec(
        prop_oneof![
            (100.0..120.0f64).prop_map(|f| f.to_string()),
            (5.0..25.0f64).prop_map(|f| f.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            prop::sample::select(WORDS).prop_map(str::to_owned),
            Just(String::new()),
        ],
        0..8,
    )
    .prop_map(|v| v.join(","));
    let mutation = (
        prop::sample::select(vec![
            "108.1,16.0,108.3,16.2",
            "16,108,16.1,108.3",
            "108,16,0,108.3,16.1,100",
        ]),
        prop::collection::vec((any::<usize>(), ".{0,3}"), 1..3),
    )
        .prop_map(|(s, cuts)| {
            let mut s: Vec<char> = s.chars().collect();
            for (i, ins) in cuts {
                let at = i % (s.len() + 1);
                let end = (at + 1).min(s.len());
                s.splice(at..end, ins.chars()).for_each(drop);
            }
            s.into_iter().collect()
        });
    prop_oneof![2 => nums, 2 => mutation, 1 => ".{0,30}"]
}

#[test]
fn fuzz_bbox() {
    let mut f = Fuzz::new("bbox");
    let strategy = (bbox_text(), any::<bool>());
    while let Some((s, swap)) = f.next(&strategy) {
        f.check(&(&s, swap), || match parse_bbox(&s, swap) {
            Ok(b) => {
                let ok = (-180.0..=180.0).contains(&b.min_lon)
                    && (-180.0..=180.0).contains(&b.max_lon)
                    && (-90.0..=90.0).contains(&b.min_lat)
                    && (-90.0..=90.0).contains(&b.max_lat)
                    && b.min_lon <= b.max_lon
                    && b.min_lat <= b.max_lat;
                ok.then_some(()).ok_or(format!("accepted {b:?}"))
            }
            Err(e) => refused_cleanly(&e),
        });
    }
    f.done();
}

const PARAMS: &[&str] = &[
    "limit",
    "offset",
    "bbox",
    "bbox-crs",
    "crs",
    "f",
    "operator",
    "tenant",
    "status",
    "structure_type",
    "technology",
    "site_code",
    "external_id",
    "placement",
    "tier",
    "code",
    "name",
    "lon",
    "lat",
    "resolution",
    "district",
    "range_source",
    "max_operators",
    "fibre_reach_m",
    "underserved.pop_coverage_pct",
    "unserved.data_centre_km",
    "layer",
    "format",
    "mode",
];

fn param_value() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => text(),
        2 => bbox_text(),
        2 => any::<i64>().prop_map(|i| i.to_string()),
        1 => (-200.0..200.0f64).prop_map(|f| f.to_string()),
        1 => prop::sample::select(vec!["0", "1", "7", "11", "16", "99999999999999999999", "-1", "json", "csv", "geojson", "dry-run", "commit"])
            .prop_map(str::to_owned),
    ]
}

/// A query string: encoded pairs of known or random names, or raw text.
fn query_string() -> impl Strategy<Value = String> + Clone {
    let name = prop_oneof![
        5 => prop::sample::select(PARAMS).prop_map(str::to_owned),
        1 => text(),
    ];
    let pairs = prop::collection::vec((name, param_value()), 0..5);
    prop_oneof![
        4 => pairs.prop_map(|p| serde_urlencoded::to_string(p).unwrap_or_default()),
        1 => "[ -~]{0,40}",
        1 => ".{0,20}",
    ]
}

#[test]
fn fuzz_items_parameters() {
    let mut f = Fuzz::new("items_params");
    let strategy = (
        query_string(),
        prop::sample::select(CollectionId::ALL.to_vec()),
    );
    while let Some((raw, c)) = f.next(&strategy) {
        f.check(&(&raw, c), || {
            let pairs = match parse_pairs(Some(&raw)) {
                Ok(p) => p,
                Err(e) => return refused_cleanly(&e),
            };
            match items_filter(c, &pairs) {
                Ok(filter) => {
                    if !(1..=MAX_LIMIT).contains(&filter.limit) || filter.offset < 0 {
                        return Err(format!("accepted page {filter:?}"));
                    }
                    if filter.properties.iter().any(|(_, v)| v.is_empty()) {
                        return Err(format!("accepted an empty filter {filter:?}"));
                    }
                    Ok(())
                }
                Err(e) => refused_cleanly(&e),
            }
        });
    }
    f.done();
}

#[test]
fn fuzz_merge_patch() {
    let mut f = Fuzz::new("merge_patch");
    let patch = prop_oneof![
        1 => any_json(),
        // Partial features with some members nulled (deleted by the patch).
        3 => (prop::sample::select(CollectionId::ALL.to_vec()), edits())
            .prop_map(|(c, e)| mutated(valid_feature(c), &e)),
    ];
    let strategy = (prop::sample::select(CollectionId::ALL.to_vec()), patch);
    while let Some((c, patch)) = f.next(&strategy) {
        f.check(&(c, &patch), || {
            let mut doc = valid_feature(c);
            json_patch::merge(&mut doc, &patch);
            let once = doc.clone();
            json_patch::merge(&mut doc, &patch);
            if doc != once {
                return Err(format!(
                    "applying the patch twice differs from once: {once} then {doc}"
                ));
            }
            match parse_feature(c, &doc) {
                Ok(()) => Ok(()),
                Err(e) => refused_cleanly(&ApiError::from(e)),
            }
        });
    }
    f.done();
}

// ------------------------------------------------------------ HTTP targets

/// Headers every fuzzed request carries: an admin token and `If-Match: *`,
/// so that writes get past authentication and preconditions to the parsers.
async fn auth_headers(pool: &PgPool) -> Vec<(&'static str, String)> {
    let admin = common::token(pool, "admin", None).await;
    vec![
        ("authorization", format!("Bearer {admin}")),
        ("if-match", "*".to_owned()),
    ]
}

async fn fuzz_state(pool: &PgPool) -> AppState {
    load_sample(pool, 40).await;
    AppState {
        // Thousands of requests a second from one token are the point here.
        limits: Arc::new(RateLimits::disabled()),
        ..AppState::loaded(pool.clone()).await.expect("index loads")
    }
}

fn path_part() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => prop::sample::select(vec!["towers", "fibre-routes", "data-centres", "districts"]).prop_map(str::to_owned),
        2 => prop::sample::select(vec!["1", "2", "3", "40", "0", "-1", "9223372036854775808", "HC", "T01", "WebMercatorQuad"]).prop_map(str::to_owned),
        1 => any::<u32>().prop_map(|i| i.to_string()),
        1 => "[a-zA-Z0-9%._~-]{0,12}",
    ]
}

fn get_uri() -> impl Strategy<Value = String> {
    let route = prop::sample::select(vec![
        "/collections/{}/items",
        "/collections/{}/items/{}",
        "/collections/{}",
        "/collections/{}/queryables",
        "/coverage/point",
        "/coverage/footprints",
        "/coverage/gaps",
        "/analysis/districts",
        "/analysis/districts/{}",
        "/analysis/summary",
        "/collections/{}/tiles/WebMercatorQuad/{}/{}/{}",
        "/collections/{}/tiles/{}/tilejson.json",
    ]);
    (
        route,
        prop::collection::vec(path_part(), 4),
        (0u32..16, 0u32..70_000, 0u32..70_000),
        query_string(),
    )
        .prop_map(|(route, parts, (z, y, x), q)| {
            let mut uri = String::new();
            let mut parts = parts.into_iter();
            let tile = route.contains("/{}/{}/{}");
            for (i, piece) in route.split("{}").enumerate() {
                if i > 0 {
                    let p = match (tile, i) {
                        (true, 2) => z.to_string(),
                        (true, 3) => (y % (1 << z)).to_string(),
                        (true, 4) => (x % (1 << z)).to_string(),
                        _ => parts.next().unwrap_or_default(),
                    };
                    uri.push_str(&p);
                }
                uri.push_str(piece);
            }
            if !q.is_empty() {
                uri.push('?');
                uri.push_str(&q);
            }
            uri
        })
}

/// Whether `uri` can be sent at all (the HTTP client refuses the rest).
fn sendable(uri: &str) -> bool {
    uri.parse::<axum::http::Uri>().is_ok()
}

#[sqlx::test]
async fn fuzz_http_get(pool: PgPool) {
    let state = fuzz_state(&pool).await;
    let headers = auth_headers(&pool).await;
    let extra: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let before = fingerprint(&pool).await;
    let mut f = Fuzz::new("http_get");
    let strategy = get_uri();
    while let Some(uri) = f.next(&strategy) {
        if !sendable(&uri) {
            continue;
        }
        let r = send_with_headers(&state, Method::GET, &uri, None, &extra).await;
        f.check(&uri, || {
            if r.status.is_server_error() {
                return Err(format!(
                    "{}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            Ok(())
        });
    }
    assert_eq!(fingerprint(&pool).await, before, "reads changed data");
    f.done();
}

#[derive(Debug, Clone)]
struct Write {
    method: Method,
    uri: String,
    content_type: &'static str,
    body: Vec<u8>,
}

fn write_request() -> impl Strategy<Value = Write> {
    let collection = prop::sample::select(CollectionId::ALL.to_vec());
    let content_type = prop::sample::select(vec![
        "application/geo+json",
        "application/json",
        "application/merge-patch+json",
        "text/csv",
        "text/plain",
    ]);
    let body = |c: CollectionId| {
        prop_oneof![
            6 => feature(c).prop_map(|v| serde_json::to_vec(&v).unwrap_or_default()),
            1 => (feature(c), any::<usize>(), ".{0,4}").prop_map(|(v, i, s)| {
                // Broken JSON text: a few characters replaced.
                let mut t = serde_json::to_string(&v).unwrap_or_default();
                let at = i % (t.len() + 1);
                let at = (0..=at).rev().find(|j| t.is_char_boundary(*j)).unwrap_or(0);
                t.insert_str(at, &s);
                t.into_bytes()
            }),
            1 => prop::collection::vec(feature(c), 0..3).prop_map(|fs| {
                serde_json::to_vec(&json!({"type": "FeatureCollection", "features": fs})).unwrap_or_default()
            }),
            1 => prop::collection::vec(any::<u8>(), 0..64),
        ]
    };
    let route = prop::sample::select(vec![0u8, 1, 2, 3, 4]);
    (collection, route, path_part(), query_string(), content_type).prop_flat_map(
        move |(c, route, id, q, ct)| {
            body(c).prop_map(move |body| {
                let (method, uri) = match route {
                    0 => (Method::POST, format!("/collections/{c}/items")),
                    1 => (Method::PUT, format!("/collections/{c}/items/{id}")),
                    2 => (Method::PATCH, format!("/collections/{c}/items/{id}")),
                    3 => (
                        Method::PATCH,
                        format!(
                            "/collections/{c}/items/{}",
                            if c.numeric_ids() { "1" } else { "HC" }
                        ),
                    ),
                    _ => (Method::POST, format!("/imports?layer={c}&{q}")),
                };
                Write {
                    method,
                    uri,
                    content_type: ct,
                    body,
                }
            })
        },
    )
}

#[sqlx::test]
async fn fuzz_http_write(pool: PgPool) {
    let state = fuzz_state(&pool).await;
    let headers = auth_headers(&pool).await;
    let extra: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut f = Fuzz::new("http_write");
    let strategy = write_request();
    let mut counts = row_counts(&pool).await;
    while let Some(w) = f.next(&strategy) {
        if !sendable(&w.uri) {
            continue;
        }
        let r = send_with_headers(
            &state,
            w.method.clone(),
            &w.uri,
            Some((w.content_type, w.body.clone())),
            &extra,
        )
        .await;
        let after = row_counts(&pool).await;
        f.check(&w, || {
            if r.status.is_server_error() {
                return Err(format!(
                    "{}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            if !r.status.is_success() && after != counts {
                return Err(format!(
                    "refused with {} but rows changed: {counts:?} -> {after:?}",
                    r.status
                ));
            }
            if r.status == StatusCode::CREATED && after == counts {
                return Err("201 Created but no row was added".into());
            }
            Ok(())
        });
        counts = after;
    }
    f.done();
}

// ------------------------------------- structure-aware geometry-path targets
//
// Issue 14: every import format's geometry path (CSV/WKT, GeoPackage/WKB,
// GeoJSON bodies and imports, OpenCelliD CSV) with generators that build
// structurally plausible but hostile inputs (deep nesting, huge or lying
// counts, truncation, mixed dimensions, NaN/inf/huge numbers, empty parts,
// duplicated points) and mutations of valid ones. Each input is generated
// from a seed drawn by the target's runner, so FUZZ_SEED reproduces it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use telecom_gis::domain::geometry::GeometryLimits;
use telecom_gis::format::json::{self as bounded_json, BoundedValue, Budget, JsonLimits};
use telecom_gis::format::{GeometryBudget, GeometryReadError, MAX_GEOMETRY_DEPTH, gpkg, wkb, wkt};

/// An input shown shortened when a target fails (some are megabytes).
struct Sample<'a>(&'a [u8]);

impl Debug for Sample<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.len();
        let head = String::from_utf8_lossy(&self.0[..n.min(600)]);
        let tail = String::from_utf8_lossy(&self.0[n.saturating_sub(200).max(n.min(600))..]);
        write!(f, "{n} bytes: {head:?} … {tail:?}")
    }
}

/// The layers an import may target.
const IMPORT_LAYERS: [CollectionId; 3] = [
    CollectionId::Towers,
    CollectionId::FibreRoutes,
    CollectionId::DataCentres,
];

fn budget_of(layer: CollectionId) -> GeometryBudget {
    GeometryBudget {
        max_depth: MAX_GEOMETRY_DEPTH,
        max_positions: GeometryLimits::of(layer).max_vertices,
    }
}

/// A coordinate as text: mostly near Đà Nẵng, else a hostile number.
fn number_text(rng: &mut ChaCha8Rng, lat: bool) -> String {
    const HOSTILE: &[&str] = &[
        "0",
        "-0",
        "NaN",
        "nan",
        "inf",
        "-inf",
        "Infinity",
        "1e400",
        "-1e400",
        "1e308",
        "-1e308",
        "5e-324",
        "180.0000001",
        "-90.5",
        "361",
        "1.2.3",
        "0x10",
        "+1",
        "1e",
        "--1",
        "１",
        "16.05",
        "108.2",
    ];
    if rng.gen_bool(0.85) {
        let v = if lat {
            rng.gen_range(15.9..16.2)
        } else {
            rng.gen_range(108.0..108.4)
        };
        format!("{v:.6}")
    } else {
        HOSTILE[rng.gen_range(0..HOSTILE.len())].to_owned()
    }
}

/// A coordinate as a number: mostly near Đà Nẵng, else a hostile one.
fn number_f64(rng: &mut ChaCha8Rng, lat: bool) -> f64 {
    const HOSTILE: &[f64] = &[
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e308,
        -1e308,
        5e-324,
        180.000_000_1,
        -90.5,
        361.0,
        16.05,
        108.2,
    ];
    if rng.gen_bool(0.85) {
        if lat {
            rng.gen_range(15.9..16.2)
        } else {
            rng.gen_range(108.0..108.4)
        }
    } else {
        HOSTILE[rng.gen_range(0..HOSTILE.len())]
    }
}

/// How many positions a line of a generated geometry gets: mostly a few,
/// sometimes none, one, or more than a layer allows.
fn line_length(rng: &mut ChaCha8Rng) -> usize {
    match rng.gen_range(0..100) {
        0..=4 => 0,
        5..=9 => 1,
        10..=89 => rng.gen_range(2..12),
        90..=97 => rng.gen_range(12..400),
        _ => *[9_999, 10_001, 100_001]
            .get(rng.gen_range(0..3))
            .unwrap_or(&10),
    }
}

/// `at`, or the nearest char boundary of `s` below it.
fn boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len()))
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0)
}

/// Size of a generated input past which its generator adds only small
/// parts, bytes.
const LARGE: usize = 1 << 20;

// WKT -----------------------------------------------------------------

const WKT_TYPES: &[&str] = &[
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
];

fn wkt_position(rng: &mut ChaCha8Rng, out: &mut String) {
    let dims = if rng.gen_bool(0.9) {
        2
    } else {
        rng.gen_range(1..=5)
    };
    for d in 0..dims {
        if d > 0 {
            out.push(' ');
        }
        out.push_str(&number_text(rng, d == 1));
    }
}

fn wkt_line(rng: &mut ChaCha8Rng, ring: bool, out: &mut String) {
    if rng.gen_bool(0.03) {
        out.push_str("EMPTY");
        return;
    }
    out.push('(');
    // Past 1 MB of text, only short lines (the generator stays linear).
    let n = if out.len() > LARGE {
        line_length(rng).min(4)
    } else {
        line_length(rng)
    };
    let start = out.len();
    for i in 0..n {
        if i > 0 {
            out.push_str(if rng.gen_bool(0.97) { ", " } else { "," });
        }
        if i > 0 && rng.gen_bool(0.1) {
            // A duplicated point: the previous position again.
            let prev = out[start..].rsplit(", ").next().unwrap_or("0 0").to_owned();
            out.push_str(prev.trim_start_matches(','));
        } else {
            wkt_position(rng, out);
        }
    }
    if ring && n > 0 && rng.gen_bool(0.8) {
        // Close the ring with its first position.
        let first = out[start..].split(',').next().unwrap_or("0 0").to_owned();
        out.push_str(", ");
        out.push_str(first.trim());
    }
    out.push(')');
}

fn wkt_geometry(rng: &mut ChaCha8Rng, depth: usize, out: &mut String) {
    let t = WKT_TYPES[rng.gen_range(0..if depth < 4 { 7 } else { 6 })];
    out.push_str(t);
    if rng.gen_bool(0.1) {
        out.push_str([" Z ", " M ", " ZM ", " "][rng.gen_range(0..4)]);
    }
    if rng.gen_bool(0.04) {
        out.push_str(" EMPTY");
        return;
    }
    let parts = |rng: &mut ChaCha8Rng, len: usize| {
        if len < LARGE && rng.gen_bool(0.05) {
            rng.gen_range(50..1200)
        } else {
            rng.gen_range(0..4)
        }
    };
    match t {
        "POINT" => {
            out.push('(');
            wkt_position(rng, out);
            out.push(')');
        }
        "LINESTRING" => wkt_line(rng, false, out),
        "POLYGON" => {
            out.push('(');
            for i in 0..rng.gen_range(0..4) {
                if i > 0 {
                    out.push(',');
                }
                wkt_line(rng, true, out);
            }
            out.push(')');
        }
        "MULTIPOINT" => wkt_line(rng, false, out),
        "MULTILINESTRING" | "MULTIPOLYGON" => {
            out.push('(');
            for i in 0..parts(rng, out.len()) {
                if i > 0 {
                    out.push(',');
                }
                if t == "MULTILINESTRING" {
                    wkt_line(rng, false, out);
                } else {
                    out.push('(');
                    wkt_line(rng, true, out);
                    out.push(')');
                }
            }
            out.push(')');
        }
        _ => {
            out.push('(');
            for i in 0..rng.gen_range(0..4) {
                if i > 0 {
                    out.push(',');
                }
                wkt_geometry(rng, depth + 1, out);
            }
            out.push(')');
        }
    }
}

/// Valid WKT of each accepted shape, for mutation.
const VALID_WKT: &[&str] = &[
    "POINT (108.2 16.05)",
    "LINESTRING (108.1 16.0, 108.2 16.1, 108.25 16.05)",
    "MULTILINESTRING ((108.1 16.0, 108.2 16.1), (108.2 16.1, 108.3 16.1))",
    "POLYGON ((108.2 16.05, 108.21 16.05, 108.21 16.06, 108.2 16.05))",
    "POLYGON ((108.2 16.0, 108.3 16.0, 108.3 16.1, 108.2 16.1, 108.2 16.0), (108.22 16.02, 108.23 16.02, 108.23 16.03, 108.22 16.02))",
];

/// A hostile WKT text.
fn hostile_wkt(rng: &mut ChaCha8Rng) -> String {
    let mut s = String::new();
    match rng.gen_range(0..100) {
        0..=39 => wkt_geometry(rng, 0, &mut s),
        40..=54 => {
            // Deep nesting, balanced or not, with or without keywords.
            let n = [7, 8, 9, 64, 1000, 300_000][rng.gen_range(0..6)];
            let open = if rng.gen_bool(0.7) {
                "GEOMETRYCOLLECTION("
            } else {
                "("
            };
            s.push_str(&open.repeat(n));
            s.push_str("POINT(108.2 16.05)");
            s.push_str(&")".repeat(n - usize::from(rng.gen_bool(0.2))));
        }
        55..=84 => {
            // A valid text, mutated.
            s.push_str(VALID_WKT[rng.gen_range(0..VALID_WKT.len())]);
            for _ in 0..rng.gen_range(1..4) {
                const TOKENS: &[&str] = &[
                    "(",
                    ")",
                    ",",
                    " ",
                    "EMPTY",
                    "Z",
                    "NaN",
                    "1e400",
                    "GEOMETRYCOLLECTION(",
                    "108.2 16.05",
                    "108.2 16.05, 108.2 16.05",
                ];
                let at = boundary(&s, rng.gen_range(0..=s.len()));
                match rng.gen_range(0..3) {
                    0 => s.insert_str(at, TOKENS[rng.gen_range(0..TOKENS.len())]),
                    1 => {
                        let end = boundary(&s, (at + rng.gen_range(1..8)).min(s.len()));
                        s.replace_range(at..end, "");
                    }
                    _ => {
                        let end = boundary(&s, (at + rng.gen_range(1..30)).min(s.len()));
                        let piece = s[at..end].to_owned();
                        s.insert_str(end, &piece);
                    }
                }
            }
        }
        _ => {
            // A generated text cut short.
            wkt_geometry(rng, 0, &mut s);
            let at = boundary(&s, rng.gen_range(0..=s.len()));
            s.truncate(at);
        }
    }
    s
}

/// Deepest parenthesis nesting of `s` (the oracle of the depth check).
fn paren_depth(s: &str) -> usize {
    let (mut d, mut max) = (0usize, 0usize);
    for b in s.bytes() {
        match b {
            b'(' => {
                d += 1;
                max = max.max(d);
            }
            b')' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Whatever a reader returns is a geometry of the layer's size; fed to the
/// layer's validator, it is accepted only with finite lon/lat.
fn check_read_geometry(
    g: &geo::Geometry<f64>,
    layer: CollectionId,
    budget: GeometryBudget,
) -> Result<(), String> {
    use geo::CoordsIter;
    let n = g.coords_count();
    if n > budget.max_positions {
        return Err(format!("read {n} positions, over the budget {budget:?}"));
    }
    let value = serde_json::to_value(geojson::Geometry::new(geojson::Value::from(g)))
        .map_err(|e| e.to_string())?;
    if let Ok(valid) = parse_geometry(Some(&value), layer, "/geometry")
        && let Some(c) = valid.coords_iter().find(|c| {
            !(c.x.is_finite() && c.y.is_finite()) || c.x.abs() > 180.0 || c.y.abs() > 90.0
        })
    {
        return Err(format!("accepted a coordinate outside lon/lat: {c:?}"));
    }
    Ok(())
}

#[test]
fn fuzz_wkt() {
    let mut f = Fuzz::new("wkt");
    let strategy = (any::<u64>(), prop::sample::select(IMPORT_LAYERS.to_vec()));
    while let Some((seed, layer)) = f.next(&strategy) {
        let text = hostile_wkt(&mut ChaCha8Rng::seed_from_u64(seed));
        let budget = budget_of(layer);
        f.check(
            &(seed, layer, Sample(text.as_bytes())),
            || match wkt::read(&text, budget) {
                Ok(g) => {
                    if paren_depth(&text) > budget.max_depth {
                        return Err("parsed text nested over the depth limit".into());
                    }
                    check_read_geometry(&g, layer, budget)
                }
                Err(GeometryReadError::Depth { limit }) if paren_depth(&text) > limit => Ok(()),
                Err(GeometryReadError::Positions { found, limit }) if found > limit => Ok(()),
                Err(GeometryReadError::Invalid(_)) => Ok(()),
                Err(e) => Err(format!("refused for a limit it is within: {e}")),
            },
        );
    }
    f.done();
}

// WKB -----------------------------------------------------------------

/// A WKB writer that may lie: `honest` stays true while every count is
/// true and every header well-formed, so the walk's verdict is known.
struct WkbGen<'a> {
    rng: &'a mut ChaCha8Rng,
    out: Vec<u8>,
    honest: bool,
    positions: usize,
    depth: usize,
}

impl WkbGen<'_> {
    fn u32(&mut self, little: bool, v: u32) {
        self.out.extend_from_slice(&if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        });
    }

    fn f64(&mut self, little: bool, v: f64) {
        self.out.extend_from_slice(&if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        });
    }

    /// A count: mostly `n`, sometimes a lie.
    fn count(&mut self, little: bool, n: usize) {
        let v = if self.rng.gen_bool(0.04) {
            self.honest = false;
            [
                n as u32 + 1,
                (n as u32).wrapping_sub(1),
                1 << 31,
                u32::MAX,
                self.rng.r#gen(),
            ][self.rng.gen_range(0..5)]
        } else {
            n as u32
        };
        self.u32(little, v);
    }

    /// A header; returns (byte order, coordinate dimensions).
    fn header(&mut self, base: u32) -> (bool, usize) {
        let little = self.rng.gen_bool(0.7);
        let order = if self.rng.gen_bool(0.01) {
            self.honest = false;
            self.rng.gen_range(2..=255)
        } else {
            u8::from(little)
        };
        self.out.push(order);
        let dim = self.rng.gen_range(0..10).min(3) * usize::from(self.rng.gen_bool(0.3));
        let code = match self.rng.gen_range(0..100) {
            0 => {
                self.honest = false;
                0x8000_0000 | base
            }
            1 => {
                self.honest = false;
                self.rng.gen_range(8..=17)
            }
            2 => {
                self.honest = false;
                self.rng.r#gen()
            }
            _ => base + 1000 * dim as u32,
        };
        self.u32(little, code);
        (little, [2, 3, 3, 4][dim])
    }

    fn position(&mut self, little: bool, dims: usize) {
        for d in 0..dims {
            let v = number_f64(self.rng, d == 1);
            self.f64(little, v);
        }
        self.positions += 1;
    }

    fn points(&mut self, little: bool, dims: usize) {
        let n = line_length(self.rng);
        let n = if self.out.len() > LARGE { n.min(4) } else { n };
        self.count(little, n);
        for _ in 0..n {
            self.position(little, dims);
        }
    }

    /// A polygon ring: closed with at least 4 positions, or (sometimes, and
    /// then not well-formed) open or too short, which readers must refuse.
    fn ring(&mut self, little: bool, dims: usize) {
        if self.rng.gen_bool(0.1) {
            self.honest = false;
            self.points(little, dims);
            return;
        }
        let n = line_length(self.rng).max(4);
        let n = if self.out.len() > LARGE { 4 } else { n };
        self.count(little, n);
        let first = self.out.len();
        for _ in 0..n - 1 {
            self.position(little, dims);
        }
        let size = dims * 8;
        let copy = self.out[first..first + size].to_vec();
        self.out.extend_from_slice(&copy);
        self.positions += 1;
    }

    fn geometry(&mut self, depth: usize, base: Option<u32>) {
        self.depth = self.depth.max(depth);
        let base = base.unwrap_or_else(|| self.rng.gen_range(1..=if depth < 5 { 7 } else { 6 }));
        let (little, dims) = self.header(base);
        match base {
            1 => self.position(little, dims),
            2 => self.points(little, dims),
            3 => {
                let rings = self.rng.gen_range(0..4);
                self.count(little, rings);
                for _ in 0..rings {
                    self.ring(little, dims);
                }
            }
            _ => {
                let n = if self.out.len() < LARGE && self.rng.gen_bool(0.05) {
                    self.rng.gen_range(50..1200)
                } else {
                    self.rng.gen_range(0..4)
                };
                self.count(little, n);
                let member = match base {
                    4 => Some(1),
                    5 => Some(2),
                    6 => Some(3),
                    _ => None,
                };
                for _ in 0..n {
                    if member.is_some() && self.rng.gen_bool(0.02) {
                        self.honest = false;
                        self.geometry(depth + 1, None);
                    } else {
                        self.geometry(depth + 1, member);
                    }
                }
            }
        }
    }
}

/// A hostile WKB geometry; with `Some((depth, positions))` when it is
/// well-formed (so the walk must measure exactly that), `None` otherwise.
fn hostile_wkb(rng: &mut ChaCha8Rng) -> (Vec<u8>, Option<(usize, usize)>) {
    let mode = rng.gen_range(0..100);
    if mode < 10 {
        // A chain of nested collections around a point.
        let n = [7, 8, 9, 100, 100_000][rng.gen_range(0..5)];
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(1);
            out.extend_from_slice(&7u32.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        out.push(1);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&108.2f64.to_le_bytes());
        out.extend_from_slice(&16.05f64.to_le_bytes());
        return (out, Some((n + 1, 1)));
    }
    let mut g = WkbGen {
        rng,
        out: Vec::new(),
        honest: true,
        positions: 0,
        depth: 0,
    };
    g.geometry(1, None);
    let (mut out, honest, depth, positions) = (g.out, g.honest, g.depth, g.positions);
    let known = honest.then_some((depth, positions));
    match mode {
        10..=29 => {
            // Cut short, or with bytes after the end.
            if rng.gen_bool(0.7) {
                let at = rng.gen_range(0..out.len().max(1));
                out.truncate(at);
            } else {
                out.extend((0..rng.gen_range(1..9)).map(|_| rng.r#gen::<u8>()));
            }
            (out, None)
        }
        30..=49 => {
            // A few bytes flipped or a word overwritten with a huge count.
            for _ in 0..rng.gen_range(1..4) {
                if out.is_empty() {
                    break;
                }
                let at = rng.gen_range(0..out.len());
                if rng.gen_bool(0.5) && at + 4 <= out.len() {
                    out[at..at + 4].copy_from_slice(&(1u32 << 31).to_le_bytes());
                } else {
                    out[at] ^= 1 << rng.gen_range(0..8);
                }
            }
            (out, None)
        }
        _ => (out, known),
    }
}

#[test]
fn fuzz_wkb() {
    let mut f = Fuzz::new("wkb");
    let strategy = (any::<u64>(), prop::sample::select(IMPORT_LAYERS.to_vec()));
    while let Some((seed, layer)) = f.next(&strategy) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (bytes, known) = hostile_wkb(&mut rng);
        let budget = budget_of(layer);
        // The same WKB in a GeoPackage blob, with a random envelope code.
        let mut blob = b"GP\x00".to_vec();
        blob.push(rng.gen_range(0..16));
        blob.extend_from_slice(&4326i32.to_le_bytes());
        let envelope = [0, 32, 48, 48, 64, 0, 0, 0][usize::from((blob[3] >> 1) & 0b111)];
        blob.extend((0..envelope).map(|_| 0u8));
        blob.extend_from_slice(&bytes);
        f.check(&(seed, layer, Sample(&bytes)), || {
            let walked = wkb::check(&bytes, budget);
            match (known, &walked) {
                (Some((depth, _)), r) if depth > budget.max_depth => {
                    if !matches!(r, Err(GeometryReadError::Depth { .. })) {
                        return Err(format!("{depth} levels deep, but the walk gave {r:?}"));
                    }
                }
                (Some((_, n)), r) if n > budget.max_positions => {
                    if *r
                        != Err(GeometryReadError::Positions {
                            found: n,
                            limit: budget.max_positions,
                        })
                    {
                        return Err(format!("{n} positions, but the walk gave {r:?}"));
                    }
                }
                (Some((_, n)), r) => {
                    if *r != Ok(n) {
                        return Err(format!(
                            "well-formed with {n} positions, but the walk gave {r:?}"
                        ));
                    }
                }
                (None, Ok(n)) if *n > budget.max_positions => {
                    return Err(format!("the walk accepted {n} positions"));
                }
                (None, _) => {}
            }
            let read = wkb::read(&bytes, budget);
            if read.is_ok() && walked.is_err() {
                return Err("decoded WKB that the walk refused".into());
            }
            if let Ok(g) = &read {
                check_read_geometry(g, layer, budget)?;
            }
            if let Ok(g) = gpkg::decode(&blob, budget) {
                check_read_geometry(&g, layer, budget)?;
            }
            Ok(())
        });
    }
    f.done();
}

// JSON ----------------------------------------------------------------

/// Hostile JSON text shaped like a GeoJSON feature (or collection).
fn hostile_json(rng: &mut ChaCha8Rng) -> String {
    fn coords(rng: &mut ChaCha8Rng, levels: usize, out: &mut String) {
        if levels == 0 {
            out.push('[');
            let dims = if rng.gen_bool(0.9) {
                2
            } else {
                rng.gen_range(0..5)
            };
            for d in 0..dims {
                if d > 0 {
                    out.push(',');
                }
                let t = number_text(rng, d == 1);
                // serde_json refuses NaN and friends: a syntax error, as it should be.
                out.push_str(&t);
            }
            out.push(']');
            return;
        }
        out.push('[');
        let n = if levels == 1 {
            line_length(rng)
        } else {
            rng.gen_range(0..4)
        };
        for i in 0..n {
            if i > 0 {
                out.push(',');
            }
            coords(rng, levels - 1, out);
        }
        out.push(']');
    }
    let mut geometry = String::new();
    match rng.gen_range(0..100) {
        0..=49 => {
            let (t, levels) = [
                ("Point", 0),
                ("LineString", 1),
                ("MultiLineString", 2),
                ("Polygon", 2),
                ("MultiPolygon", 3),
                ("GeometryCollection", 1),
            ][rng.gen_range(0..6)];
            geometry.push_str(&format!("{{\"type\":\"{t}\",\"coordinates\":"));
            coords(rng, levels, &mut geometry);
            geometry.push('}');
        }
        50..=64 => {
            // Deep nesting: under, at and over the limits (32, serde_json's 128).
            let n = [31, 32, 33, 127, 128, 129, 10_000][rng.gen_range(0..7)];
            let (open, close) = if rng.gen_bool(0.7) {
                ("[", "]")
            } else {
                ("{\"a\":", "}")
            };
            geometry.push_str(&format!(
                "{{\"type\":\"Point\",\"coordinates\":{}0{}}}",
                open.repeat(n),
                close.repeat(n)
            ));
        }
        65..=74 => {
            // Many tiny values: around the value budget.
            let n = [1_000, 999_990, 1_000_001, 2_000_000][rng.gen_range(0..4)];
            let mut s = String::with_capacity(2 * n + 64);
            s.push_str("{\"type\":\"LineString\",\"coordinates\":[");
            for i in 0..n {
                if i > 0 {
                    s.push(',');
                }
                s.push(if rng.gen_bool(0.5) { '0' } else { '1' });
            }
            s.push_str("]}");
            geometry = s;
        }
        _ => {
            // A valid feature's geometry, to be mutated below.
            geometry.push_str(
                "{\"type\":\"Polygon\",\"coordinates\":[[[108.2,16.05],[108.21,16.05],[108.21,16.06],[108.2,16.05]]]}",
            );
        }
    }
    let mut s = format!(
        "{{\"type\":\"Feature\",\"geometry\":{geometry},\"properties\":{{\"operator\":\"viettel\",\"name\":\"x\",\"tier\":3,\"placement\":\"aerial\",\"fibre_count\":24,\"site_code\":\"S\",\"structure_type\":\"monopole\",\"height_m\":30,\"external_id\":\"E-{}\",\"type\":\"dup\"}}}}",
        rng.gen_range(0..5)
    );
    if rng.gen_bool(0.3) {
        for _ in 0..rng.gen_range(1..4) {
            const TOKENS: &[&str] = &[
                "[", "]", "{", "}", ",", ":", "null", "1e400", "-0", "\"", "NaN", "[[[[", "]]]]",
            ];
            let at = boundary(&s, rng.gen_range(0..=s.len()));
            if rng.gen_bool(0.6) {
                s.insert_str(at, TOKENS[rng.gen_range(0..TOKENS.len())]);
            } else {
                s.truncate(at);
            }
        }
    }
    s
}

/// Values and depth of a JSON text as the bounded reader counts them
/// (duplicate keys included), by a counting pass written independently.
fn json_size(text: &str) -> (usize, usize) {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Count<'a>(&'a mut usize, usize, &'a mut usize);
    impl<'de> DeserializeSeed<'de> for Count<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Count<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            *self.0 += 1;
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            *self.0 += 1;
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            *self.0 += 1;
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            *self.0 += 1;
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            *self.0 += 1;
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            *self.0 += 1;
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            *self.0 += 1;
            *self.2 = (*self.2).max(self.1 + 1);
            while seq
                .next_element_seed(Count(&mut *self.0, self.1 + 1, &mut *self.2))?
                .is_some()
            {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            *self.0 += 1;
            *self.2 = (*self.2).max(self.1 + 1);
            while map.next_key::<serde::de::IgnoredAny>()?.is_some() {
                *self.0 += 1;
                map.next_value_seed(Count(&mut *self.0, self.1 + 1, &mut *self.2))?;
            }
            Ok(())
        }
    }
    let (mut n, mut d) = (0, 0);
    let mut de = serde_json::Deserializer::from_str(text);
    Count(&mut n, 0, &mut d)
        .deserialize(&mut de)
        .expect("the oracle read it");
    (n, d)
}

#[test]
fn fuzz_json_budget() {
    let mut f = Fuzz::new("json_budget");
    let strategy = (any::<u64>(), 0usize..4);
    while let Some((seed, which)) = f.next(&strategy) {
        let text = hostile_json(&mut ChaCha8Rng::seed_from_u64(seed));
        let limits = [
            JsonLimits::default(),
            JsonLimits {
                max_depth: 4,
                max_values: 40,
            },
            JsonLimits {
                max_depth: 8,
                max_values: 5_000,
            },
            JsonLimits {
                max_depth: 200,
                max_values: 100,
            },
        ][which];
        f.check(&(seed, limits, Sample(text.as_bytes())), || {
            // The oracle: serde_json's own reading of the same text.
            let oracle = serde_json::from_str::<Value>(&text);
            let ours = bounded_json::from_slice(text.as_bytes(), limits);
            let size = oracle.is_ok().then(|| json_size(&text));
            match (&oracle, &ours) {
                (Ok(v), Ok(w)) => {
                    let (n, d) = size.unwrap_or_default();
                    if v != w {
                        return Err("read differently from serde_json".into());
                    }
                    if n > limits.max_values || d > limits.max_depth {
                        return Err(format!("accepted {n} values {d} deep over {limits:?}"));
                    }
                }
                (Ok(_), Err(bounded_json::JsonError::Limit(_))) => {
                    let (n, d) = size.unwrap_or_default();
                    if n <= limits.max_values && d <= limits.max_depth {
                        return Err(format!("refused {n} values {d} deep within {limits:?}"));
                    }
                }
                (Ok(_), Err(e)) => return Err(format!("serde_json reads it, ours: {e}")),
                (Err(_), Ok(_)) => return Err("accepted text serde_json refuses".into()),
                (Err(_), Err(_)) => {}
            }
            // In a stream of features, one over the budget is skipped and the
            // next still read whole.
            if let (Ok(v), Some((n, d))) = (&oracle, size)
                && d < 120
            {
                let stream = format!("[{text},{{\"type\":\"Feature\"}}]");
                let mut de = serde_json::Deserializer::from_str(&stream);
                let mut budget = Budget::skipping(limits);
                let mut got = Vec::new();
                struct Each<'a>(&'a mut Budget, &'a mut Vec<(Value, bool)>);
                impl<'de> serde::de::Visitor<'de> for Each<'_> {
                    type Value = ();
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an array")
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> Result<(), A::Error> {
                        while let Some(v) = seq.next_element_seed(BoundedValue {
                            budget: &mut *self.0,
                        })? {
                            self.1.push((v, self.0.exceeded().is_some()));
                            self.0.reset();
                        }
                        Ok(())
                    }
                }
                serde::Deserializer::deserialize_seq(&mut de, Each(&mut budget, &mut got))
                    .map_err(|e| format!("the stream failed: {e}"))?;
                let over = n > limits.max_values || d > limits.max_depth;
                let expected = vec![
                    (if over { Value::Null } else { v.clone() }, over),
                    (json!({"type": "Feature"}), false),
                ];
                if got != expected {
                    return Err(format!(
                        "the stream read {:?}",
                        got.iter().map(|(_, o)| o).collect::<Vec<_>>()
                    ));
                }
            }
            Ok(())
        });
    }
    f.done();
}

// Through the router ---------------------------------------------------

/// An empty inventory with the operators, and a state without rate limits.
async fn import_state(pool: &PgPool) -> AppState {
    common::operators(pool).await;
    AppState {
        limits: Arc::new(RateLimits::disabled()),
        ..AppState::loaded(pool.clone()).await.expect("index loads")
    }
}

/// Sends one import and checks the rules every answer must keep: never a
/// 5xx; a dry run or a refused commit changes no row.
async fn check_import(
    f: &Fuzz,
    state: &AppState,
    extra: &[(&str, &str)],
    uri: &str,
    body: Vec<u8>,
    seed: u64,
    counts: &mut Vec<(String, i64)>,
) {
    let r = send_with_headers(
        state,
        Method::POST,
        uri,
        Some(("application/octet-stream", body.clone())),
        extra,
    )
    .await;
    let after = row_counts(&state.pool).await;
    f.check(&(seed, uri, Sample(&body)), || {
        if r.status.is_server_error() {
            return Err(format!(
                "{}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        let committed = r.status.is_success() && uri.contains("mode=commit");
        if !committed && after != *counts {
            return Err(format!(
                "answered {} but rows changed: {counts:?} -> {after:?}",
                r.status
            ));
        }
        if r.status.is_client_error() && r.content_type != "application/problem+json" {
            return Err(format!("a {} that is not problem+json", r.status));
        }
        Ok(())
    });
    *counts = after;
}

fn import_uri(rng: &mut ChaCha8Rng, layer: CollectionId, format: &str) -> String {
    let mode = if rng.gen_bool(0.8) {
        "dry-run"
    } else {
        "commit"
    };
    format!("/imports?layer={layer}&format={format}&mode={mode}")
}

#[sqlx::test]
async fn fuzz_import_csv_wkt(pool: PgPool) {
    let state = import_state(&pool).await;
    let headers = auth_headers(&pool).await;
    let extra: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut counts = row_counts(&pool).await;
    let mut f = Fuzz::new("import_csv_wkt");
    while let Some(seed) = f.next(&any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let layer = [CollectionId::FibreRoutes, CollectionId::DataCentres][rng.gen_range(0..2)];
        let mut csv = String::from(if layer == CollectionId::FibreRoutes {
            "external_id,operator,placement,fibre_count,wkt\n"
        } else {
            "external_id,operator,name,tier,wkt\n"
        });
        for i in 0..rng.gen_range(1..4) {
            let wkt = hostile_wkt(&mut rng).replace('"', "\"\"");
            let fields = if layer == CollectionId::FibreRoutes {
                "viettel,aerial,24"
            } else {
                "viettel,DC,3"
            };
            csv.push_str(&format!("X-{i},{fields},\"{wkt}\"\n"));
        }
        let uri = import_uri(&mut rng, layer, "csv");
        check_import(
            &f,
            &state,
            &extra,
            &uri,
            csv.into_bytes(),
            seed,
            &mut counts,
        )
        .await;
    }
    f.done();
}

#[sqlx::test]
async fn fuzz_import_gpkg(pool: PgPool) {
    let state = import_state(&pool).await;
    let headers = auth_headers(&pool).await;
    let extra: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut counts = row_counts(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let mut f = Fuzz::new("import_gpkg");
    while let Some(seed) = f.next(&any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let layer = [CollectionId::FibreRoutes, CollectionId::DataCentres][rng.gen_range(0..2)];
        // Only the layer's own columns: others would be unknown properties.
        let fibre = layer == CollectionId::FibreRoutes;
        let columns = [
            ("external_id", "TEXT"),
            ("operator", "TEXT"),
            if fibre {
                ("placement", "TEXT")
            } else {
                ("name", "TEXT")
            },
            if fibre {
                ("fibre_count", "INTEGER")
            } else {
                ("tier", "INTEGER")
            },
        ];
        let path = dir.path().join(format!("{seed}.gpkg"));
        let table = layer.as_str().replace('-', "_");
        let mut conn = gpkg::create(&path, &table, "GEOMETRY", &columns).unwrap();
        let rows: Vec<(Vec<u8>, Vec<rusqlite::types::Value>)> = (0..rng.gen_range(1..4))
            .map(|i| {
                let (wkb, _) = hostile_wkb(&mut rng);
                let mut blob = b"GP\x00\x01".to_vec();
                blob.extend_from_slice(&4326i32.to_le_bytes());
                blob.extend_from_slice(&wkb);
                use rusqlite::types::Value as V;
                (
                    blob,
                    vec![
                        V::Text(format!("X-{i}")),
                        V::Text("viettel".into()),
                        V::Text(if fibre { "aerial" } else { "DC" }.into()),
                        V::Integer(if fibre { 24 } else { 3 }),
                    ],
                )
            })
            .collect();
        gpkg::insert_rows(&mut conn, &table, &columns, &rows).unwrap();
        drop(conn);
        let file = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let uri = import_uri(&mut rng, layer, "gpkg");
        check_import(&f, &state, &extra, &uri, file, seed, &mut counts).await;
    }
    f.done();
}

#[sqlx::test]
async fn fuzz_import_geojson(pool: PgPool) {
    let state = import_state(&pool).await;
    let headers = auth_headers(&pool).await;
    let extra: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut counts = row_counts(&pool).await;
    let mut f = Fuzz::new("import_geojson");
    while let Some(seed) = f.next(&any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let layer = IMPORT_LAYERS[rng.gen_range(0..3)];
        let features: Vec<String> = (0..rng.gen_range(0..4))
            .map(|_| hostile_json(&mut rng))
            .collect();
        let mut file = format!(
            "{{\"type\":\"FeatureCollection\",\"features\":[{}]}}",
            features.join(",")
        );
        if rng.gen_bool(0.1) {
            let at = boundary(&file, rng.gen_range(0..=file.len()));
            file.truncate(at);
        }
        let uri = import_uri(&mut rng, layer, "geojson");
        check_import(
            &f,
            &state,
            &extra,
            &uri,
            file.into_bytes(),
            seed,
            &mut counts,
        )
        .await;
    }
    f.done();
}

#[sqlx::test]
async fn fuzz_import_opencellid(pool: PgPool) {
    const HEADER: &str = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal";
    let state = import_state(&pool).await;
    let headers = auth_headers(&pool).await;
    let extra: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut counts = row_counts(&pool).await;
    let mut f = Fuzz::new("import_opencellid");
    let pick = |rng: &mut ChaCha8Rng, pool: &[&str]| pool[rng.gen_range(0..pool.len())].to_owned();
    while let Some(seed) = f.next(&any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut file = String::new();
        match rng.gen_range(0..20) {
            0 => file.push_str("radio,mcc,net,lon,lat\n"),
            1 => file.push_str(&format!("\u{feff}{HEADER}\r\n")),
            2 => {
                let mut cols: Vec<&str> = HEADER.split(',').collect();
                cols.swap(rng.gen_range(0..14), rng.gen_range(0..14));
                file.push_str(&cols.join(","));
                file.push('\n');
            }
            _ => {
                file.push_str(HEADER);
                file.push('\n');
            }
        }
        let mut last = String::new();
        for _ in 0..rng.gen_range(0..12) {
            if !last.is_empty() && rng.gen_bool(0.15) {
                // The same cell twice.
                file.push_str(&last.clone());
                continue;
            }
            let (mut lon, mut lat) = (number_text(&mut rng, false), number_text(&mut rng, true));
            if rng.gen_bool(0.05) {
                std::mem::swap(&mut lon, &mut lat);
            }
            let mut fields = vec![
                pick(
                    &mut rng,
                    &["LTE", "GSM", "UMTS", "NR", "CDMA", "lte", "", "5G"],
                ),
                pick(
                    &mut rng,
                    &[
                        "452",
                        "452",
                        "452",
                        "0",
                        "-1",
                        "99999999999999999999",
                        "",
                        "452.0",
                    ],
                ),
                pick(&mut rng, &["04", "02", "01", "4", "07", "", "-4", "1e3"]),
                rng.gen_range(0..100_000u32).to_string(),
                if rng.gen_bool(0.9) {
                    rng.gen_range(0..10_000_000u64).to_string()
                } else {
                    pick(&mut rng, &["-1", "18446744073709551616", "x", ""])
                },
                "0".to_owned(),
                lon,
                lat,
                pick(
                    &mut rng,
                    &["0", "1200", "35000", "-5", "1e9", "NaN", "inf", ""],
                ),
                pick(&mut rng, &["1", "2", "40", "-1", "", "1e20"]),
                "1".to_owned(),
                "0".to_owned(),
                "0".to_owned(),
                "0".to_owned(),
            ];
            if rng.gen_bool(0.05) {
                fields.truncate(rng.gen_range(0..14));
            } else if rng.gen_bool(0.05) {
                fields.push("extra".to_owned());
            }
            last = format!("{}\n", fields.join(","));
            file.push_str(&last);
        }
        let uri = import_uri(&mut rng, CollectionId::Towers, "opencellid");
        check_import(
            &f,
            &state,
            &extra,
            &uri,
            file.into_bytes(),
            seed,
            &mut counts,
        )
        .await;
    }
    f.done();
}

#[sqlx::test]
async fn fuzz_http_geojson_bodies(pool: PgPool) {
    let state = fuzz_state(&pool).await;
    let headers = auth_headers(&pool).await;
    let extra: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut counts = row_counts(&pool).await;
    let mut f = Fuzz::new("http_geojson_bodies");
    while let Some(seed) = f.next(&any::<u64>()) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let c = CollectionId::ALL[rng.gen_range(0..4)];
        let body = hostile_json(&mut rng).into_bytes();
        let (method, uri) = match rng.gen_range(0..3) {
            0 => (Method::POST, format!("/collections/{c}/items")),
            1 => (
                Method::PUT,
                format!(
                    "/collections/{c}/items/{}",
                    if c.numeric_ids() { "1" } else { "HC" }
                ),
            ),
            _ => (
                Method::PATCH,
                format!(
                    "/collections/{c}/items/{}",
                    if c.numeric_ids() { "1" } else { "HC" }
                ),
            ),
        };
        let ct = if method == Method::PATCH {
            "application/merge-patch+json"
        } else {
            "application/geo+json"
        };
        let r = send_with_headers(
            &state,
            method.clone(),
            &uri,
            Some((ct, body.clone())),
            &extra,
        )
        .await;
        let after = row_counts(&pool).await;
        f.check(&(seed, &method, &uri, Sample(&body)), || {
            if r.status.is_server_error() {
                return Err(format!(
                    "{}: {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            if !r.status.is_success() && after != counts {
                return Err(format!("refused with {} but rows changed", r.status));
            }
            Ok(())
        });
        counts = after;
    }
    f.done();
}
