//! Operations endpoints in-process: `/readyz`, `/metrics` (every documented
//! name present, routes labelled by template), `/index/fingerprint`, and the
//! 503 answers of database-backed requests while coverage keeps answering.

use std::time::Duration;

use axum::http::{Method, header};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use telecom_gis::AppState;
use telecom_gis::http::ops::METRIC_NAMES;

use crate::common;
use crate::common::process::db_fingerprint;
use crate::common::{load_sample, send_to, send_with_headers, tower_feature};

/// The metric names documented in the metrics table of docs/operations.md.
fn documented_metric_names() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operations.md"))
            .expect("docs/operations.md is readable");
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `telecom_gis_"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| format!("telecom_gis_{name}"))
        .collect()
}

async fn metrics_text(state: &AppState) -> String {
    let r = send_to(state, Method::GET, "/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    String::from_utf8(r.body).unwrap()
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn every_documented_metric_is_exported_and_every_exported_metric_is_documented(pool: PgPool) {
    load_sample(&pool, 20).await;
    let state = AppState::loaded(pool).await.unwrap();
    let documented = documented_metric_names();
    assert!(
        documented.len() >= 10,
        "docs/operations.md lists the metrics: {documented:?}"
    );
    let mut exported: Vec<String> = METRIC_NAMES.iter().map(|n| (*n).to_owned()).collect();
    exported.sort();
    let mut listed = documented.clone();
    listed.sort();
    assert_eq!(
        listed, exported,
        "docs/operations.md table and http::ops::METRIC_NAMES"
    );

    // One request first, so the request histogram has a sample.
    assert_eq!(
        send_to(&state, Method::GET, "/healthz", None).await.status,
        200
    );
    let text = metrics_text(&state).await;
    for name in &documented {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("# TYPE {name} "))),
            "{name} missing from /metrics:\n{text}"
        );
    }
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} has no unlabelled sample"))
            .parse()
            .unwrap()
    };
    assert!(value("telecom_gis_index_sectors") > 0.0);
    assert!(value("telecom_gis_index_towers") > 0.0);
    assert_eq!(value("telecom_gis_index_loaded"), 1.0);
    assert_eq!(value("telecom_gis_index_reloads_total"), 1.0);
    assert_eq!(value("telecom_gis_imports_total"), 0.0);
    assert!(value("telecom_gis_db_pool_max_connections") >= 1.0);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn requests_are_counted_by_route_template_and_status_class_never_by_raw_path(pool: PgPool) {
    let state = AppState::loaded(pool).await.unwrap();
    for id in [987_654, 987_655] {
        let r = send_to(
            &state,
            Method::GET,
            &format!("/collections/towers/items/{id}"),
            None,
        )
        .await;
        assert_eq!(r.status, 404);
    }
    send_to(&state, Method::GET, "/no/such/page/42", None).await;
    send_to(
        &state,
        Method::GET,
        "/coverage/point?lon=108.2&lat=16.05",
        None,
    )
    .await;
    let text = metrics_text(&state).await;
    let count = |labels: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("telecom_gis_http_requests_total{{{labels}}} ")))
            .map(|v| v.parse().unwrap())
    };
    assert_eq!(
        count(
            r#"method="GET",route="/collections/{collection_id}/items/{feature_id}",status="4xx""#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        count(r#"method="GET",route="unmatched",status="4xx""#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        count(r#"method="GET",route="/coverage/point",status="2xx""#),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("987654"), "raw paths leak into labels");
    assert!(
        !text.contains("/no/such/page"),
        "raw paths leak into labels"
    );
    assert!(
        text.contains(r#"telecom_gis_http_request_duration_seconds_bucket{method="GET",route="/coverage/point",status="2xx",le="0.1"}"#),
        "{text}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn readiness_is_503_with_retry_after_until_the_index_is_loaded(pool: PgPool) {
    let state = AppState::new(pool.clone());
    let r = send_to(&state, Method::GET, "/readyz", None).await;
    let p = r.problem(503);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(p["detail"].as_str().unwrap().contains("not loaded"), "{p}");
    // Liveness does not depend on it.
    assert_eq!(
        send_to(&state, Method::GET, "/healthz", None).await.status,
        200
    );

    state.coverage.reload(&pool).await.unwrap();
    let r = send_to(&state, Method::GET, "/readyz", None).await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["listener"], "not_started");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn without_a_database_coverage_still_answers_and_everything_else_is_503_with_retry_after(
    pool: PgPool,
) {
    load_sample(&pool, 20).await;
    let admin = format!("Bearer {}", common::token(&pool, "admin", None).await);
    let loaded = AppState::loaded(pool).await.unwrap();
    // A pool on a port where nothing listens: connections are refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy(&format!("postgres://postgres@127.0.0.1:{port}/none"))
        .unwrap();
    let state = AppState {
        pool: dead,
        ..loaded
    };

    for uri in [
        "/healthz",
        "/coverage/point?lon=108.2208&lat=16.0471",
        "/coverage/footprints?bbox=108.15,16.0,108.25,16.1&limit=5",
        "/coverage/gaps?resolution=7",
    ] {
        let r = send_to(&state, Method::GET, uri, None).await;
        assert_eq!(r.status, 200, "{uri}: {}", String::from_utf8_lossy(&r.body));
    }
    let points = json!({"type": "MultiPoint", "coordinates": [[108.2208, 16.0471], [108.0, 16.0]]});
    let r = send_to(
        &state,
        Method::POST,
        "/coverage/points",
        Some(("application/geo+json", serde_json::to_vec(&points).unwrap())),
    )
    .await;
    assert_eq!(r.status, 200);

    for (method, uri, body) in [
        (Method::GET, "/collections/towers/items?limit=1", None),
        (Method::GET, "/collections/towers/items/1", None),
        (Method::GET, "/operators", None),
        (Method::GET, "/readyz", None),
        (
            Method::POST,
            "/collections/towers/items",
            Some((
                "application/geo+json",
                serde_json::to_vec(&tower_feature()).unwrap(),
            )),
        ),
    ] {
        // With a token (checked against the database) for the write.
        let r = send_with_headers(
            &state,
            method.clone(),
            uri,
            body,
            &[("authorization", &admin)],
        )
        .await;
        let p = r.problem(503);
        assert_eq!(
            r.headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some(telecom_gis::http::error::RETRY_AFTER_SECS),
            "{method} {uri}"
        );
        assert!(
            p["detail"].as_str().unwrap().contains("database"),
            "{method} {uri}: {p}"
        );
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_index_fingerprint_equals_that_of_an_index_loaded_fresh_after_writes(pool: PgPool) {
    load_sample(&pool, 20).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let r = send_to(
        &state,
        Method::POST,
        "/collections/towers/items",
        Some((
            "application/geo+json",
            serde_json::to_vec(&tower_feature()).unwrap(),
        )),
    )
    .await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().unwrap();
    // Retire another tower behind the service's back; it does not listen,
    // so its index now differs from the database.
    sqlx::query("update towers set status = 'retired' where id = (select min(id) from towers where status = 'operational')")
        .execute(&pool)
        .await
        .unwrap();

    let served = |state: &AppState| {
        let state = state.clone();
        async move {
            let mut v = send_to(&state, Method::GET, "/index/fingerprint", None)
                .await
                .json();
            let o = v.as_object_mut().unwrap();
            assert_eq!(o.remove("loaded"), Some(json!(true)));
            assert!(o.remove("version").unwrap().as_u64().unwrap() >= 2);
            v
        }
    };
    let fresh = db_fingerprint(&pool).await;
    assert_ne!(served(&state).await, fresh, "the SQL change is not seen");
    state.coverage.reload(&pool).await.unwrap();
    assert_eq!(served(&state).await, fresh);
    assert!(
        state.coverage.snapshot().tower_sectors(id).len() == 2,
        "the created tower is indexed"
    );
}
