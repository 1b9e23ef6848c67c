//! The coverage engine over HTTP, checked against PostGIS as the oracle
//! (geodesic distance and azimuth on `geography`), and kept in step with
//! writes made through the API and through plain SQL.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;

use crate::common;
use crate::common::{get, load_sample, send_json, send_to};

struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Gives every sector a deterministic explicit range, so the oracle needs no
/// propagation model.
async fn explicit_ranges(pool: &PgPool) {
    sqlx::query("update sectors set range_m = 300 + (id * 7919) % 2700")
        .execute(pool)
        .await
        .unwrap();
}

/// The PostGIS oracle: sectors of operational towers within range (geodesic,
/// spheroid) and whose geodesic azimuth lies in the beam. Sectors within
/// `tolerance_m` of a boundary are returned separately as ambiguous.
async fn oracle(
    pool: &PgPool,
    lon: f64,
    lat: f64,
    tolerance_m: f64,
) -> (BTreeSet<i64>, BTreeSet<i64>) {
    let rows: Vec<(i64, bool, bool)> = sqlx::query_as(include_str!("../sql/coverage_oracle.sql"))
        .bind(lon)
        .bind(lat)
        .bind(tolerance_m)
        .fetch_all(pool)
        .await
        .unwrap();
    let mut covered = BTreeSet::new();
    let mut ambiguous = BTreeSet::new();
    for (id, inside, near) in rows {
        if near {
            ambiguous.insert(id);
        } else if inside {
            covered.insert(id);
        }
    }
    (covered, ambiguous)
}

fn sector_ids(answer: &Value) -> BTreeSet<i64> {
    answer["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sector_id"].as_i64().unwrap())
        .collect()
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn point_coverage_matches_postgis_geography_point_for_point(pool: PgPool) {
    load_sample(&pool, 250).await;
    explicit_ranges(&pool).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let mut rng = Rng(0x0c0f_fee0_4242);
    let (mut compared, mut covered_points) = (0, 0);
    for _ in 0..300 {
        let (lon, lat) = (108.10 + rng.f() * 0.2, 15.98 + rng.f() * 0.14);
        let answer = send_to(
            &state,
            Method::GET,
            &format!("/coverage/point?lon={lon}&lat={lat}"),
            None,
        )
        .await
        .json();
        let got = sector_ids(&answer);
        let (want, ambiguous) = oracle(&pool, lon, lat, 1.0).await;
        let got: BTreeSet<i64> = got.difference(&ambiguous).copied().collect();
        assert_eq!(got, want, "at lon {lon}, lat {lat}");
        compared += 1;
        covered_points += usize::from(!want.is_empty());
    }
    assert_eq!(compared, 300);
    assert!(
        covered_points > 50,
        "the sample covers some points: {covered_points}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_point_answer_lists_distance_bearing_range_and_counts_per_operator(pool: PgPool) {
    load_sample(&pool, 120).await;
    let (tower, lon, lat): (i64, f64, f64) = sqlx::query_as(
        "select t.id, ST_X(t.geom), ST_Y(t.geom) from towers t where status = 'operational'
         and exists (select 1 from sectors s where s.tower_id = t.id and s.technology = '4G') order by id limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // 30 m north-east of the tower: inside at least one of its sectors' ranges.
    let answer = get(
        &pool,
        &format!(
            "/coverage/point?lon={}&lat={}&technology=4G",
            lon + 0.0002,
            lat + 0.0002
        ),
    )
    .await
    .json();
    assert!((answer["lon"].as_f64().unwrap() - (lon + 0.0002)).abs() < 1e-12);
    let sectors = answer["sectors"].as_array().unwrap();
    for s in sectors {
        assert_eq!(s["technology"], "4G");
        for k in [
            "sector_id",
            "tower_id",
            "operator",
            "distance_m",
            "bearing_deg",
            "range_m",
            "range_source",
        ] {
            assert!(!s[k].is_null(), "{k} missing in {s}");
        }
        assert!(s["distance_m"].as_f64().unwrap() <= s["range_m"].as_f64().unwrap() + 0.5);
    }
    let total: u64 = answer["operators"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, sectors.len());
    let _ = tower;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn tower_sectors_carry_the_range_the_model_used_and_its_source(pool: PgPool) {
    load_sample(&pool, 80).await;
    let id: i64 = sqlx::query_scalar(
        "select tower_id from sectors s join towers t on t.id = s.tower_id where t.status = 'operational'
         group by tower_id having bool_or(range_m is null) and bool_or(range_m is not null) order by tower_id limit 1",
    )
    .fetch_optional(&pool)
    .await
    .unwrap()
    .unwrap_or(1);
    let f = get(&pool, &format!("/collections/towers/items/{id}"))
        .await
        .json();
    let stored: Vec<(i64, Option<f64>)> =
        sqlx::query_as("select id, range_m from sectors where tower_id = $1 order by id")
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap();
    for (s, (sid, explicit)) in f["properties"]["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .zip(stored)
    {
        assert_eq!(s["id"], sid);
        match explicit {
            Some(r) => {
                assert_eq!(s["range_source"], "explicit");
                assert!((s["range_m"].as_f64().unwrap() - r).abs() < 0.06);
            }
            None => {
                assert_eq!(s["range_source"], "model");
                let r = s["range_m"].as_f64().unwrap();
                assert!((50.0..=35_000.0).contains(&r), "modelled range {r}");
            }
        }
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_batch_answers_like_single_points_in_input_order(pool: PgPool) {
    load_sample(&pool, 200).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let mut rng = Rng(31337);
    let pts: Vec<[f64; 2]> = (0..150)
        .map(|_| [108.12 + rng.f() * 0.15, 16.0 + rng.f() * 0.1])
        .collect();
    for body in [
        json!({"type": "MultiPoint", "coordinates": pts}),
        json!({"type": "FeatureCollection", "features": pts.iter().map(|p| json!({"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": p}})).collect::<Vec<_>>()}),
    ] {
        let r = send_to(
            &state,
            Method::POST,
            "/coverage/points?technology=4G",
            Some(("application/geo+json", serde_json::to_vec(&body).unwrap())),
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let doc = r.json();
        assert_eq!(doc["count"], 150);
        let ops: Vec<String> = doc["operators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap().to_owned())
            .collect();
        for (p, covered_by) in pts.iter().zip(doc["covered_by"].as_array().unwrap()) {
            let got: BTreeSet<String> = covered_by
                .as_array()
                .unwrap()
                .iter()
                .map(|i| ops[i.as_u64().unwrap() as usize].clone())
                .collect();
            let single = send_to(
                &state,
                Method::GET,
                &format!("/coverage/point?lon={}&lat={}&technology=4G", p[0], p[1]),
                None,
            )
            .await
            .json();
            let want: BTreeSet<String> = single["operators"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            assert_eq!(got, want, "at {p:?}");
        }
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_batch_over_the_documented_limit_is_refused_with_413(pool: PgPool) {
    load_sample(&pool, 10).await;
    let mut body = String::with_capacity(12_000_100);
    body.push_str("{\"type\":\"MultiPoint\",\"coordinates\":[");
    for i in 0..1_000_001 {
        if i > 0 {
            body.push(',');
        }
        body.push_str("[108.2,16.05]");
    }
    body.push_str("]}");
    let r = common::send(
        &pool,
        Method::POST,
        "/coverage/points",
        Some(("application/geo+json", body.into_bytes())),
    )
    .await;
    let p = r.problem(413);
    assert!(p["detail"].as_str().unwrap().contains("1000000"));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn footprints_are_counter_clockwise_wedges_with_their_ranges(pool: PgPool) {
    load_sample(&pool, 60).await;
    let fc = get(&pool, "/coverage/footprints?technology=4G&operator=viettel")
        .await
        .json();
    let n: i64 = sqlx::query_scalar(
        "select count(*) from sectors s join towers t on t.id = s.tower_id
         where t.status = 'operational' and s.technology = '4G' and s.operator_id = 'viettel'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(fc["numberMatched"], n);
    for f in fc["features"].as_array().unwrap() {
        assert_eq!(f["properties"]["operator"], "viettel");
        let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
        let poly: geo::Polygon<f64> = g.value.try_into().unwrap();
        use geo::Winding;
        assert!(poly.exterior().is_ccw());
        assert!(f["properties"]["range_m"].as_f64().unwrap() > 0.0);
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn gap_cells_lie_in_the_district_and_count_the_covering_operators(pool: PgPool) {
    load_sample(&pool, 150).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let fc = send_to(
        &state,
        Method::GET,
        "/coverage/gaps?technology=4G&resolution=8&district=494",
        None,
    )
    .await
    .json();
    let features = fc["features"].as_array().unwrap();
    assert!(!features.is_empty());
    assert_eq!(fc["cells"].as_u64().unwrap() as usize, features.len());
    for f in features.iter().step_by(7) {
        let cell: h3o::CellIndex = f["properties"]["h3"].as_str().unwrap().parse().unwrap();
        assert_eq!(cell.resolution(), h3o::Resolution::Eight);
        let ll = h3o::LatLng::from(cell);
        let inside: bool = sqlx::query_scalar("select ST_Intersects(geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) from districts where code = '494'")
            .bind(ll.lng())
            .bind(ll.lat())
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(inside, "cell {cell} centre is outside the district");
        let single = send_to(
            &state,
            Method::GET,
            &format!(
                "/coverage/point?lon={}&lat={}&technology=4G",
                ll.lng(),
                ll.lat()
            ),
            None,
        )
        .await
        .json();
        assert_eq!(
            f["properties"]["operators"].as_u64().unwrap() as usize,
            single["operators"].as_object().unwrap().len(),
            "cell {cell}"
        );
    }
    let filtered = send_to(
        &state,
        Method::GET,
        "/coverage/gaps?technology=4G&resolution=8&district=494&max_operators=1",
        None,
    )
    .await
    .json();
    let not_spots = features
        .iter()
        .filter(|f| f["properties"]["operators"] == 0)
        .count();
    assert_eq!(filtered["features"].as_array().unwrap().len(), not_spots);
    assert_eq!(filtered["not_spots"].as_u64().unwrap() as usize, not_spots);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn malformed_coverage_queries_answer_400_naming_the_parameter(pool: PgPool) {
    load_sample(&pool, 10).await;
    for (uri, param) in [
        ("/coverage/point?lat=16", "lon"),
        ("/coverage/point?lon=200&lat=16", "lon"),
        ("/coverage/point?lon=108&lat=abc", "lat"),
        ("/coverage/point?lon=108&lat=16&technology=6G", "technology"),
        (
            "/coverage/point?lon=108&lat=16&operator=Not%20An%20Id",
            "operator",
        ),
        ("/coverage/point?lon=108&lat=16&radius=5", "radius"),
        ("/coverage/gaps?resolution=12", "resolution"),
        ("/coverage/gaps?resolution=6", "resolution"),
        (
            "/coverage/gaps?resolution=11&bbox=107,15,109,17",
            "resolution",
        ),
        ("/coverage/gaps?max_operators=0", "max_operators"),
        ("/coverage/gaps?district=494&bbox=108,16,108.1,16.1", "bbox"),
        ("/coverage/footprints?bbox=1,2,3", "bbox"),
        ("/coverage/footprints?limit=0", "limit"),
    ] {
        let p = get(&pool, uri).await.problem(400);
        assert_eq!(p["errors"][0]["parameter"], param, "{uri}: {p}");
    }
    get(&pool, "/coverage/gaps?district=999").await.problem(404);
    for body in [
        "",
        "{",
        "{\"type\":\"LineString\",\"coordinates\":[[1,2],[3,4]]}",
        "{\"type\":\"MultiPoint\",\"coordinates\":[[500,16]]}",
    ] {
        let r = common::send(
            &pool,
            Method::POST,
            "/coverage/points",
            Some(("application/geo+json", body.as_bytes().to_vec())),
        )
        .await;
        r.problem(400);
    }
}

/// Polls `probe` until `pred` holds on its answer, or until `within` has
/// passed since `since` (the moment of the write).
async fn eventually(
    state: &AppState,
    probe: &str,
    since: Instant,
    within: Duration,
    pred: impl Fn(&Value) -> bool,
) -> bool {
    while since.elapsed() < within {
        if pred(&send_to(state, Method::GET, probe, None).await.json()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

fn covered(answer: &Value) -> bool {
    !answer["sectors"].as_array().unwrap().is_empty()
}

/// Starts the change listener on a fresh state and waits for its first load.
async fn listening_state(pool: &PgPool) -> (AppState, tokio::task::JoinHandle<()>) {
    let state = AppState::new(pool.clone());
    let listener = tokio::spawn(telecom_gis::coverage::listener::listen(
        state.coverage.clone(),
        pool.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !state.coverage.is_loaded() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (state, listener)
}

fn tower_at(lon: f64, lat: f64, code: &str) -> Value {
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {"operator": "mobifone", "site_code": code, "structure_type": "monopole", "height_m": 30,
            "sectors": [{"operator": "mobifone", "technology": "5G", "frequency_mhz": 3500, "azimuth_deg": 0,
                         "beamwidth_deg": 360, "height_m": 28, "eirp_dbm": 66, "range_m": 400}]}
    })
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn writes_through_the_api_change_coverage_at_once(pool: PgPool) {
    common::operators(&pool).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let probe = "/coverage/point?lon=108.3001&lat=16.2001&technology=5G";
    assert!(
        send_to(&state, Method::GET, probe, None).await.json()["sectors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let body = serde_json::to_vec(&tower_at(108.3, 16.2, "GAP-1")).unwrap();
    let created = send_to(
        &state,
        Method::POST,
        "/collections/towers/items",
        Some(("application/geo+json", body)),
    )
    .await;
    assert_eq!(created.status, 201);
    let id = created.json()["id"].as_i64().unwrap();
    let hit = send_to(&state, Method::GET, probe, None).await.json();
    assert_eq!(hit["sectors"][0]["tower_id"], id);
    assert_eq!(hit["sectors"][0]["range_source"], "explicit");
    let patch = serde_json::to_vec(&json!({"properties": {"status": "retired"}})).unwrap();
    let r = send_to(
        &state,
        Method::PATCH,
        &format!("/collections/towers/items/{id}"),
        Some(("application/merge-patch+json", patch)),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(
        send_to(&state, Method::GET, probe, None).await.json()["sectors"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a retired tower covers nothing"
    );
    let _ = send_json;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn changes_made_with_plain_sql_reach_the_index_within_a_second(pool: PgPool) {
    common::operators(&pool).await;
    let (state, listener) = listening_state(&pool).await;
    let probe = "/coverage/point?lon=108.25&lat=16.1&technology=4G";
    assert!(!covered(
        &send_to(&state, Method::GET, probe, None).await.json()
    ));
    let written = Instant::now();
    sqlx::query(
        "with t as (insert into towers (operator_id, site_code, structure_type, height_m, geom)
                    values ('viettel', 'SQL-1', 'lattice', 40, ST_SetSRID(ST_MakePoint(108.25, 16.1), 4326)) returning id)
         insert into sectors (tower_id, operator_id, technology, frequency_mhz, azimuth_deg, beamwidth_deg, height_m, eirp_dbm, range_m)
         select id, 'viettel', '4G', 1842.5, 0, 360, 38, 60, 500 from t",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(
        eventually(&state, probe, written, Duration::from_secs(1), covered).await,
        "the SQL insert was not visible within 1 s"
    );
    let written = Instant::now();
    sqlx::query("delete from towers where site_code = 'SQL-1'")
        .execute(&pool)
        .await
        .unwrap();
    assert!(
        eventually(
            &state,
            probe,
            written,
            Duration::from_secs(1),
            |a| !covered(a)
        )
        .await,
        "the SQL delete was not visible within 1 s"
    );
    listener.abort();
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn after_the_listener_loses_its_connection_the_index_is_rebuilt(pool: PgPool) {
    common::operators(&pool).await;
    let (state, listener) = listening_state(&pool).await;
    let before = state.coverage.snapshot().version;
    // Cut the LISTEN connection, then change data while it is down.
    let killed: i64 = sqlx::query_scalar(
        "select count(pg_terminate_backend(pid)) from pg_stat_activity
         where datname = current_database() and query ilike 'listen%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(killed, 1, "one listening connection");
    sqlx::query(
        "with t as (insert into towers (operator_id, site_code, structure_type, height_m, geom)
                    values ('vnpt', 'SQL-2', 'lattice', 40, ST_SetSRID(ST_MakePoint(108.2, 16.0), 4326)) returning id)
         insert into sectors (tower_id, operator_id, technology, frequency_mhz, azimuth_deg, beamwidth_deg, height_m, eirp_dbm, range_m)
         select id, 'vnpt', '4G', 1842.5, 0, 360, 38, 60, 500 from t",
    )
    .execute(&pool)
    .await
    .unwrap();
    let probe = "/coverage/point?lon=108.2&lat=16.0005";
    let seen = eventually(
        &state,
        probe,
        Instant::now(),
        Duration::from_secs(5),
        covered,
    )
    .await;
    assert!(
        seen,
        "the change made while disconnected reached the index after the reconnect"
    );
    assert!(state.coverage.snapshot().version > before);
    listener.abort();
}
