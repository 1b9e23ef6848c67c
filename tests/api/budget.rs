//! The memory and latency budget (issue 14, item 6): the real `telecom-gis
//! serve` process, on its own database, is driven with the largest input
//! each endpoint family allows while `/healthz` is polled; every poll must
//! answer within [`HEALTHZ_BUDGET`] and the process's peak resident memory
//! may grow by at most [`RSS_GROWTH_BUDGET_MIB`] (docs/limits.md, "CPU-heavy
//! work"). The only test of the suite with timed assertions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::process::{Service, admin_client, client, database_url_of};
use crate::common::*;
use serde_json::json;
use sqlx::PgPool;
use telecom_gis::http::coverage::{MAX_FOOTPRINTS, MAX_GAP_CELLS, MAX_POINTS};
use telecom_gis::spatial::grid;

/// Longest a `/healthz` poll may take while the heavy requests run.
const HEALTHZ_BUDGET: Duration = Duration::from_millis(100);

/// Most the process's peak resident set (VmHWM) may exceed its resident
/// set before the heavy requests, MiB.
const RSS_GROWTH_BUDGET_MIB: u64 = 512;

/// A field of `/proc/<pid>/status`, in KiB.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// The Web Mercator tile `(z, x, y)` holding `lon, lat`.
fn tile_of(z: u32, lon: f64, lat: f64) -> (u32, u32, u32) {
    let n = f64::from(1u32 << z);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let phi = lat.to_radians();
    let y = ((1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor()
        as u32;
    (z, x, y)
}

/// A comb ring of 60,000 vertices in lon/lat (see tests/api/cpu_bound.rs).
fn comb_district() -> serde_json::Value {
    let pts = crate::cpu_bound::comb(15_000);
    json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [pts]},
        "properties": {"code": "BUDGET", "name": "Lược", "population": 1000}
    })
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_largest_inputs_keep_healthz_fast_and_memory_within_budget(pool: PgPool) {
    load_sample(&pool, 600).await;
    let svc = Service::start(
        &database_url_of(&pool),
        "tgis-budget",
        &[("RATE_LIMIT_PER_S", "0")],
    );
    svc.wait_ready(Duration::from_secs(60)).await;
    let pid = svc.pid();
    let base = svc.url.clone();
    let anon = client();
    let admin = admin_client(&pool).await;
    // One light request first, so the baseline includes a warm runtime.
    assert_eq!(
        anon.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let rss_start_kib = proc_status_kib(pid, "VmRSS:");

    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let (done, base, anon) = (done.clone(), base.clone(), anon.clone());
        tokio::spawn(async move {
            let mut polls = Vec::new();
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = anon.get(format!("{base}/healthz")).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                polls.push(t.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            polls
        })
    };

    // The gap grid at the largest allowed count: a box at resolution 11
    // just under MAX_GAP_CELLS (checked here with the same tiler).
    let gap_box = (108.0, 15.95, 108.2, 16.15);
    let area = grid::bbox_polygon(gap_box.0, gap_box.1, gap_box.2, gap_box.3);
    let gap_cells = grid::cells_in(&area, 11).unwrap().len();
    assert!(
        gap_cells > MAX_GAP_CELLS * 3 / 4 && gap_cells <= MAX_GAP_CELLS,
        "{gap_cells}"
    );
    // A million points, in Đà Nẵng.
    let points: Vec<[f64; 2]> = (0..MAX_POINTS)
        .map(|i| {
            let (a, b) = ((i % 1000) as f64, (i / 1000) as f64);
            [108.10 + a * 0.0002, 15.95 + b * 0.0002]
        })
        .collect();
    let points_body =
        serde_json::to_vec(&json!({"type": "MultiPoint", "coordinates": points})).unwrap();
    drop(points);
    let district = serde_json::to_vec(&comb_district()).unwrap();
    let mut csv = String::from("external_id,operator,site_code,structure_type,height_m,lon,lat\n");
    for i in 0..20_000 {
        csv.push_str(&format!(
            "B-{i},viettel,B-{i},monopole,30,{},{}\n",
            108.15 + (i % 200) as f64 * 0.0005,
            16.0 + (i / 200) as f64 * 0.0005
        ));
    }
    let (z, x, y) = tile_of(13, 108.2208, 16.0471);

    let heavy = async {
        let gaps = anon
            .get(format!(
                "{base}/coverage/gaps?bbox={},{},{},{}&resolution=11",
                gap_box.0, gap_box.1, gap_box.2, gap_box.3
            ))
            .send();
        let points = anon
            .post(format!("{base}/coverage/points"))
            .header("content-type", "application/geo+json")
            .body(points_body)
            .send();
        let (gaps, points) = tokio::join!(gaps, points);
        let (gaps, points) = (gaps.unwrap(), points.unwrap());
        assert_eq!(gaps.status(), 200);
        gaps.bytes().await.unwrap();
        assert_eq!(points.status(), 200);
        points.bytes().await.unwrap();
        for uri in [
            format!("/coverage/footprints?limit={MAX_FOOTPRINTS}"),
            "/collections/towers/items?limit=10000".to_owned(),
            "/collections/fibre-routes/items?limit=10000".to_owned(),
            "/analysis/districts".to_owned(),
            format!("/collections/fibre-routes/tiles/WebMercatorQuad/{z}/{y}/{x}"),
            format!("/collections/towers/tiles/WebMercatorQuad/{z}/{y}/{x}"),
        ] {
            let r = anon.get(format!("{base}{uri}")).send().await.unwrap();
            assert!(r.status().is_success(), "{uri}: {}", r.status());
            r.bytes().await.unwrap();
        }
        let r = admin
            .post(format!("{base}/collections/districts/items"))
            .header("content-type", "application/geo+json")
            .body(district)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let r = admin
            .post(format!(
                "{base}/imports?layer=towers&format=csv&mode=dry-run"
            ))
            .header("content-type", "text/csv")
            .body(csv)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    };
    let started = Instant::now();
    heavy.await;
    let heavy_s = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let polls = poller.await.unwrap();

    let peak_kib = proc_status_kib(pid, "VmHWM:");
    let growth_mib = peak_kib.saturating_sub(rss_start_kib) / 1024;
    let slowest = polls.iter().max().copied().unwrap_or_default();
    eprintln!(
        "budget: heavy requests {heavy_s:.1} s; {} healthz polls, slowest {slowest:?}; \
         RSS {} MiB at start, peak {} MiB (+{growth_mib} MiB)",
        polls.len(),
        rss_start_kib / 1024,
        peak_kib / 1024
    );
    assert!(polls.len() >= 5, "only {} polls", polls.len());
    assert!(
        slowest < HEALTHZ_BUDGET,
        "a /healthz poll took {slowest:?} (budget {HEALTHZ_BUDGET:?})"
    );
    assert!(
        growth_mib <= RSS_GROWTH_BUDGET_MIB,
        "peak RSS grew by {growth_mib} MiB (budget {RSS_GROWTH_BUDGET_MIB} MiB)"
    );
}
