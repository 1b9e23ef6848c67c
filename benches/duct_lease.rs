//! Benchmark: a lease request through the API (validation, locks, the fill
//! of every duct it names recomputed from the stored leases, admission,
//! insert, history, commit, and the route finder's snapshot patched for the
//! banks it names) on the Đà Nẵng sample's synthetic duct network, the
//! route finder after it, and the snapshot built from scratch — beside PostGIS
//! computing the same fill for the same duct in one query. Before timing,
//! the fill the capacity map reports for the leased duct is checked against
//! PostGIS's.
//!
//! Run: `DATABASE_URL=… cargo bench --bench duct_lease` (database
//! `telecom_gis_bench_ducts` on the same server, loaded once).
//! Environment: `LEASE_RUNS` (default 200).

#![allow(clippy::unwrap_used)] // a benchmark aborts on a broken set-up

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use telecom_gis::{AppState, app};
use tower::ServiceExt;

mod support;

/// PostGIS's fill of duct `$1`: its direct cables of leases holding room
/// and its subducts, over its section.
const POSTGIS_FILL: &str = "
select (coalesce((select sum(l.cable_diameter_mm ^ 2)
                  from duct_lease_segments s join duct_leases l on l.id = s.lease_id
                  where s.duct_id = d.id and s.subduct_id is null
                    and l.state in ('requested', 'approved', 'active')), 0)
        + coalesce((select sum(sd.outer_diameter_mm ^ 2) from subducts sd where sd.duct_id = d.id), 0))
       / d.inner_diameter_mm ^ 2
from ducts d where d.id = $1";

/// A route query across the centre; a cable of 200 mm fits nowhere, so
/// the search explores the network until it names the bank that blocks.
const ROUTE: &str = "/ducts/route?from=108.2,16.05&to=108.21,16.06&cable_diameter_mm=200";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn call(
    state: &AppState,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "bench.local")
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(v).unwrap())
        }
        None => Body::empty(),
    };
    let res = app(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn report(name: &str, mut t: Vec<Duration>) {
    t.sort_unstable();
    println!(
        "{name:<44} p50 {:>8.2} ms  p95 {:>8.2} ms  max {:>8.2} ms  (n = {})",
        percentile(&t, 0.5).as_secs_f64() * 1e3,
        percentile(&t, 0.95).as_secs_f64() * 1e3,
        t[t.len() - 1].as_secs_f64() * 1e3,
        t.len()
    );
}

#[tokio::main]
async fn main() {
    let runs = support::env_usize("LEASE_RUNS", 200);
    let pool = support::duct_sample_db().await;
    let (banks, leases): (i64, i64) = sqlx::query_as(
        "select (select count(*) from duct_banks), (select count(*) from duct_leases)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    println!("network: {banks} duct banks, {leases} leases (the sample, seed 2019)");
    let (_, admin) = telecom_gis::db::tokens::create(
        &pool,
        "bench admin",
        telecom_gis::domain::account::Role::Admin,
        None,
    )
    .await
    .unwrap();
    let unlimited = |pool: &sqlx::PgPool| AppState {
        limits: std::sync::Arc::new(telecom_gis::http::limits::RateLimits::disabled()),
        ..AppState::new(pool.clone())
    };
    let state = unlimited(&pool);
    // Banks with an A2 duct of 100 mm, in id order.
    let targets: Vec<(i64, i64)> = sqlx::query_as(
        "select d.bank_id, d.id from ducts d join duct_banks b on b.id = d.bank_id
         where d.position = 'A2' and d.inner_diameter_mm = 100 and b.status = 'active'
         order by d.bank_id limit $1",
    )
    .bind(runs as i64)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!targets.is_empty(), "the sample has no 100 mm A2 ducts");

    // Same answers first: the capacity map's fill of the leased duct.
    let (bank, duct) = targets[0];
    let body = json!({"operator": "vnpt", "cable_diameter_mm": 9.5,
                      "segments": [{"bank_id": bank, "duct": "A2"}]});
    let (status, lease) = call(&state, "POST", "/ducts/leases", &admin, Some(&body)).await;
    assert_eq!(status, 201, "{lease}");
    let (_, map) = call(&state, "GET", "/ducts/capacity", &admin, None).await;
    let mine = map["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == bank)
        .unwrap();
    let reported = mine["properties"]["conduits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["duct"] == "A2" && c["subduct"].is_null())
        .unwrap()["fill"]
        .as_f64()
        .unwrap();
    let oracle: f64 = sqlx::query_scalar(POSTGIS_FILL)
        .bind(duct)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        (reported - oracle).abs() < 1e-4,
        "capacity map {reported} vs PostGIS {oracle}"
    );
    println!("fill of duct A2 of bank {bank}: service {reported}, PostGIS {oracle:.4} (same)");
    let id = lease["id"].as_i64().unwrap();
    let (s, _) = call(
        &state,
        "PATCH",
        &format!("/ducts/leases/{id}"),
        &admin,
        Some(&json!({"state": "rejected"})),
    )
    .await;
    assert_eq!(s, 200);

    let (mut request, mut patched, mut cached, mut postgis, mut built) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (bank, duct) in targets.iter().cycle().take(runs) {
        let body = json!({"operator": "vnpt", "cable_diameter_mm": 9.5,
                          "segments": [{"bank_id": bank, "duct": "A2"}]});
        let t = Instant::now();
        let (status, lease) = call(&state, "POST", "/ducts/leases", &admin, Some(&body)).await;
        request.push(t.elapsed());
        assert_eq!(status, 201, "{lease}");
        let t = Instant::now();
        let (s, _) = call(&state, "GET", ROUTE, &admin, None).await;
        patched.push(t.elapsed());
        assert!(s == 200 || s == 404);
        let t = Instant::now();
        let (s, _) = call(&state, "GET", ROUTE, &admin, None).await;
        cached.push(t.elapsed());
        assert!(s == 200 || s == 404);
        let t = Instant::now();
        let _: f64 = sqlx::query_scalar(POSTGIS_FILL)
            .bind(duct)
            .fetch_one(&pool)
            .await
            .unwrap();
        postgis.push(t.elapsed());
        let id = lease["id"].as_i64().unwrap();
        let (s, _) = call(
            &state,
            "PATCH",
            &format!("/ducts/leases/{id}"),
            &admin,
            Some(&json!({"state": "rejected"})),
        )
        .await;
        assert_eq!(s, 200);
    }
    assert_eq!(
        state.ducts.rebuilds(),
        1,
        "every lease patched the snapshot"
    );
    for _ in 0..20 {
        let fresh = unlimited(&pool);
        let t = Instant::now();
        let (s, _) = call(&fresh, "GET", ROUTE, &admin, None).await;
        built.push(t.elapsed());
        assert!(s == 200 || s == 404);
    }
    report("POST /ducts/leases (fill recomputed, admitted)", request);
    report("PostGIS: the duct's fill, one query", postgis);
    report("route after a lease (snapshot patched)", patched);
    report("route, snapshot current", cached);
    report("route on a fresh service (snapshot built)", built);
}
