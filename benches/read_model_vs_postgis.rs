//! Benchmark, side by side in one run: reads served by the in-memory read
//! model (issue 15) against PostGIS answering the same request on the same
//! data, on a generated 100,000-tower city.
//!
//! - towers tiles at z12 and z13: the service cold (tile cache emptied
//!   before each tile) and warm (the same tile again), against PostGIS
//!   `ST_AsMVT` in martin's query shape over the same table and tiles;
//! - pages of 1,000 and 10,000 towers with their sectors: the service
//!   (`GET /collections/towers/items?limit=…`) against PostGIS
//!   `json_build_object` producing the same FeatureCollection;
//! - the read model's memory (process RSS before and after the load, and
//!   the model's own estimate).
//!
//! Both go through the same machine and database; the service is driven
//! through its real router in process. Medians over `BENCH_RUNS` runs.
//!
//! Run: `DATABASE_URL=… cargo bench --bench read_model_vs_postgis` (uses the
//! database `telecom_gis_bench`, created once). Environment: `BENCH_TOWERS`
//! (default 100000), `BENCH_TILES` (tiles per zoom, default 20),
//! `BENCH_RUNS` (default 5).

#![allow(clippy::unwrap_used)] // a benchmark aborts on a broken set-up

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use telecom_gis::service::read_model::ReadModel;
use telecom_gis::{AppState, app};
use tower::ServiceExt;

mod support;

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e3
}

async fn get(router: &axum::Router, uri: &str) -> (Duration, usize) {
    let req = Request::get(uri)
        .header("host", "bench.local")
        .body(Body::empty())
        .unwrap();
    let t0 = Instant::now();
    let res = router.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let dt = t0.elapsed();
    assert!(status == 200 || status == 204, "{uri}: {status}");
    (dt, body.len())
}

const MARTIN_TOWERS: &str = "
select ST_AsMVT(q, 'towers', 4096, 'geom', 'id') from (
  select t.id, t.operator_id, t.site_code, t.name, t.structure_type, t.status, t.height_m, t.synthetic,
         ST_AsMVTGeom(ST_Transform(t.geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 64, true) as geom
  from towers t
  where t.geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => 64.0 / 4096), 4326)
) q";

const JSON_PAGE: &str = "
select json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(f order by id), '[]'))::text
from (
  select t.id, json_build_object('type', 'Feature', 'id', t.id,
    'geometry', ST_AsGeoJSON(t.geom)::json,
    'properties', json_build_object('operator', t.operator_id, 'site_code', t.site_code,
      'name', t.name, 'structure_type', t.structure_type, 'height_m', t.height_m,
      'status', t.status,
      'tenants', (select coalesce(json_agg(tt.operator_id order by tt.operator_id), '[]')
                  from tower_tenants tt where tt.tower_id = t.id),
      'external_id', t.external_id, 'synthetic', t.synthetic,
      'sectors', (select coalesce(json_agg(json_build_object('id', s.id, 'operator', s.operator_id,
                    'technology', s.technology, 'frequency_mhz', s.frequency_mhz,
                    'azimuth_deg', s.azimuth_deg, 'beamwidth_deg', s.beamwidth_deg,
                    'tilt_deg', s.tilt_deg, 'height_m', s.height_m, 'eirp_dbm', s.eirp_dbm,
                    'range_m', s.range_m) order by s.id), '[]')
                  from sectors s where s.tower_id = t.id),
      'created_at', t.created_at, 'updated_at', t.updated_at)) as f
  from towers t order by t.id limit $1
) q";

#[tokio::main]
async fn main() {
    let n = support::env_usize("BENCH_TOWERS", 100_000);
    let per_zoom = support::env_usize("BENCH_TILES", 20);
    let runs = support::env_usize("BENCH_RUNS", 5);
    let pool = support::bench_db("telecom_gis_bench").await;
    support::ensure_towers(&pool, n).await;
    let rss0 = support::rss_mb();
    let t0 = Instant::now();
    let state = AppState {
        limits: std::sync::Arc::new(telecom_gis::http::limits::RateLimits::disabled()),
        ..AppState::loaded(pool.clone()).await.expect("loads")
    };
    let load_s = t0.elapsed().as_secs_f64();
    let model = ReadModel::of(&state.coverage).unwrap();
    let router = app(state.clone());
    let inv = model.snapshot();
    println!(
        "read model vs PostGIS: {} towers; index + read model loaded in {load_s:.1} s; RSS +{:.0} MB (model estimate {:.0} MB)",
        inv.layer(telecom_gis::domain::CollectionId::Towers).len(),
        support::rss_mb() - rss0,
        inv.approx_bytes() as f64 / 1e6
    );
    let positions: Vec<(f64, f64)> =
        sqlx::query_as("select ST_X(geom), ST_Y(geom) from towers order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    println!();
    println!(
        "| towers tile | tiles | PostGIS ST_AsMVT ms | service cold ms | ratio | service warm ms | ratio | cutting from memory ms |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for z in [12u32, 13] {
        let tiles = support::tiles_holding(&positions, z, per_zoom, 8);
        let (mut pg, mut cold, mut warm, mut encode) = (vec![], vec![], vec![], vec![]);
        for (x, y) in &tiles {
            let uri = format!("/collections/towers/tiles/WebMercatorQuad/{z}/{y}/{x}");
            for _ in 0..runs {
                let t = Instant::now();
                let _: Option<Vec<u8>> = sqlx::query_scalar(MARTIN_TOWERS)
                    .bind(z as i32)
                    .bind(*x as i32)
                    .bind(*y as i32)
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                pg.push(t.elapsed());
                let t = Instant::now();
                let coord = telecom_gis::tiles::TileCoord::new(z, *x, *y).unwrap();
                let _ = telecom_gis::tiles::memory::towers_tile(&inv, coord);
                encode.push(t.elapsed());
                model.tiles().clear();
                cold.push(get(&router, &uri).await.0);
                warm.push(get(&router, &uri).await.0);
            }
        }
        let (p, c, w, e) = (
            median_ms(pg),
            median_ms(cold),
            median_ms(warm),
            median_ms(encode),
        );
        println!(
            "| z{z} | {} | {p:.2} | {c:.2} | {:.1}× | {w:.3} | {:.0}× | {e:.2} |",
            tiles.len(),
            p / c,
            p / w
        );
    }
    println!();
    println!("| towers page | PostGIS json_build_object ms | service ms | ratio | service bytes |");
    println!("|---|---:|---:|---:|---:|");
    for limit in [1_000i64, 10_000] {
        let (mut pg, mut svc) = (vec![], vec![]);
        let mut bytes = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let _: String = sqlx::query_scalar(JSON_PAGE)
                .bind(limit)
                .fetch_one(&pool)
                .await
                .unwrap();
            pg.push(t.elapsed());
            let (dt, b) = get(&router, &format!("/collections/towers/items?limit={limit}")).await;
            svc.push(dt);
            bytes = b;
        }
        let (p, s) = (median_ms(pg), median_ms(svc));
        println!("| {limit} | {p:.1} | {s:.1} | {:.1}× | {bytes} |", p / s);
    }
    let stats = model.stats();
    println!();
    println!(
        "reads from memory: {}, from PostGIS: {} (the service answered from the read model)",
        stats.memory, stats.postgis
    );
}
