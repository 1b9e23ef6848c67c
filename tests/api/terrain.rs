//! Terrain-aware coverage over the shipped SRTM clip and OSM land use:
//! `/coverage/profile` against the raster as GDAL reads it, the agreement of
//! every coverage answer with the profile on seeded random points,
//! persisted footprints, the analysis's DEM share and the DEM tiles.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::http::Method;
use serde_json::Value;
use sqlx::PgPool;
use telecom_gis::coverage::listener::CoverageState;
use telecom_gis::coverage::model::CoverageConfig;
use telecom_gis::http::AppState;

use crate::common::{self, send_to};

const DEM: &str = "data/dem/danang_srtm_gl1_centre.tif";

/// A state whose coverage model is the shipped one (terrain on), loaded.
async fn terrain_state(pool: &PgPool) -> AppState {
    let coverage = Arc::new(CoverageState::new(CoverageConfig::shipped()));
    telecom_gis::service::read_model::ReadModel::attach(&coverage);
    let state = AppState {
        coverage,
        ..AppState::new(pool.clone())
    };
    state.coverage.reload(pool).await.expect("index loads");
    state
}

/// Inserts an operational tower at (`lon`, `lat`) with one modelled 4G
/// sector (no `range_m`) of `beamwidth_deg` towards `azimuth_deg`, antenna
/// `height_m` up; returns (tower id, sector id).
async fn tower(
    pool: &PgPool,
    site: &str,
    lon: f64,
    lat: f64,
    azimuth_deg: f64,
    beamwidth_deg: f64,
    height_m: f64,
) -> (i64, i64) {
    sqlx::query_as(
        "with t as (insert into towers (operator_id, site_code, structure_type, height_m, geom)
                    values ('viettel', $1, 'lattice', $6 + 2, ST_SetSRID(ST_MakePoint($2, $3), 4326))
                    returning id)
         insert into sectors (tower_id, operator_id, technology, frequency_mhz, azimuth_deg,
                              beamwidth_deg, height_m, eirp_dbm)
         select id, 'viettel', '4G', 1842.5, $4, $5, $6, 60 from t
         returning tower_id, id",
    )
    .bind(site)
    .bind(lon)
    .bind(lat)
    .bind(azimuth_deg)
    .bind(beamwidth_deg)
    .bind(height_m)
    .fetch_one(pool)
    .await
    .expect("tower inserted")
}

/// Elevations GDAL reads at `points` (lon, lat) from the shipped DEM
/// (`gdallocationinfo`, nearest pixel).
fn gdal_elevations(points: &[(f64, f64)]) -> Vec<f64> {
    let mut child = Command::new("gdallocationinfo")
        .args(["-valonly", "-wgs84", DEM])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gdallocationinfo (gdal-bin) runs");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for (lon, lat) in points {
            writeln!(stdin, "{lon} {lat}").unwrap();
        }
    }
    let out = child.wait_with_output().expect("gdallocationinfo ends");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse::<f64>().expect("a value per point"))
        .collect()
}

/// The DEM's pixel centre nearest (`lon`, `lat`), from `/terrain`.
fn pixel_centre(terrain: &Value, lon: f64, lat: f64) -> (f64, f64) {
    let r = &terrain["dem"][0];
    let b: Vec<f64> = serde_json::from_value(r["bounds"].clone()).unwrap();
    let px: Vec<f64> = serde_json::from_value(r["pixel_deg"].clone()).unwrap();
    let col = ((lon - b[0]) / px[0] - 0.5).round();
    let row = ((b[3] - lat) / px[1] - 0.5).round();
    (b[0] + (col + 0.5) * px[0], b[3] - (row + 0.5) * px[1])
}

async fn profile(state: &AppState, t: i64, s: i64, lon: f64, lat: f64) -> Value {
    let r = send_to(
        state,
        Method::GET,
        &format!("/coverage/profile?sector={t}:{s}&lon={lon}&lat={lat}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Line of sight computed here from ground heights (the test's own
/// geometry: the ray between the antennas over the ground raised by the
/// earth bulge with k = 4/3).
fn line_of_sight(ground: &[f64], d_m: f64, tx_h: f64, rx_h: f64) -> bool {
    let n = ground.len() - 1;
    let a_e = 4.0 / 3.0 * 6_371_000.0;
    let (ht, hr) = (ground[0] + tx_h, ground[n] + rx_h);
    (1..n).all(|i| {
        let x = d_m * i as f64 / n as f64;
        ground[i] + x * (d_m - x) / (2.0 * a_e) < ht + (hr - ht) * x / d_m
    })
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_profile_across_son_tra_follows_the_raster_and_has_no_line_of_sight(pool: PgPool) {
    common::operators(&pool).await;
    let state = terrain_state(&pool).await;
    let terrain = send_to(&state, Method::GET, "/terrain", None).await.json();
    assert_eq!(terrain["coverage_model"], "terrain");
    // Along one row of pixel centres at 16.11 N: from the bay west of the
    // massif (108.245 E) to the coast east of it (108.305 E).
    let (lon0, lat) = pixel_centre(&terrain, 108.245, 16.11);
    let (lon1, _) = pixel_centre(&terrain, 108.305, 16.11);
    let (t, s) = tower(&pool, "SONTRA-W", lon0, lat, 90.0, 65.0, 30.0).await;
    let state = terrain_state(&pool).await;
    let p = profile(&state, t, s, lon1, lat).await;
    assert_eq!(p["terrain"], "dem");
    let samples = p["samples"].as_array().unwrap();
    assert!(samples.len() > 200, "{} samples", samples.len());
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .map(|x| (x["lon"].as_f64().unwrap(), x["lat"].as_f64().unwrap()))
        .collect();
    let gdal = gdal_elevations(&pts);
    let mut highest: f64 = 0.0;
    for (x, want) in samples.iter().zip(&gdal) {
        let got = x["ground_m"].as_f64().unwrap();
        assert!(
            (got - want).abs() <= 1.0,
            "at {}, {}: {got} m, GDAL {want} m",
            x["lon"],
            x["lat"]
        );
        highest = highest.max(got);
    }
    assert!(highest > 200.0, "the massif peaks at {highest} m");
    assert_eq!(p["line_of_sight"], false);
    assert!(p["fresnel_clearance_min"].as_f64().unwrap() < 0.0);
    assert!(p["diffraction_loss_db"].as_f64().unwrap() > 20.0, "{p}");
    assert!(!line_of_sight(
        &gdal,
        p["distance_m"].as_f64().unwrap(),
        30.0,
        1.5
    ));
    // The obstacle is on the massif.
    let o = p["obstacle_sample"].as_u64().unwrap() as usize;
    assert!(gdal[o] > 100.0, "obstacle at {} m", gdal[o]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_profile_across_the_flat_city_centre_has_line_of_sight(pool: PgPool) {
    common::operators(&pool).await;
    let probe = terrain_state(&pool).await;
    let terrain = send_to(&probe, Method::GET, "/terrain", None).await.json();
    // Hải Châu: along 16.06 N from 108.205 E to 108.215 E (about 1 km).
    let (lon0, lat) = pixel_centre(&terrain, 108.205, 16.06);
    let (lon1, _) = pixel_centre(&terrain, 108.215, 16.06);
    let (t, s) = tower(&pool, "HC-1", lon0, lat, 90.0, 65.0, 40.0).await;
    let state = terrain_state(&pool).await;
    let p = profile(&state, t, s, lon1, lat).await;
    assert_eq!(p["terrain"], "dem");
    let samples = p["samples"].as_array().unwrap();
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .map(|x| (x["lon"].as_f64().unwrap(), x["lat"].as_f64().unwrap()))
        .collect();
    let gdal = gdal_elevations(&pts);
    assert!(gdal.iter().all(|h| *h < 30.0), "{gdal:?}");
    assert!(line_of_sight(
        &gdal,
        p["distance_m"].as_f64().unwrap(),
        40.0,
        1.5
    ));
    assert_eq!(p["line_of_sight"], true, "{p}");
    assert_eq!(p["diffraction_loss_db"], 0.0, "{p}");
    assert_eq!(p["covered"], true);
    assert_eq!(p["coverage_source"], "footprint");
}

/// A seeded xorshift in [0, 1).
fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed.max(1);
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn point_batch_and_footprint_answers_agree_with_the_profile_on_random_points(pool: PgPool) {
    common::operators(&pool).await;
    // One sector looking across Sơn Trà's shadow, one omni in the centre,
    // one over the south-west hills.
    let sites = [
        tower(&pool, "A", 108.236, 16.085, 60.0, 90.0, 30.0).await,
        tower(&pool, "B", 108.215, 16.05, 0.0, 360.0, 35.0).await,
        tower(&pool, "C", 108.13, 15.96, 240.0, 65.0, 40.0).await,
    ];
    let state = terrain_state(&pool).await;
    let mut next = rng(16);
    let (mut agree_budget, mut total) = (0, 0);
    let mut points = Vec::new();
    for (k, (t, s)) in sites.iter().enumerate() {
        let (lon, lat) = [(108.236, 16.085), (108.215, 16.05), (108.13, 15.96)][k];
        for _ in 0..40 {
            // Within about 4 km of the antenna.
            let p = (lon + (next() - 0.5) * 0.08, lat + (next() - 0.5) * 0.08);
            let prof = profile(&state, *t, *s, p.0, p.1).await;
            let point = send_to(
                &state,
                Method::GET,
                &format!("/coverage/point?lon={}&lat={}", p.0, p.1),
                None,
            )
            .await
            .json();
            let by_point = point["sectors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["sector_id"] == *s);
            assert_eq!(
                prof["covered"], by_point,
                "sector {t}:{s} at {p:?}: profile {prof}, point {point}"
            );
            total += 1;
            if prof["covered"] == prof["budget_met"] {
                agree_budget += 1;
            }
            points.push((p, by_point, *s));
        }
    }
    // The footprints decide between radials from their nodes and fall back
    // to the exact budget near an edge: they may differ from the budget at
    // the very point only where coverage changes and changes back between
    // two neighbouring nodes.
    assert!(
        agree_budget * 100 >= total * 95,
        "footprint and budget agree at {agree_budget} of {total} points"
    );
    // The footprints' polygons hold the points the point answer covers
    // (up to the half node step they are widened by along their edges).
    let fps = send_to(
        &state,
        Method::GET,
        "/coverage/footprints?bbox=108.0,15.9,108.3,16.15",
        None,
    )
    .await
    .json();
    let areas: std::collections::HashMap<i64, geo::Geometry<f64>> = fps["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
            (
                f["id"].as_i64().unwrap(),
                geo::Geometry::<f64>::try_from(g).unwrap(),
            )
        })
        .collect();
    assert_eq!(areas.len(), 3);
    let mut agree_polygon = 0;
    for ((lon, lat), by_point, s) in &points {
        use geo::Contains;
        if areas[s].contains(&geo::Point::new(*lon, *lat)) == *by_point {
            agree_polygon += 1;
        }
    }
    assert!(
        agree_polygon * 100 >= points.len() * 95,
        "footprint polygons and point answers agree at {agree_polygon} of {}",
        points.len()
    );
    eprintln!(
        "footprint vs budget: {agree_budget}/{total}; polygons vs points: {agree_polygon}/{}",
        points.len()
    );
    // The batch answers as the point answers.
    let body = serde_json::json!({
        "type": "MultiPoint",
        "coordinates": points.iter().map(|((lon, lat), _, _)| [lon, lat]).collect::<Vec<_>>(),
    });
    let batch = send_to(
        &state,
        Method::POST,
        "/coverage/points",
        Some(("application/geo+json", serde_json::to_vec(&body).unwrap())),
    )
    .await;
    assert_eq!(batch.status, 200);
    let b = batch.json();
    let rows = b["covered_by"].as_array().expect("covered_by per point");
    assert_eq!(rows.len(), points.len());
    for (i, (_, by_point, _)) in points.iter().enumerate() {
        // Only one operator's three sectors exist: covered by any of them
        // in the batch ⇔ by the point answer's sector or another of the
        // three; the point answer's sector alone implies the batch.
        let any = !rows[i].as_array().unwrap().is_empty();
        if *by_point {
            assert!(
                any,
                "point {i} covered by the point answer, not by the batch"
            );
        }
    }
}

/// Waits (up to 60 s) until the service has made every settle grid of
/// its current snapshot in the background.
async fn settle_grids_made(state: &AppState) {
    for _ in 0..600 {
        if !state.coverage.snapshot().lacks_settle_grids() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("settle grids not made within 60 s");
}

/// Asserts that a batch through the API answers as the point path of the
/// current snapshot at `points`; returns how many are covered.
async fn batch_matches_points(state: &AppState, points: &[(f64, f64)]) -> usize {
    let body = serde_json::json!({
        "type": "MultiPoint",
        "coordinates": points.iter().map(|(lon, lat)| [lon, lat]).collect::<Vec<_>>(),
    });
    let batch = send_to(
        state,
        Method::POST,
        "/coverage/points",
        Some(("application/geo+json", serde_json::to_vec(&body).unwrap())),
    )
    .await;
    assert_eq!(batch.status, 200);
    let rows = batch.json()["covered_by"].as_array().unwrap().clone();
    let index = state.coverage.snapshot();
    let mut covered = 0;
    for (row, (lon, lat)) in rows.iter().zip(points) {
        let by_point = index.operators_covering(*lon, *lat, None) != 0;
        assert_eq!(
            !row.as_array().unwrap().is_empty(),
            by_point,
            "at {lon},{lat}"
        );
        covered += usize::from(by_point);
    }
    covered
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_service_makes_settle_grids_after_a_load_and_keeps_them_through_writes(pool: PgPool) {
    common::operators(&pool).await;
    let (a, _) = tower(&pool, "SG-A", 108.236, 16.085, 60.0, 90.0, 30.0).await;
    tower(&pool, "SG-B", 108.215, 16.05, 0.0, 360.0, 35.0).await;
    let state = terrain_state(&pool).await;
    settle_grids_made(&state).await;
    let (tiles, _) = state.coverage.snapshot().settle_grid_stats();
    assert!(tiles > 50, "{tiles} tiles");
    let mut next = rng(0x5e77);
    let points: Vec<(f64, f64)> = (0..1_500)
        .map(|_| (108.17 + next() * 0.1, 16.0 + next() * 0.12))
        .collect();
    let covered = batch_matches_points(&state, &points).await;
    assert!(covered > 100 && covered < points.len(), "{covered} covered");
    // A tower turned 90°: its grid is patched in the same swap.
    sqlx::query("update sectors set azimuth_deg = 150 where tower_id = $1")
        .bind(a)
        .execute(&pool)
        .await
        .unwrap();
    state.coverage.refresh_towers(&pool, &[a]).await.unwrap();
    assert!(!state.coverage.snapshot().lacks_settle_grids());
    batch_matches_points(&state, &points).await;
    // A tower of another technology: a new tree, whose grid the service
    // makes in the background.
    let (c, _) = tower(&pool, "SG-C", 108.2, 16.07, 200.0, 120.0, 30.0).await;
    sqlx::query("update sectors set technology = '5G', frequency_mhz = 3500 where tower_id = $1")
        .bind(c)
        .execute(&pool)
        .await
        .unwrap();
    state.coverage.refresh_towers(&pool, &[c]).await.unwrap();
    settle_grids_made(&state).await;
    batch_matches_points(&state, &points).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn gap_cells_are_covered_where_the_profile_to_their_centre_says(pool: PgPool) {
    common::operators(&pool).await;
    // One omni site west of Sơn Trà: its shadow behind the massif.
    let (t, s) = tower(&pool, "GAP-1", 108.236, 16.085, 0.0, 360.0, 30.0).await;
    let state = terrain_state(&pool).await;
    let gaps = send_to(
        &state,
        Method::GET,
        "/coverage/gaps?technology=4G&resolution=9&bbox=108.20,16.06,108.28,16.11",
        None,
    )
    .await;
    assert_eq!(gaps.status, 200);
    let cells = gaps.json()["features"].as_array().unwrap().clone();
    assert!(cells.len() > 100, "{} cells", cells.len());
    let (mut covered, mut shadowed) = (0, 0);
    for f in cells.iter().step_by(3) {
        let cell: h3o::CellIndex = f["properties"]["h3"].as_str().unwrap().parse().unwrap();
        let centre = h3o::LatLng::from(cell);
        let p = profile(&state, t, s, centre.lng(), centre.lat()).await;
        let by_gap = f["properties"]["operators"].as_u64().unwrap() > 0;
        assert_eq!(p["covered"], by_gap, "cell {cell}: {p}");
        if by_gap {
            covered += 1;
        } else if p["distance_m"].as_f64().unwrap() < 4000.0 {
            shadowed += 1;
        }
    }
    assert!(
        covered >= 5 && shadowed >= 5,
        "{covered} covered, {shadowed} uncovered cells checked"
    );
    eprintln!("gap cells checked: {covered} covered, {shadowed} uncovered within 4 km");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn footprints_are_persisted_and_a_restart_loads_them_instead_of_recomputing(pool: PgPool) {
    common::operators(&pool).await;
    let (t, _) = tower(&pool, "P-1", 108.22, 16.06, 0.0, 360.0, 30.0).await;
    tower(&pool, "P-2", 108.25, 16.03, 120.0, 65.0, 30.0).await;
    let first = terrain_state(&pool).await;
    let stored: i64 = sqlx::query_scalar("select count(*) from coverage_footprints")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 2);
    assert_eq!(first.coverage.footprints_computed(), 2);
    let second = terrain_state(&pool).await;
    assert_eq!(
        second.coverage.footprints_computed(),
        0,
        "the restart recomputed"
    );
    assert_eq!(
        first.coverage.snapshot().fingerprint(),
        second.coverage.snapshot().fingerprint()
    );
    // A tower's changed antenna makes its footprint stale: recomputed once.
    sqlx::query("update sectors set height_m = 45 where tower_id = $1")
        .bind(t)
        .execute(&pool)
        .await
        .unwrap();
    let third = terrain_state(&pool).await;
    assert_eq!(third.coverage.footprints_computed(), 1);
    // Deleting the tower deletes its footprint.
    sqlx::query("delete from towers where id = $1")
        .bind(t)
        .execute(&pool)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("select count(*) from coverage_footprints")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_analysis_says_where_coverage_is_terrain_aware(pool: PgPool) {
    common::load_sample(&pool, 40).await;
    let state = terrain_state(&pool).await;
    let r = send_to(
        &state,
        Method::GET,
        "/analysis/districts?technology=4G",
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    let features = doc["features"].as_array().expect("a FeatureCollection");
    let share = |code: &str| {
        let f = features
            .iter()
            .find(|f| f["properties"]["code"] == code)
            .expect("district");
        assert_eq!(f["properties"]["indicators"]["coverage_model"], "terrain");
        f["properties"]["indicators"]["dem_area_pct"]
            .as_f64()
            .unwrap()
    };
    // Hải Châu lies inside the clip; most of Hòa Vang (the west) does not.
    assert!(share("492") > 99.0, "Hải Châu {}", share("492"));
    assert!(share("497") < 30.0, "Hòa Vang {}", share("497"));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn dem_tiles_are_terrarium_pngs_that_decode_to_the_raster(pool: PgPool) {
    let state = terrain_state(&pool).await;
    // Zoom 12 tile over Sơn Trà (108.27 E, 16.115 N).
    let (z, lon, lat) = (12u32, 108.27f64, 16.115f64);
    let n = f64::from(1u32 << z);
    let fx = (lon + 180.0) / 360.0 * n;
    let lat_r = lat.to_radians();
    let fy = (1.0 - (lat_r.tan() + 1.0 / lat_r.cos()).ln() / std::f64::consts::PI) / 2.0 * n;
    let (x, y) = (fx.floor() as u32, fy.floor() as u32);
    let r = send_to(
        &state,
        Method::GET,
        &format!("/terrain/tiles/{z}/{x}/{y}.png"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "image/png");
    let decoder = png::Decoder::new(std::io::Cursor::new(r.body.clone()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!((info.width, info.height), (256, 256));
    // The pixel holding (lon, lat) decodes to GDAL's value there, within
    // the interpolation between neighbouring DEM pixels.
    let (px, py) = (
        ((fx - f64::from(x)) * 256.0) as usize,
        ((fy - f64::from(y)) * 256.0) as usize,
    );
    let i = (py * 256 + px) * 3;
    let v =
        f64::from(buf[i]) * 256.0 + f64::from(buf[i + 1]) + f64::from(buf[i + 2]) / 256.0 - 32768.0;
    let want = gdal_elevations(&[(lon, lat)])[0];
    assert!((v - want).abs() < 40.0, "tile {v} m, GDAL {want} m");
    assert!(v > 200.0);
    // Outside the DEM: a problem, not an empty image.
    let far = send_to(&state, Method::GET, "/terrain/tiles/12/0/0.png", None).await;
    far.problem(404);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_bad_profile_request_is_a_problem_and_changes_nothing(pool: PgPool) {
    common::operators(&pool).await;
    let (t, s) = tower(&pool, "BAD-1", 108.22, 16.06, 0.0, 360.0, 30.0).await;
    let state = terrain_state(&pool).await;
    let before = common::row_counts(&pool).await;
    for (uri, status) in [
        (
            "/coverage/profile?sector=abc&lon=108.2&lat=16.0".to_owned(),
            400,
        ),
        (
            format!("/coverage/profile?sector={t}:{s}&lon=200&lat=16.0"),
            400,
        ),
        (format!("/coverage/profile?sector={t}:{s}&lat=16.0"), 400),
        (
            format!("/coverage/profile?sector={t}:{s}&lon=108.2&lat=16.0&x=1"),
            400,
        ),
        (
            format!(
                "/coverage/profile?sector={t}:{}&lon=108.2&lat=16.0",
                s + 1000
            ),
            404,
        ),
        (
            "/coverage/profile?sector=0:-1&lon=108.2&lat=16.0".to_owned(),
            400,
        ),
    ] {
        let r = send_to(&state, Method::GET, &uri, None).await;
        r.problem(status);
    }
    assert_eq!(common::row_counts(&pool).await, before);
    // Far away (beyond the DEM): an answer without terrain.
    let p = profile(&state, t, s, 108.0, 16.2).await;
    assert_eq!(p["terrain"], "none");
    assert!(p["line_of_sight"].is_null());
}
