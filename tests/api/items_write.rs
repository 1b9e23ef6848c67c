//! Writing features through `/collections/{collectionId}/items` (OGC API –
//! Features Part 4): round trips per collection, one test per validation
//! rule (status, problem+json body, pointer to the offending place, nothing
//! stored), and a deterministic fuzz of hostile tower features.

use crate::common;
use crate::common::{Reply, fingerprint, get, send, send_json, send_raw, token};
use axum::http::{Method, header};
use serde_json::{Value, json};
use sqlx::PgPool;

/// Scheme and host of every link and `Location` (the helpers send `Host: test.local`).
const BASE: &str = "http://test.local";
const MERGE_PATCH: &str = "application/merge-patch+json";

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Sends `method uri` with a GeoJSON body and one extra request header.
async fn send_with_header(
    pool: &PgPool,
    method: Method,
    uri: &str,
    extra: (&str, &str),
    body: &Value,
) -> Reply {
    let state = telecom_gis::AppState::new(pool.clone());
    let body = Some(("application/geo+json", serde_json::to_vec(body).unwrap()));
    common::send_with_headers(&state, method, uri, body, &[extra]).await
}

/// `PATCH uri` with a JSON merge patch.
async fn send_patch(pool: &PgPool, uri: &str, patch: &Value) -> Reply {
    send(
        pool,
        Method::PATCH,
        uri,
        Some((MERGE_PATCH, serde_json::to_vec(patch).unwrap())),
    )
    .await
}

/// The path of an absolute URL of this service.
fn path_of(url: &str) -> &str {
    url.strip_prefix(BASE)
        .unwrap_or_else(|| panic!("{url} is not an absolute URL of {BASE}"))
}

/// POSTs `feature` to collection `c`, asserts a correct 201, and returns
/// the path of the new feature and the stored feature.
async fn create(pool: &PgPool, c: &str, feature: &Value) -> (String, Value) {
    let r = send_json(
        pool,
        Method::POST,
        &format!("/collections/{c}/items"),
        feature,
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "application/geo+json");
    let body = r.json();
    let id = match &body["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let location = r
        .headers
        .get(header::LOCATION)
        .expect("Location header")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        location.starts_with("http://") || location.starts_with("https://"),
        "Location {location} is not absolute"
    );
    assert!(
        location.ends_with(&format!("/collections/{c}/items/{id}")),
        "Location {location} does not name feature {id}"
    );
    (path_of(&location).to_owned(), body)
}

/// The JSON Pointers named in a problem's `errors`.
fn pointers(p: &Value) -> Vec<String> {
    p["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["pointer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The `errors` item naming `pointer` (panics with the problem when absent).
fn error_at<'a>(p: &'a Value, pointer: &str) -> &'a Value {
    p["errors"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["pointer"] == pointer))
        .unwrap_or_else(|| panic!("no error at {pointer} in {p:#}"))
}

/// Sends a request that must be refused with `status`, and asserts that
/// nothing stored changed. Returns the problem document.
async fn refused(
    pool: &PgPool,
    method: Method,
    uri: &str,
    body: Option<(&str, Vec<u8>)>,
    status: u16,
) -> Value {
    let before = fingerprint(pool).await;
    let r = send(pool, method, uri, body).await;
    let p = r.problem(status);
    assert_eq!(
        fingerprint(pool).await,
        before,
        "a refused request changed stored data: {p:#}"
    );
    p
}

/// `refused` with a JSON body of type `application/geo+json`.
async fn refused_json(
    pool: &PgPool,
    method: Method,
    uri: &str,
    body: &Value,
    status: u16,
) -> Value {
    refused(
        pool,
        method,
        uri,
        Some(("application/geo+json", serde_json::to_vec(body).unwrap())),
        status,
    )
    .await
}

/// POSTs `feature` to `c`; asserts 422 with an error at every one of
/// `expected` pointers and that nothing was stored. Returns the problem.
async fn invalid(pool: &PgPool, c: &str, feature: &Value, expected: &[&str]) -> Value {
    let p = refused_json(
        pool,
        Method::POST,
        &format!("/collections/{c}/items"),
        feature,
        422,
    )
    .await;
    assert_eq!(p["type"], "tag:telecom-gis,2026:invalid-feature");
    let got = pointers(&p);
    for e in expected {
        assert!(
            got.iter().any(|g| g == e),
            "expected an error at {e}, got {got:?}: {p:#}"
        );
    }
    p
}

/// A tower feature changed by `f`.
fn tower_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut t = common::tower_feature();
    f(&mut t);
    t
}

/// Asserts that every member of `expected` is in `actual` with an equal
/// value (numbers compared as f64; arrays element-wise, same length).
fn assert_subset(expected: &Value, actual: &Value, at: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let sub = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}/{k} is missing from {actual}"));
                assert_subset(v, sub, &format!("{at}/{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            assert_eq!(e.len(), a.len(), "{at}: {expected} vs {actual}");
            for (i, (x, y)) in e.iter().zip(a).enumerate() {
                assert_subset(x, y, &format!("{at}/{i}"));
            }
        }
        (Value::Number(x), Value::Number(y)) => assert_eq!(x.as_f64(), y.as_f64(), "{at}"),
        _ => assert_eq!(expected, actual, "{at}"),
    }
}

/// Twice the signed area of a ring (shoelace): positive when counter-clockwise.
fn signed_area(ring: &Value) -> f64 {
    let pts: Vec<(f64, f64)> = ring
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    pts.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum()
}

/// Great-circle length of a lon/lat polyline on a sphere of the WGS84 mean radius, metres.
fn haversine_length(coords: &Value) -> f64 {
    let pts: Vec<(f64, f64)> = coords
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
        .collect();
    pts.windows(2)
        .map(|w| {
            let (lon1, lat1, lon2, lat2) = (
                w[0].0.to_radians(),
                w[0].1.to_radians(),
                w[1].0.to_radians(),
                w[1].1.to_radians(),
            );
            let a = ((lat2 - lat1) / 2.0).sin().powi(2)
                + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
            2.0 * 6_371_008.8 * a.sqrt().asin()
        })
        .sum()
}

/// Asserts that `after` equals `before` except for `properties.updated_at`
/// and the members of `changed` (which must hold the given values).
fn assert_only_changed(before: &Value, after: &Value, changed: &Value) {
    let mut expected = before.clone();
    let mut actual = after.clone();
    for (k, v) in changed.as_object().unwrap() {
        assert_subset(v, &actual["properties"][k], &format!("/properties/{k}"));
        expected["properties"][k] = actual["properties"][k].clone();
    }
    expected["properties"]["updated_at"] = Value::Null;
    actual["properties"]["updated_at"] = Value::Null;
    assert_eq!(expected, actual, "a PATCH changed more than {changed}");
}

// ---------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_tower_round_trips_through_post_get_put_patch_and_delete(pool: PgPool) {
    common::operators(&pool).await;
    let submitted = common::tower_feature();

    // POST: 201, Location, the stored feature echoed.
    let (path, created) = create(&pool, "towers", &submitted).await;
    assert_eq!(created["type"], "Feature");
    assert_subset(&submitted["geometry"], &created["geometry"], "/geometry");
    assert_subset(
        &submitted["properties"],
        &created["properties"],
        "/properties",
    );
    assert_eq!(created["properties"]["mast_class"], "type_1");
    let id = created["id"].as_i64().expect("numeric tower id");
    let sector_ids: Vec<i64> = created["properties"]["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(sector_ids.len(), 2);

    // GET the Location: the same feature.
    let r = get(&pool, &path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/geo+json");
    assert_eq!(r.json(), created);

    // PUT: keep sector 0 (by id, changed), drop sector 1, add a new sector.
    let mut put = submitted.clone();
    put["id"] = json!(id);
    put["geometry"]["coordinates"] = json!([108.2301, 16.0502]);
    put["properties"]["height_m"] = json!(42.5);
    put["properties"]["name"] = json!("Hải Châu (đã nâng cấp)");
    let mut kept = submitted["properties"]["sectors"][0].clone();
    kept["id"] = json!(sector_ids[0]);
    kept["azimuth_deg"] = json!(10);
    let added = json!({
        "operator": "viettel", "technology": "2G", "frequency_mhz": 900, "azimuth_deg": 240,
        "beamwidth_deg": 65, "tilt_deg": 2, "height_m": 25, "eirp_dbm": 58
    });
    put["properties"]["sectors"] = json!([kept, added]);
    let r = send_json(&pool, Method::PUT, &path, &put).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "application/geo+json");
    let replaced = r.json();
    assert_eq!(replaced["id"], json!(id));
    assert_subset(&put["geometry"], &replaced["geometry"], "/geometry");
    assert_subset(&put["properties"], &replaced["properties"], "/properties");
    let sectors = replaced["properties"]["sectors"].as_array().unwrap();
    assert_eq!(
        sectors[0]["id"],
        json!(sector_ids[0]),
        "a sector sent with its id keeps it"
    );
    let new_id = sectors[1]["id"].as_i64().unwrap();
    assert!(
        !sector_ids.contains(&new_id),
        "a sector without id gets a new one"
    );
    let stored: Vec<i64> = sqlx::query_scalar("select id from sectors order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        stored,
        vec![sector_ids[0], new_id],
        "the sector left out of the PUT is deleted"
    );
    assert_eq!(get(&pool, &path).await.json(), replaced);

    // PATCH: only status changes.
    let r = send_patch(&pool, &path, &json!({"properties": {"status": "retired"}})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.content_type, "application/geo+json");
    let patched = r.json();
    assert_only_changed(&replaced, &patched, &json!({"status": "retired"}));
    assert_eq!(get(&pool, &path).await.json(), patched);

    // DELETE: 204, then 404; sectors and tenants go with the tower.
    let r = send(&pool, Method::DELETE, &path, None).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    get(&pool, &path).await.problem(404);
    let children: i64 = sqlx::query_scalar(
        "select (select count(*) from sectors) + (select count(*) from tower_tenants)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(children, 0);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_fibre_route_round_trips_with_its_geodesic_length_computed(pool: PgPool) {
    common::operators(&pool).await;
    let submitted = common::fibre_feature();
    let length_in_db = |pool: PgPool| async move {
        sqlx::query_scalar::<_, f64>("select ST_Length(geom::geography) from fibre_routes")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    let (path, created) = create(&pool, "fibre-routes", &submitted).await;
    assert_subset(&submitted["geometry"], &created["geometry"], "/geometry");
    assert_subset(
        &submitted["properties"],
        &created["properties"],
        "/properties",
    );
    let length = created["properties"]["length_m"]
        .as_f64()
        .expect("length_m");
    let db_length = length_in_db(pool.clone()).await;
    assert!(
        (length - db_length).abs() <= 0.05 + 1e-9,
        "length_m {length} vs ST_Length {db_length}"
    );
    let sphere = haversine_length(&submitted["geometry"]["coordinates"]);
    assert!(
        (length - sphere).abs() / sphere < 0.01,
        "length_m {length} is far from the great-circle length {sphere}"
    );

    // Exact routes are for analysts, admins and the owner (the public gets
    // the generalised layer: tests/api/access.rs).
    let analyst = format!("Bearer {}", token(&pool, "analyst", None).await);
    let state = telecom_gis::AppState::loaded(pool.clone()).await.unwrap();
    let read = send_raw(
        &state,
        Method::GET,
        &path,
        None,
        &[("authorization", &analyst)],
    )
    .await;
    assert_eq!(read.json(), created);

    let mut put = submitted.clone();
    put["geometry"]["coordinates"] = json!([
        [108.20, 16.05],
        [108.21, 16.06],
        [108.22, 16.06],
        [108.23, 16.08]
    ]);
    put["properties"]["fibre_count"] = json!(144);
    put["properties"]["placement"] = json!("aerial");
    let r = send_json(&pool, Method::PUT, &path, &put).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let replaced = r.json();
    assert_subset(&put["geometry"], &replaced["geometry"], "/geometry");
    assert_subset(&put["properties"], &replaced["properties"], "/properties");
    let new_length = replaced["properties"]["length_m"].as_f64().unwrap();
    let db_length = length_in_db(pool.clone()).await;
    assert!(
        (new_length - db_length).abs() <= 0.05 + 1e-9,
        "length_m {new_length} vs ST_Length {db_length}"
    );
    assert!(
        new_length > length,
        "the longer route has a longer length_m"
    );

    let r = send_patch(&pool, &path, &json!({"properties": {"status": "retired"}})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let patched = r.json();
    assert_only_changed(&replaced, &patched, &json!({"status": "retired"}));
    let read = send_raw(
        &state,
        Method::GET,
        &path,
        None,
        &[("authorization", &analyst)],
    )
    .await;
    assert_eq!(read.json(), patched);

    assert_eq!(send(&pool, Method::DELETE, &path, None).await.status, 204);
    get(&pool, &path).await.problem(404);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_data_centre_round_trips_and_a_clockwise_footprint_comes_back_counter_clockwise(
    pool: PgPool,
) {
    common::operators(&pool).await;
    let submitted = common::data_centre_feature();

    let (path, created) = create(&pool, "data-centres", &submitted).await;
    assert_subset(
        &submitted["properties"],
        &created["properties"],
        "/properties",
    );
    assert_eq!(created["geometry"]["type"], "Polygon");
    assert!(signed_area(&created["geometry"]["coordinates"][0]) > 0.0);
    assert_eq!(get(&pool, &path).await.json(), created);

    // A clockwise exterior ring (RFC 7946 wants counter-clockwise).
    let clockwise = json!([[
        [108.3, 16.1],
        [108.3, 16.102],
        [108.302, 16.102],
        [108.302, 16.1],
        [108.3, 16.1]
    ]]);
    assert!(signed_area(&clockwise[0]) < 0.0);
    let mut put = submitted.clone();
    put["geometry"]["coordinates"] = clockwise.clone();
    put["properties"]["tier"] = json!(4);
    put["properties"]["racks"] = json!(450);
    let r = send_json(&pool, Method::PUT, &path, &put).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let replaced = r.json();
    assert_subset(&put["properties"], &replaced["properties"], "/properties");
    let ring = &replaced["geometry"]["coordinates"][0];
    assert!(
        signed_area(ring) > 0.0,
        "the exterior ring comes back counter-clockwise: {ring}"
    );
    let mut got: Vec<String> = ring
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect();
    let mut sent: Vec<String> = clockwise[0]
        .as_array()
        .unwrap()
        .iter()
        .map(Value::to_string)
        .collect();
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "same vertices");

    let r = send_patch(&pool, &path, &json!({"properties": {"status": "retired"}})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let patched = r.json();
    assert_only_changed(&replaced, &patched, &json!({"status": "retired"}));
    assert_eq!(get(&pool, &path).await.json(), patched);

    assert_eq!(send(&pool, Method::DELETE, &path, None).await.status, 204);
    get(&pool, &path).await.problem(404);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_district_round_trips_with_its_area_computed_and_rings_counter_clockwise(pool: PgPool) {
    let mut submitted = common::district_feature();
    // Submitted clockwise.
    submitted["geometry"]["coordinates"] = json!([[
        [108.0, 16.0],
        [108.0, 16.01],
        [108.01, 16.01],
        [108.01, 16.0],
        [108.0, 16.0]
    ]]);
    let area_in_db = |pool: PgPool| async move {
        sqlx::query_scalar::<_, f64>("select ST_Area(geom::geography) / 1e6 from districts")
            .fetch_one(&pool)
            .await
            .unwrap()
    };

    let (path, created) = create(&pool, "districts", &submitted).await;
    assert_eq!(path, "/collections/districts/items/T01");
    assert_eq!(created["id"], "T01");
    assert_subset(
        &submitted["properties"],
        &created["properties"],
        "/properties",
    );
    assert_eq!(created["properties"]["name_ascii"], "Khu thu nghiem");
    assert_eq!(created["geometry"]["type"], "MultiPolygon");
    let ring = &created["geometry"]["coordinates"][0][0];
    assert!(
        signed_area(ring) > 0.0,
        "a polygon submitted clockwise comes back counter-clockwise: {ring}"
    );
    let area = created["properties"]["area_km2"]
        .as_f64()
        .expect("area_km2");
    let db_area = area_in_db(pool.clone()).await;
    assert!(
        (area - db_area).abs() <= 0.0005 + 1e-12,
        "area_km2 {area} vs ST_Area {db_area}"
    );
    assert!(
        (1.15..1.25).contains(&area),
        "a 0.01° square near 16°N is about 1.2 km², got {area}"
    );
    assert_eq!(get(&pool, &path).await.json(), created);

    let mut put = submitted.clone();
    put["id"] = json!("T01");
    put["geometry"]["coordinates"] = json!([[
        [108.0, 16.0],
        [108.02, 16.0],
        [108.02, 16.02],
        [108.0, 16.02],
        [108.0, 16.0]
    ]]);
    put["properties"]["name"] = json!("Khu thử nghiệm mở rộng");
    put["properties"]["population"] = json!(4200);
    let r = send_json(&pool, Method::PUT, &path, &put).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let replaced = r.json();
    assert_subset(&put["properties"], &replaced["properties"], "/properties");
    assert_eq!(
        replaced["properties"]["name_ascii"],
        "Khu thu nghiem mo rong"
    );
    let new_area = replaced["properties"]["area_km2"].as_f64().unwrap();
    let db_area = area_in_db(pool.clone()).await;
    assert!(
        (new_area - db_area).abs() <= 0.0005 + 1e-12,
        "area_km2 {new_area} vs ST_Area {db_area}"
    );
    assert!(
        new_area > 3.0 * area,
        "four times the square, about four times the area"
    );

    let r = send_patch(&pool, &path, &json!({"properties": {"population": 5000}})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let patched = r.json();
    assert_only_changed(&replaced, &patched, &json!({"population": 5000}));
    assert_eq!(get(&pool, &path).await.json(), patched);

    assert_eq!(send(&pool, Method::DELETE, &path, None).await.status, 204);
    get(&pool, &path).await.problem(404);
}

// ---------------------------------------------------------------------------
// 2. Validation: geometry
// ---------------------------------------------------------------------------

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_point_posted_to_fibre_routes_is_rejected_at_the_geometry_type(pool: PgPool) {
    common::operators(&pool).await;
    let mut f = common::fibre_feature();
    f["geometry"] = json!({"type": "Point", "coordinates": [108.2, 16.05]});
    let p = invalid(&pool, "fibre-routes", &f, &["/geometry/type"]).await;
    assert!(
        error_at(&p, "/geometry/type")["detail"]
            .as_str()
            .unwrap()
            .contains("LineString"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_line_string_posted_to_towers_is_rejected_at_the_geometry_type(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| {
        t["geometry"] =
            json!({"type": "LineString", "coordinates": [[108.2, 16.05], [108.21, 16.06]]});
    });
    let p = invalid(&pool, "towers", &t, &["/geometry/type"]).await;
    assert!(
        error_at(&p, "/geometry/type")["detail"]
            .as_str()
            .unwrap()
            .contains("Point"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_longitude_of_181_is_rejected_at_the_first_coordinate(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["geometry"]["coordinates"] = json!([181.0, 16.05]));
    let p = invalid(&pool, "towers", &t, &["/geometry/coordinates/0"]).await;
    assert!(
        error_at(&p, "/geometry/coordinates/0")["detail"]
            .as_str()
            .unwrap()
            .contains("181"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_latitude_of_minus_91_is_rejected_at_the_second_coordinate(pool: PgPool) {
    common::operators(&pool).await;
    // In a line string, the offending position is named too.
    let mut f = common::fibre_feature();
    f["geometry"]["coordinates"][1] = json!([108.21, -91.0]);
    let p = invalid(&pool, "fibre-routes", &f, &["/geometry/coordinates/1/1"]).await;
    assert!(
        error_at(&p, "/geometry/coordinates/1/1")["detail"]
            .as_str()
            .unwrap()
            .contains("-91"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn swapped_latitude_and_longitude_are_rejected_with_a_hint(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["geometry"]["coordinates"] = json!([16.0471, 108.2208]));
    let p = invalid(&pool, "towers", &t, &["/geometry/coordinates/1"]).await;
    assert!(
        error_at(&p, "/geometry/coordinates/1")["detail"]
            .as_str()
            .unwrap()
            .contains("swapped"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_ring_that_is_not_closed_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let mut d = common::data_centre_feature();
    d["geometry"]["coordinates"] = json!([[
        [108.2, 16.0],
        [108.201, 16.0],
        [108.201, 16.001],
        [108.2, 16.001]
    ]]);
    let p = invalid(&pool, "data-centres", &d, &["/geometry/coordinates/0"]).await;
    assert!(
        error_at(&p, "/geometry/coordinates/0")["detail"]
            .as_str()
            .unwrap()
            .contains("not closed"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_ring_with_fewer_than_four_positions_is_rejected(pool: PgPool) {
    let mut d = common::district_feature();
    d["geometry"]["coordinates"] = json!([[[108.0, 16.0], [108.01, 16.0], [108.0, 16.0]]]);
    let p = invalid(&pool, "districts", &d, &["/geometry/coordinates/0"]).await;
    assert!(
        error_at(&p, "/geometry/coordinates/0")["detail"]
            .as_str()
            .unwrap()
            .contains('4'),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_bow_tie_polygon_is_rejected_with_the_lon_lat_of_the_crossing(pool: PgPool) {
    let mut d = common::district_feature();
    d["geometry"]["coordinates"] = json!([[
        [108.0, 16.0],
        [108.02, 16.02],
        [108.02, 16.0],
        [108.0, 16.02],
        [108.0, 16.0]
    ]]);
    let p = invalid(&pool, "districts", &d, &["/geometry/coordinates/0"]).await;
    let detail = error_at(&p, "/geometry/coordinates/0")["detail"]
        .as_str()
        .unwrap();
    assert!(
        detail.contains("lon 108.0100000") && detail.contains("lat 16.0100000"),
        "{detail}"
    );
    assert!(
        p["detail"].as_str().unwrap().contains("108.01"),
        "the summary names the crossing too: {p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_hole_outside_the_shell_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let mut d = common::data_centre_feature();
    d["geometry"]["coordinates"] = json!([
        [
            [108.2, 16.0],
            [108.201, 16.0],
            [108.201, 16.001],
            [108.2, 16.001],
            [108.2, 16.0]
        ],
        [
            [108.3, 16.3],
            [108.3, 16.301],
            [108.301, 16.301],
            [108.301, 16.3],
            [108.3, 16.3]
        ]
    ]);
    let p = invalid(&pool, "data-centres", &d, &["/geometry/coordinates"]).await;
    assert!(
        error_at(&p, "/geometry/coordinates")["detail"]
            .as_str()
            .unwrap()
            .contains("exterior"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]

async fn a_hole_that_cuts_the_polygon_in_two_is_rejected_not_a_server_error(pool: PgPool) {
    // The hole touches the shell at (108, 16.02) and (108.04, 16.02): both
    // rings are simple, but the interior falls apart (PostGIS: "Interior is
    // disconnected"), which the table's ST_IsValid check refuses.
    let mut d = common::district_feature();
    d["geometry"]["coordinates"] = json!([
        [
            [108.0, 16.0],
            [108.04, 16.0],
            [108.04, 16.04],
            [108.0, 16.04],
            [108.0, 16.0]
        ],
        [
            [108.0, 16.02],
            [108.02, 16.03],
            [108.04, 16.02],
            [108.02, 16.01],
            [108.0, 16.02]
        ]
    ]);
    invalid(&pool, "districts", &d, &["/geometry/coordinates"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_crs_member_naming_web_mercator_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| {
        t["crs"] = json!({"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}});
    });
    let p = invalid(&pool, "towers", &t, &["/crs"]).await;
    assert!(
        error_at(&p, "/crs")["detail"]
            .as_str()
            .unwrap()
            .contains("3857"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_content_crs_header_naming_web_mercator_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let before = fingerprint(&pool).await;
    let crs = (
        "Content-Crs",
        "<http://www.opengis.net/def/crs/EPSG/0/3857>",
    );
    let r = send_with_header(
        &pool,
        Method::POST,
        "/collections/towers/items",
        crs,
        &common::tower_feature(),
    )
    .await;
    let p = r.problem(400);
    assert_eq!(p["errors"][0]["header"], "Content-Crs", "{p:#}");
    assert!(p["detail"].as_str().unwrap().contains("3857"), "{p:#}");
    assert_eq!(fingerprint(&pool).await, before);
    // The default CRS named explicitly is fine.
    let crs84 = (
        "Content-Crs",
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>",
    );
    let r = send_with_header(
        &pool,
        Method::POST,
        "/collections/towers/items",
        crs84,
        &common::tower_feature(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

// ---------------------------------------------------------------------------
// 2. Validation: tower and sector properties
// ---------------------------------------------------------------------------

/// POSTs the example tower with sector 0's `key` set to each of `values`;
/// each must be refused with an error at that member.
async fn sector_value_rejected(pool: &PgPool, key: &str, values: &[Value]) {
    common::operators(pool).await;
    for v in values {
        let t = tower_with(|t| t["properties"]["sectors"][0][key] = v.clone());
        let p = invalid(
            pool,
            "towers",
            &t,
            &[&format!("/properties/sectors/0/{key}")],
        )
        .await;
        assert_eq!(pointers(&p).len(), 1, "only {key} = {v} is wrong: {p:#}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_azimuth_of_360_5_or_minus_1_is_rejected(pool: PgPool) {
    sector_value_rejected(&pool, "azimuth_deg", &[json!(360.5), json!(-1)]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_beamwidth_of_0_or_361_is_rejected(pool: PgPool) {
    sector_value_rejected(&pool, "beamwidth_deg", &[json!(0), json!(361)]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_sector_height_of_301_is_rejected(pool: PgPool) {
    sector_value_rejected(&pool, "height_m", &[json!(301)]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_tilt_of_91_degrees_is_rejected(pool: PgPool) {
    sector_value_rejected(&pool, "tilt_deg", &[json!(91)]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_eirp_of_120_dbm_is_rejected(pool: PgPool) {
    sector_value_rejected(&pool, "eirp_dbm", &[json!(120)]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_unknown_technology_is_rejected(pool: PgPool) {
    sector_value_rejected(&pool, "technology", &[json!("6G")]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_frequency_outside_the_technology_bands_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    for (tech, mhz) in [("2G", 3500.0), ("4G", 100.0)] {
        let t = tower_with(|t| {
            t["properties"]["sectors"][0]["technology"] = json!(tech);
            t["properties"]["sectors"][0]["frequency_mhz"] = json!(mhz);
        });
        let p = invalid(
            &pool,
            "towers",
            &t,
            &["/properties/sectors/0/frequency_mhz"],
        )
        .await;
        let detail = error_at(&p, "/properties/sectors/0/frequency_mhz")["detail"]
            .as_str()
            .unwrap();
        assert!(
            detail.contains(tech),
            "the band error names the technology: {detail}"
        );
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_tower_height_of_301_or_minus_1_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    for h in [json!(301), json!(-1)] {
        let t = tower_with(|t| t["properties"]["height_m"] = h.clone());
        let p = invalid(&pool, "towers", &t, &["/properties/height_m"]).await;
        assert_eq!(pointers(&p), ["/properties/height_m"]);
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_unknown_status_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"]["status"] = json!("demolished"));
    let p = invalid(&pool, "towers", &t, &["/properties/status"]).await;
    assert!(
        error_at(&p, "/properties/status")["detail"]
            .as_str()
            .unwrap()
            .contains("operational"),
        "lists the accepted values"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_unknown_structure_type_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"]["structure_type"] = json!("pyramid"));
    let p = invalid(&pool, "towers", &t, &["/properties/structure_type"]).await;
    assert!(
        error_at(&p, "/properties/structure_type")["detail"]
            .as_str()
            .unwrap()
            .contains("monopole")
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]

async fn a_blank_structure_type_is_rejected_at_its_pointer(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"]["structure_type"] = json!(""));
    invalid(&pool, "towers", &t, &["/properties/structure_type"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]

async fn a_sector_with_a_blank_technology_is_rejected_not_silently_dropped(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"]["sectors"][1]["technology"] = json!(""));
    invalid(&pool, "towers", &t, &["/properties/sectors/1/technology"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_unknown_owner_operator_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| {
        t["properties"]["operator"] = json!("acme");
        t["properties"]["sectors"][0]["operator"] = json!("acme");
    });
    let p = invalid(&pool, "towers", &t, &["/properties/operator"]).await;
    assert!(
        error_at(&p, "/properties/operator")["detail"]
            .as_str()
            .unwrap()
            .contains("acme"),
        "{p:#}"
    );
    // Likewise for the other layers.
    let mut f = common::fibre_feature();
    f["properties"]["operator"] = json!("acme");
    invalid(&pool, "fibre-routes", &f, &["/properties/operator"]).await;
    let mut d = common::data_centre_feature();
    d["properties"]["operator"] = json!("acme");
    invalid(&pool, "data-centres", &d, &["/properties/operator"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_unknown_tenant_operator_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"]["tenants"] = json!(["vnpt", "zzz-telecom"]));
    let p = invalid(&pool, "towers", &t, &["/properties/tenants/1"]).await;
    assert!(
        error_at(&p, "/properties/tenants/1")["detail"]
            .as_str()
            .unwrap()
            .contains("zzz-telecom"),
        "{p:#}"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]

async fn an_unknown_tenant_is_named_at_its_position_in_the_submitted_array(pool: PgPool) {
    common::operators(&pool).await;
    // "acme" sorts before "vnpt" but was sent second.
    let t = tower_with(|t| t["properties"]["tenants"] = json!(["vnpt", "acme"]));
    let p = invalid(&pool, "towers", &t, &["/properties/tenants/1"]).await;
    assert_eq!(pointers(&p), ["/properties/tenants/1"]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_sector_operator_that_is_neither_owner_nor_tenant_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"]["sectors"][1]["operator"] = json!("mobifone"));
    let p = invalid(&pool, "towers", &t, &["/properties/sectors/1/operator"]).await;
    assert!(
        error_at(&p, "/properties/sectors/1/operator")["detail"]
            .as_str()
            .unwrap()
            .contains("mobifone")
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_owner_listed_as_its_own_tenant_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"]["tenants"] = json!(["vnpt", "viettel"]));
    invalid(&pool, "towers", &t, &["/properties/tenants/1"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_tenant_listed_twice_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"]["tenants"] = json!(["vnpt", "vnpt"]));
    let p = invalid(&pool, "towers", &t, &["/properties/tenants/1"]).await;
    assert!(
        error_at(&p, "/properties/tenants/1")["detail"]
            .as_str()
            .unwrap()
            .contains("twice")
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_unknown_property_is_named_and_the_accepted_ones_listed(pool: PgPool) {
    common::operators(&pool).await;
    // A typo: `azimuth` for `azimuth_deg`.
    let t = tower_with(|t| {
        let s = t["properties"]["sectors"][0].as_object_mut().unwrap();
        let v = s.remove("azimuth_deg").unwrap();
        s.insert("azimuth".into(), v);
    });
    let p = invalid(
        &pool,
        "towers",
        &t,
        &[
            "/properties/sectors/0/azimuth",
            "/properties/sectors/0/azimuth_deg",
        ],
    )
    .await;
    assert!(
        error_at(&p, "/properties/sectors/0/azimuth")["detail"]
            .as_str()
            .unwrap()
            .contains("azimuth_deg"),
        "{p:#}"
    );
    // And at the top level.
    let t = tower_with(|t| t["properties"]["heigth_m"] = json!(30));
    invalid(&pool, "towers", &t, &["/properties/heigth_m"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn every_missing_required_property_is_reported_at_once(pool: PgPool) {
    common::operators(&pool).await;
    let t = tower_with(|t| t["properties"] = json!({}));
    let p = invalid(
        &pool,
        "towers",
        &t,
        &[
            "/properties/operator",
            "/properties/site_code",
            "/properties/structure_type",
            "/properties/height_m",
        ],
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("4 invalid fields"),
        "{p:#}"
    );
    // A sector missing everything reports each of its required members.
    let t = tower_with(|t| t["properties"]["sectors"] = json!([{}]));
    invalid(
        &pool,
        "towers",
        &t,
        &[
            "/properties/sectors/0/operator",
            "/properties/sectors/0/technology",
            "/properties/sectors/0/frequency_mhz",
            "/properties/sectors/0/azimuth_deg",
            "/properties/sectors/0/beamwidth_deg",
            "/properties/sectors/0/height_m",
            "/properties/sectors/0/eirp_dbm",
        ],
    )
    .await;
}

// ---------------------------------------------------------------------------
// 2. Validation: fibre routes and data centres
// ---------------------------------------------------------------------------

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_fibre_count_of_0_or_2_5_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    for n in [json!(0), json!(2.5)] {
        let mut f = common::fibre_feature();
        f["properties"]["fibre_count"] = n;
        let p = invalid(&pool, "fibre-routes", &f, &["/properties/fibre_count"]).await;
        assert_eq!(pointers(&p), ["/properties/fibre_count"]);
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_unknown_placement_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let mut f = common::fibre_feature();
    f["properties"]["placement"] = json!("orbital");
    let p = invalid(&pool, "fibre-routes", &f, &["/properties/placement"]).await;
    assert!(
        error_at(&p, "/properties/placement")["detail"]
            .as_str()
            .unwrap()
            .contains("underground")
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_data_centre_tier_of_0_or_5_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    for tier in [0, 5] {
        let mut d = common::data_centre_feature();
        d["properties"]["tier"] = json!(tier);
        let p = invalid(&pool, "data-centres", &d, &["/properties/tier"]).await;
        assert_eq!(pointers(&p), ["/properties/tier"]);
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_negative_data_centre_power_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let mut d = common::data_centre_feature();
    d["properties"]["power_mw"] = json!(-0.5);
    let p = invalid(&pool, "data-centres", &d, &["/properties/power_mw"]).await;
    assert_eq!(pointers(&p), ["/properties/power_mw"]);
}

// ---------------------------------------------------------------------------
// 2. Validation: request shape and media type
// ---------------------------------------------------------------------------

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn malformed_json_is_rejected_with_its_line_and_column(pool: PgPool) {
    common::operators(&pool).await;
    // A comma is missing on line 3.
    let body = b"{\n  \"type\": \"Feature\",\n  \"geometry\": {\"type\": \"Point\" \"x\": 1}\n}";
    let body = body.to_vec();
    let p = refused(
        &pool,
        Method::POST,
        "/collections/towers/items",
        Some(("application/geo+json", body)),
        400,
    )
    .await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("line 3") && detail.contains("column"),
        "{detail}"
    );
    assert_eq!(pointers(&p), [""]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_empty_body_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    for body in [Vec::new(), b" \n\t ".to_vec()] {
        let p = refused(
            &pool,
            Method::POST,
            "/collections/towers/items",
            Some(("application/geo+json", body)),
            400,
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains("empty"), "{p:#}");
        assert_eq!(pointers(&p), [""]);
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_json_array_body_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let p = refused_json(
        &pool,
        Method::POST,
        "/collections/towers/items",
        &json!([common::tower_feature()]),
        400,
    )
    .await;
    assert_eq!(pointers(&p), [""]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_feature_collection_body_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let fc = json!({"type": "FeatureCollection", "features": [common::tower_feature()]});
    let p = refused_json(&pool, Method::POST, "/collections/towers/items", &fc, 400).await;
    assert_eq!(pointers(&p), ["/type"]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_bare_geometry_body_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let g = json!({"type": "Point", "coordinates": [108.2208, 16.0471]});
    let p = refused_json(&pool, Method::POST, "/collections/towers/items", &g, 400).await;
    assert_eq!(pointers(&p), ["/type"]);
    assert!(
        error_at(&p, "/type")["detail"]
            .as_str()
            .unwrap()
            .contains("Feature")
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn properties_that_are_not_an_object_are_rejected(pool: PgPool) {
    common::operators(&pool).await;
    for props in [json!([1, 2]), json!("operator=viettel"), json!(7)] {
        let t = tower_with(|t| t["properties"] = props.clone());
        let p = refused_json(&pool, Method::POST, "/collections/towers/items", &t, 400).await;
        assert_eq!(pointers(&p), ["/properties"]);
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_text_plain_content_type_is_unsupported(pool: PgPool) {
    common::operators(&pool).await;
    let body = serde_json::to_vec(&common::tower_feature()).unwrap();
    let p = refused(
        &pool,
        Method::POST,
        "/collections/towers/items",
        Some(("text/plain", body)),
        415,
    )
    .await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("text/plain") && detail.contains("application/geo+json"),
        "{detail}"
    );
}

// ---------------------------------------------------------------------------
// 2. Conflicts
// ---------------------------------------------------------------------------

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_duplicate_site_code_for_the_same_operator_conflicts_but_another_operator_may_reuse_it(
    pool: PgPool,
) {
    common::operators(&pool).await;
    create(&pool, "towers", &common::tower_feature()).await;
    let again = tower_with(|t| t["geometry"]["coordinates"] = json!([108.23, 16.05]));
    let p = refused_json(
        &pool,
        Method::POST,
        "/collections/towers/items",
        &again,
        409,
    )
    .await;
    assert_eq!(p["type"], "tag:telecom-gis,2026:conflict");
    assert_eq!(pointers(&p), ["/properties/site_code"]);
    // Same site code, another owner.
    let other = tower_with(|t| {
        t["properties"]["operator"] = json!("mobifone");
        t["properties"]["tenants"] = json!([]);
        t["properties"]["sectors"] = json!([{
            "operator": "mobifone", "technology": "4G", "frequency_mhz": 1800, "azimuth_deg": 90,
            "beamwidth_deg": 65, "height_m": 30, "eirp_dbm": 60
        }]);
    });
    create(&pool, "towers", &other).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_duplicate_external_id_conflicts_in_every_operator_layer(pool: PgPool) {
    common::operators(&pool).await;
    let tower = tower_with(|t| t["properties"]["external_id"] = json!("VT-EXT-1"));
    let mut dc = common::data_centre_feature();
    dc["properties"]["external_id"] = json!("DC-1");
    for (c, first) in [
        ("towers", tower),
        ("fibre-routes", common::fibre_feature()),
        ("data-centres", dc),
    ] {
        create(&pool, c, &first).await;
        let mut again = first.clone();
        if c == "towers" {
            again["properties"]["site_code"] = json!("TEST-002");
        }
        let p = refused_json(
            &pool,
            Method::POST,
            &format!("/collections/{c}/items"),
            &again,
            409,
        )
        .await;
        assert_eq!(pointers(&p), ["/properties/external_id"], "{c}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_duplicate_district_code_conflicts(pool: PgPool) {
    create(&pool, "districts", &common::district_feature()).await;
    let p = refused_json(
        &pool,
        Method::POST,
        "/collections/districts/items",
        &common::district_feature(),
        409,
    )
    .await;
    assert_eq!(pointers(&p), ["/properties/code"]);
}

// ---------------------------------------------------------------------------
// 2. PUT, PATCH, DELETE and routing
// ---------------------------------------------------------------------------

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_put_whose_body_id_differs_from_the_url_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let (path, created) = create(&pool, "towers", &common::tower_feature()).await;
    let mut put = common::tower_feature();
    put["id"] = json!(created["id"].as_i64().unwrap() + 1);
    put["properties"]["height_m"] = json!(50);
    let p = refused_json(&pool, Method::PUT, &path, &put, 422).await;
    assert_eq!(pointers(&p), ["/id"]);
    // A district's code cannot change either.
    let (dpath, _) = create(&pool, "districts", &common::district_feature()).await;
    let mut d = common::district_feature();
    d["properties"]["code"] = json!("T99");
    let p = refused_json(&pool, Method::PUT, &dpath, &d, 422).await;
    assert_eq!(pointers(&p), ["/properties/code"]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn writes_to_a_missing_feature_give_404(pool: PgPool) {
    common::operators(&pool).await;
    create(&pool, "towers", &common::tower_feature()).await;
    let patch = serde_json::to_vec(&json!({"properties": {"status": "retired"}})).unwrap();
    let mut district = common::district_feature();
    district["properties"]["code"] = json!("X42");
    for (c, id, feature) in [
        ("towers", "999", common::tower_feature()),
        ("districts", "X42", district),
    ] {
        let uri = format!("/collections/{c}/items/{id}");
        refused_json(&pool, Method::PUT, &uri, &feature, 404).await;
        refused(
            &pool,
            Method::PATCH,
            &uri,
            Some((MERGE_PATCH, patch.clone())),
            404,
        )
        .await;
        refused(&pool, Method::DELETE, &uri, None, 404).await;
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn writes_to_a_non_numeric_id_give_404(pool: PgPool) {
    common::operators(&pool).await;
    create(&pool, "towers", &common::tower_feature()).await;
    let patch = serde_json::to_vec(&json!({"properties": {"status": "retired"}})).unwrap();
    for id in ["abc", "0", "-1", "1.0", "99999999999999999999"] {
        let uri = format!("/collections/towers/items/{id}");
        refused_json(&pool, Method::PUT, &uri, &common::tower_feature(), 404).await;
        refused(
            &pool,
            Method::PATCH,
            &uri,
            Some((MERGE_PATCH, patch.clone())),
            404,
        )
        .await;
        refused(&pool, Method::DELETE, &uri, None, 404).await;
        refused(&pool, Method::GET, &uri, None, 404).await;
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_patch_with_a_non_object_body_is_rejected(pool: PgPool) {
    common::operators(&pool).await;
    let (path, _) = create(&pool, "towers", &common::tower_feature()).await;
    for body in [
        json!([{"op": "replace", "path": "/properties/status", "value": "retired"}]),
        json!("retired"),
        json!(null),
    ] {
        let p = refused(
            &pool,
            Method::PATCH,
            &path,
            Some((MERGE_PATCH, serde_json::to_vec(&body).unwrap())),
            400,
        )
        .await;
        assert_eq!(pointers(&p), [""]);
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_patch_that_makes_the_feature_invalid_is_rejected_and_changes_nothing(pool: PgPool) {
    common::operators(&pool).await;
    let (path, created) = create(&pool, "towers", &common::tower_feature()).await;
    let body = serde_json::to_vec(&json!({"properties": {"height_m": 999}})).unwrap();
    let p = refused(&pool, Method::PATCH, &path, Some((MERGE_PATCH, body)), 422).await;
    assert_eq!(pointers(&p), ["/properties/height_m"]);
    // Removing a required member through the patch is refused too.
    let body = serde_json::to_vec(&json!({"properties": {"structure_type": null}})).unwrap();
    let p = refused(&pool, Method::PATCH, &path, Some((MERGE_PATCH, body)), 422).await;
    assert_eq!(pointers(&p), ["/properties/structure_type"]);
    assert_eq!(
        get(&pool, &path).await.json(),
        created,
        "the stored feature is unchanged"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_sector_id_of_another_tower_is_rejected_on_put(pool: PgPool) {
    common::operators(&pool).await;
    let (_, first) = create(&pool, "towers", &common::tower_feature()).await;
    let foreign = first["properties"]["sectors"][0]["id"].clone();
    let (path, second) = create(
        &pool,
        "towers",
        &tower_with(|t| t["properties"]["site_code"] = json!("TEST-002")),
    )
    .await;
    let mut put = second.clone();
    put["properties"]["sectors"][0]["id"] = foreign;
    let p = refused_json(&pool, Method::PUT, &path, &put, 422).await;
    assert_eq!(pointers(&p), ["/properties/sectors/0/id"]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_unknown_collection_gives_404(pool: PgPool) {
    common::operators(&pool).await;
    let p = refused_json(
        &pool,
        Method::POST,
        "/collections/antennas/items",
        &common::tower_feature(),
        404,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("towers"),
        "lists the collections: {p:#}"
    );
    refused_json(
        &pool,
        Method::PUT,
        "/collections/antennas/items/1",
        &common::tower_feature(),
        404,
    )
    .await;
    refused(
        &pool,
        Method::DELETE,
        "/collections/antennas/items/1",
        None,
        404,
    )
    .await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_post_to_a_feature_url_is_not_allowed(pool: PgPool) {
    common::operators(&pool).await;
    let (path, _) = create(&pool, "towers", &common::tower_feature()).await;
    refused_json(&pool, Method::POST, &path, &common::tower_feature(), 405).await;
    refused_json(
        &pool,
        Method::PUT,
        "/collections/towers/items",
        &common::tower_feature(),
        405,
    )
    .await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_body_over_32_mib_is_too_large(pool: PgPool) {
    common::operators(&pool).await;
    // Valid JSON: a tower whose name is padded past the limit.
    let mut body = br#"{"type":"Feature","properties":{"name":""#.to_vec();
    body.resize(body.len() + 32 * 1024 * 1024, b'x');
    body.extend_from_slice(br#""}}"#);
    let p = refused(
        &pool,
        Method::POST,
        "/collections/towers/items",
        Some(("application/geo+json", body)),
        413,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("33554432"), "{p:#}");
}

// ---------------------------------------------------------------------------
// 3. Hostile input
// ---------------------------------------------------------------------------

/// xorshift64* (deterministic, no dependencies).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Marks a place whose JSON text is replaced by raw, non-JSON-value text
/// (e.g. `NaN`, `1e999`) after serialisation.
const RAW: &str = "\u{1}raw\u{1}";

fn nested(depth: usize, leaf: Value, arrays: bool) -> Value {
    (0..depth).fold(
        leaf,
        |v, _| if arrays { json!([v]) } else { json!({"a": v}) },
    )
}

fn random_string(rng: &mut Rng, with_nul: bool) -> String {
    const FIXED: &[&str] = &[
        "",
        " ",
        "NaN",
        "-NaN",
        "Infinity",
        "-Infinity",
        "1e999",
        "-0",
        "0x1F",
        "null",
        "true",
        "[]",
        "{}",
        "4G",
        "6G",
        "viettel",
        "VIETTEL",
        "vnpt ",
        "operational",
        "Feature",
        "Point",
        "'; drop table towers; --",
        "Đà Nẵng",
        "\u{202e}evil",
        "🗼📡",
        "\u{feff}",
        "\\u0000",
        "%00",
        "../../etc/passwd",
        "<script>",
        "\u{7f}\u{1b}[31m",
    ];
    match rng.below(5) {
        0 => "x".repeat(rng.below(300) + 60),
        1 => {
            let alphabet: Vec<char> = if with_nul {
                "\0\u{1}aZ9-_ đ\u{10ffff}".chars().collect()
            } else {
                "\u{1}aZ9-_ đ\u{10ffff}".chars().collect()
            };
            (0..rng.below(12)).map(|_| *rng.pick(&alphabet)).collect()
        }
        _ => (*rng.pick(FIXED)).to_owned(),
    }
}

fn random_value(rng: &mut Rng, depth: usize, with_nul: bool) -> Value {
    match rng.below(if depth > 2 { 9 } else { 13 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(*rng.pick(&[0i64, -1, 1, 360, 361, 3500, 100_000, i64::MAX, i64::MIN])),
        3 => json!(u64::MAX),
        4 => json!(*rng.pick(&[
            0.5,
            -0.0,
            1e308,
            -1e308,
            5e-324,
            2.5,
            89.999_999_9,
            180.000_000_1,
            -90.5
        ])),
        5 | 6 => json!(random_string(rng, with_nul)),
        7 => json!(RAW),
        8 => json!(rng.next() as f64 / 1e10),
        9 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1, with_nul))
                .collect(),
        ),
        10 => {
            let keys = [
                "type",
                "coordinates",
                "operator",
                "id",
                "",
                "crs",
                "properties",
            ];
            Value::Object(
                (0..rng.below(4))
                    .map(|_| {
                        (
                            (*rng.pick(&keys)).to_owned(),
                            random_value(rng, depth + 1, with_nul),
                        )
                    })
                    .collect(),
            )
        }
        11 => nested(200, random_value(rng, 3, with_nul), rng.below(2) == 0),
        _ => nested(rng.below(6) + 1, json!([[108.2, 16.0]]), true),
    }
}

/// Every JSON Pointer in `v` (as token paths), the root excluded.
fn paths(v: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => return,
    };
    for (k, child) in children {
        prefix.push(k);
        out.push(prefix.clone());
        paths(child, prefix, out);
        prefix.pop();
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        other => &mut other[k.as_str()],
    })
}

/// One random mutation of the example tower, as request body bytes.
fn mutated_tower(rng: &mut Rng, i: usize, with_nul: bool) -> Vec<u8> {
    let mut t = common::tower_feature();
    t["properties"]["site_code"] = json!(format!("FUZZ-{i}"));
    let mut all = Vec::new();
    paths(&t, &mut Vec::new(), &mut all);
    for _ in 0..rng.below(3) + 1 {
        let path = rng.pick(&all).clone();
        let (parent, last) = path.split_at(path.len() - 1);
        match rng.below(6) {
            // Remove the member (or array element).
            0 => match at_mut(&mut t, parent) {
                Value::Object(m) => {
                    m.remove(&last[0]);
                }
                Value::Array(a) => {
                    let i: usize = last[0].parse().unwrap();
                    if i < a.len() {
                        a.remove(i);
                    }
                }
                _ => {}
            },
            // Add an unexpected member next to it.
            1 => {
                if let Value::Object(m) = at_mut(&mut t, parent) {
                    m.insert(random_string(rng, with_nul), random_value(rng, 0, with_nul));
                }
            }
            // Replace it.
            _ => {
                let v = random_value(rng, 0, with_nul);
                *at_mut(&mut t, &path) = v;
            }
        }
        // Earlier mutations may have removed deeper paths.
        all.clear();
        paths(&t, &mut Vec::new(), &mut all);
        if all.is_empty() {
            break;
        }
    }
    let text = serde_json::to_string(&t).unwrap();
    let raw = *rng.pick(&[
        "NaN",
        "1e999",
        "-Infinity",
        "01",
        "1.",
        ".5",
        "+1",
        "0x10",
        "1e-999999",
        "123456789012345678901234567890",
    ]);
    text.replace(&serde_json::to_string(RAW).unwrap(), raw)
        .into_bytes()
}

async fn fuzz_towers(pool: &PgPool, seed: u64, rounds: usize, with_nul: bool) {
    common::operators(pool).await;
    let mut rng = Rng(seed);
    let mut stored = fingerprint(pool).await;
    let (mut created, mut refused) = (0, 0);
    for i in 0..rounds {
        let body = mutated_tower(&mut rng, i, with_nul);
        let r = send(
            pool,
            Method::POST,
            "/collections/towers/items",
            Some(("application/geo+json", body.clone())),
        )
        .await;
        let now = fingerprint(pool).await;
        let shown = || String::from_utf8_lossy(&body[..body.len().min(2000)]).into_owned();
        match r.status.as_u16() {
            201 => created += 1,
            s @ 400..=499 => {
                r.problem(s);
                assert_eq!(
                    now,
                    stored,
                    "round {i}: a refused request ({s}) changed stored data; body: {}",
                    shown()
                );
                refused += 1;
            }
            s => panic!(
                "round {i}: status {s}: {}\nrequest body: {}",
                String::from_utf8_lossy(&r.body),
                shown()
            ),
        }
        stored = now;
    }
    assert!(
        created > 0 && refused > 0,
        "the fuzz exercised both outcomes: {created} created, {refused} refused"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn hostile_tower_features_get_201_or_a_4xx_problem_and_never_a_server_error(pool: PgPool) {
    fuzz_towers(&pool, 0x7e1e_c0de_5eed_0001, 300, false).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]

async fn a_nul_character_in_a_text_property_is_rejected_not_a_server_error(pool: PgPool) {
    common::operators(&pool).await;
    for (key, value) in [
        ("name", "Hải\u{0}Châu"),
        ("site_code", "TEST\u{0}001"),
        ("external_id", "\u{0}"),
    ] {
        let t = tower_with(|t| t["properties"][key] = json!(value));
        invalid(&pool, "towers", &t, &[&format!("/properties/{key}")]).await;
    }
    let t = tower_with(|t| t["properties"]["tenants"] = json!(["vnpt\u{0}"]));
    invalid(&pool, "towers", &t, &["/properties/tenants/0"]).await;
    // The random mutations with NUL in the alphabet stay clean once fixed.
    fuzz_towers(&pool, 0x7e1e_c0de_5eed_0002, 100, true).await;
}
