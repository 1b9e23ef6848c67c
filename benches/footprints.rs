//! Terrain-aware footprints: building every sector's radial footprint for
//! the sample (1,500 towers) and for `FOOTPRINT_TOWERS` towers (default
//! 100,000), over the shipped SRTM clip and OSM land use, with the model
//! of `config/coverage.toml`; then one tower's rebuild (a write), and the
//! point and batch query rates of the terrain index beside the flat one.
//!
//! Workloads: `sample` (1,500 towers, 200,000 points), `batch` (issue 4's
//! batch workload: 100,000 sectors, 1,000,000 points over the city's box,
//! seed 42) and `big` (`FOOTPRINT_TOWERS` towers, default 100,000).
//!
//! Run: `cargo bench --bench footprints` (from the repository root).
//! `FOOTPRINT_RUNS=sample,batch` picks workloads; `FOOTPRINT_SINGLE=0`
//! skips the single-point queries; `FOOTPRINT_RESTARTS` sets how many
//! rebuilds from persisted footprints are timed (the best is reported).

#![allow(clippy::unwrap_used)] // a benchmark aborts on a broken set-up

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use telecom_gis::coverage::index::CoverageIndex;
use telecom_gis::coverage::model::CoverageConfig;

fn main() {
    let terrain = Arc::new(CoverageConfig::load(Path::new("config/coverage.toml")).unwrap());
    assert!(
        terrain.terrain.enabled,
        "config/coverage.toml has terrain on"
    );
    let mut flat = (*terrain).clone();
    flat.terrain.enabled = false;
    let flat = Arc::new(flat);
    let areas = support::areas();
    // Load the DEM and land use once, outside the timings.
    let t = Instant::now();
    let _ = CoverageIndex::build(terrain.clone(), areas.clone(), &[], &[], &[], 1).unwrap();
    eprintln!(
        "terrain and land use loaded in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let big = support::env_usize("FOOTPRINT_TOWERS", 100_000);
    // (name, towers, sector limit, points, seed): the sample; the batch
    // workload of issue 4's "1.4 M points/s" (`benches/coverage.rs`:
    // 100,000 sectors, 1,000,000 points over the city's box, seed 42);
    // `FOOTPRINT_TOWERS` towers.
    let workloads = [
        ("sample", 1500, usize::MAX, 200_000, 7),
        ("batch", 25_600, 100_000, 1_000_000, 42),
        ("big", big, usize::MAX, 200_000, 7),
    ];
    let only = std::env::var("FOOTPRINT_RUNS").unwrap_or_else(|_| "sample,batch,big".into());
    for (name, n, limit, n_points, seed) in workloads {
        if !only.split(',').any(|w| w == name) {
            continue;
        }
        eprintln!("== {name}");
        let towers = support::towers(n);
        let sectors = support::sectors(&towers, limit, None);
        let t = Instant::now();
        let flat_index =
            CoverageIndex::build(flat.clone(), areas.clone(), &sectors, &[], &[], 1).unwrap();
        let flat_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let index =
            CoverageIndex::build(terrain.clone(), areas.clone(), &sectors, &[], &[], 1).unwrap();
        let terrain_s = t.elapsed().as_secs_f64();
        let stats = index.footprint_stats();
        // A restart: the same index from persisted footprints (decoded, not
        // computed), without the database read.
        let cache: telecom_gis::coverage::index::FootprintCache = sectors
            .iter()
            .flat_map(|s| index.tower_footprints(s.tower_id))
            .map(|r| (r.sector_id, (r.input_key, r.footprint)))
            .collect();
        // Best of five.
        let mut restart_s = f64::INFINITY;
        for _ in 0..support::env_usize("FOOTPRINT_RESTARTS", 5) {
            let t = Instant::now();
            let (_, computed) = CoverageIndex::build_cached(
                terrain.clone(),
                areas.clone(),
                &sectors,
                &[],
                &[],
                1,
                Some(&cache),
            )
            .unwrap();
            restart_s = restart_s.min(t.elapsed().as_secs_f64());
            assert!(computed.is_empty());
        }
        eprintln!(
            "{n} towers, {} sectors: flat index {flat_s:.2} s; terrain index {terrain_s:.2} s \
             ({} footprints, {} radials, {:.1} MB); from persisted footprints {restart_s:.2} s",
            sectors.len(),
            stats.footprints,
            stats.radials,
            stats.bytes as f64 / 1e6
        );
        let pts = support::points(n_points, seed);
        for (name, ix) in [("flat", &flat_index), ("terrain", &index)] {
            // The first batch without the settle grids, then with them.
            let repeat = support::env_usize("FOOTPRINT_BATCH_REPEAT", 1);
            for run in ["first", "second", "third"] {
                if run == "third" {
                    // Extra untimed batches (for a profiler).
                    for _ in 1..repeat {
                        ix.operators_covering_batch(&pts, None, 2);
                    }
                }
                if run == "second" {
                    let t = Instant::now();
                    ix.warm_settle_grids(2);
                    eprintln!(
                        "  {name}: settle grids made in {:.2} s on 2 threads",
                        t.elapsed().as_secs_f64()
                    );
                }
                let t = Instant::now();
                let covered = ix
                    .operators_covering_batch(&pts, None, 2)
                    .iter()
                    .filter(|m| **m != 0)
                    .count();
                let s = t.elapsed().as_secs_f64();
                eprintln!(
                    "  {name}: {run} batch of {} points on 2 threads: {:.0} points/s \
                     ({covered} covered)",
                    pts.len(),
                    pts.len() as f64 / s
                );
            }
        }
        let (tiles, bytes) = index.settle_grid_stats();
        eprintln!(
            "  settle grids: {tiles} tiles, {:.1} MB",
            bytes as f64 / 1e6
        );
        let single = support::env_usize("FOOTPRINT_SINGLE", 50_000).min(pts.len());
        for (name, ix) in [("flat", &flat_index), ("terrain", &index)] {
            if single == 0 {
                break;
            }
            let t = Instant::now();
            let hits: usize = pts[..single]
                .iter()
                .map(|p| ix.covering(p[0], p[1], None, None).len())
                .sum();
            let s = t.elapsed().as_secs_f64();
            eprintln!(
                "  {name}: single-point queries on 1 thread: {:.0} points/s ({hits} hits)",
                single as f64 / s
            );
        }
        // One tower's rewrite: its sectors' footprints again.
        let one: Vec<_> = sectors
            .iter()
            .filter(|s| s.tower_id == sectors[sectors.len() / 2].tower_id)
            .cloned()
            .collect();
        let t = Instant::now();
        let reps = 20;
        for _ in 0..reps {
            let _ =
                CoverageIndex::build(terrain.clone(), areas.clone(), &one, &[], &[], 1).unwrap();
        }
        eprintln!(
            "  one tower ({} sectors) rebuilt: {:.1} ms",
            one.len(),
            t.elapsed().as_secs_f64() * 1e3 / reps as f64
        );
    }
}
