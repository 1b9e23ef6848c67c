//! Benchmark of the underserved-districts report (issue 4): the whole report
//! (H3 indicators from the index plus the per-district SQL statistics and the
//! classifier) for the sample city (1,500 towers, 7 districts), and for about
//! 100,000 sectors with 100 analysis areas (a 10 × 10 grid over the city).
//!
//! Run: `make bench` or `DATABASE_URL=… cargo bench --bench report`.

#![allow(clippy::unwrap_used)] // a benchmark or example aborts on a broken set-up

mod support;

use std::time::Instant;

use telecom_gis::coverage::listener::CoverageState;
use telecom_gis::coverage::model::CoverageConfig;
use telecom_gis::domain::classify::AnalysisConfig;
use telecom_gis::domain::tower::Technology;
use telecom_gis::service::analysis;
use telecom_gis::spatial::analysis::UniformPopulation;

async fn time_report(pool: &sqlx::PgPool, label: &str) {
    let state = CoverageState::new(CoverageConfig::default());
    state.reload(pool).await.unwrap();
    let index = state.snapshot();
    let config = AnalysisConfig::default();
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let r = analysis::districts(pool, &index, &config, Technology::G4, &UniformPopulation)
            .await
            .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
        n = r.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "report ({label}): {n} areas, {} sectors, H3 resolution {}: median {:.0} ms (runs: {:?})",
        index.sector_count(),
        config.resolution,
        times[2],
        times.iter().map(|t| t.round()).collect::<Vec<_>>()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sample = support::bench_db("telecom_gis_bench_sample").await;
        telecom_gis::sample::load(&sample, &support::args(1500)).await.unwrap();
        time_report(&sample, "sample city").await;

        let big = support::bench_db("telecom_gis_bench_areas").await;
        support::ensure_towers(&big, 25_600).await;
        let areas: i64 = sqlx::query_scalar("select count(*) from districts").fetch_one(&big).await.unwrap();
        if areas != 100 {
            sqlx::query("delete from districts").execute(&big).await.unwrap();
            // A 10 × 10 grid over the city's bounding box.
            let [w, s, e, n] = telecom_gis::domain::region::CITY_BBOX;
            sqlx::query(
                "insert into districts (code, name, name_ascii, population, geom)
                 select 'G' || i || '-' || j, 'Ô lưới ' || i || '-' || j, 'Grid ' || i || '-' || j, 11343,
                        ST_Multi(ST_MakeEnvelope($1 + i * $3, $2 + j * $4, $1 + (i + 1) * $3, $2 + (j + 1) * $4, 4326))
                 from generate_series(0, 9) i, generate_series(0, 9) j",
            )
            .bind(w)
            .bind(s)
            .bind((e - w) / 10.0)
            .bind((n - s) / 10.0)
            .execute(&big)
            .await
            .unwrap();
        }
        time_report(&big, "100 analysis areas").await;
    });
}
