//! The OGC API – Features capabilities: landing page, conformance,
//! collections, queryables and the OpenAPI document.

use axum::http::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::common;
use crate::common::{get, load_sample, send};

fn link<'a>(doc: &'a Value, rel: &str) -> &'a Value {
    doc["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == rel)
        .unwrap_or_else(|| panic!("no {rel} link in {doc}"))
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_landing_page_links_the_api_conformance_and_data_absolutely(pool: PgPool) {
    let r = get(&pool, "/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/json");
    let doc = r.json();
    assert_eq!(link(&doc, "service-desc")["href"], "http://test.local/api");
    assert_eq!(
        link(&doc, "service-desc")["type"],
        "application/vnd.oai.openapi+json;version=3.0"
    );
    assert_eq!(
        link(&doc, "conformance")["href"],
        "http://test.local/conformance"
    );
    assert_eq!(link(&doc, "data")["href"], "http://test.local/collections");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn conformance_declares_core_geojson_oas30_and_part_4(pool: PgPool) {
    let doc = get(&pool, "/conformance").await.json();
    let classes: Vec<&str> = doc["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for c in [
        "conf/core",
        "conf/geojson",
        "conf/oas30",
        "ogcapi-features-4/1.0/conf/create-replace-delete",
        "ogcapi-features-4/1.0/conf/update",
    ] {
        assert!(
            classes.iter().any(|k| k.ends_with(c) || k.contains(c)),
            "missing {c}"
        );
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn collections_list_every_layer_with_extents_and_item_links(pool: PgPool) {
    load_sample(&pool, 30).await;
    let doc = get(&pool, "/collections").await.json();
    let ids: Vec<&str> = doc["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "towers",
            "fibre-routes",
            "data-centres",
            "districts",
            "structures",
            "duct-banks"
        ]
    );
    let (w, s, e, n): (f64, f64, f64, f64) =
        sqlx::query_as("select ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) from (select ST_Extent(geom) x from towers) q")
            .fetch_one(&pool)
            .await
            .unwrap();
    let towers = get(&pool, "/collections/towers").await.json();
    assert_eq!(
        towers["extent"]["spatial"]["bbox"][0],
        serde_json::json!([w, s, e, n])
    );
    assert_eq!(
        link(&towers, "items")["href"],
        "http://test.local/collections/towers/items"
    );
    assert_eq!(link(&towers, "items")["type"], "application/geo+json");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn queryables_describe_the_filterable_properties(pool: PgPool) {
    let r = get(&pool, "/collections/towers/queryables").await;
    assert_eq!(r.content_type, "application/schema+json");
    let doc = r.json();
    assert_eq!(
        doc["properties"]["technology"]["enum"],
        serde_json::json!(["2G", "3G", "4G", "5G"])
    );
    assert!(doc["properties"]["operator"].is_object());
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_openapi_document_is_version_3_0_and_documents_every_endpoint(pool: PgPool) {
    let r = get(&pool, "/api").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.0"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/",
        "/conformance",
        "/collections",
        "/collections/{collectionId}",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/items/{featureId}",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    let item = &paths["/collections/{collectionId}/items/{featureId}"];
    for m in ["get", "put", "patch", "delete"] {
        assert!(item.get(m).is_some(), "missing {m}");
    }
    let limit = paths["/collections/{collectionId}/items"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["maximum"], 10000);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn operators_are_listed_with_mobile_network_codes(pool: PgPool) {
    load_sample(&pool, 5).await;
    let doc = get(&pool, "/operators").await.json();
    let viettel = doc["operators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "viettel")
        .unwrap();
    assert_eq!(viettel["mcc"], 452);
    assert_eq!(viettel["mnc"], 4);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn unsupported_methods_and_parameters_answer_problems(pool: PgPool) {
    send(&pool, Method::DELETE, "/collections", None)
        .await
        .problem(405);
    send(&pool, Method::POST, "/conformance", None)
        .await
        .problem(405);
    let p = get(&pool, "/collections?foo=1").await.problem(400);
    assert_eq!(p["errors"][0]["parameter"], "foo");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_liveness_probe_answers_ok(pool: PgPool) {
    let r = get(&pool, "/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(String::from_utf8_lossy(&r.body).trim(), "ok");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_browser_gets_the_web_page_and_a_client_the_landing_json(pool: PgPool) {
    let mut state = telecom_gis::AppState::new(pool.clone());
    state.web_dir = Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("web"));
    let page = common::send_with_headers(
        &state,
        Method::GET,
        "/",
        None,
        &[("accept", "text/html,application/xhtml+xml")],
    )
    .await;
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    assert!(String::from_utf8_lossy(&page.body).contains("Đà Nẵng"));
    let json = common::send_to(&state, Method::GET, "/?f=json", None).await;
    assert_eq!(json.content_type, "application/json");
}
