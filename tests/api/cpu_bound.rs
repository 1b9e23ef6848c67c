//! CPU-heavy work through the real router: bounded before it starts, run on
//! the CPU pool, stopped when its request ends (issue 14: the comb polygon,
//! the polar gap grid, the globe-spanning fibre route).

use std::time::Duration;

use crate::common::*;
use axum::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::http::limits::Timeouts;

/// A comb ring of `teeth` horizontal teeth between lon 108.10 and 108.30,
/// lat 16.00 to 16.10 (lon/lat): every segment spans the same longitudes,
/// the input on which a sweep by longitude is quadratic.
pub(crate) fn comb(teeth: usize) -> Vec<[f64; 2]> {
    let (x0, x1, y0) = (108.10, 108.30, 16.00);
    let dy = 0.1 / teeth as f64;
    let mut pts = vec![[x0, y0]];
    for t in 0..teeth {
        let y = y0 + dy * t as f64;
        pts.push([x1, y]);
        pts.push([x1, y + dy * 0.5]);
        pts.push([x0 + 0.001, y + dy * 0.5]);
        pts.push([x0 + 0.001, y + dy]);
    }
    pts.push([x0, y0 + 0.1]);
    pts.push(pts[0]);
    pts
}

fn district(code: &str, ring: &[[f64; 2]]) -> Value {
    json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"code": code, "name": "Lược", "population": 1000}
    })
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_60000_vertex_comb_district_is_validated_and_one_crossing_is_located(pool: PgPool) {
    let ring = comb(15_000);
    assert!(ring.len() > 60_000);
    let r = send_json(
        &pool,
        Method::POST,
        "/collections/districts/items",
        &district("COMB", &ring),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

    // Pull the left end of tooth 7,000's top edge across the comb's back
    // (lon 108.10): it crosses it at lat 16.0 + 0.1 · 7000.5 / 15000.
    let mut crossed = ring;
    crossed[4 * 7_000 + 3][0] = 108.10 - 0.0005;
    let before = fingerprint(&pool).await;
    let r = send_json(
        &pool,
        Method::POST,
        "/collections/districts/items",
        &district("COMB2", &crossed),
    )
    .await;
    let p = r.problem(422);
    let text = p.to_string();
    assert!(
        text.contains("ring intersects itself at lon 108.1000000, lat 16.0466700"),
        "{p}"
    );
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_wide_polar_gap_grid_is_refused_from_its_bound_before_any_cell_is_built(pool: PgPool) {
    let state = AppState::loaded(pool).await.unwrap();
    for res in [9, 10, 11] {
        let r = send_to(
            &state,
            Method::GET,
            &format!("/coverage/gaps?bbox=-180,80,180,89&resolution={res}"),
            None,
        )
        .await;
        let p = r.problem(400);
        let detail = p["errors"][0]["detail"].as_str().unwrap();
        let errors = p.to_string();
        assert!(errors.contains("resolution"), "{p}");
        // The bound, not a count: the refusal came before the tiling.
        let bound: u64 = detail
            .strip_prefix("up to ")
            .and_then(|d| d.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no bound in {p}"));
        // The planar box holds 3.8 million km² (lat 80–89 all around).
        let mean_cells = 3.84e6 / h3o::Resolution::try_from(res).unwrap().area_km2();
        assert!(bound as f64 > mean_cells, "{bound} at {res}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_gap_grid_at_the_limit_still_answers(pool: PgPool) {
    // Just under the bound's limit: tiled, then answered or refused by the
    // exact count, never by a guess from the geodesic area.
    let state = AppState::loaded(pool).await.unwrap();
    let r = send_to(
        &state,
        Method::GET,
        "/coverage/gaps?bbox=108.0,15.9,108.4,16.2&resolution=9",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let cells = v["cells"].as_u64().unwrap();
    assert!(cells > 10_000 && cells <= 250_000, "{cells}");
    assert_eq!(v["not_spots"].as_u64().unwrap(), cells);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_stored_route_spanning_the_globe_is_read_generalised_and_bounded(pool: PgPool) {
    use telecom_gis::spatial::generalise::{FIBRE_H3_RESOLUTION, MAX_ROUTE_SAMPLES};
    operators(&pool).await;
    // Stored past write validation, as data from before route limits.
    sqlx::query(
        "insert into fibre_routes (operator_id, name, placement, fibre_count, geom) values \
         ('fpt', 'Vòng quanh thế giới', 'submarine', 48, \
          ST_GeomFromText('LINESTRING(-179.9 -60, 0 10, 179.9 60)', 4326))",
    )
    .execute(&pool)
    .await
    .unwrap();
    let r = get(&pool, "/collections/fibre-routes/items").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let f = &v["features"][0];
    assert_eq!(f["properties"]["generalised"], true, "{f}");
    let res = f["properties"]["h3_resolution"].as_u64().unwrap();
    assert!(res < u64::from(u8::from(FIBRE_H3_RESOLUTION)), "{res}");
    let cells = f["properties"]["h3_cells"].as_array().unwrap().len() as u64;
    assert!(cells > 100 && cells <= 7 * MAX_ROUTE_SAMPLES, "{cells}");
    assert!(f["geometry"]["type"] == "MultiPolygon", "{f}");
    // An analyst still sees the route itself.
    let r = get_as(&pool, "analyst", "/collections/fibre-routes/items").await;
    let v = r.json();
    assert_eq!(v["features"][0]["geometry"]["type"], "LineString");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_heavy_job_stops_when_the_timeout_drops_its_request(pool: PgPool) {
    let state = AppState {
        timeouts: Timeouts {
            request: Duration::from_millis(1),
            ..Timeouts::default()
        },
        ..AppState::loaded(pool).await.unwrap()
    };
    // Other tests share the pool: a request may time out while waiting for
    // a permit, before its job starts; try a few.
    for _ in 0..20 {
        let (_, cancelled_before) = telecom_gis::cpu::counters();
        let r = send_to(
            &state,
            Method::GET,
            "/coverage/gaps?bbox=108.0,15.9,108.4,16.2&resolution=10",
            None,
        )
        .await;
        r.problem(503);
        // The job sees its flag at its next check and gives its permit back.
        for _ in 0..100 {
            if telecom_gis::cpu::counters().1 > cancelled_before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    panic!("no job saw its cancellation");
}
