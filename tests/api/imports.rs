//! Bulk import (`POST /imports`): each format with real-world quirks, the
//! dry-run report, all-or-nothing commits, upsert by external id, and
//! OpenCelliD site grouping. Every refused commit is checked to leave the
//! database exactly as it was (fingerprint of every table).

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
        Some(("text/csv", body.into())),
    )
    .await
}

/// Imports and expects 200; returns the report.
async fn accepted(pool: &PgPool, query: &str, body: impl Into<Vec<u8>>) -> Value {
    let r = import(pool, query, body).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "application/json");
    r.json()
}

/// Commits and expects a 422 refusal that stores nothing; returns the report.
async fn refused(pool: &PgPool, query: &str, body: impl Into<Vec<u8>>) -> Value {
    let before = fingerprint(pool).await;
    let r = import(pool, query, body).await;
    let p = r.problem(422);
    assert_eq!(p["type"], "tag:telecom-gis,2026:import-refused");
    assert_eq!(
        fingerprint(pool).await,
        before,
        "a refused import changed stored data"
    );
    let report = p["report"].clone();
    assert_eq!(report["committed"], false);
    report
}

/// The problems of a report as `(row or feature, field)` pairs.
fn problem_places(report: &Value) -> Vec<(u64, String)> {
    report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let at = p["row"].as_u64().or(p["feature"].as_u64()).unwrap();
            (at, p["field"].as_str().unwrap().to_owned())
        })
        .collect()
}

const TOWER_HEADER: &str =
    "external_id,operator,site_code,name,structure_type,height_m,status,tenants,lon,lat,sectors";

/// One valid tower row with a 4G sector.
fn tower_row(i: usize) -> String {
    format!(
        "V-{i:05},viettel,DNG-{i:05},Trạm {i},monopole,30,operational,,{:.6},{:.6},\"[{{\"\"operator\"\":\"\"viettel\"\",\"\"technology\"\":\"\"4G\"\",\"\"frequency_mhz\"\":1800,\"\"azimuth_deg\"\":{},\"\"beamwidth_deg\"\":65,\"\"height_m\"\":28,\"\"eirp_dbm\"\":60}}]\"",
        108.10 + (i % 100) as f64 * 0.001,
        16.00 + (i / 100) as f64 * 0.001,
        i % 360
    )
}

fn towers_csv(n: usize) -> String {
    let mut s = format!("{TOWER_HEADER}\n");
    for i in 1..=n {
        s.push_str(&tower_row(i));
        s.push('\n');
    }
    s
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_csv_with_bom_crlf_quoted_commas_diacritics_and_blank_lines_imports_every_tower(
    pool: PgPool,
) {
    common::operators(&pool).await;
    let csv = format!(
        "\u{feff}{TOWER_HEADER}\r\n\
         HC-1,viettel,DNG-HC-1,\"Trạm Hải Châu, số 1\",monopole,36.5,operational,vnpt,108.2208,16.0471,\"[{{\"\"operator\"\":\"\"vnpt\"\",\"\"technology\"\":\"\"5G\"\",\"\"frequency_mhz\"\":3500,\"\"azimuth_deg\"\":120,\"\"beamwidth_deg\"\":65,\"\"height_m\"\":30,\"\"eirp_dbm\"\":66,\"\"range_m\"\":900}}]\"\r\n\
         \r\n\
         NHS-2,viettel,DNG-NHS-2,Ngũ Hành Sơn 2,compact,18,planned,,108.2510,16.0000,\r\n"
    );
    let report = accepted(&pool, "layer=towers&format=csv&mode=commit", csv).await;
    assert_eq!(report["rows"], 2, "{report:#}");
    assert_eq!(report["created"], 2);
    assert_eq!(report["rejected"], 0);
    assert_eq!(report["committed"], true);
    let stored: Vec<(String, Option<String>, f64, f64, f64)> = sqlx::query_as(
        "select external_id, name, height_m, ST_X(geom), ST_Y(geom) from towers order by external_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        stored,
        [
            (
                "HC-1".into(),
                Some("Trạm Hải Châu, số 1".into()),
                36.5,
                108.2208,
                16.0471
            ),
            (
                "NHS-2".into(),
                Some("Ngũ Hành Sơn 2".into()),
                18.0,
                108.2510,
                16.0
            ),
        ]
    );
    let sectors: Vec<(String, String, Option<f64>)> =
        sqlx::query_as("select operator_id, technology, range_m from sectors")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(sectors, [("vnpt".into(), "5G".into(), Some(900.0))]);
    let tenants: Vec<String> = sqlx::query_scalar("select operator_id from tower_tenants")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(tenants, ["vnpt"]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn importing_the_same_file_twice_reports_every_row_unchanged_and_changes_nothing(
    pool: PgPool,
) {
    common::operators(&pool).await;
    let csv = towers_csv(50);
    let first = accepted(&pool, "layer=towers&format=csv&mode=commit", csv.clone()).await;
    assert_eq!(
        (first["created"].as_u64(), first["unchanged"].as_u64()),
        (Some(50), Some(0))
    );
    let before = fingerprint(&pool).await;
    let second = accepted(&pool, "layer=towers&format=csv&mode=commit", csv.clone()).await;
    assert_eq!(second["created"], 0, "{second:#}");
    assert_eq!(second["updated"], 0);
    assert_eq!(second["unchanged"], 50);
    assert_eq!(fingerprint(&pool).await, before);
    // One changed height is one update; the rest stay unchanged.
    let changed = csv.replacen(
        "DNG-00007,Trạm 7,monopole,30",
        "DNG-00007,Trạm 7,monopole,42",
        1,
    );
    let third = accepted(&pool, "layer=towers&format=csv&mode=commit", changed).await;
    assert_eq!(
        (third["updated"].as_u64(), third["unchanged"].as_u64()),
        (Some(1), Some(49))
    );
    let h: f64 = sqlx::query_scalar("select height_m from towers where external_id = 'V-00007'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(h, 42.0);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn one_bad_row_in_the_middle_of_a_10000_row_commit_leaves_the_database_unchanged(
    pool: PgPool,
) {
    common::operators(&pool).await;
    accepted(&pool, "layer=towers&format=csv&mode=commit", towers_csv(3)).await;
    let counts = row_counts(&pool).await;
    let good = tower_row(5000);
    let bad = good.replacen(",monopole,30,", ",monopole,-4,", 1);
    let csv = towers_csv(10_000).replacen(&good, &bad, 1);
    let report = refused(&pool, "layer=towers&format=csv&mode=commit", csv).await;
    assert_eq!(report["rows"], 10_000);
    assert_eq!(report["rejected"], 1);
    assert_eq!(report["accepted"], 9_999);
    assert_eq!(problem_places(&report), [(5000, "height_m".to_owned())]);
    assert_eq!(row_counts(&pool).await, counts);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_dry_run_reports_what_a_commit_would_do_and_stores_nothing(pool: PgPool) {
    common::operators(&pool).await;
    accepted(&pool, "layer=towers&format=csv&mode=commit", towers_csv(5)).await;
    let before = fingerprint(&pool).await;
    let csv = towers_csv(8).replacen(
        "DNG-00002,Trạm 2,monopole,30",
        "DNG-00002,Trạm 2,monopole,31",
        1,
    );
    let report = accepted(&pool, "layer=towers&format=csv&mode=dry-run", csv).await;
    assert_eq!(report["mode"], "dry-run");
    assert_eq!(
        (
            report["created"].as_u64(),
            report["updated"].as_u64(),
            report["unchanged"].as_u64()
        ),
        (Some(3), Some(1), Some(4))
    );
    assert_eq!(report["committed"], false);
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn duplicate_external_ids_in_one_file_are_reported_with_both_rows(pool: PgPool) {
    common::operators(&pool).await;
    let csv = towers_csv(4).replacen("V-00004,viettel,DNG-00004", "V-00002,viettel,DNG-00004", 1);
    let report = refused(&pool, "layer=towers&format=csv&mode=commit", csv).await;
    let p = &report["problems"][0];
    assert_eq!(p["row"], 4, "{report:#}");
    assert_eq!(p["field"], "external_id");
    let reason = p["reason"].as_str().unwrap();
    assert!(
        reason.contains("row 2") && reason.contains("row 4"),
        "{reason}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn swapped_longitude_and_latitude_are_refused_with_a_hint_in_every_format(pool: PgPool) {
    common::operators(&pool).await;
    // CSV: lat 108.2 is out of range.
    let csv = towers_csv(2).replacen("108.101000,16.000000", "16.000000,108.101000", 1);
    let report = refused(&pool, "layer=towers&format=csv&mode=commit", csv).await;
    let p = &report["problems"][0];
    assert_eq!(
        (p["row"].as_u64(), p["field"].as_str()),
        (Some(1), Some("lat"))
    );
    assert!(p["reason"].as_str().unwrap().contains("swapped"), "{p}");
    // GeoJSON: a data centre at [16.06, 108.22] (lat, lon).
    let fc = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [16.06, 108.22]},
         "properties": {"operator": "vnpt", "name": "IDC", "tier": 3, "external_id": "DC-1"}}]});
    let fc = serde_json::to_string(&fc).unwrap();
    let report = refused(&pool, "layer=data-centres&format=geojson&mode=commit", fc).await;
    assert_eq!(report["problems"][0]["feature"], 0);
    assert!(
        report["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("swapped")
    );
    // OpenCelliD: lon 16.06, lat 108.22.
    let ocid = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\n\
                LTE,452,04,1,10,0,16.0600,108.2200,500,10,1,0,0,0\n";
    let report = refused(&pool, "layer=towers&format=opencellid&mode=commit", ocid).await;
    assert_eq!(problem_places(&report), [(1, "lat".to_owned())]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_wkt_point_data_centre_with_a_quoted_vietnamese_name_is_accepted(pool: PgPool) {
    common::operators(&pool).await;
    let csv = "external_id,operator,name,tier,wkt\n\
               DC-1,vnpt,\"IDC Đà Nẵng, Hải Châu\",3,POINT(108.22 16.06)\n";
    let report = accepted(&pool, "layer=data-centres&format=csv&mode=commit", csv).await;
    assert_eq!(report["created"], 1, "{report:#}");
    let name: String = sqlx::query_scalar("select name from data_centres")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "IDC Đà Nẵng, Hải Châu");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn missing_columns_and_unquoted_commas_are_reported_per_row_and_field(pool: PgPool) {
    common::operators(&pool).await;
    // No height_m column: every row lacks it.
    let csv = "external_id,operator,site_code,structure_type,lon,lat\n\
               A-1,viettel,S-1,monopole,108.2,16.05\n\
               A-2,viettel,S-2,monopole,108.21,16.05\n";
    let report = refused(&pool, "layer=towers&format=csv&mode=commit", csv).await;
    assert_eq!(
        problem_places(&report),
        [(1, "height_m".to_owned()), (2, "height_m".to_owned())]
    );
    // An unquoted comma in a name shifts the row; a missing lat is named.
    let csv = "external_id,operator,site_code,name,structure_type,height_m,lon,lat\n\
               B-1,viettel,S-1,Trạm Hải Châu, số 1,monopole,30,108.2,16.05\n\
               B-2,viettel,S-2,Trạm 2,monopole,30,108.2,\n";
    let report = refused(&pool, "layer=towers&format=csv&mode=commit", csv).await;
    let places = problem_places(&report);
    assert!(places.contains(&(1, String::new())), "{report:#}");
    assert!(places.contains(&(2, "lat".to_owned())), "{report:#}");
    // No coordinates at all: the file is refused as a whole.
    let csv = "external_id,operator\nC-1,viettel\n";
    let report = refused(&pool, "layer=towers&format=csv&mode=commit", csv).await;
    assert!(
        report["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("lon and lat")
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geojson_collection_reports_bad_features_by_index_and_pointer(pool: PgPool) {
    common::operators(&pool).await;
    let mut bad = common::tower_feature();
    bad["properties"]["sectors"][0]["azimuth_deg"] = json!(400);
    bad["properties"]["external_id"] = json!("T-2");
    bad["properties"]["site_code"] = json!("TEST-002");
    let mut good = common::tower_feature();
    good["properties"]["external_id"] = json!("T-1");
    let fc = json!({"type": "FeatureCollection", "bbox": [0, 0, 1, 1], "features": [good, bad, {"type": "Point"}]});
    let body = format!("\u{feff}{}", serde_json::to_string_pretty(&fc).unwrap());
    let report = accepted(
        &pool,
        "layer=towers&format=geojson&mode=dry-run",
        body.clone(),
    )
    .await;
    assert_eq!(
        problem_places(&report),
        [
            (1, "/properties/sectors/0/azimuth_deg".to_owned()),
            (2, "/type".to_owned())
        ]
    );
    assert_eq!(
        (report["accepted"].as_u64(), report["rejected"].as_u64()),
        (Some(1), Some(2))
    );
    refused(&pool, "layer=towers&format=geojson&mode=commit", body).await;
    // Truncated JSON is refused with its line and column.
    let report = refused(
        &pool,
        "layer=towers&format=geojson&mode=commit",
        r#"{"type": "FeatureCollection", "features": [{"type": "Feat"#,
    )
    .await;
    assert!(
        report["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("line 1")
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn fibre_routes_import_from_a_wkt_column(pool: PgPool) {
    common::operators(&pool).await;
    let csv = "external_id,operator,name,placement,fibre_count,capacity_gbps,wkt\n\
               F-1,fpt,\"Tuyến Sơn Trà, nhánh 1\",underground,96,100,\"LINESTRING(108.20 16.05, 108.21 16.06)\"\n\
               F-2,fpt,Tuyến 2,aerial,48,,\"MULTILINESTRING((108.20 16.05, 108.21 16.06),(108.22 16.07, 108.23 16.08))\"\n\
               F-3,fpt,Tuyến 3,aerial,48,,LINESTRING(108.20 16.05\n";
    let report = refused(&pool, "layer=fibre-routes&format=csv&mode=commit", csv).await;
    assert_eq!(problem_places(&report), [(3, "wkt".to_owned())]);
    let csv = csv.lines().take(3).collect::<Vec<_>>().join("\n");
    let report = accepted(
        &pool,
        "layer=fibre-routes&format=csv&mode=commit",
        csv.clone(),
    )
    .await;
    assert_eq!(report["created"], 2, "{report:#}");
    let again = accepted(&pool, "layer=fibre-routes&format=csv&mode=commit", csv).await;
    assert_eq!(again["unchanged"], 2, "{again:#}");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_import_for_one_operator_fills_missing_operators_and_refuses_others(pool: PgPool) {
    common::operators(&pool).await;
    let csv = "external_id,operator,site_code,structure_type,height_m,lon,lat\n\
               A-1,,S-1,monopole,30,108.2,16.05\n\
               A-2,mobifone,S-2,monopole,30,108.21,16.05\n";
    let report = refused(
        &pool,
        "layer=towers&format=csv&mode=commit&operator=viettel",
        csv,
    )
    .await;
    assert_eq!(problem_places(&report), [(2, "operator".to_owned())]);
}

const OCID_HEADER: &str =
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal";

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn opencellid_cells_of_one_operator_within_50_m_form_one_site(pool: PgPool) {
    common::operators(&pool).await;
    // Viettel LTE and GSM 11 m apart (one site), VinaPhone at the same place
    // (its own site), MobiFone 300 m away, and a CDMA cell (refused).
    let rows = [
        "LTE,452,04,10,1001,0,108.220000,16.050000,1200,40,1,0,0,0",
        "GSM,452,04,10,2001,0,108.220100,16.050030,0,2,1,0,0,0",
        "NR,452,02,20,3001,0,108.220000,16.050000,800,12,1,0,0,0",
        "UMTS,452,01,30,4001,0,108.222800,16.050000,2500,7,1,0,0,0",
        "CDMA,452,04,10,5001,0,108.220000,16.050000,0,3,1,0,0,0",
    ];
    let file = format!("{OCID_HEADER}\n{}\n", rows.join("\n"));
    let report = refused(&pool, "layer=towers&format=opencellid&mode=commit", file).await;
    assert_eq!(problem_places(&report), [(5, "radio".to_owned())]);
    let file = format!("{OCID_HEADER}\r\n{}\r\n", rows[..4].join("\r\n"));
    let report = accepted(
        &pool,
        "layer=towers&format=opencellid&mode=commit",
        file.clone(),
    )
    .await;
    assert_eq!(
        (report["rows"].as_u64(), report["created"].as_u64()),
        (Some(4), Some(3)),
        "{report:#}"
    );
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("crowd-sourced") && warnings.contains("range"),
        "{warnings}"
    );
    let sectors: Vec<(String, String, String, f64, Option<f64>)> = sqlx::query_as(
        "select t.external_id, s.operator_id, s.technology, s.beamwidth_deg, s.range_m
         from sectors s join towers t on t.id = s.tower_id order by t.external_id, s.technology",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        sectors,
        [
            (
                "OCID-LTE-452-04-10-1001".into(),
                "viettel".into(),
                "2G".into(),
                360.0,
                None
            ),
            (
                "OCID-LTE-452-04-10-1001".into(),
                "viettel".into(),
                "4G".into(),
                360.0,
                Some(1200.0)
            ),
            (
                "OCID-NR-452-02-20-3001".into(),
                "vnpt".into(),
                "5G".into(),
                360.0,
                Some(800.0)
            ),
            (
                "OCID-UMTS-452-01-30-4001".into(),
                "mobifone".into(),
                "3G".into(),
                360.0,
                Some(2500.0)
            ),
        ]
    );
    let again = accepted(&pool, "layer=towers&format=opencellid&mode=commit", file).await;
    assert_eq!(again["unchanged"], 3);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn opencellid_duplicate_cells_and_unknown_networks_are_reported(pool: PgPool) {
    common::operators(&pool).await;
    let file = format!(
        "{OCID_HEADER}\n\
         LTE,452,04,10,1001,0,108.22,16.05,0,5,1,0,0,0\n\
         LTE,452,04,10,1001,0,108.22,16.05,0,5,1,0,0,0\n\
         LTE,452,07,10,1002,0,108.22,16.05,0,5,1,0,0,0\n"
    );
    let report = refused(&pool, "layer=towers&format=opencellid&mode=commit", file).await;
    assert_eq!(
        problem_places(&report),
        [(2, "cell".to_owned()), (3, "net".to_owned())]
    );
    assert!(
        report["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("rows 1 and 2")
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn bad_parameters_are_answered_400(pool: PgPool) {
    for (query, parameter) in [
        ("format=csv", "layer"),
        ("layer=districts&format=csv", "layer"),
        ("layer=towers&format=xml", "format"),
        ("layer=towers&format=csv&mode=maybe", "mode"),
        ("layer=towers&format=csv&limit=3", "limit"),
    ] {
        let p = import(&pool, query, "x").await.problem(400);
        assert_eq!(p["errors"][0]["parameter"], parameter, "{query}: {p}");
    }
    let p = import(&pool, "layer=towers&format=csv&operator=nobody", "x")
        .await
        .problem(400);
    assert!(p["detail"].as_str().unwrap().contains("nobody"), "{p}");
}

// ---------------------------------------------------------------------------
// Export → import → export round trips.
// ---------------------------------------------------------------------------

const LAYERS: [&str; 3] = ["towers", "fibre-routes", "data-centres"];

async fn empty_layers(pool: &PgPool) {
    for table in ["towers", "fibre_routes", "data_centres"] {
        sqlx::query(&format!("delete from {table}"))
            .execute(pool)
            .await
            .unwrap();
    }
}

async fn export_csv(pool: &PgPool, layer: &str) -> Vec<u8> {
    let r = common::get_as(
        pool,
        "analyst",
        &format!("/collections/{layer}/items?f=csv"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "text/csv; charset=utf-8");
    let disposition = r.headers["content-disposition"].to_str().unwrap();
    assert_eq!(disposition, format!("attachment; filename=\"{layer}.csv\""));
    r.body
}

/// A layer as GeoJSON, without what a new database assigns afresh (ids,
/// timestamps, links).
async fn export_geojson(pool: &PgPool, layer: &str) -> (Vec<u8>, Value) {
    let r = common::get_as(
        pool,
        "analyst",
        &format!("/collections/{layer}/items?f=geojson"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/geo+json");
    assert_eq!(
        r.headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"{layer}.geojson\"")
    );
    let mut fc = r.json();
    for k in ["timeStamp", "links"] {
        fc.as_object_mut().unwrap().remove(k);
    }
    for f in fc["features"].as_array_mut().unwrap() {
        f.as_object_mut().unwrap().remove("id");
        let p = f["properties"].as_object_mut().unwrap();
        p.remove("created_at");
        p.remove("updated_at");
        if let Some(Value::Array(sectors)) = p.get_mut("sectors") {
            for s in sectors {
                s.as_object_mut().unwrap().remove("id");
            }
        }
    }
    (r.body, fc)
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_csv_export_imported_into_an_empty_database_exports_the_same_file(pool: PgPool) {
    common::load_sample(&pool, 40).await;
    let mut before = Vec::new();
    for layer in LAYERS {
        before.push(export_csv(&pool, layer).await);
    }
    let lines = String::from_utf8(before[0].clone())
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 41, "a header and every tower, not a page");
    empty_layers(&pool).await;
    for (layer, file) in LAYERS.iter().zip(&before) {
        let report = accepted(
            &pool,
            &format!("layer={layer}&format=csv&mode=commit"),
            file.clone(),
        )
        .await;
        assert_eq!(report["rejected"], 0, "{layer}: {report:#}");
        assert_eq!(report["created"], report["rows"]);
    }
    for (layer, file) in LAYERS.iter().zip(&before) {
        let again = export_csv(&pool, layer).await;
        assert!(again == *file, "{layer}: the second export differs");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geojson_export_imported_into_an_empty_database_exports_the_same_features(pool: PgPool) {
    common::load_sample(&pool, 40).await;
    let mut before = Vec::new();
    for layer in LAYERS {
        before.push(export_geojson(&pool, layer).await);
    }
    empty_layers(&pool).await;
    for (layer, (file, _)) in LAYERS.iter().zip(&before) {
        let report = accepted(
            &pool,
            &format!("layer={layer}&format=geojson&mode=commit"),
            file.clone(),
        )
        .await;
        assert_eq!(report["rejected"], 0, "{layer}: {report:#}");
        assert!(report["created"].as_u64().unwrap() > 0);
        // The same file again changes nothing.
        let again = accepted(
            &pool,
            &format!("layer={layer}&format=geojson&mode=commit"),
            file.clone(),
        )
        .await;
        assert_eq!(again["unchanged"], report["created"], "{layer}: {again:#}");
    }
    for (layer, (_, features)) in LAYERS.iter().zip(&before) {
        let (_, again) = export_geojson(&pool, layer).await;
        assert_eq!(again, *features, "{layer}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_csv_export_honours_filters_and_an_explicit_limit(pool: PgPool) {
    common::load_sample(&pool, 40).await;
    let all: i64 = sqlx::query_scalar("select count(*) from towers where operator_id = 'viettel'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let r = common::get(&pool, "/collections/towers/items?f=csv&operator=viettel").await;
    let text = String::from_utf8(r.body).unwrap();
    assert_eq!(text.lines().count() as i64, all + 1);
    assert!(text.lines().skip(1).all(|l| l.contains(",viettel,")));
    let r = common::get(&pool, "/collections/towers/items?f=csv&limit=5&offset=2").await;
    assert_eq!(String::from_utf8(r.body).unwrap().lines().count(), 6);
    common::get(&pool, "/collections/districts/items?f=csv")
        .await
        .problem(400);
}

/// The rows of a GeoPackage's feature table (every column, geometry blobs
/// as hex), in fid order.
fn gpkg_rows(path: &std::path::Path, table: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(&format!("select * from \"{table}\" order by fid"))
        .unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        let mut line = Vec::new();
        for i in 0..n {
            line.push(format!("{:?}", r.get_ref(i)?));
        }
        Ok(line.join("|"))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

async fn export_gpkg(
    pool: &PgPool,
    layer: &str,
    dir: &std::path::Path,
    name: &str,
) -> std::path::PathBuf {
    let r = common::get_as(
        pool,
        "analyst",
        &format!("/collections/{layer}/items?f=gpkg"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "application/geopackage+sqlite3");
    assert_eq!(
        r.headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"{layer}.gpkg\"")
    );
    let path = dir.join(format!("{name}-{layer}.gpkg"));
    std::fs::write(&path, &r.body).unwrap();
    path
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geopackage_export_opens_in_ogrinfo_and_round_trips_through_an_empty_database(
    pool: PgPool,
) {
    common::load_sample(&pool, 40).await;
    let dir = tempfile::tempdir().unwrap();
    let mut csv_before = Vec::new();
    let mut files = Vec::new();
    for layer in LAYERS {
        csv_before.push(export_csv(&pool, layer).await);
        let path = export_gpkg(&pool, layer, dir.path(), "a").await;
        let table = layer.replace('-', "_");
        let count: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        let out = std::process::Command::new("ogrinfo")
            .args(["-ro", "-so", path.to_str().unwrap(), &table])
            .output()
            .expect("ogrinfo runs (gdal-bin)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(&format!("Feature Count: {count}")), "{text}");
        assert!(
            text.contains("EPSG\",4326") || text.contains("WGS 84"),
            "{text}"
        );
        files.push(path);
    }
    empty_layers(&pool).await;
    for (layer, path) in LAYERS.iter().zip(&files) {
        let report = accepted(
            &pool,
            &format!("layer={layer}&format=gpkg&mode=commit"),
            std::fs::read(path).unwrap(),
        )
        .await;
        assert_eq!(report["rejected"], 0, "{layer}: {report:#}");
        assert_eq!(report["created"], report["rows"]);
    }
    for ((layer, path), csv) in LAYERS.iter().zip(&files).zip(&csv_before) {
        assert!(
            export_csv(&pool, layer).await == *csv,
            "{layer}: CSV differs"
        );
        let again = export_gpkg(&pool, layer, dir.path(), "b").await;
        let table = layer.replace('-', "_");
        assert_eq!(
            gpkg_rows(&again, &table),
            gpkg_rows(path, &table),
            "{layer}"
        );
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geopackage_written_by_gdal_imports_as_unchanged(pool: PgPool) {
    common::load_sample(&pool, 30).await;
    let dir = tempfile::tempdir().unwrap();
    for layer in LAYERS {
        let (geojson, _) = export_geojson(&pool, layer).await;
        let src = dir.path().join(format!("{layer}.geojson"));
        let dst = dir.path().join(format!("{layer}.gpkg"));
        std::fs::write(&src, geojson).unwrap();
        let out = std::process::Command::new("ogr2ogr")
            .args(["-f", "GPKG", dst.to_str().unwrap(), src.to_str().unwrap()])
            .output()
            .expect("ogr2ogr runs (gdal-bin)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = accepted(
            &pool,
            &format!("layer={layer}&format=gpkg&mode=dry-run"),
            std::fs::read(&dst).unwrap(),
        )
        .await;
        assert_eq!(report["rejected"], 0, "{layer}: {report:#}");
        assert_eq!(report["unchanged"], report["rows"], "{layer}: {report:#}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_multipart_upload_imports_like_a_raw_body(pool: PgPool) {
    common::operators(&pool).await;
    let boundary = "tgis-boundary-7";
    let csv = towers_csv(3);
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"towers.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
    );
    let state = AppState::new(pool.clone());
    let r = common::send_to(
        &state,
        Method::POST,
        "/imports?layer=towers&format=csv&mode=commit",
        Some((
            &format!("multipart/form-data; boundary={boundary}"),
            body.into_bytes(),
        )),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["created"], 3);
    let without_file = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--{boundary}--\r\n"
    );
    let r = common::send_to(
        &state,
        Method::POST,
        "/imports?layer=towers&format=csv&mode=commit",
        Some((
            &format!("multipart/form-data; boundary={boundary}"),
            without_file.into_bytes(),
        )),
    )
    .await;
    r.problem(400);
}

/// Runs the `telecom-gis` binary against the test database.
fn cli(pool: &PgPool, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_telecom-gis"))
        .args(args)
        .env("DATABASE_URL", common::process::database_url_of(pool))
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_cli_generates_imports_and_exports_an_opencellid_file(pool: PgPool) {
    common::operators(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cells.csv");
    let f = file.to_str().unwrap();
    let out = cli(
        &pool,
        &[
            "generate-opencellid",
            "--rows",
            "2000",
            "--seed",
            "5",
            "--out",
            f,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = fingerprint(&pool).await;
    let out = cli(
        &pool,
        &[
            "import",
            f,
            "--layer",
            "towers",
            "--format",
            "opencellid",
            "--dry-run",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("rows       2000") && text.contains("committed  false"),
        "{text}"
    );
    assert_eq!(
        fingerprint(&pool).await,
        before,
        "a dry run stored something"
    );
    let out = cli(
        &pool,
        &["import", f, "--layer", "towers", "--format", "opencellid"],
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("committed  true"), "{text}");
    let sectors: i64 = sqlx::query_scalar("select count(*) from sectors")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sectors, 2000);
    // Viettel's cells only: the others are refused, so nothing is stored.
    let before = fingerprint(&pool).await;
    let out = cli(
        &pool,
        &[
            "import",
            f,
            "--layer",
            "towers",
            "--format",
            "opencellid",
            "--operator",
            "viettel",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing was stored"));
    assert_eq!(fingerprint(&pool).await, before);
    let gpkg = dir.path().join("towers.gpkg");
    let out = cli(
        &pool,
        &[
            "export",
            "--layer",
            "towers",
            "--format",
            "gpkg",
            "--out",
            gpkg.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let towers: i64 = sqlx::query_scalar("select count(*) from towers")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(gpkg_rows(&gpkg, "towers").len() as i64, towers);
}

#[sqlx::test]
async fn committed_imports_are_counted_in_the_metrics_and_dry_runs_are_not(pool: PgPool) {
    common::operators(&pool).await;
    let state = AppState::new(pool.clone());
    let post = |query: &'static str, body: String| {
        let state = state.clone();
        async move {
            common::send_to(
                &state,
                Method::POST,
                &format!("/imports?{query}"),
                Some(("text/csv", body.into_bytes())),
            )
            .await
        }
    };
    let count = || {
        let state = state.clone();
        async move {
            let text = String::from_utf8(
                common::send_to(&state, Method::GET, "/metrics", None)
                    .await
                    .body,
            )
            .unwrap();
            text.lines()
                .find(|l| l.starts_with("telecom_gis_imports_total"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        }
    };
    assert_eq!(
        post("layer=towers&format=csv&mode=dry-run", towers_csv(3))
            .await
            .status,
        200
    );
    assert_eq!(count().await, 0.0);
    assert_eq!(
        post("layer=towers&format=csv&mode=commit", towers_csv(3))
            .await
            .status,
        200
    );
    assert_eq!(count().await, 1.0);
}
