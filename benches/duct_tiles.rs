//! Benchmark: vector tiles of the duct layers (`duct-banks` with each
//! active bank's free capacity, computed from the stored leases in the
//! tile's query, and `structures`) through the real router, beside PostGIS
//! cutting the same banks' lines alone with `ST_AsMVT` (martin's query
//! shape, no capacity): what the capacity costs per tile.
//!
//! Tiles: those holding bank midpoints, at most `BENCH_TILES` per zoom
//! (12–16). Per tile and run: the service cold (tile cache emptied, so the
//! tile is cut again), then warm (from the cache), then the plain PostGIS
//! query. Anonymous and analyst tiles are both measured (class only / with
//! fill details).
//!
//! Run: `DATABASE_URL=… cargo bench --bench duct_tiles` (database
//! `telecom_gis_bench_ducts`, the Đà Nẵng sample, loaded once).
//! Environment: `BENCH_TILES` (default 20), `BENCH_RUNS` (default 5).

#![allow(clippy::unwrap_used)] // a benchmark aborts on a broken set-up

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use telecom_gis::tiles::{BUFFER, EXTENT, TileCoord};
use telecom_gis::{AppState, app};
use tower::ServiceExt;

mod support;

/// The banks of a tile as lines only, in martin's shape.
const PLAIN: &str = "
select ST_AsMVT(q, 'duct_banks', $9, 'geom', 'fid') from (
  select b.id as fid, b.id, b.status,
         ST_AsMVTGeom(ST_Transform(b.geom, 3857), ST_MakeEnvelope($1, $2, $3, $4, 3857), $9, $10, true) as geom
  from duct_banks b where b.geom && ST_MakeEnvelope($5, $6, $7, $8, 4326)) q
where q.geom is not null";

fn ms(sorted: &mut [Duration], p: f64) -> f64 {
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

async fn get(state: &AppState, uri: &str, token: Option<&str>) -> (Duration, usize) {
    let mut req = Request::get(uri)
        .header(header::HOST, "bench.local")
        .header(header::ACCEPT_ENCODING, "gzip");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let t0 = Instant::now();
    let res = app(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let dt = t0.elapsed();
    assert!(status == 200 || status == 204, "{uri}: {status}");
    (dt, body.len())
}

#[tokio::main]
async fn main() {
    let per_zoom = support::env_usize("BENCH_TILES", 20);
    let runs = support::env_usize("BENCH_RUNS", 5);
    let pool = support::duct_sample_db().await;
    // No rate limit: the benchmark asks far more than 10 tiles a second.
    let state = AppState {
        limits: std::sync::Arc::new(telecom_gis::http::limits::RateLimits::disabled()),
        ..AppState::loaded(pool.clone()).await.expect("state loads")
    };
    let (_, analyst) = telecom_gis::db::tokens::create(
        &pool,
        "bench analyst",
        telecom_gis::domain::account::Role::Analyst,
        None,
    )
    .await
    .unwrap();
    let mids: Vec<(f64, f64)> = sqlx::query_as(
        "select ST_X(p), ST_Y(p) from (select ST_LineInterpolatePoint(geom, 0.5) p from duct_banks order by id) q",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let (structures, leases): (i64, i64) = sqlx::query_as(
        "select (select count(*) from structures), (select count(*) from duct_leases)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!(
        "duct tiles benchmark: {} banks, {structures} structures, {leases} leases; {runs} runs per tile",
        mids.len()
    );
    println!(
        "| tileset | viewer | zoom | tiles | service cold p50 ms | p99 ms | service warm p50 ms | PostGIS lines only p50 ms | mean gzip KB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let model = telecom_gis::service::read_model::ReadModel::of(&state.coverage).unwrap();
    for (set, viewer) in [
        ("duct-banks", "public"),
        ("duct-banks", "analyst"),
        ("structures", "public"),
    ] {
        let token = (viewer == "analyst").then_some(analyst.as_str());
        for z in 12u32..=16 {
            let tiles = support::tiles_holding(&mids, z, per_zoom, 4);
            let (mut cold, mut warm, mut plain) = (Vec::new(), Vec::new(), Vec::new());
            let (mut bytes, mut n) = (0usize, 0usize);
            for (x, y) in &tiles {
                let uri = format!("/collections/{set}/tiles/WebMercatorQuad/{z}/{y}/{x}");
                let t = TileCoord::new(z, *x, *y).unwrap();
                let [x0, y0, x1, y1] = t.bounds_3857();
                let [w, s, e, nn] = t.bounds_lonlat(BUFFER);
                get(&state, &uri, token).await; // connections and plans warm
                for _ in 0..runs {
                    model.tiles().clear();
                    let (dt, len) = get(&state, &uri, token).await;
                    cold.push(dt);
                    bytes += len;
                    n += 1;
                    warm.push(get(&state, &uri, token).await.0);
                    let t0 = Instant::now();
                    let _: Option<Vec<u8>> = sqlx::query_scalar(PLAIN)
                        .bind(x0)
                        .bind(y0)
                        .bind(x1)
                        .bind(y1)
                        .bind(w)
                        .bind(s)
                        .bind(e)
                        .bind(nn)
                        .bind(EXTENT as i32)
                        .bind(BUFFER as i32)
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                    plain.push(t0.elapsed());
                }
            }
            let plain_p50 = if set == "duct-banks" {
                format!("{:.2}", ms(&mut plain, 0.5))
            } else {
                "—".into()
            };
            println!(
                "| {set} | {viewer} | {z} | {} | {:.2} | {:.2} | {:.2} | {plain_p50} | {:.1} |",
                tiles.len(),
                ms(&mut cold, 0.5),
                ms(&mut cold, 0.99),
                ms(&mut warm, 0.5),
                bytes as f64 / n.max(1) as f64 / 1024.0
            );
        }
    }
}
