//! Benchmark: vector-tile latency on a generated 100,000-tower dataset at
//! zooms 10–15, through the real router (gzip, as browsers ask), for the
//! `towers`, `sectors` and `fibre-routes` tilesets.
//!
//! The tiles are those that hold towers: every tile containing one of a
//! seeded sample of towers, at most `BENCH_TILES` per zoom. Each is fetched
//! once to warm caches, then `BENCH_RUNS` times; p50 and p99 are over all
//! fetches of a zoom.
//!
//! Run: `make bench` (or `DATABASE_URL=… cargo bench --bench tiles`). It
//! uses (and creates once) the database `telecom_gis_bench` on that server.
//! Environment: `BENCH_TOWERS` (default 100000), `BENCH_TILES` (default 60),
//! `BENCH_RUNS` (default 3), `BENCH_SETS` (default `towers,sectors,fibre-routes`).

#![allow(clippy::unwrap_used)] // a benchmark or example aborts on a broken set-up

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use telecom_gis::{AppState, app};
use tower::ServiceExt;

mod support;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    let n = support::env_usize("BENCH_TOWERS", 100_000);
    let per_zoom = support::env_usize("BENCH_TILES", 60);
    let runs = support::env_usize("BENCH_RUNS", 3);
    let pool = support::bench_db("telecom_gis_bench").await;
    support::ensure_towers(&pool, n).await;
    let state = AppState::loaded(pool.clone()).await.expect("index loads");
    let positions: Vec<(f64, f64)> =
        sqlx::query_as("select ST_X(geom), ST_Y(geom) from towers order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    println!(
        "tiles benchmark: {} towers, {} sectors indexed; {runs} runs per tile",
        positions.len(),
        state.coverage.snapshot().sector_count()
    );
    println!("| tileset | zoom | tiles | p50 ms | p99 ms | mean gzip KB |");
    println!("|---|---|---|---|---|---|");
    let sets = std::env::var("BENCH_SETS").unwrap_or_else(|_| "towers,sectors,fibre-routes".into());
    for set in sets.split(',') {
        for z in 10u32..=15 {
            if set == "sectors" && z < 13 {
                continue; // no sectors below zoom 13 (answered 204 at once)
            }
            let tiles = support::tiles_holding(&positions, z, per_zoom, 4);
            let mut times = Vec::new();
            let mut bytes = 0usize;
            let mut fetched = 0usize;
            for (x, y) in &tiles {
                let uri = format!("/collections/{set}/tiles/WebMercatorQuad/{z}/{y}/{x}");
                for run in 0..=runs {
                    let req = Request::get(&uri)
                        .header("host", "bench.local")
                        .header("accept-encoding", "gzip")
                        .body(Body::empty())
                        .unwrap();
                    let t0 = Instant::now();
                    let res = app(state.clone()).oneshot(req).await.unwrap();
                    let status = res.status().as_u16();
                    let body = res.into_body().collect().await.unwrap().to_bytes();
                    let dt = t0.elapsed();
                    assert!(status == 200 || status == 204, "{uri}: {status}");
                    if run > 0 {
                        times.push(dt);
                        if run == 1 {
                            bytes += body.len();
                            fetched += 1;
                        }
                    }
                }
            }
            times.sort();
            println!(
                "| {set} | {z} | {} | {:.1} | {:.1} | {:.1} |",
                tiles.len(),
                percentile(&times, 0.5),
                percentile(&times, 0.99),
                bytes as f64 / fetched.max(1) as f64 / 1024.0
            );
        }
    }
}
