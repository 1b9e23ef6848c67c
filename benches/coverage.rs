//! Criterion benchmarks of the coverage engine, in memory (no database):
//! batch coverage of 1,000,000 points against 100,000 sectors, the whole-city
//! H3 gap grid at resolutions 10 and 11 for 10,000 towers × 3 sectors, and
//! bulk-loading 300,000 sectors.
//!
//! Run: `cargo bench --bench coverage` (from the repository root).

#![allow(clippy::unwrap_used)] // a benchmark or example aborts on a broken set-up

mod support;

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use telecom_gis::coverage::index::CoverageIndex;
use telecom_gis::coverage::model::CoverageConfig;
use telecom_gis::domain::tower::Technology;
use telecom_gis::spatial::grid;

fn build(sectors: &[telecom_gis::coverage::index::SectorInput]) -> CoverageIndex {
    CoverageIndex::build(
        Arc::new(CoverageConfig::default()),
        support::areas(),
        sectors,
        &[],
        &[],
        1,
    )
    .unwrap()
}

fn batch_coverage(c: &mut Criterion) {
    let towers = support::towers(25_600);
    let sectors = support::sectors(&towers, 100_000, None);
    assert_eq!(sectors.len(), 100_000);
    let index = build(&sectors);
    let pts = support::points(1_000_000, 42);
    let covered = index
        .operators_covering_batch(&pts, None, 2)
        .iter()
        .filter(|m| **m != 0)
        .count();
    eprintln!(
        "batch: {} sectors, 1,000,000 points, {covered} covered by at least one operator",
        index.sector_count()
    );
    let mut g = c.benchmark_group("batch_coverage");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(pts.len() as u64));
    for threads in [1usize, 2] {
        g.bench_with_input(
            BenchmarkId::new("1M_points_100k_sectors_threads", threads),
            &threads,
            |b, &t| b.iter(|| index.operators_covering_batch(&pts, None, t)),
        );
    }
    g.finish();
}

fn gap_grid(c: &mut Criterion) {
    let towers = support::towers(10_000);
    let sectors: Vec<_> = {
        // 10,000 towers × 3 sectors of 4G.
        let mut per_tower = std::collections::HashMap::new();
        support::sectors(&towers, usize::MAX, Some("4G"))
            .into_iter()
            .filter(|s| {
                let n = per_tower.entry(s.tower_id).or_insert(0);
                *n += 1;
                *n <= 3
            })
            .collect()
    };
    let index = build(&sectors);
    let city = geo::MultiPolygon::new(
        index
            .areas
            .iter()
            .flat_map(|a| a.geometry.0.iter().cloned())
            .collect(),
    );
    let mut g = c.benchmark_group("gap_grid_city_4g");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    for res in [10u8, 11] {
        let n = grid::cells_in(&city, res).unwrap().len();
        eprintln!(
            "gap grid: {} 4G sectors, resolution {res}: {n} cells",
            index.sector_count()
        );
        g.bench_with_input(BenchmarkId::new("resolution", res), &res, |b, &res| {
            b.iter(|| {
                let cells = grid::cells_in(&city, res).unwrap();
                let centres: Vec<[f64; 2]> = cells.iter().map(|c| grid::centre(*c)).collect();
                index.operators_covering_batch(&centres, Some(Technology::G4), 1)
            });
        });
    }
    g.finish();
}

fn index_build(c: &mut Criterion) {
    let towers = support::towers(76_400);
    let sectors = support::sectors(&towers, 300_000, None);
    eprintln!("index build: {} sectors", sectors.len());
    let mut g = c.benchmark_group("index_build");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("bulk_load_300k_sectors", |b| b.iter(|| build(&sectors)));
    g.finish();
}

criterion_group!(benches, batch_coverage, gap_grid, index_build);
criterion_main!(benches);
