//! Measures what the coverage index costs at several network sizes: the time
//! to load it from PostGIS (the queries, then the build) and the memory it
//! holds, for capacity planning (docs/scaling.md).
//!
//! ```sh
//! DATABASE_URL=postgres://… cargo run --release --example index_scale -- 10000 50000 100000
//! ```
//!
//! For each size N it makes sure a database `telecom_gis_scale_N` on the
//! server of `DATABASE_URL` holds N generated towers (seed 2019) and
//! N / 10 km of land fibre (loaded once, reused afterwards). Each
//! measurement then runs in a fresh child process, so its resident memory
//! (RSS, from `/proc/self/status`) holds nothing but the runtime, the pool
//! and the index: "RSS with index" is measured after the query results are
//! dropped, "peak" is the high-water mark during the load.
//!
//! The generated fibre is coarse (a vertex every ~300 m), so the fibre part
//! of the index is also measured alone on synthetic routes with a vertex
//! every 50 m, at 1, 2 and 4 million vertices (no database involved).

#![allow(clippy::unwrap_used)] // a benchmark or example aborts on a broken set-up

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;
use telecom_gis::config::GeneratorArgs;
use telecom_gis::coverage::index::{CoverageIndex, FibreInput};
use telecom_gis::coverage::model::CoverageConfig;
use telecom_gis::domain::region::CITY_CORE_BBOX;
use telecom_gis::spatial::geodesy::metres_per_degree;
use telecom_gis::{db, sample};

#[path = "../benches/support/mod.rs"]
mod support;

fn args(towers: usize) -> GeneratorArgs {
    GeneratorArgs {
        seed: 2019,
        towers,
        fibre_km: towers as f64 / 10.0,
        data_centres: 8,
        data_dir: "data".into(),
    }
}

/// `VmRSS` and `VmHWM` of this process, MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The database for `towers` towers on the server of `DATABASE_URL`,
/// created if missing and migrated (the benchmarks' shared set-up).
async fn database(towers: usize) -> PgPool {
    support::bench_db(&format!("telecom_gis_scale_{towers}")).await
}

/// Child: load the database once if it does not hold `towers` towers.
async fn prepare(towers: usize) {
    let pool = database(towers).await;
    let have: i64 = sqlx::query_scalar("select count(*) from towers")
        .fetch_one(&pool)
        .await
        .unwrap();
    if have == towers as i64 {
        return;
    }
    eprintln!(
        "loading {towers} towers and {} km of fibre (once) …",
        towers / 10
    );
    sqlx::query("truncate towers, tower_tenants, sectors, fibre_routes, data_centres cascade")
        .execute(&pool)
        .await
        .unwrap();
    let started = Instant::now();
    sample::load(&pool, &args(towers))
        .await
        .expect("sample loads");
    sqlx::query("vacuum analyze").execute(&pool).await.unwrap();
    eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
}

/// Child: one measurement, printed as one JSON line.
async fn measure(towers: usize) {
    let pool = database(towers).await;
    let config = Arc::new(CoverageConfig::default());
    let (rss_before, _) = rss_mib();
    let t0 = Instant::now();
    let (areas, sectors, fibre, dcs) = tokio::try_join!(
        db::coverage::areas(&pool),
        db::coverage::operational_sectors(&pool),
        db::coverage::operational_fibre(&pool),
        db::coverage::operational_data_centres(&pool),
    )
    .expect("the index inputs load");
    let fetch_s = t0.elapsed().as_secs_f64();
    let (rss_fetched, _) = rss_mib();
    let vertices: usize = fibre
        .iter()
        .map(|f| geo::CoordsIter::coords_count(&f.geometry))
        .sum();
    let fibre_routes = fibre.len();
    let t1 = Instant::now();
    let index = CoverageIndex::build(config, areas, &sectors, &fibre, &dcs, 1).expect("builds");
    let build_s = t1.elapsed().as_secs_f64();
    let n_sectors = sectors.len();
    let tower = sectors.first().map_or(0, |s| s.tower_id);
    let mine: Vec<_> = sectors
        .iter()
        .filter(|s| s.tower_id == tower)
        .cloned()
        .collect();
    drop((sectors, fibre, dcs));
    let (rss_after, peak) = rss_mib();
    // One write's cost: patching a tower copies the tower map and the trees
    // it touches.
    let mut patch_ms: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let next = index.with_tower(tower, &mine).expect("patches");
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            drop(next);
            ms
        })
        .collect();
    patch_ms.sort_by(f64::total_cmp);
    let fibre_km: f64 = sqlx::query_scalar(
        "select coalesce(sum(length_m), 0) / 1000 from fibre_routes where status = 'operational'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!(
        "{}",
        serde_json::json!({
            "towers": towers,
            "indexed_towers": index.tower_count(),
            "sectors": n_sectors,
            "fibre_routes": fibre_routes,
            "fibre_km": fibre_km,
            "fibre_vertices": vertices,
            "fetch_s": fetch_s,
            "build_s": build_s,
            "rss_before_mib": rss_before,
            "rss_fetched_mib": rss_fetched,
            "rss_with_index_mib": rss_after,
            "index_mib": rss_after - rss_before,
            "peak_mib": peak,
            "patch_ms": patch_ms[2],
        })
    );
    drop(index);
}

/// Child: the fibre part of the index alone, for `vertices` vertices of
/// synthetic routes (500 vertices, 50 m apart, each) from the city's core.
fn measure_fibre(vertices: usize) {
    let (rss_before, _) = rss_mib();
    let mut seed = 0x2019_u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    // 50 m in degrees of longitude and of latitude over the city.
    let (east, north) = metres_per_degree(16.05);
    let [w, s, e, n] = CITY_CORE_BBOX;
    let fibre: Vec<FibreInput> = (0..vertices.div_ceil(500))
        .map(|i| {
            let (mut lon, mut lat) = (w + rnd() * (e - w), s + rnd() * (n - s));
            let mut heading = rnd() * std::f64::consts::TAU;
            let coords: Vec<geo::Coord<f64>> = (0..500)
                .map(|_| {
                    heading += (rnd() - 0.5) * 0.6;
                    lon += 50.0 * heading.cos() / east;
                    lat += 50.0 * heading.sin() / north;
                    geo::coord! {x: lon, y: lat}
                })
                .collect();
            FibreInput {
                id: i as i64 + 1,
                placement: telecom_gis::domain::fibre::Placement::Underground,
                geometry: geo::Geometry::LineString(geo::LineString(coords)),
            }
        })
        .collect();
    let t = Instant::now();
    let index = CoverageIndex::build(
        Arc::new(CoverageConfig::default()),
        vec![],
        &[],
        &fibre,
        &[],
        1,
    )
    .expect("builds");
    let build_s = t.elapsed().as_secs_f64();
    drop(fibre);
    let (rss_after, peak) = rss_mib();
    println!(
        "{}",
        serde_json::json!({
            "vertices": vertices,
            "km": vertices as f64 * 0.05,
            "segments": index.fibre.size(),
            "build_s": build_s,
            "index_mib": rss_after - rss_before,
            "peak_mib": peak,
        })
    );
}

fn child(mode: &str, towers: usize) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([mode, &towers.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the child runs");
    assert!(out.status.success(), "{mode} {towers} failed");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::main]
async fn main() {
    std::env::var("DATABASE_URL").expect("set DATABASE_URL");
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("prepare") => return prepare(argv[1].parse().unwrap()).await,
        Some("measure") => return measure(argv[1].parse().unwrap()).await,
        Some("fibre") => return measure_fibre(argv[1].parse().unwrap()),
        _ => {}
    }
    let sizes: Vec<usize> = if argv.is_empty() {
        vec![10_000, 50_000, 100_000]
    } else {
        argv.iter()
            .map(|a| a.parse().expect("sizes are integers"))
            .collect()
    };
    println!(
        "| towers | indexed sectors | fibre km (vertices) | fetch | build | load total | RSS with index | index (RSS growth) | peak RSS | patch one tower |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &n in &sizes {
        child("prepare", n);
        // Best of three fresh processes for the times; memory from the first.
        let runs: Vec<serde_json::Value> = (0..3)
            .map(|_| serde_json::from_str(child("measure", n).trim()).unwrap())
            .collect();
        let best = |k: &str| {
            runs.iter()
                .map(|r| r[k].as_f64().unwrap())
                .fold(f64::INFINITY, f64::min)
        };
        let r = &runs[0];
        let (fetch, build) = (best("fetch_s"), best("build_s"));
        println!(
            "| {n} | {} | {:.0} ({}) | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.1} ms |",
            r["sectors"],
            r["fibre_km"].as_f64().unwrap(),
            r["fibre_vertices"],
            fetch * 1000.0,
            build * 1000.0,
            (fetch + build) * 1000.0,
            r["rss_with_index_mib"].as_f64().unwrap(),
            r["index_mib"].as_f64().unwrap(),
            r["peak_mib"].as_f64().unwrap(),
            best("patch_ms"),
        );
        eprintln!("{}", serde_json::to_string(&runs).unwrap());
    }
    println!();
    println!(
        "| fibre vertices | km at 50 m per segment | segments | build | index (RSS growth) | peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for v in [1_000_000, 2_000_000, 4_000_000] {
        let r: serde_json::Value = serde_json::from_str(child("fibre", v).trim()).unwrap();
        println!(
            "| {v} | {:.0} | {} | {:.0} ms | {:.0} MiB | {:.0} MiB |",
            r["km"].as_f64().unwrap(),
            r["segments"],
            r["build_s"].as_f64().unwrap() * 1000.0,
            r["index_mib"].as_f64().unwrap(),
            r["peak_mib"].as_f64().unwrap(),
        );
    }
    println!();
    println!(
        "sizes: CoverSector {} B, SectorInput {} B, fibre segment {} B",
        std::mem::size_of::<telecom_gis::coverage::index::CoverSector>(),
        std::mem::size_of::<telecom_gis::coverage::index::SectorInput>(),
        std::mem::size_of::<telecom_gis::coverage::index::FibreSegment>(),
    );
}
