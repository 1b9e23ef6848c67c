//! Accounts and permissions: every role × operation × layer, cross-carrier
//! attempts included; each refusal answers 401 or 403 problem+json and
//! leaves the database exactly as it was.

use crate::common;
use crate::common::{Reply, fingerprint, send_raw, token};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;

/// A state without the per-token rate limit: these tests send hundreds of
/// requests with one token (tests/api/hardening.rs covers the limit).
async fn unlimited(pool: &PgPool) -> AppState {
    AppState {
        limits: std::sync::Arc::new(telecom_gis::http::limits::RateLimits::disabled()),
        ..AppState::loaded(pool.clone()).await.unwrap()
    }
}

/// The callers of the matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Anonymous,
    Analyst,
    Admin,
    /// A carrier token of the feature's operator (viettel).
    Owner,
    /// A carrier token of another operator (mobifone).
    Other,
}

const ROLES: [Role; 5] = [
    Role::Anonymous,
    Role::Analyst,
    Role::Admin,
    Role::Owner,
    Role::Other,
];
const LAYERS: [&str; 4] = ["towers", "fibre-routes", "data-centres", "districts"];

struct World {
    state: AppState,
    admin: String,
    analyst: String,
    viettel: String,
    mobifone: String,
    vnpt: String,
}

impl World {
    async fn new(pool: &PgPool) -> World {
        common::operators(pool).await;
        let bearer = |t: String| format!("Bearer {t}");
        World {
            state: unlimited(pool).await,
            admin: bearer(token(pool, "admin", None).await),
            analyst: bearer(token(pool, "analyst", None).await),
            viettel: bearer(token(pool, "carrier", Some("viettel")).await),
            mobifone: bearer(token(pool, "carrier", Some("mobifone")).await),
            vnpt: bearer(token(pool, "carrier", Some("vnpt")).await),
        }
    }

    fn auth(&self, role: Role) -> Option<&str> {
        match role {
            Role::Anonymous => None,
            Role::Analyst => Some(&self.analyst),
            Role::Admin => Some(&self.admin),
            Role::Owner => Some(&self.viettel),
            Role::Other => Some(&self.mobifone),
        }
    }

    async fn send(
        &self,
        auth: Option<&str>,
        method: Method,
        uri: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Reply {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = auth {
            headers.push(("authorization", a));
        }
        if let Some(e) = if_match {
            headers.push(("if-match", e));
        }
        let ct = if method == Method::PATCH {
            "application/merge-patch+json"
        } else {
            "application/geo+json"
        };
        let body = body.map(|b| (ct, serde_json::to_vec(b).unwrap()));
        send_raw(&self.state, method, uri, body, &headers).await
    }

    /// Creates a feature as the Department; returns its path.
    async fn seed(&self, layer: &str, n: usize) -> String {
        let r = self
            .send(
                Some(&self.admin),
                Method::POST,
                &format!("/collections/{layer}/items"),
                Some(&feature(layer, n)),
                None,
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let loc = r.headers["location"].to_str().unwrap();
        loc.trim_start_matches("http://test.local").to_owned()
    }

    async fn etag(&self, path: &str) -> String {
        let r = self
            .send(Some(&self.admin), Method::GET, path, None, None)
            .await;
        assert_eq!(r.status, 200);
        r.headers["etag"].to_str().unwrap().to_owned()
    }
}

/// A valid feature of `layer` owned by viettel (number `n` keeps unique
/// values apart).
fn feature(layer: &str, n: usize) -> Value {
    // Inside the default service region whatever n is (create uses n + 10,000).
    let lon = 108.15 + (n % 400) as f64 * 0.001;
    match layer {
        "towers" => json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, 16.05]},
            "properties": {"operator": "viettel", "site_code": format!("ACL-{n}"),
                "structure_type": "monopole", "height_m": 30.0,
                "sectors": [{"operator": "viettel", "technology": "4G", "frequency_mhz": 1842.5,
                    "azimuth_deg": 90, "beamwidth_deg": 65, "tilt_deg": 4, "height_m": 28,
                    "eirp_dbm": 60}]}
        }),
        "fibre-routes" => json!({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[lon, 16.05], [lon + 0.01, 16.06]]},
            "properties": {"operator": "viettel", "name": format!("Tuyến {n}"),
                "placement": "underground", "fibre_count": 48}
        }),
        "data-centres" => json!({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, 16.04]},
            "properties": {"operator": "viettel", "name": format!("IDC {n}"), "tier": 3}
        }),
        _ => json!({
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[lon, 16.0], [lon + 0.001, 16.0],
                [lon + 0.001, 16.001], [lon, 16.001], [lon, 16.0]]]},
            "properties": {"code": format!("ACL{n}"), "name": format!("Khu {n}"), "population": 10}
        }),
    }
}

/// What the matrix expects: the status of `role` doing `op` on `layer`.
fn expected(op: &str, layer: &str, role: Role) -> u16 {
    let districts = layer == "districts";
    let write_ok = match op {
        "create" => 201,
        "delete" => 204,
        _ => 200,
    };
    match (op, role) {
        ("read", _) => 200,
        (_, Role::Anonymous) => 401,
        ("history", Role::Analyst | Role::Admin | Role::Owner) => 200,
        ("history", Role::Other) if districts => 200,
        ("history", Role::Other) => 403,
        (_, Role::Analyst) => 403,
        (_, Role::Admin) => write_ok,
        ("restore", _) => 403,
        (_, Role::Owner) if !districts => write_ok,
        (_, Role::Owner | Role::Other) => 403,
    }
}

/// Runs one cell of the matrix on a fresh feature and checks the status,
/// the problem document, and that a refusal changed nothing.
async fn cell(w: &World, pool: &PgPool, op: &str, layer: &str, role: Role, n: usize) {
    let path = w.seed(layer, n).await;
    if op == "restore" {
        let etag = w.etag(&path).await;
        let r = w
            .send(Some(&w.admin), Method::DELETE, &path, None, Some(&etag))
            .await;
        assert_eq!(r.status, 204);
    }
    let auth = w.auth(role);
    let etag = if op == "restore" {
        String::new()
    } else {
        w.etag(&path).await
    };
    let before = fingerprint(pool).await;
    let r = match op {
        "read" => w.send(auth, Method::GET, &path, None, None).await,
        "create" => {
            let uri = format!("/collections/{layer}/items");
            let f = feature(layer, n + 10_000);
            w.send(auth, Method::POST, &uri, Some(&f), None).await
        }
        "replace" => {
            let mut f = feature(layer, n);
            f["properties"]["name"] = json!("Đổi tên");
            w.send(auth, Method::PUT, &path, Some(&f), Some(&etag))
                .await
        }
        "patch" => {
            let p = json!({"properties": {"name": "Vá"}});
            w.send(auth, Method::PATCH, &path, Some(&p), Some(&etag))
                .await
        }
        "delete" => w.send(auth, Method::DELETE, &path, None, Some(&etag)).await,
        "restore" => {
            let uri = format!("{path}/restore");
            w.send(auth, Method::POST, &uri, None, None).await
        }
        "history" => {
            let uri = format!("{path}/history");
            w.send(auth, Method::GET, &uri, None, None).await
        }
        other => panic!("no operation {other}"),
    };
    let want = expected(op, layer, role);
    assert_eq!(
        r.status.as_u16(),
        want,
        "{role:?} {op} {layer}: {}",
        String::from_utf8_lossy(&r.body)
    );
    if want >= 400 {
        let p = r.problem(want);
        assert!(
            !p["detail"].as_str().unwrap().is_empty(),
            "{role:?} {op} {layer}"
        );
        if want == 401 {
            assert!(r.headers.contains_key("www-authenticate"));
        }
        assert_eq!(
            fingerprint(pool).await,
            before,
            "{role:?} {op} {layer} was refused but changed the database"
        );
    }
}

async fn matrix(pool: PgPool, ops: &[&str]) {
    let w = World::new(&pool).await;
    let mut n = 0;
    for op in ops {
        for layer in LAYERS {
            for role in ROLES {
                n += 1;
                cell(&w, &pool, op, layer, role, n).await;
            }
        }
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn every_role_reads_every_layer_and_creates_only_what_it_may(pool: PgPool) {
    matrix(pool, &["read", "create"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn only_admins_and_owning_carriers_replace_and_patch(pool: PgPool) {
    matrix(pool, &["replace", "patch"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn only_admins_and_owning_carriers_delete_and_only_admins_restore(pool: PgPool) {
    matrix(pool, &["delete", "restore"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn history_is_for_accounts_and_a_carrier_reads_only_its_own(pool: PgPool) {
    matrix(pool, &["history"]).await;
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_carrier_cannot_give_its_asset_to_another_operator(pool: PgPool) {
    let w = World::new(&pool).await;
    for (i, layer) in ["towers", "fibre-routes", "data-centres"]
        .iter()
        .enumerate()
    {
        let path = w.seed(layer, i).await;
        let etag = w.etag(&path).await;
        let before = fingerprint(&pool).await;
        // The whole feature, consistently mobifone's (sectors too).
        let given = serde_json::to_string(&feature(layer, i))
            .unwrap()
            .replace("\"viettel\"", "\"mobifone\"");
        let given: Value = serde_json::from_str(&given).unwrap();
        let r = w
            .send(
                Some(&w.viettel),
                Method::PUT,
                &path,
                Some(&given),
                Some(&etag),
            )
            .await;
        r.problem(403);
        assert_eq!(fingerprint(&pool).await, before, "{layer}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_bad_or_revoked_token_is_401_even_for_reads(pool: PgPool) {
    let w = World::new(&pool).await;
    for bad in [
        "Bearer tgis_nope",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "tgis_no_scheme",
    ] {
        let r = w
            .send(
                Some(bad),
                Method::GET,
                "/collections/towers/items",
                None,
                None,
            )
            .await;
        let p = r.problem(401);
        assert_eq!(p["errors"][0]["header"], "Authorization", "{bad}");
        assert!(
            r.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    let secret = token(&pool, "carrier", Some("viettel")).await;
    let auth = format!("Bearer {secret}");
    let path = "/collections/towers/items";
    let f = feature("towers", 1);
    let r = w
        .send(Some(&auth), Method::POST, path, Some(&f), None)
        .await;
    assert_eq!(r.status, 201);
    let revoked = telecom_gis::db::tokens::revoke(&pool, "test carrier viettel")
        .await
        .unwrap_err();
    // Two tokens share that name (World's and this one): revoke by id.
    assert!(revoked.to_string().contains("invalid"), "{revoked}");
    let id: i64 = sqlx::query_scalar("select max(id) from api_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    telecom_gis::db::tokens::revoke(&pool, &id.to_string())
        .await
        .unwrap()
        .expect("revoked");
    let before = fingerprint(&pool).await;
    let f = feature("towers", 2);
    let r = w
        .send(Some(&auth), Method::POST, path, Some(&f), None)
        .await;
    r.problem(401);
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn tokens_are_stored_only_as_hashes_of_256_random_bits(pool: PgPool) {
    common::operators(&pool).await;
    let secret = token(&pool, "analyst", None).await;
    let body = secret.strip_prefix("tgis_").expect("prefix");
    assert_eq!(body.len(), 43, "32 bytes in URL-safe base64");
    let stored: Vec<u8> = sqlx::query_scalar("select token_hash from api_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    let dump: String = sqlx::query_scalar("select string_agg(t::text, ' ') from api_tokens t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!dump.contains(body), "the secret itself is never stored");
}

/// A viettel tower shared with vnpt: one sector each.
fn shared_tower() -> Value {
    let mut t = feature("towers", 0);
    t["properties"]["tenants"] = json!(["vnpt"]);
    t["properties"]["sectors"]
        .as_array_mut()
        .unwrap()
        .push(json!({"operator": "vnpt", "technology": "5G", "frequency_mhz": 3500,
            "azimuth_deg": 200, "beamwidth_deg": 65, "tilt_deg": 6, "height_m": 25, "eirp_dbm": 66}));
    t
}

/// The tower's sectors as stored, with one changed by `f`.
async fn sectors_with(w: &World, path: &str, f: impl FnOnce(&mut Vec<Value>)) -> Value {
    let r = w.send(Some(&w.admin), Method::GET, path, None, None).await;
    let mut sectors: Vec<Value> = r.json()["properties"]["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let mut s = s.clone();
            // Modelled ranges are not stored values.
            if s["range_source"] == "model" {
                s.as_object_mut().unwrap().remove("range_m");
            }
            s
        })
        .collect();
    f(&mut sectors);
    json!({"properties": {"sectors": sectors}})
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_tenant_edits_its_own_sectors_on_a_shared_tower_and_nothing_else(pool: PgPool) {
    let w = World::new(&pool).await;
    let r = w
        .send(
            Some(&w.admin),
            Method::POST,
            "/collections/towers/items",
            Some(&shared_tower()),
            None,
        )
        .await;
    assert_eq!(r.status, 201);
    let path = r.headers["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("http://test.local")
        .to_owned();
    let is_op = |op: &'static str| move |s: &&mut Value| s["operator"] == op;

    // Refused, each leaving the database unchanged.
    let refusals: Vec<(&str, &String, Value)> = vec![
        (
            "a tenant changes the tower",
            &w.vnpt,
            json!({"properties": {"height_m": 45.0}}),
        ),
        (
            "a tenant changes the host's sector",
            &w.vnpt,
            sectors_with(&w, &path, |s| {
                s.iter_mut().find(is_op("viettel")).unwrap()["azimuth_deg"] = json!(10);
            })
            .await,
        ),
        (
            "a tenant removes the host's sector",
            &w.vnpt,
            sectors_with(&w, &path, |s| s.retain(|x| x["operator"] != "viettel")).await,
        ),
        (
            "the host changes the tenant's sector",
            &w.viettel,
            sectors_with(&w, &path, |s| {
                s.iter_mut().find(is_op("vnpt")).unwrap()["tilt_deg"] = json!(2);
            })
            .await,
        ),
        (
            "the host removes the tenant's sector",
            &w.viettel,
            sectors_with(&w, &path, |s| s.retain(|x| x["operator"] != "vnpt")).await,
        ),
        (
            "the host removes the tenant",
            &w.viettel,
            json!({"properties": {"tenants": []}}),
        ),
        (
            "an outsider adds a sector",
            &w.mobifone,
            sectors_with(&w, &path, |s| {
                let mut x = s[0].clone();
                x.as_object_mut().unwrap().remove("id");
                x["operator"] = json!("mobifone");
                s.push(x);
            })
            .await,
        ),
    ];
    for (what, auth, patch) in refusals {
        let etag = w.etag(&path).await;
        let before = fingerprint(&pool).await;
        let r = w
            .send(Some(auth), Method::PATCH, &path, Some(&patch), Some(&etag))
            .await;
        assert!(
            r.status == StatusCode::FORBIDDEN || r.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(fingerprint(&pool).await, before, "{what}");
    }
    for (what, auth) in [("the tenant", &w.vnpt), ("the host", &w.viettel)] {
        let etag = w.etag(&path).await;
        let before = fingerprint(&pool).await;
        let r = w
            .send(Some(auth), Method::DELETE, &path, None, Some(&etag))
            .await;
        r.problem(403);
        assert_eq!(fingerprint(&pool).await, before, "{what} deletes");
    }

    // Allowed: the tenant changes and adds its own sectors; the host
    // changes the tower and its own sectors.
    let patch = sectors_with(&w, &path, |s| {
        s.iter_mut().find(is_op("vnpt")).unwrap()["azimuth_deg"] = json!(215);
        let mut x = s.iter().find(|x| x["operator"] == "vnpt").unwrap().clone();
        x.as_object_mut().unwrap().remove("id");
        x["azimuth_deg"] = json!(330);
        s.push(x);
    })
    .await;
    let etag = w.etag(&path).await;
    let r = w
        .send(
            Some(&w.vnpt),
            Method::PATCH,
            &path,
            Some(&patch),
            Some(&etag),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let vnpt: Vec<f64> = r.json()["properties"]["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["operator"] == "vnpt")
        .map(|s| s["azimuth_deg"].as_f64().unwrap())
        .collect();
    assert_eq!(vnpt, vec![215.0, 330.0]);

    let etag = w.etag(&path).await;
    let p = json!({"properties": {"height_m": 42.0}});
    let r = w
        .send(
            Some(&w.viettel),
            Method::PATCH,
            &path,
            Some(&p),
            Some(&etag),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["properties"]["height_m"], 42.0);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn exact_fibre_routes_are_seen_only_by_admins_analysts_and_the_owner(pool: PgPool) {
    let w = World::new(&pool).await;
    let path = w.seed("fibre-routes", 1).await;
    for (role, exact) in [
        (Role::Anonymous, false),
        (Role::Analyst, true),
        (Role::Admin, true),
        (Role::Owner, true),
        (Role::Other, false),
    ] {
        let one = w.send(w.auth(role), Method::GET, &path, None, None).await;
        let list = w
            .send(
                w.auth(role),
                Method::GET,
                "/collections/fibre-routes/items",
                None,
                None,
            )
            .await;
        let listed = &list.json()["features"][0];
        for f in [&one.json(), listed] {
            let kind = f["geometry"]["type"].as_str().unwrap_or("none").to_owned();
            if exact {
                assert_eq!(kind, "LineString", "{role:?}");
                assert_eq!(f["properties"]["fibre_count"], 48, "{role:?}");
            } else {
                assert_ne!(kind, "LineString", "{role:?} sees the exact route");
                assert_eq!(f["properties"]["generalised"], true, "{role:?}");
                for hidden in ["fibre_count", "name", "length_m", "external_id"] {
                    assert!(
                        f["properties"].get(hidden).is_none(),
                        "{role:?} sees {hidden}"
                    );
                }
            }
        }
        assert_eq!(one.headers["vary"], "Authorization");
    }
    // Exact exports: analysts and the owner (its own), not the public or others.
    for (role, query, status) in [
        (Role::Anonymous, "f=csv", 401),
        (Role::Other, "f=csv", 403),
        (Role::Other, "f=csv&operator=viettel", 403),
        (Role::Owner, "f=csv", 403),
        (Role::Owner, "f=csv&operator=viettel", 200),
        (Role::Analyst, "f=gpkg", 200),
    ] {
        let uri = format!("/collections/fibre-routes/items?{query}");
        let r = w.send(w.auth(role), Method::GET, &uri, None, None).await;
        assert_eq!(r.status.as_u16(), status, "{role:?} {query}");
    }
    let r = w
        .send(
            None,
            Method::GET,
            "/collections/fibre-routes/items?f=geojson",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body);
    assert!(
        !text.contains("LineString"),
        "the public export is generalised"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn imports_need_a_writer_and_a_carrier_imports_only_its_own_assets(pool: PgPool) {
    let w = World::new(&pool).await;
    let fc = |n: usize| {
        let mut f = feature("data-centres", n);
        f["properties"]["external_id"] = json!(format!("DC-{n}"));
        serde_json::to_vec(&json!({"type": "FeatureCollection", "features": [f]})).unwrap()
    };
    for (role, query, status) in [
        (Role::Anonymous, "", 401),
        (Role::Analyst, "", 403),
        (Role::Other, "&operator=viettel", 403),
        (Role::Other, "", 422),
        (Role::Owner, "", 200),
        (Role::Admin, "", 200),
    ] {
        let before = fingerprint(&pool).await;
        let uri = format!("/imports?layer=data-centres&format=geojson&mode=commit{query}");
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = w.auth(role) {
            headers.push(("authorization", a));
        }
        let n = role as usize;
        let r = send_raw(
            &w.state,
            Method::POST,
            &uri,
            Some(("application/geo+json", fc(n))),
            &headers,
        )
        .await;
        assert_eq!(
            r.status.as_u16(),
            status,
            "{role:?}{query}: {}",
            String::from_utf8_lossy(&r.body)
        );
        if status >= 400 {
            assert_eq!(fingerprint(&pool).await, before, "{role:?}{query}");
        }
    }
    // Imports are audited like single writes.
    let n: i64 = sqlx::query_scalar(
        "select count(*) from feature_history where collection = 'data-centres' and op = 'create'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 2);
}
