//! The underserved analysis: fixtures with answers known analytically, a
//! cross-check of geographic coverage against PostGIS, grid convergence, and
//! the HTTP and CLI outputs.

use axum::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;

use crate::common;
use crate::common::{send_json, send_to};

fn square(code: &str, w: f64, s: f64, size_deg: f64, population: i64) -> Value {
    json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [w + size_deg, s], [w + size_deg, s + size_deg], [w, s + size_deg], [w, s]]]},
        "properties": {"code": code, "name": format!("Ô {code}"), "population": population}
    })
}

fn tower(code: &str, lon: f64, lat: f64, azimuth: f64, beamwidth: f64, range_m: f64) -> Value {
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"operator": "viettel", "site_code": code, "structure_type": "lattice", "height_m": 40,
            "sectors": [{"operator": "viettel", "technology": "4G", "frequency_mhz": 900, "azimuth_deg": azimuth,
                         "beamwidth_deg": beamwidth, "height_m": 38, "eirp_dbm": 60, "range_m": range_m}]}
    })
}

async fn post(pool: &PgPool, collection: &str, f: &Value) {
    let r = send_json(
        pool,
        Method::POST,
        &format!("/collections/{collection}/items"),
        f,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

fn district<'a>(fc: &'a Value, code: &str) -> &'a Value {
    fc["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == code)
        .unwrap_or_else(|| panic!("no district {code}"))
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn analytic_fixtures_give_the_known_shares(pool: PgPool) {
    common::operators(&pool).await;
    // A: a 0.02° square (about 2.1 × 2.2 km) entirely inside one omni sector of 5 km.
    post(
        &pool,
        "districts",
        &square("A", 108.00, 16.00, 0.02, 10_000),
    )
    .await;
    post(
        &pool,
        "towers",
        &tower("A-1", 108.01, 16.01, 0.0, 360.0, 5_000.0),
    )
    .await;
    // B: a square with a 180° east-facing sector at its centre reaching beyond
    // the corners: it covers exactly the eastern half.
    post(
        &pool,
        "districts",
        &square("B", 108.10, 16.00, 0.02, 10_000),
    )
    .await;
    post(
        &pool,
        "towers",
        &tower("B-1", 108.11, 16.01, 90.0, 180.0, 5_000.0),
    )
    .await;
    // C: no sector at all, and nowhere near fibre.
    post(
        &pool,
        "districts",
        &square("C", 108.30, 16.30, 0.02, 10_000),
    )
    .await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let fc = send_to(
        &state,
        Method::GET,
        "/analysis/districts?technology=4G&resolution=10",
        None,
    )
    .await
    .json();
    let a = &district(&fc, "A")["properties"]["indicators"];
    assert_eq!(a["area_coverage_any_pct"], 100.0);
    assert_eq!(a["pop_coverage_any_pct"], 100.0);
    assert_eq!(a["not_spot_area_pct"], 0.0);
    let b = &district(&fc, "B")["properties"]["indicators"];
    let share = b["area_coverage_any_pct"].as_f64().unwrap();
    assert!(
        (share - 50.0).abs() <= 3.0,
        "half-covered square: {share} %"
    );
    let c = &district(&fc, "C")["properties"]["indicators"];
    assert_eq!(c["area_coverage_any_pct"], 0.0);
    assert_eq!(c["fibre_reach_area_pct"], 0.0);
    assert_eq!(c["fibre_reach_pop_pct"], 0.0);
    assert!(c["nearest_data_centre_km"].is_null());
    let cprops = &district(&fc, "C")["properties"];
    assert_eq!(cprops["class"], "unserved");
    let failing: Vec<&str> = cprops["explanation"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["pass"] == false)
        .map(|e| e["criterion"].as_str().unwrap())
        .collect();
    assert!(
        failing.contains(&"pop_coverage_pct") && failing.contains(&"fibre_reach_pop_pct"),
        "{failing:?}"
    );
    for e in cprops["explanation"].as_array().unwrap() {
        for k in ["criterion", "value", "threshold", "pass"] {
            assert!(e.get(k).is_some(), "explanation lacks {k}: {e}");
        }
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn fibre_reach_counts_cells_within_the_distance(pool: PgPool) {
    common::operators(&pool).await;
    post(&pool, "districts", &square("F", 108.00, 16.00, 0.02, 1_000)).await;
    // A north-south route along the square's western edge.
    let route = json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[108.0, 15.99], [108.0, 16.03]]},
        "properties": {"operator": "fpt", "placement": "underground", "fibre_count": 48}});
    post(&pool, "fibre-routes", &route).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let fc = send_to(
        &state,
        Method::GET,
        "/analysis/districts?fibre_reach_m=1070&resolution=10",
        None,
    )
    .await
    .json();
    let i = &district(&fc, "F")["properties"]["indicators"];
    // The square is 0.02° ≈ 2,140 m wide: 1,070 m reaches half of it.
    let reach = i["fibre_reach_area_pct"].as_f64().unwrap();
    assert!((reach - 50.0).abs() <= 3.0, "{reach}");
    let km = i["fibre_underground_km"].as_f64().unwrap();
    assert!(
        (km - 2.21).abs() < 0.05,
        "the route's length inside the square: {km} km"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn geographic_coverage_agrees_with_postgis_within_one_point(pool: PgPool) {
    common::load_sample(&pool, 300).await;
    // Explicit ranges so PostGIS and the index draw the same wedges.
    sqlx::query("update sectors set range_m = 200 + (id * 7919) % 1500")
        .execute(&pool)
        .await
        .unwrap();
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let fc = send_to(
        &state,
        Method::GET,
        "/analysis/districts?technology=4G",
        None,
    )
    .await
    .json();
    // PostGIS: the union of the 4G wedges (from /coverage/footprints) inside each district, on geography.
    let wedges = send_to(
        &state,
        Method::GET,
        "/coverage/footprints?technology=4G",
        None,
    )
    .await
    .json();
    let geoms: Vec<String> = wedges["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["geometry"].to_string())
        .collect();
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "with w as (select ST_Union(ST_GeomFromGeoJSON(g)) as u from unnest($1::text[]) g)
         select d.code, 100 * ST_Area(ST_Intersection(d.geom, w.u)::geography) / ST_Area(d.geom::geography)
         from districts d, w order by d.code",
    )
    .bind(&geoms)
    .fetch_all(&pool)
    .await
    .unwrap();
    for (code, pg) in rows {
        let ours = district(&fc, &code)["properties"]["indicators"]["area_coverage_any_pct"]
            .as_f64()
            .unwrap();
        assert!(
            (ours - pg).abs() <= 1.0,
            "district {code}: grid {ours:.2} % vs PostGIS {pg:.2} %"
        );
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_default_resolution_is_within_one_point_of_the_next_finer(pool: PgPool) {
    common::load_sample(&pool, 300).await;
    sqlx::query("update sectors set range_m = 200 + (id * 7919) % 1500")
        .execute(&pool)
        .await
        .unwrap();
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let default_res = telecom_gis::domain::classify::AnalysisConfig::default().resolution;
    let coarse = send_to(
        &state,
        Method::GET,
        &format!("/analysis/districts?resolution={default_res}"),
        None,
    )
    .await
    .json();
    let fine = send_to(
        &state,
        Method::GET,
        &format!("/analysis/districts?resolution={}", default_res + 1),
        None,
    )
    .await
    .json();
    for f in coarse["features"].as_array().unwrap() {
        let code = f["id"].as_str().unwrap();
        for k in [
            "area_coverage_any_pct",
            "pop_coverage_any_pct",
            "area_coverage_all_pct",
            "fibre_reach_area_pct",
        ] {
            let a = f["properties"]["indicators"][k].as_f64().unwrap();
            let b = district(&fine, code)["properties"]["indicators"][k]
                .as_f64()
                .unwrap();
            assert!(
                (a - b).abs() < 1.0,
                "district {code} {k}: {a} at {default_res}, {b} at {}",
                default_res + 1
            );
        }
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn thresholds_can_be_overridden_per_request(pool: PgPool) {
    common::load_sample(&pool, 150).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let lenient = "/analysis/districts?underserved.fibre_reach_pop_pct=0&unserved.fibre_reach_pop_pct=0&underserved.all_operator_pop_pct=0&underserved.data_centre_km=1000&unserved.data_centre_km=1000&underserved.pop_coverage_pct=0&unserved.pop_coverage_pct=0&underserved.area_coverage_pct=0&unserved.area_coverage_pct=0";
    let fc = send_to(&state, Method::GET, lenient, None).await.json();
    for f in fc["features"].as_array().unwrap() {
        assert_eq!(f["properties"]["class"], "served", "{}", f["id"]);
    }
    let strict = send_to(
        &state,
        Method::GET,
        "/analysis/districts?underserved.pop_coverage_pct=100.0&unserved.pop_coverage_pct=100",
        None,
    )
    .await
    .json();
    assert_eq!(strict["thresholds"]["unserved"]["pop_coverage_pct"], 100.0);
    for (uri, param) in [
        (
            "/analysis/districts?underserved.speed_mbps=25",
            "underserved.speed_mbps",
        ),
        (
            "/analysis/districts?underserved.pop_coverage_pct=abc",
            "underserved.pop_coverage_pct",
        ),
        (
            "/analysis/districts?underserved.pop_coverage_pct=120",
            "underserved.pop_coverage_pct",
        ),
        ("/analysis/districts?technology=6G", "technology"),
        ("/analysis/districts?resolution=13", "resolution"),
        ("/analysis/districts?colour=red", "colour"),
        ("/analysis/districts?f=xml", "f"),
    ] {
        let p = send_to(&state, Method::GET, uri, None).await.problem(400);
        assert_eq!(p["errors"][0]["parameter"], param, "{uri}: {p}");
    }
    send_to(&state, Method::GET, "/analysis/districts/999", None)
        .await
        .problem(404);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_report_ranks_districts_and_exports_csv(pool: PgPool) {
    common::load_sample(&pool, 200).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let fc = send_to(&state, Method::GET, "/analysis/districts", None)
        .await
        .json();
    let features = fc["features"].as_array().unwrap();
    assert_eq!(features.len(), 7);
    let scores: Vec<f64> = features
        .iter()
        .map(|f| f["properties"]["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|w| w[0] <= w[1]),
        "worst first: {scores:?}"
    );
    for (i, f) in features.iter().enumerate() {
        assert_eq!(f["properties"]["rank"], i + 1);
        let ind = &f["properties"]["indicators"];
        for k in [
            "population",
            "area_km2",
            "towers_per_km2",
            "towers_per_10k_people",
            "shared_tower_pct",
            "compact_tower_pct",
            "fibre_underground_km",
            "fibre_aerial_km",
            "nearest_data_centre_km",
        ] {
            assert!(!ind[k].is_null(), "{k} missing");
        }
        assert!(f["geometry"]["type"] == "MultiPolygon");
    }
    let one = send_to(&state, Method::GET, "/analysis/districts/497", None).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["properties"]["name"], "Hòa Vang");
    for (uri, accept) in [
        ("/analysis/districts?f=csv", "*/*"),
        ("/analysis/districts", "text/csv"),
    ] {
        // f=csv, or Accept: text/csv, gives the same table.
        let r =
            common::send_with_headers(&state, Method::GET, uri, None, &[("accept", accept)]).await;
        assert!(r.content_type.starts_with("text/csv"), "{}", r.content_type);
        let text = String::from_utf8(r.body).unwrap();
        let mut rows = csv::Reader::from_reader(text.as_bytes());
        let headers = rows.headers().unwrap().clone();
        assert_eq!(&headers[0], "rank");
        let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 7);
        assert!(
            records.iter().any(|r| &r[2] == "Ngũ Hành Sơn"),
            "names keep their diacritics"
        );
    }
    let summary = send_to(&state, Method::GET, "/analysis/summary", None)
        .await
        .json();
    assert_eq!(summary["population"], 1_134_310);
    assert_eq!(summary["shared_sites_target_2025"], 400);
    let shared: i64 = sqlx::query_scalar(
        "select count(*) from towers t where status = 'operational' and exists (select 1 from tower_tenants tt where tt.tower_id = t.id)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(summary["shared_sites"], shared);
    let classes: u64 = summary["districts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(classes, 7);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_cli_prints_the_ranked_table(pool: PgPool) {
    common::load_sample(&pool, 100).await;
    let db: String = sqlx::query_scalar("select current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").unwrap();
    let url = format!("{}/{db}", base.rsplit_once('/').unwrap().0);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telecom-gis"))
        .args([
            "report",
            "underserved",
            "--technology",
            "4G",
            "--format",
            "table",
        ])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("rank") && text.contains("Hòa Vang") && text.contains("failing criteria"),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.trim_start().starts_with(char::is_numeric))
            .count(),
        7,
        "{text}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_telecom-gis"))
        .args(["report", "underserved", "--format", "csv"])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("rank,code,name,class"));
}
