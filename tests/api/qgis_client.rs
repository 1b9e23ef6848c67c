//! Headless QGIS (Debian's python3-qgis, installed by `make test`) reads a
//! running service: the four collections through its OGC API - Features
//! provider with the feature counts PostGIS has, the vector tiles with the
//! service's MapLibre style, a rendered image of the city that is not
//! blank, and the shipped project `data/telecom-gis.qgs`
//! (tests/qgis/read_service.py does the QGIS side).

use std::process::Command;
use std::sync::Arc;

use serde_json::json;
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::http::limits::RateLimits;

use crate::common;

#[sqlx::test]
async fn headless_qgis_reads_the_features_and_tiles_and_renders_the_city(pool: PgPool) {
    common::load_sample(&pool, 300).await;
    let state = AppState {
        // QGIS fetches many tiles and pages at once, as one anonymous client.
        limits: Arc::new(RateLimits::disabled()),
        ..AppState::loaded(pool.clone()).await.unwrap()
    };
    let base = common::serve_state(state).await;
    let mut expected = serde_json::Map::new();
    for (collection, table) in [
        ("towers", "towers"),
        ("fibre-routes", "fibre_routes"),
        ("data-centres", "data_centres"),
        ("districts", "districts"),
    ] {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        expected.insert(collection.into(), json!(n));
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let script = format!("{root}/tests/qgis/read_service.py");
    let project = format!("{root}/data/telecom-gis.qgs");
    let args = vec![
        script,
        base,
        serde_json::Value::Object(expected).to_string(),
        project,
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new("/usr/bin/python3")
            .args(&args)
            .env("QT_QPA_PLATFORM", "offscreen")
            .output()
            .expect("run /usr/bin/python3 (install python3-qgis; make test does)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "QGIS checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok   towers:"), "{stdout}");
}
