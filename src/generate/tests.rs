//! Tests of the generator against the real Đà Nẵng districts and roads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use geo::orient::{Direction, Orient};
use geo::{Contains, Coord, GeodesicArea, LineString, MultiPolygon, Point, Polygon};
use serde_json::Value;

use super::*;

fn data_path(file: &str) -> String {
    format!("{}/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn read_collection(file: &str) -> geojson::FeatureCollection {
    let text = std::fs::read_to_string(data_path(file))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", data_path(file)));
    text.parse::<geojson::GeoJson>()
        .ok()
        .and_then(|g| geojson::FeatureCollection::try_from(g).ok())
        .unwrap_or_else(|| panic!("{file} is not a FeatureCollection"))
}

fn areas() -> &'static [Area] {
    static AREAS: OnceLock<Vec<Area>> = OnceLock::new();
    AREAS.get_or_init(|| {
        areas_from_geojson(&read_collection("danang_districts.geojson")).expect("districts")
    })
}

fn lines() -> &'static [LineString<f64>] {
    static LINES: OnceLock<Vec<LineString<f64>>> = OnceLock::new();
    LINES.get_or_init(|| {
        lines_from_geojson(&read_collection("danang_major_transport_lines.geojson"))
            .expect("transport lines")
    })
}

/// The default output, generated once for all tests that only read it.
fn default_assets() -> &'static SampleAssets {
    static ASSETS: OnceLock<SampleAssets> = OnceLock::new();
    ASSETS.get_or_init(|| generate(&GenerateParams::default(), areas(), lines()).expect("generate"))
}

fn props(f: &geojson::Feature) -> &serde_json::Map<String, Value> {
    f.properties.as_ref().expect("properties")
}

fn text<'a>(f: &'a geojson::Feature, key: &str) -> &'a str {
    props(f)[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string"))
}

fn point(f: &geojson::Feature) -> Coord<f64> {
    match &f.geometry.as_ref().expect("geometry").value {
        geojson::Value::Point(p) => Coord { x: p[0], y: p[1] },
        other => panic!("expected a Point, got {other:?}"),
    }
}

fn line(f: &geojson::Feature) -> Vec<Coord<f64>> {
    match &f.geometry.as_ref().expect("geometry").value {
        geojson::Value::LineString(ps) => ps.iter().map(|p| Coord { x: p[0], y: p[1] }).collect(),
        other => panic!("expected a LineString, got {other:?}"),
    }
}

fn json_of(a: &SampleAssets) -> String {
    serde_json::to_string(&(&a.towers, &a.fibre_routes, &a.data_centres)).expect("serialise")
}

fn area_named(name: &str) -> &'static Area {
    areas().iter().find(|a| a.name == name).expect("district")
}

fn land_fibre_km(fc: &geojson::FeatureCollection) -> f64 {
    use geo::{Geodesic, Length};
    fc.features
        .iter()
        .filter(|f| text(f, "placement") != "submarine")
        .map(|f| Geodesic.length(&LineString::new(line(f))))
        .sum::<f64>()
        / 1000.0
}

fn assert_number_in(f: &serde_json::Map<String, Value>, key: &str, lo: f64, hi: f64) -> f64 {
    let x = f[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number: {:?}", f[key]));
    assert!((lo..=hi).contains(&x), "{key} = {x} not in {lo}..={hi}");
    x
}

fn assert_integer_in(f: &serde_json::Map<String, Value>, key: &str, lo: i64, hi: i64) -> i64 {
    let x = f[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not an integer: {:?}", f[key]));
    assert!((lo..=hi).contains(&x), "{key} = {x} not in {lo}..={hi}");
    x
}

fn assert_keys(m: &serde_json::Map<String, Value>, expected: &[&str]) {
    let keys: BTreeSet<&str> = m.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = expected.iter().copied().collect();
    assert_eq!(keys, expected);
}

fn assert_position(c: Coord<f64>) {
    assert!(
        (-180.0..=180.0).contains(&c.x) && (-90.0..=90.0).contains(&c.y),
        "{c:?}"
    );
    for v in [c.x, c.y] {
        assert_eq!((v * 1e6).round() / 1e6, v, "not rounded to 6 decimals: {v}");
    }
}

#[test]
fn the_input_files_give_seven_districts_and_roads() {
    assert_eq!(areas().len(), 7);
    assert_eq!(areas().iter().filter(|a| a.rural).count(), 1);
    assert_eq!(area_named("Hòa Vang").code, "497");
    assert_eq!(area_named("Hải Châu").population, 201_522);
    assert!(lines().len() >= 10);
}

#[test]
fn same_seed_gives_identical_output_and_another_seed_does_not() {
    let params = GenerateParams::default();
    let again = generate(&params, areas(), lines()).expect("generate");
    assert_eq!(json_of(default_assets()), json_of(&again));
    let other = generate(
        &GenerateParams {
            seed: params.seed + 1,
            ..params
        },
        areas(),
        lines(),
    )
    .expect("generate");
    assert_ne!(json_of(default_assets()), json_of(&other));
}

#[test]
fn layers_use_independent_random_streams() {
    let params = GenerateParams {
        data_centres: 3,
        fibre_km: 120.0,
        ..GenerateParams::default()
    };
    let a = generate(&params, areas(), lines()).expect("generate");
    assert_eq!(a.towers, default_assets().towers);
}

#[test]
fn counts_match_the_parameters() {
    let a = default_assets();
    assert_eq!(a.towers.features.len(), 1500);
    assert_eq!(a.data_centres.features.len(), 8);
    let p = GenerateParams {
        seed: 7,
        towers: 321,
        fibre_km: 80.0,
        data_centres: 3,
    };
    let b = generate(&p, areas(), lines()).expect("generate");
    assert_eq!(b.towers.features.len(), 321);
    assert_eq!(b.data_centres.features.len(), 3);
    let none = generate(
        &GenerateParams {
            towers: 0,
            data_centres: 0,
            ..p
        },
        areas(),
        lines(),
    )
    .expect("generate");
    assert!(none.towers.features.is_empty() && none.data_centres.features.is_empty());
    assert!((land_fibre_km(&none.fibre_routes) - 80.0).abs() < 8.0);
}

#[test]
fn every_tower_is_inside_a_district() {
    for f in &default_assets().towers.features {
        let p = Point(point(f));
        assert!(
            areas().iter().any(|a| a.geom.contains(&p)),
            "{} at {p:?} is outside every district",
            text(f, "site_code")
        );
    }
}

#[test]
fn towers_are_denser_where_people_live() {
    let density = |name: &str| {
        let area = area_named(name);
        let n = default_assets()
            .towers
            .features
            .iter()
            .filter(|f| area.geom.contains(&Point(point(f))))
            .count();
        let km2 = area
            .geom
            .orient(Direction::Default)
            .geodesic_area_unsigned()
            / 1e6;
        n as f64 / km2
    };
    let (thanh_khe, hai_chau, hoa_vang) = (
        density("Thanh Khê"),
        density("Hải Châu"),
        density("Hòa Vang"),
    );
    println!(
        "towers/km²: Thanh Khê {thanh_khe:.1}, Hải Châu {hai_chau:.1}, Hòa Vang {hoa_vang:.2}"
    );
    assert!(thanh_khe > 10.0 * hoa_vang);
    assert!(hai_chau > 5.0 * hoa_vang);
}

#[test]
fn towers_keep_their_distance() {
    let (kx, ky) = crate::spatial::geodesy::metres_per_degree(16.05);
    let proj_m = |c: Coord<f64>| (c.x * kx, c.y * ky);
    let pts: Vec<(f64, f64)> = default_assets()
        .towers
        .features
        .iter()
        .map(|f| proj_m(point(f)))
        .collect();
    let mut sorted = pts.clone();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut closest = f64::INFINITY;
    for (i, a) in sorted.iter().enumerate() {
        for b in &sorted[i + 1..] {
            if b.0 - a.0 > 60.0 {
                break;
            }
            closest = closest.min((a.0 - b.0).hypot(a.1 - b.1));
        }
    }
    assert!(closest >= 59.0, "two towers are {closest:.1} m apart");
}

const TOWER_KEYS: &[&str] = &[
    "operator",
    "site_code",
    "external_id",
    "name",
    "structure_type",
    "height_m",
    "status",
    "tenants",
    "sectors",
    "synthetic",
];
const SECTOR_KEYS: &[&str] = &[
    "operator",
    "technology",
    "frequency_mhz",
    "azimuth_deg",
    "beamwidth_deg",
    "tilt_deg",
    "height_m",
    "eirp_dbm",
    "range_m",
];
const STATUSES: &[&str] = crate::domain::Status::NAMES;

/// Checks every tower against the API's validation rules and the
/// plausibility ranges of the brief.
fn check_towers(fc: &geojson::FeatureCollection) {
    let mobile = ["viettel", "vnpt", "mobifone"];
    for f in &fc.features {
        assert!(f.id.is_none());
        assert_position(point(f));
        let p = props(f);
        assert_keys(p, TOWER_KEYS);
        assert_eq!(p["synthetic"], Value::Bool(true));
        let owner = text(f, "operator");
        assert!(mobile.contains(&owner));
        assert_eq!(p["site_code"], p["external_id"]);
        assert!(STATUSES.contains(&text(f, "status")));
        let structure = text(f, "structure_type");
        let (lo, hi) = match structure {
            "rooftop" => (6.0, 20.0),
            "compact" => (6.0, 15.0),
            "camouflaged" => (10.0, 25.0),
            "monopole" => (20.0, 45.0),
            "lattice" => (30.0, 60.0),
            "guyed" => (30.0, 80.0),
            other => panic!("unknown structure type {other}"),
        };
        let height = assert_number_in(p, "height_m", lo, hi);
        let tenants: Vec<&str> = p["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .map(|t| t.as_str().expect("tenant id"))
            .collect();
        assert!(tenants.len() <= 2);
        assert!(!tenants.contains(&owner));
        assert!(tenants.iter().all(|t| mobile.contains(t)));
        assert_eq!(tenants.iter().collect::<BTreeSet<_>>().len(), tenants.len());
        let sectors = p["sectors"].as_array().expect("sectors");
        assert!(!sectors.is_empty() && sectors.len() <= 256);
        for s in sectors {
            let s = s.as_object().expect("sector object");
            assert_keys(s, SECTOR_KEYS);
            let op = s["operator"].as_str().expect("sector operator");
            assert!(
                op == owner || tenants.contains(&op),
                "sector of {op} on {owner}'s tower"
            );
            let tech = s["technology"].as_str().expect("technology");
            let freq = s["frequency_mhz"].as_f64().expect("frequency");
            let in_band = match tech {
                "2G" => (380.0..=1990.0).contains(&freq),
                "3G" => (700.0..=2690.0).contains(&freq),
                "4G" => (410.0..=5925.0).contains(&freq),
                "5G" => (410.0..=7125.0).contains(&freq) || (24250.0..=52600.0).contains(&freq),
                other => panic!("unknown technology {other}"),
            };
            assert!(in_band, "{tech} at {freq} MHz");
            let az = assert_number_in(s, "azimuth_deg", 0.0, 360.0);
            assert!(az < 360.0);
            let bw = assert_number_in(s, "beamwidth_deg", 1.0, 360.0);
            assert!(bw == 65.0 || bw == 360.0);
            if bw == 360.0 {
                assert_eq!(az, 0.0);
            }
            assert_number_in(s, "tilt_deg", 2.0, 8.0);
            assert_number_in(s, "height_m", 3.0, height);
            let (elo, ehi) = match tech {
                "4G" => (58.0, 63.0),
                "5G" => (63.0, 70.0),
                _ => (55.0, 60.0),
            };
            assert_number_in(s, "eirp_dbm", elo, ehi);
            if !s["range_m"].is_null() {
                assert_number_in(s, "range_m", 800.0, 8000.0);
            }
        }
    }
}

#[test]
fn towers_respect_the_api_bounds() {
    check_towers(&default_assets().towers);
}

#[test]
fn tower_statistics_are_plausible() {
    let fc = &default_assets().towers;
    let n = fc.features.len() as f64;
    let share = |pred: &dyn Fn(&geojson::Feature) -> bool| {
        fc.features.iter().filter(|f| pred(f)).count() as f64 / n
    };
    let shared = share(&|f| !props(f)["tenants"].as_array().is_some_and(Vec::is_empty));
    let two = share(&|f| props(f)["tenants"].as_array().is_some_and(|t| t.len() == 2));
    let operational = share(&|f| text(f, "status") == "operational");
    let viettel = share(&|f| text(f, "operator") == "viettel");
    let hoa_vang = area_named("Hòa Vang");
    let urban_5g = fc
        .features
        .iter()
        .filter(|f| text(f, "status") == "operational" && !hoa_vang.geom.contains(&Point(point(f))))
        .map(|f| {
            props(f)["sectors"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| s["technology"] == "5G" && s["operator"] == props(f)["operator"])
            })
        })
        .fold((0, 0), |(y, t), has| (y + usize::from(has), t + 1));
    let urban_5g = urban_5g.0 as f64 / urban_5g.1 as f64;
    println!(
        "shared {shared:.3} (two tenants {two:.3}), operational {operational:.3}, viettel {viettel:.3}, urban operational with owner 5G {urban_5g:.3}"
    );
    assert!((0.18..=0.30).contains(&shared));
    assert!(two > 0.0 && two < 0.08);
    assert!((0.86..=0.94).contains(&operational));
    assert!((0.40..=0.50).contains(&viettel));
    assert!((0.20..=0.30).contains(&urban_5g));
}

#[test]
fn identifiers_are_unique_per_operator() {
    let a = default_assets();
    for (fc, keys) in [
        (&a.towers, &["site_code", "external_id"][..]),
        (&a.fibre_routes, &["external_id"][..]),
        (&a.data_centres, &["external_id"][..]),
    ] {
        for key in keys {
            let mut seen = BTreeSet::new();
            for f in &fc.features {
                assert!(
                    seen.insert((text(f, "operator"), text(f, key))),
                    "duplicate {key} {}",
                    text(f, key)
                );
            }
        }
    }
    let first = text(&a.towers.features[0], "site_code");
    assert!(
        first.len() == 13 && first[3..].starts_with("-DNG-"),
        "{first}"
    );
}

const FIBRE_KEYS: &[&str] = &[
    "operator",
    "name",
    "external_id",
    "placement",
    "fibre_count",
    "capacity_gbps",
    "status",
    "synthetic",
];

fn check_fibre(fc: &geojson::FeatureCollection) {
    for f in &fc.features {
        assert!(f.id.is_none());
        let p = props(f);
        assert_keys(p, FIBRE_KEYS);
        assert_eq!(p["synthetic"], Value::Bool(true));
        assert!(["viettel", "vnpt", "mobifone", "fpt"].contains(&text(f, "operator")));
        assert!(STATUSES.contains(&text(f, "status")));
        let coords = line(f);
        assert!(coords.len() >= 2 && coords.windows(2).all(|w| w[0] != w[1]));
        coords.iter().copied().for_each(assert_position);
        let count = assert_integer_in(p, "fibre_count", 1, 10_000);
        let capacity = assert_number_in(p, "capacity_gbps", 0.0, 1_000_000.0);
        let name = text(f, "name");
        match text(f, "placement") {
            "submarine" => {
                assert!(name.ends_with("(schematic)"), "{name}");
                assert_eq!(count, 16);
                assert!((20_000.0..=54_000.0).contains(&capacity));
                assert!(
                    coords[0].x > 108.2 && coords[0].x < 108.3,
                    "{:?}",
                    coords[0]
                );
                assert!(coords.last().is_some_and(|c| c.x >= 108.85));
            }
            "underground" | "aerial" if name.contains("backbone") => {
                assert!([96, 144, 288].contains(&count));
                assert!((100.0..=400.0).contains(&capacity));
            }
            "underground" | "aerial" => {
                assert!(name.contains("feeder"), "{name}");
                assert!([24, 48].contains(&count));
                assert!((10.0..=40.0).contains(&capacity));
            }
            other => panic!("unknown placement {other}"),
        }
    }
}

#[test]
fn fibre_routes_respect_the_api_bounds_and_structure() {
    let fc = &default_assets().fibre_routes;
    check_fibre(fc);
    let names: Vec<&str> = fc.features.iter().map(|f| text(f, "name")).collect();
    for brand in ["Viettel", "VNPT", "MobiFone", "FPT"] {
        assert!(
            names.contains(&format!("{brand} backbone ring").as_str()),
            "{brand} ring"
        );
    }
    let submarine: Vec<&geojson::Feature> = fc
        .features
        .iter()
        .filter(|f| text(f, "placement") == "submarine")
        .collect();
    assert_eq!(submarine.len(), 2);
    assert_eq!(text(submarine[0], "operator"), "viettel");
    assert!(text(submarine[0], "name").starts_with("APG"));
    assert_eq!(text(submarine[1], "operator"), "vnpt");
    assert!(text(submarine[1], "name").starts_with("SeaMeWe-3"));
    // Feeders in Hòa Vang are mostly aerial, urban ones mostly underground
    // (counted on a longer network for a meaningful sample).
    let long = generate(
        &GenerateParams {
            fibre_km: 3_000.0,
            ..GenerateParams::default()
        },
        areas(),
        lines(),
    )
    .expect("generate");
    let mut by_kind: BTreeMap<(bool, &str), usize> = BTreeMap::new();
    for f in &long.fibre_routes.features {
        let name = text(f, "name");
        if name.contains("feeder") {
            *by_kind
                .entry((name.contains("Hòa Vang"), text(f, "placement")))
                .or_default() += 1;
        }
    }
    println!("feeders by (rural, placement): {by_kind:?}");
    let get = |k: (bool, &str)| by_kind.get(&k).copied().unwrap_or(0);
    assert!(get((false, "underground")) > 3 * get((false, "aerial")));
    assert!(get((true, "aerial")) > 3 * get((true, "underground")));
}

#[test]
fn land_fibre_length_matches_the_target() {
    for fibre_km in [300.0, 25.0, 1_500.0] {
        let params = GenerateParams {
            fibre_km,
            towers: 400,
            ..GenerateParams::default()
        };
        let a = if fibre_km == 300.0 {
            default_assets().clone()
        } else {
            generate(&params, areas(), lines()).expect("generate")
        };
        check_fibre(&a.fibre_routes);
        let km = land_fibre_km(&a.fibre_routes);
        println!(
            "fibre_km {fibre_km}: {km:.2} km land in {} routes",
            a.fibre_routes.features.len()
        );
        assert!(
            (km - fibre_km).abs() <= 0.1 * fibre_km,
            "{km} km for {fibre_km}"
        );
    }
}

#[test]
fn data_centres_respect_the_api_bounds() {
    let fc = &default_assets().data_centres;
    let mut polygons = 0;
    for f in &fc.features {
        assert!(f.id.is_none());
        let p = props(f);
        assert_keys(
            p,
            &[
                "operator",
                "name",
                "external_id",
                "tier",
                "power_mw",
                "racks",
                "status",
                "synthetic",
            ],
        );
        assert_eq!(p["synthetic"], Value::Bool(true));
        assert!(["viettel", "vnpt", "mobifone", "fpt"].contains(&text(f, "operator")));
        assert_integer_in(p, "tier", 2, 4);
        assert_number_in(p, "power_mw", 0.5, 10.0);
        assert_integer_in(p, "racks", 50, 800);
        let centre = match &f.geometry.as_ref().expect("geometry").value {
            geojson::Value::Point(c) => Coord { x: c[0], y: c[1] },
            geojson::Value::Polygon(rings) => {
                polygons += 1;
                assert_eq!(rings.len(), 1);
                let ring: Vec<Coord<f64>> = rings[0]
                    .iter()
                    .map(|c| Coord { x: c[0], y: c[1] })
                    .collect();
                assert_eq!(ring.len(), 5);
                assert_eq!(ring[0], ring[4]);
                ring.iter().copied().for_each(assert_position);
                let polygon = Polygon::new(LineString::new(ring.clone()), vec![]);
                let m2 = polygon.geodesic_area_signed();
                assert!(
                    (4_300.0..=5_300.0).contains(&m2),
                    "footprint {m2} m², must be CCW ~4800"
                );
                Coord {
                    x: ring[..4].iter().map(|c| c.x).sum::<f64>() / 4.0,
                    y: ring[..4].iter().map(|c| c.y).sum::<f64>() / 4.0,
                }
            }
            other => panic!("unexpected geometry {other:?}"),
        };
        let home = areas()
            .iter()
            .find(|a| a.geom.contains(&Point(centre)))
            .expect("inside a district");
        assert!(
            ["490", "491", "492", "495"].contains(&home.code.as_str()),
            "{}",
            home.name
        );
    }
    assert_eq!(polygons, 4);
    let planned = fc
        .features
        .iter()
        .filter(|f| text(f, "status") == "planned")
        .count();
    assert_eq!(planned, 1);
    let operators: BTreeSet<&str> = fc.features.iter().map(|f| text(f, "operator")).collect();
    assert_eq!(operators.len(), 4);
}

#[test]
fn out_of_range_parameters_and_missing_areas_are_rejected() {
    let ok = GenerateParams::default();
    assert_eq!(generate(&ok, &[], lines()), Err(GenerateError::NoAreas));
    let bad = [
        GenerateParams {
            towers: MAX_TOWERS + 1,
            ..ok.clone()
        },
        GenerateParams {
            fibre_km: 0.0,
            ..ok.clone()
        },
        GenerateParams {
            fibre_km: -1.0,
            ..ok.clone()
        },
        GenerateParams {
            fibre_km: f64::NAN,
            ..ok.clone()
        },
        GenerateParams {
            fibre_km: MAX_FIBRE_KM * 1.01,
            ..ok.clone()
        },
        GenerateParams {
            data_centres: MAX_DATA_CENTRES + 1,
            ..ok.clone()
        },
    ];
    for p in bad {
        assert!(
            matches!(
                generate(&p, areas(), lines()),
                Err(GenerateError::InvalidParam { .. })
            ),
            "{p:?}"
        );
    }
    let empty = Area {
        code: "000".into(),
        name: "Nowhere".into(),
        population: 1,
        geom: MultiPolygon::new(vec![]),
        rural: false,
    };
    assert!(matches!(
        generate(&ok, &[empty], lines()),
        Err(GenerateError::InvalidArea { .. })
    ));
}

#[test]
fn works_on_a_single_square_without_roads() {
    let square = Polygon::new(
        LineString::from(vec![
            (108.0, 16.0),
            (108.05, 16.0),
            (108.05, 16.05),
            (108.0, 16.05),
            (108.0, 16.0),
        ]),
        vec![],
    );
    let area = Area {
        code: "999".into(),
        name: "Test".into(),
        population: 0,
        geom: MultiPolygon::new(vec![square]),
        rural: true,
    };
    let params = GenerateParams {
        seed: 1,
        towers: 200,
        fibre_km: 40.0,
        data_centres: 2,
    };
    let a = generate(&params, &[area], &[]).expect("generate");
    assert_eq!(a.towers.features.len(), 200);
    assert_eq!(a.data_centres.features.len(), 2);
    check_towers(&a.towers);
    check_fibre(&a.fibre_routes);
    assert!((land_fibre_km(&a.fibre_routes) - 40.0).abs() < 4.0);
}

/// Generates 100 000 towers and prints the time (the benchmarks' scale).
/// Only asserts a time limit in optimised builds.
#[test]
fn one_hundred_thousand_towers() {
    let params = GenerateParams {
        towers: 100_000,
        ..GenerateParams::default()
    };
    let start = std::time::Instant::now();
    let a = generate(&params, areas(), lines()).expect("generate");
    let elapsed = start.elapsed();
    println!("100 000 towers generated in {:.2} s", elapsed.as_secs_f64());
    assert_eq!(a.towers.features.len(), 100_000);
    #[cfg(not(debug_assertions))]
    assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");
}
