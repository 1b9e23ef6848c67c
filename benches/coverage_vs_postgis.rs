//! Comparison run: the coverage engine against PostGIS on the same data and
//! the same question, with the answers checked against each other.
//!
//! 1. Index build from PostGIS (`CoverageState::reload`) for about 100,000
//!    and 300,000 sectors: time and process RSS before/after.
//! 2. Batch coverage: the number of operators covering each point, for
//!    1,000,000 random points over Đà Nẵng against the ~100,000 sectors.
//!    PostGIS answers the same question for a 20,000-point subset with the
//!    same wedges stored as polygons under a GiST index (`ST_Intersects`), and
//!    exactly on 2,000 points with `ST_DWithin`/`ST_Azimuth` on geography
//!    (the wedges' GiST index as prefilter: a per-row distance alone cannot
//!    use an index).
//!
//! Run: `make bench` or `DATABASE_URL=… cargo bench --bench coverage_vs_postgis`.

#![allow(clippy::unwrap_used)] // a benchmark or example aborts on a broken set-up

mod support;

use std::time::Instant;

use geozero::wkb;
use sqlx::PgPool;
use telecom_gis::coverage::index::CoverageIndex;
use telecom_gis::coverage::listener::CoverageState;
use telecom_gis::coverage::model::CoverageConfig;

async fn load_index(pool: &PgPool, label: &str) -> std::sync::Arc<CoverageIndex> {
    let state = CoverageState::new(CoverageConfig::default());
    let before = support::rss_mb();
    let t = Instant::now();
    state.reload(pool).await.unwrap();
    let took = t.elapsed();
    let after = support::rss_mb();
    let index = state.snapshot();
    println!(
        "index build from PostGIS ({label}): {} sectors in {:.0} ms; RSS {before:.0} MB before, {after:.0} MB after (+{:.0} MB)",
        index.sector_count(),
        took.as_secs_f64() * 1e3,
        after - before
    );
    index
}

async fn store_wedges(pool: &PgPool, index: &CoverageIndex) {
    sqlx::query("drop table if exists bench_wedges")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("create table bench_wedges (sector_id bigint, operator text, lon float8, lat float8, range_m float8, azimuth_deg float8, beamwidth_deg float8, wedge geometry(Polygon, 4326))")
        .execute(pool)
        .await
        .unwrap();
    let all: Vec<_> = index.all_sectors().collect();
    for chunk in all.chunks(5_000) {
        let mut qb = sqlx::QueryBuilder::new("insert into bench_wedges ");
        qb.push_values(chunk, |mut b, s| {
            b.push_bind(s.sector_id)
                .push_bind(index.operators[s.op as usize].clone())
                .push_bind(s.lon)
                .push_bind(s.lat)
                .push_bind(s.range_m)
                .push_bind(s.azimuth_deg)
                .push_bind(s.beamwidth_deg)
                .push("ST_SetSRID(")
                .push_bind_unseparated(wkb::Encode(geo::Geometry::Polygon(s.footprint(1.0))))
                .push_unseparated("::geometry, 4326)");
        });
        qb.build().execute(pool).await.unwrap();
    }
    sqlx::query("create index on bench_wedges using gist (wedge)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("create index on bench_wedges using gist ((ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography))").execute(pool).await.unwrap();
    sqlx::query("analyze bench_wedges")
        .execute(pool)
        .await
        .unwrap();
}

async fn postgis_counts(pool: &PgPool, pts: &[[f64; 2]], exact: bool) -> (Vec<i64>, f64) {
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("drop table if exists bench_points")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("create table bench_points as select i::int as id, ST_SetSRID(ST_MakePoint(x, y), 4326) as geom from unnest($1::float8[], $2::float8[]) with ordinality as u(x, y, i)")
        .bind(pts.iter().map(|p| p[0]).collect::<Vec<_>>())
        .bind(pts.iter().map(|p| p[1]).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query("analyze bench_points")
        .execute(&mut *conn)
        .await
        .unwrap();
    let sql = if exact {
        "select p.id, count(distinct w.operator) from bench_points p left join bench_wedges w
           on w.wedge && ST_Expand(p.geom, 0.0001)
          and ST_DWithin(ST_SetSRID(ST_MakePoint(w.lon, w.lat), 4326)::geography, p.geom::geography, w.range_m)
          and (w.beamwidth_deg >= 360 or least(abs(degrees(ST_Azimuth(ST_SetSRID(ST_MakePoint(w.lon, w.lat), 4326)::geography, p.geom::geography)) - w.azimuth_deg),
                                                360 - abs(degrees(ST_Azimuth(ST_SetSRID(ST_MakePoint(w.lon, w.lat), 4326)::geography, p.geom::geography)) - w.azimuth_deg)) <= w.beamwidth_deg / 2)
         group by p.id order by p.id"
    } else {
        "select p.id, count(distinct w.operator) from bench_points p left join bench_wedges w on ST_Intersects(w.wedge, p.geom)
         group by p.id order by p.id"
    };
    let t = Instant::now();
    let rows: Vec<(i32, i64)> = sqlx::query_as(sql).fetch_all(&mut *conn).await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    (rows.into_iter().map(|(_, n)| n).collect(), secs)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // 300k sectors: index build only.
        let big = support::bench_db("telecom_gis_bench_300k").await;
        support::ensure_towers(&big, 76_400).await;
        let idx = load_index(&big, "~300k sectors").await;
        drop(idx);
        big.close().await;

        let pool = support::bench_db("telecom_gis_bench_cov").await;
        support::ensure_towers(&pool, 25_600).await;
        let index = load_index(&pool, "~100k sectors").await;
        store_wedges(&pool, &index).await;

        let pts = support::points(1_000_000, 42);
        let _ = index.operators_covering_batch(&pts[..10_000], None, 2);
        let mut best = f64::MAX;
        let mut ours = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            ours = index.operators_covering_batch(&pts, None, 2);
            best = best.min(t.elapsed().as_secs_f64());
        }
        let ours_rate = pts.len() as f64 / best;
        println!("telecom-gis batch: {} points × {} sectors in {:.0} ms (best of 5, 2 threads) = {:.2} M points/s", pts.len(), index.sector_count(), best * 1e3, ours_rate / 1e6);

        let subset = &pts[..20_000];
        let (pg, secs) = postgis_counts(&pool, subset, false).await;
        let pg_rate = subset.len() as f64 / secs;
        let diff = pg.iter().zip(&ours).filter(|(a, b)| **a != i64::from(b.count_ones())).count();
        println!("PostGIS ST_Intersects(wedge polygon, point) with GiST: {} points in {:.0} ms = {:.0} points/s; {diff} of {} points differ (polygon arcs are chords: boundary points)", subset.len(), secs * 1e3, pg_rate, subset.len());
        println!("ratio telecom-gis / PostGIS (polygons) = {:.0}×", ours_rate / pg_rate);

        let exact = &pts[..2_000];
        let (pg_exact, secs) = postgis_counts(&pool, exact, true).await;
        let exact_rate = exact.len() as f64 / secs;
        let diff = pg_exact.iter().zip(&ours).filter(|(a, b)| **a != i64::from(b.count_ones())).count();
        println!("PostGIS exact (geography ST_DWithin + ST_Azimuth): {} points in {:.0} ms = {:.0} points/s; {diff} of {} points differ", exact.len(), secs * 1e3, exact_rate, exact.len());
        println!("ratio telecom-gis / PostGIS (geography) = {:.0}×", ours_rate / exact_rate);
    });
}
