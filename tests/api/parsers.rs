//! Bounded geometry readers (issue 14): hostile WKT, WKB and GeoJSON are
//! refused with a problem that names the limit, the rest of an import goes
//! on, nothing is stored, and nothing aborts the process or allocates from
//! counts read out of the input. Per-layer vertex, part and ring limits
//! hold for API writes and imports alike.

use crate::common;
use crate::common::{Reply, fingerprint, row_counts};
use axum::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;

/// `POST /imports?{query}` with `body`.
async fn import(pool: &PgPool, query: &str, body: impl Into<Vec<u8>>) -> Reply {
    let state = AppState::new(pool.clone());
    common::send_to(
        &state,
        Method::POST,
        &format!("/imports?{query}"),
        Some(("application/octet-stream", body.into())),
    )
    .await
}

/// Runs an import that must answer 200 (a dry run) without storing
/// anything; returns its report.
async fn dry_run(pool: &PgPool, query: &str, body: impl Into<Vec<u8>>) -> Value {
    let before = fingerprint(pool).await;
    let r = import(pool, &format!("{query}&mode=dry-run"), body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        fingerprint(pool).await,
        before,
        "a dry run stored something"
    );
    r.json()
}

/// The `(row or feature, field, reason)` of every problem of a report.
fn problems(report: &Value) -> Vec<(u64, String, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["row"].as_u64().or(p["feature"].as_u64()).unwrap(),
                p["field"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

const DATA_CENTRE_HEADER: &str = "external_id,operator,name,tier,wkt";

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_csv_dry_run_whose_wkt_nests_300000_collections_reports_the_depth_limit_and_goes_on(
    pool: PgPool,
) {
    common::operators(&pool).await;
    let n = 300_000;
    let deep = format!(
        "{}POINT(108.2 16.05){}",
        "GEOMETRYCOLLECTION(".repeat(n),
        ")".repeat(n)
    );
    let csv = format!(
        "{DATA_CENTRE_HEADER}\nDC-1,viettel,Deep,3,{deep}\nDC-2,viettel,Shallow,3,POINT(108.21 16.06)\n"
    );
    let report = dry_run(&pool, "layer=data-centres&format=csv", csv).await;
    assert_eq!(
        (report["rows"].as_u64(), report["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{report:#}"
    );
    let found = problems(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    let (row, field, reason) = &found[0];
    assert_eq!((*row, field.as_str()), (1, "wkt"));
    assert_eq!(
        reason,
        "nests geometries deeper than 8 levels (limit: geometry nesting depth, 8)"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_wkt_route_over_the_vertex_limit_is_refused_before_it_is_parsed(pool: PgPool) {
    common::operators(&pool).await;
    let positions: Vec<String> = (0..100_001)
        .map(|i| format!("{:.6} 16.05", 108.0 + i as f64 * 1e-6))
        .collect();
    let csv = format!(
        "external_id,operator,placement,fibre_count,wkt\nF-1,viettel,underground,48,\"LINESTRING({})\"\n",
        positions.join(",")
    );
    let report = dry_run(&pool, "layer=fibre-routes&format=csv", csv).await;
    assert_eq!(
        problems(&report),
        [(
            1,
            "wkt".to_owned(),
            "has 100,001 positions; a fibre route may have at most 100,000 (limit: fibre-routes max vertices)"
                .to_owned()
        )]
    );
}

// ------------------------------------------------------------ GeoPackage

/// A GeoPackage blob: the standard header (no envelope, SRS 4326) and `wkb`.
fn gpkg_blob(wkb: &[u8]) -> Vec<u8> {
    let mut blob = b"GP\x00\x01".to_vec();
    blob.extend_from_slice(&4326i32.to_le_bytes());
    blob.extend_from_slice(wkb);
    blob
}

/// Little-endian WKB header of ISO type `code`.
fn wkb_header(code: u32) -> Vec<u8> {
    let mut b = vec![1u8];
    b.extend_from_slice(&code.to_le_bytes());
    b
}

/// A GeoPackage of data centres, built with rusqlite, with one row per blob.
fn data_centre_gpkg(dir: &std::path::Path, blobs: &[Vec<u8>]) -> Vec<u8> {
    let path = dir.join("hostile.gpkg");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "PRAGMA application_id = 1196444487;
         CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
             organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
             definition TEXT NOT NULL, description TEXT);
         INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84', 4326, 'EPSG', 4326, 'GEOGCS[\"WGS 84\"]', '');
         CREATE TABLE gpkg_contents (table_name TEXT PRIMARY KEY, data_type TEXT NOT NULL,
             identifier TEXT, description TEXT DEFAULT '', last_change DATETIME,
             min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
         CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
             geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL,
             m TINYINT NOT NULL);
         INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id)
             VALUES ('data_centres', 'features', 'data_centres', 4326);
         INSERT INTO gpkg_geometry_columns VALUES ('data_centres', 'geom', 'GEOMETRY', 4326, 0, 0);
         CREATE TABLE data_centres (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom BLOB,
             external_id TEXT, operator TEXT, name TEXT, tier INTEGER);",
    )
    .unwrap();
    for (i, blob) in blobs.iter().enumerate() {
        conn.execute(
            "INSERT INTO data_centres (geom, external_id, operator, name, tier) VALUES (?1, ?2, 'viettel', ?3, 3)",
            rusqlite::params![blob, format!("DC-{i}"), format!("Site {i}")],
        )
        .unwrap();
    }
    drop(conn);
    std::fs::read(&path).unwrap()
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geopackage_with_deeply_nested_collections_and_lying_counts_reports_each_row(
    pool: PgPool,
) {
    common::operators(&pool).await;
    // 100,000 GeometryCollections, each holding the next.
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend(wkb_header(7));
        deep.extend_from_slice(&1u32.to_le_bytes());
    }
    deep.extend(wkb_header(1));
    deep.extend_from_slice(&108.2f64.to_le_bytes());
    deep.extend_from_slice(&16.05f64.to_le_bytes());
    // A LineString claiming 2^31 points in 16 bytes, a Polygon claiming
    // 2^31 rings, a collection claiming 2^32 - 1 members.
    let mut points = wkb_header(2);
    points.extend_from_slice(&(1u32 << 31).to_le_bytes());
    points.extend_from_slice(&[0; 16]);
    let mut rings = wkb_header(3);
    rings.extend_from_slice(&(1u32 << 31).to_le_bytes());
    rings.extend_from_slice(&[0; 8]);
    let mut members = wkb_header(7);
    members.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut point = wkb_header(1);
    point.extend_from_slice(&108.21f64.to_le_bytes());
    point.extend_from_slice(&16.06f64.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let file = data_centre_gpkg(
        dir.path(),
        &[
            gpkg_blob(&deep),
            gpkg_blob(&points),
            gpkg_blob(&rings),
            gpkg_blob(&members),
            gpkg_blob(&point),
        ],
    );
    let report = dry_run(&pool, "layer=data-centres&format=gpkg", file).await;
    assert_eq!(
        (report["rows"].as_u64(), report["rejected"].as_u64()),
        (Some(5), Some(4)),
        "{report:#}"
    );
    let found = problems(&report);
    let fields: Vec<(u64, &str)> = found.iter().map(|(r, f, _)| (*r, f.as_str())).collect();
    assert_eq!(fields, [(1, "geom"), (2, "geom"), (3, "geom"), (4, "geom")]);
    assert_eq!(
        found[0].2,
        "nests geometries deeper than 8 levels (limit: geometry nesting depth, 8)"
    );
    for (_, _, reason) in &found[1..] {
        assert!(
            reason.contains("claimed at byte") && reason.contains("remain"),
            "{reason}"
        );
    }
    assert!(
        found[1].2.contains("2147483648 positions"),
        "{}",
        found[1].2
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geopackage_footprint_over_the_vertex_limit_names_the_limit(pool: PgPool) {
    common::operators(&pool).await;
    let n = 10_001u32;
    let mut ring = wkb_header(3);
    ring.extend_from_slice(&1u32.to_le_bytes());
    ring.extend_from_slice(&n.to_le_bytes());
    for i in 0..n {
        let a = f64::from(i % (n - 1)) / f64::from(n - 1) * std::f64::consts::TAU;
        ring.extend_from_slice(&(108.2 + 0.001 * a.cos()).to_le_bytes());
        ring.extend_from_slice(&(16.05 + 0.001 * a.sin()).to_le_bytes());
    }
    let dir = tempfile::tempdir().unwrap();
    let report = dry_run(
        &pool,
        "layer=data-centres&format=gpkg",
        data_centre_gpkg(dir.path(), &[gpkg_blob(&ring)]),
    )
    .await;
    assert_eq!(
        problems(&report),
        [(
            1,
            "geom".to_owned(),
            "has 10,001 positions; a data centre may have at most 10,000 (limit: data-centres max vertices)"
                .to_owned()
        )]
    );
}

// --------------------------------------------------------------- GeoJSON

/// A fibre-route feature whose LineString has `n` positions.
fn route_with(n: usize) -> Value {
    let line: Vec<Value> = (0..n)
        .map(|i| json!([108.0 + i as f64 * 1e-6, 16.05 + (i % 2) as f64 * 1e-6]))
        .collect();
    json!({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": line},
        "properties": {"operator": "viettel", "placement": "underground", "fibre_count": 48}
    })
}

async fn post(pool: &PgPool, layer: &str, body: Vec<u8>) -> Reply {
    let admin = common::token(pool, "admin", None).await;
    let state = AppState::new(pool.clone());
    common::send_with_headers(
        &state,
        Method::POST,
        &format!("/collections/{layer}/items"),
        Some(("application/geo+json", body)),
        &[("authorization", &format!("Bearer {admin}"))],
    )
    .await
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geojson_body_over_the_json_value_budget_is_refused_413_and_stores_nothing(pool: PgPool) {
    common::operators(&pool).await;
    let before = row_counts(&pool).await;
    // 400,000 positions: 1.2 million JSON values, in about 9 MB.
    let body = serde_json::to_vec(&route_with(400_000)).unwrap();
    assert!(body.len() < 32 << 20);
    let p = post(&pool, "fibre-routes", body).await.problem(413);
    assert_eq!(
        p["detail"],
        "the request body holds more than 1,000,000 JSON values (limit: JSON values per document, 1,000,000)"
    );
    // Millions of tiny numbers in one array, just under the body limit.
    let mut zeros = b"{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"type\":\"LineString\",\"coordinates\":[".to_vec();
    zeros.extend(std::iter::repeat_n(b"0,".as_slice(), 16_000_000).flatten());
    zeros.extend_from_slice(b"0]}}");
    let p = post(&pool, "fibre-routes", zeros).await.problem(413);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("(limit: JSON values per document"),
        "{p}"
    );
    // Nested deeper than the depth limit (and than serde_json's own 128).
    let deep = format!(
        "{{\"type\":\"Feature\",\"properties\":{{}},\"geometry\":{{\"type\":\"Point\",\"coordinates\":{}0{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let p = post(&pool, "fibre-routes", deep.into_bytes())
        .await
        .problem(422);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("(limit: JSON nesting depth, 32)"),
        "{p}"
    );
    assert_eq!(row_counts(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn per_layer_vertex_limits_hold_for_api_writes(pool: PgPool) {
    common::operators(&pool).await;
    let before = row_counts(&pool).await;
    let r = post(
        &pool,
        "fibre-routes",
        serde_json::to_vec(&route_with(150_000)).unwrap(),
    )
    .await;
    let p = r.problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/geometry/coordinates");
    assert_eq!(
        p["errors"][0]["detail"],
        "has 150,000 positions; a fibre route may have at most 100,000 (limit: fibre-routes max vertices)"
    );
    // A data-centre footprint of 10,001 positions.
    let ring: Vec<Value> = (0..10_001)
        .map(|i| {
            let a = f64::from(i % 10_000) / 10_000.0 * std::f64::consts::TAU;
            json!([108.2 + 0.001 * a.cos(), 16.05 + 0.001 * a.sin()])
        })
        .collect();
    let dc = json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"operator": "viettel", "name": "Big", "tier": 3}
    });
    let p = post(&pool, "data-centres", serde_json::to_vec(&dc).unwrap())
        .await
        .problem(422);
    assert!(
        p["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("a data centre may have at most 10,000 (limit: data-centres max vertices)"),
        "{p}"
    );
    assert_eq!(row_counts(&pool).await, before);
    // At the limit, a route is stored.
    let r = post(
        &pool,
        "fibre-routes",
        serde_json::to_vec(&route_with(100_000)).unwrap(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geojson_import_feature_over_the_value_budget_is_reported_and_the_next_is_read(
    pool: PgPool,
) {
    common::operators(&pool).await;
    let mut file = b"{\"type\":\"FeatureCollection\",\"features\":[".to_vec();
    file.extend_from_slice(b"{\"type\":\"Feature\",\"properties\":{},\"geometry\":{\"type\":\"Point\",\"coordinates\":[");
    file.extend(std::iter::repeat_n(b"0,".as_slice(), 1_100_000).flatten());
    file.extend_from_slice(b"0]}},");
    let mut ok = route_with(2);
    ok["properties"]["external_id"] = json!("F-2");
    file.extend(serde_json::to_vec(&ok).unwrap());
    file.extend_from_slice(b"]}");
    let report = dry_run(&pool, "layer=fibre-routes&format=geojson", file).await;
    assert_eq!(
        (report["rows"].as_u64(), report["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{report:#}"
    );
    assert_eq!(
        problems(&report),
        [(
            0,
            String::new(),
            "the feature holds more than 1,000,000 JSON values (limit: JSON values per document, 1,000,000)"
                .to_owned()
        )]
    );
}
