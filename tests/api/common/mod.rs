//! Shared test helpers: drive the real router in-process, or serve it on a
//! loopback port for external clients (GDAL).

pub mod process;

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::PgPool;
use telecom_gis::config::GeneratorArgs;
use telecom_gis::{AppState, app};
use tower::ServiceExt;

/// A response read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a problem+json reply with `status`, and returns the body.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type, "application/problem+json");
        let p = self.json();
        assert_eq!(p["status"], status);
        assert!(
            p["title"].is_string() && p["type"].is_string() && p["detail"].is_string(),
            "{p}"
        );
        p
    }
}

/// Sends one request through the real router, with the coverage index
/// loaded afresh from the database (links use host `test.local`).
pub async fn send(
    pool: &PgPool,
    method: Method,
    uri: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Reply {
    let state = AppState::loaded(pool.clone())
        .await
        .expect("coverage index loads");
    send_to(&state, method, uri, body).await
}

/// Sends one request to the router of an existing state.
pub async fn send_to(
    state: &AppState,
    method: Method,
    uri: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Reply {
    send_with_headers(state, method, uri, body, &[]).await
}

/// [`send_to`] with extra request headers (`Accept`, `Content-Crs`, …).
///
/// A write (to features or imports) without an `Authorization` header is
/// sent as the Department (an
/// admin token), and a PUT, PATCH or DELETE without `If-Match` carries the
/// ETag that a GET of `uri` just returned, as a careful client does: the
/// tests of validation and storage then need no ceremony. Tests of
/// authentication and preconditions use [`send_raw`], which adds nothing.
pub async fn send_with_headers(
    state: &AppState,
    method: Method,
    uri: &str,
    body: Option<(&str, Vec<u8>)>,
    extra: &[(&str, &str)],
) -> Reply {
    let has = |name: &str| extra.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    // Writes to features and imports (POST /coverage/points is a query).
    let write = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS)
        && (uri.starts_with("/collections/") || uri.starts_with("/imports"));
    if !write || has("authorization") {
        return send_raw(state, method, uri, body, extra).await;
    }
    let admin = format!("Bearer {}", token(&state.pool, "admin", None).await);
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    headers.push(("authorization", &admin));
    let etag;
    if matches!(method, Method::PUT | Method::PATCH | Method::DELETE) && !has("if-match") {
        let read = send_raw(state, Method::GET, uri, None, &[("authorization", &admin)]).await;
        etag = read
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("\"none\"")
            .to_owned();
        headers.push(("if-match", &etag));
        return send_raw(state, method, uri, body, &headers).await;
    }
    send_raw(state, method, uri, body, &headers).await
}

/// Sends exactly this request (no token or `If-Match` added).
pub async fn send_raw(
    state: &AppState,
    method: Method,
    uri: &str,
    body: Option<(&str, Vec<u8>)>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "test.local");
    for (name, value) in extra {
        req = req.header(*name, *value);
    }
    let body = match body {
        Some((ct, bytes)) => {
            req = req.header(header::CONTENT_TYPE, ct);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    let res = app(state.clone())
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply {
        status,
        content_type,
        headers,
        body,
    }
}

/// Creates an API token (`admin`, `carrier` with its operator, or
/// `analyst`) and returns the secret.
pub async fn token(pool: &PgPool, role: &str, operator: Option<&str>) -> String {
    let role = telecom_gis::domain::account::Role::parse(role).expect("a role");
    let name = format!("test {role} {}", operator.unwrap_or(""));
    telecom_gis::db::tokens::create(pool, &name, role, operator)
        .await
        .expect("token created")
        .1
}

/// `GET uri`.
pub async fn get(pool: &PgPool, uri: &str) -> Reply {
    send(pool, Method::GET, uri, None).await
}

/// `GET uri` with a fresh token of `role` (`analyst` reads everything
/// exactly, fibre routes included).
pub async fn get_as(pool: &PgPool, role: &str, uri: &str) -> Reply {
    let auth = format!("Bearer {}", token(pool, role, None).await);
    let state = AppState::loaded(pool.clone())
        .await
        .expect("coverage index loads");
    send_raw(&state, Method::GET, uri, None, &[("authorization", &auth)]).await
}

/// `method uri` with a JSON body of media type `application/geo+json`.
pub async fn send_json(pool: &PgPool, method: Method, uri: &str, body: &Value) -> Reply {
    send(
        pool,
        method,
        uri,
        Some(("application/geo+json", serde_json::to_vec(body).unwrap())),
    )
    .await
}

/// The project's data folder.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Generator arguments for a small deterministic sample.
pub fn sample_args(towers: usize) -> GeneratorArgs {
    GeneratorArgs {
        seed: 7,
        towers,
        fibre_km: 60.0,
        data_centres: 4,
        data_dir: data_dir(),
    }
}

/// Loads the real districts, the operators and a small generated sample.
pub async fn load_sample(pool: &PgPool, towers: usize) {
    telecom_gis::sample::load(pool, &sample_args(towers))
        .await
        .expect("sample loads");
}

/// Registers the four sample operators (idempotent).
pub async fn operators(pool: &PgPool) {
    for op in telecom_gis::generate::OPERATORS {
        sqlx::query("insert into operators (id, name, mcc, mnc) values ($1, $2, $3, $4) on conflict do nothing")
            .bind(op.id)
            .bind(op.name)
            .bind(op.mcc)
            .bind(op.mnc)
            .execute(pool)
            .await
            .unwrap();
    }
}

/// Row counts of every table, to assert that a refused request changed nothing.
pub async fn row_counts(pool: &PgPool) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in [
        "operators",
        "towers",
        "tower_tenants",
        "sectors",
        "fibre_routes",
        "data_centres",
        "districts",
        "feature_history",
        "deleted_towers",
        "deleted_sectors",
        "deleted_fibre_routes",
        "deleted_data_centres",
        "deleted_districts",
        "structures",
        "duct_banks",
        "ducts",
        "subducts",
        "duct_leases",
        "duct_lease_segments",
        "deleted_structures",
        "deleted_duct_banks",
        "deleted_ducts",
        "deleted_subducts",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("select count(*) from {t}"))
            .fetch_one(pool)
            .await
            .unwrap();
        out.push((t.to_owned(), n));
    }
    out
}

/// A fingerprint of all stored data (row contents), stronger than counts.
pub async fn fingerprint(pool: &PgPool) -> String {
    let mut s = String::new();
    for t in [
        "operators",
        "towers",
        "tower_tenants",
        "sectors",
        "fibre_routes",
        "data_centres",
        "districts",
        "feature_history",
        "deleted_towers",
        "deleted_sectors",
        "deleted_tower_tenants",
        "deleted_fibre_routes",
        "deleted_data_centres",
        "deleted_districts",
        "structures",
        "duct_banks",
        "ducts",
        "subducts",
        "duct_leases",
        "duct_lease_segments",
        "deleted_structures",
        "deleted_duct_banks",
        "deleted_ducts",
        "deleted_subducts",
    ] {
        let h: Option<String> = sqlx::query_scalar(&format!(
            "select md5(string_agg(x::text, ',' order by x::text)) from {t} x"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        s.push_str(&format!("{t}:{};", h.unwrap_or_default()));
    }
    s
}

/// Serves the router on a free loopback port; returns its base URL.
pub async fn serve(pool: &PgPool) -> String {
    serve_state(
        AppState::loaded(pool.clone())
            .await
            .expect("coverage index loads"),
    )
    .await
}

/// Serves the router of `state` on a free loopback port; returns its base
/// URL.
pub async fn serve_state(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(state);
    tokio::spawn(async move {
        let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, service).await.unwrap();
    });
    format!("http://{addr}")
}

/// A valid tower feature owned by viettel with one vnpt tenant sector.
pub fn tower_feature() -> Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [108.2208, 16.0471]},
        "properties": {
            "operator": "viettel", "site_code": "TEST-001", "name": "Hải Châu thử nghiệm",
            "structure_type": "monopole", "height_m": 36.0, "status": "operational",
            "tenants": ["vnpt"],
            "sectors": [
                {"operator": "viettel", "technology": "4G", "frequency_mhz": 1842.5, "azimuth_deg": 0,
                 "beamwidth_deg": 65, "tilt_deg": 4, "height_m": 34, "eirp_dbm": 61},
                {"operator": "vnpt", "technology": "5G", "frequency_mhz": 3500, "azimuth_deg": 120,
                 "beamwidth_deg": 65, "tilt_deg": 6, "height_m": 30, "eirp_dbm": 66, "range_m": 900}
            ]
        }
    })
}

/// A valid fibre route feature.
pub fn fibre_feature() -> Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[108.20, 16.05], [108.21, 16.06], [108.22, 16.06]]},
        "properties": {"operator": "fpt", "name": "Tuyến cáp thử", "placement": "underground",
                       "fibre_count": 96, "capacity_gbps": 100, "status": "operational", "external_id": "FPT-T-1"}
    })
}

/// A valid data-centre feature (footprint polygon, counter-clockwise).
pub fn data_centre_feature() -> Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[108.2, 16.0], [108.201, 16.0], [108.201, 16.001], [108.2, 16.001], [108.2, 16.0]]]},
        "properties": {"operator": "vnpt", "name": "IDC thử nghiệm", "tier": 3, "power_mw": 2.5, "racks": 200}
    })
}

/// A valid district feature.
pub fn district_feature() -> Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[108.0, 16.0], [108.01, 16.0], [108.01, 16.01], [108.0, 16.01], [108.0, 16.0]]]},
        "properties": {"code": "T01", "name": "Khu thử nghiệm", "population": 1000}
    })
}

/// A valid structure feature (a city manhole) at lon/lat `at`.
pub fn structure_at(at: [f64; 2]) -> Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": at},
        "properties": {"owner": "city", "kind": "manhole", "name": "Hố ga thử"}
    })
}

/// A valid structure feature (a city manhole in Hải Châu).
pub fn structure_feature() -> Value {
    structure_at([108.2208, 16.0471])
}

/// A valid city duct bank from structure `from` to `to` (the line runs
/// between the two positions of [`structure_feature`] and 110 m east of it),
/// with a 2x2 configuration: A1 of 100 mm with three 32 mm subducts, A2 of
/// 50 mm.
pub fn duct_bank_feature(from: i64, to: i64) -> Value {
    duct_bank_between(from, to, [108.2208, 16.0471], [108.2218, 16.0471])
}

/// A valid city duct bank from structure `from` at `a` to `to` at `b`
/// (lon/lat).
pub fn duct_bank_between(from: i64, to: i64, a: [f64; 2], b: [f64; 2]) -> Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [a, b]},
        "properties": {
            "owner": "city", "from_structure_id": from, "to_structure_id": to,
            "name": "Bạch Đằng", "configuration": "2x2", "encasement": "concrete", "depth_m": 0.8,
            "ducts": [
                {"position": "A1", "inner_diameter_mm": 100, "material": "hdpe", "subducts": [
                    {"position": "1", "inner_diameter_mm": 27, "outer_diameter_mm": 32, "colour": "orange"},
                    {"position": "2", "inner_diameter_mm": 27, "outer_diameter_mm": 32, "colour": "blue"},
                    {"position": "3", "inner_diameter_mm": 27, "outer_diameter_mm": 32, "colour": "green"}
                ]},
                {"position": "A2", "inner_diameter_mm": 50, "material": "pvc"}
            ]
        }
    })
}
