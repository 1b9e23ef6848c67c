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
use telecom_gis::http::limits::RateLimiter;
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
    const ALLOWED: &[&[&str]] = &[
        &["Point"],
        &["LineString", "MultiLineString"],
        &["Point", "Polygon"],
        &["Polygon", "MultiPolygon"],
    ];
    let strategy = (
        prop_oneof![
            1 => any_json(),
            1 => coordinates().prop_map(|c| json!({"type": "Polygon", "coordinates": c})),
            4 => (prop::sample::select(valid), edits()).prop_map(|(v, e)| mutated(v, &e)),
        ],
        prop::sample::select(ALLOWED),
    );
    while let Some((v, allowed)) = f.next(&strategy) {
        f.check(&(&v, allowed), || {
            if let Ok(g) = parse_geometry(Some(&v), allowed, "/geometry") {
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
        limits: Arc::new(RateLimiter::disabled()),
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
