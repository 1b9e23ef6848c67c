//! What a viewer may see is decided once, by the read use-cases: a caller
//! who may not see a fibre route exactly gets it generalised in every output
//! (page, item, `as_of`, history, change feed, GeoJSON/CSV/GeoPackage
//! export, tile), and a filter — a hidden attribute, or a sliver bbox —
//! tells them nothing the paged list does not.
//!
//! And the stored form: ETags and history documents come from the stored
//! record, so editing the coverage configuration changes no ETag, and an
//! explicit `range_m` survives an unrelated PATCH exactly.

use crate::common;

use std::sync::Arc;

use axum::http::Method;
use geo::Intersects;
use geozero::mvt::{Message, Tile};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::coverage::listener::CoverageState;
use telecom_gis::coverage::model::CoverageConfig;

use crate::common::{Reply, fibre_feature, send_raw, token, tower_feature};

/// The route's exact vertices (lon/lat), as posted by `fibre_feature`.
const ROUTE: [[f64; 2]; 3] = [[108.20, 16.05], [108.21, 16.06], [108.22, 16.06]];

struct World {
    state: AppState,
    admin: String,
    /// A carrier of another operator than the route's (fpt).
    other: String,
    route_id: i64,
}

impl World {
    async fn new(pool: &PgPool) -> World {
        common::operators(pool).await;
        let bearer = |t: String| format!("Bearer {t}");
        let state = AppState {
            limits: Arc::new(telecom_gis::http::limits::RateLimits::disabled()),
            ..AppState::loaded(pool.clone()).await.unwrap()
        };
        let admin = bearer(token(pool, "admin", None).await);
        let other = bearer(token(pool, "carrier", Some("viettel")).await);
        let r = send_raw(
            &state,
            Method::POST,
            "/collections/fibre-routes/items",
            Some((
                "application/geo+json",
                serde_json::to_vec(&fibre_feature()).unwrap(),
            )),
            &[("authorization", &admin)],
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let route_id = r.json()["id"].as_i64().unwrap();
        World {
            state,
            admin,
            other,
            route_id,
        }
    }

    /// The viewers who may not see the route exactly.
    fn outsiders(&self) -> [Option<&str>; 2] {
        [None, Some(&self.other)]
    }

    async fn get(&self, auth: Option<&str>, uri: &str) -> Reply {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        send_raw(&self.state, Method::GET, uri, None, &headers).await
    }

    /// Ids of the features of a FeatureCollection reply.
    async fn ids(&self, auth: Option<&str>, uri: &str) -> Vec<i64> {
        let r = self.get(auth, uri).await;
        assert_eq!(r.status, 200, "{uri}: {}", String::from_utf8_lossy(&r.body));
        r.json()["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect()
    }
}

/// Asserts `f` is the route generalised: cells, no exact path, no hidden attribute.
#[track_caller]
fn assert_generalised(f: &Value, what: &str) {
    assert_eq!(f["geometry"]["type"], "MultiPolygon", "{what}: {f}");
    assert_eq!(f["properties"]["generalised"], true, "{what}");
    for hidden in [
        "name",
        "fibre_count",
        "capacity_gbps",
        "length_m",
        "external_id",
    ] {
        assert!(
            f["properties"].get(hidden).is_none(),
            "{what} shows {hidden}"
        );
    }
    assert_no_route(&f.to_string(), what);
}

/// Asserts no exact vertex or hidden value of the route appears in `text`.
#[track_caller]
fn assert_no_route(text: &str, what: &str) {
    for leak in ["LineString", "FPT-T-1", "Tuyến cáp thử", "[108.21,16.06]"] {
        assert!(!text.contains(leak), "{what} leaks {leak}");
    }
}

/// The WebMercatorQuad tile path holding `lon_lat` at zoom `z`.
fn tile_of([lon, lat]: [f64; 2], z: i32) -> String {
    let n = 2f64.powi(z);
    let x = ((lon + 180.0) / 360.0 * n).floor();
    let y = ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor();
    format!("/collections/fibre-routes/tiles/WebMercatorQuad/{z}/{y}/{x}")
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_viewer_who_may_not_see_a_route_gets_it_generalised_in_every_output(pool: PgPool) {
    let w = World::new(&pool).await;
    let id = w.route_id;
    let item = format!("/collections/fibre-routes/items/{id}");
    // The owner's own carrier and the Department see it exactly.
    let exact = w.get(Some(&w.admin), &item).await.json();
    assert_eq!(exact["geometry"]["type"], "LineString");
    let at = now();
    for auth in w.outsiders() {
        let who = if auth.is_some() {
            "another carrier"
        } else {
            "the public"
        };
        // Page, item, as_of page, as_of item.
        let page = w.get(auth, "/collections/fibre-routes/items").await.json();
        assert_generalised(&page["features"][0], &format!("{who}: page"));
        assert_generalised(&w.get(auth, &item).await.json(), &format!("{who}: item"));
        let page = w
            .get(auth, &format!("/collections/fibre-routes/items?as_of={at}"))
            .await
            .json();
        assert_generalised(&page["features"][0], &format!("{who}: as_of page"));
        let one = w.get(auth, &format!("{item}?as_of={at}")).await.json();
        assert_generalised(&one, &format!("{who}: as_of item"));
        // GeoJSON export: generalised; CSV and GeoPackage: refused.
        let r = w
            .get(auth, "/collections/fibre-routes/items?f=geojson")
            .await;
        assert_eq!(r.status, 200);
        assert_generalised(&r.json()["features"][0], &format!("{who}: GeoJSON export"));
        for f in ["csv", "gpkg"] {
            let r = w
                .get(auth, &format!("/collections/fibre-routes/items?f={f}"))
                .await;
            let expected = if auth.is_some() { 403 } else { 401 };
            r.problem(expected);
            assert_no_route(&String::from_utf8_lossy(&r.body), &format!("{who}: {f}"));
        }
        // History: only those who see the route exactly read it.
        let r = w.get(auth, &format!("{item}/history")).await;
        r.problem(if auth.is_some() { 403 } else { 401 });
        assert_no_route(
            &String::from_utf8_lossy(&r.body),
            &format!("{who}: history"),
        );
        // The change feed: another carrier sees only its own operator's
        // changes (and may not ask for fpt's); the public none.
        let r = w.get(auth, "/changes").await;
        if auth.is_some() {
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["numberReturned"], 0, "{who}: feed");
            w.get(auth, "/changes?operator=fpt").await.problem(403);
        } else {
            r.problem(401);
        }
        assert_no_route(&String::from_utf8_lossy(&r.body), &format!("{who}: feed"));
        // A tile over the route: presence cells only.
        let r = w.get(auth, &tile_of(ROUTE[1], 13)).await;
        assert_eq!(
            r.status,
            200,
            "{who}: tile {}",
            String::from_utf8_lossy(&r.body)
        );
        let tile = Tile::decode(r.body.as_slice()).expect("an MVT");
        let names: Vec<&str> = tile.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["fibre_presence"], "{who}: tile layers");
        let values: Vec<String> = tile.layers[0]
            .values
            .iter()
            .filter_map(|v| v.string_value.clone())
            .collect();
        assert!(
            !values
                .iter()
                .any(|v| v == "FPT-T-1" || v == "Tuyến cáp thử"),
            "{who}: tile attributes {values:?}"
        );
    }
    // The history, read by those who may, holds the exact stored form.
    let h = w
        .get(Some(&w.admin), &format!("{item}/history"))
        .await
        .json();
    assert_eq!(h["entries"][0]["after"]["geometry"]["type"], "LineString");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn filtering_on_what_a_viewer_cannot_see_tells_it_nothing_the_page_does_not(pool: PgPool) {
    let w = World::new(&pool).await;
    let id = w.route_id;
    // The hidden external id: matched only by those who see it.
    for list in [
        "/collections/fibre-routes/items",
        "/collections/fibre-routes/items?f=geojson",
    ] {
        let q = |v: &str| {
            format!(
                "{list}{}external_id={v}",
                if list.contains('?') { '&' } else { '?' }
            )
        };
        assert_eq!(w.ids(Some(&w.admin), &q("FPT-T-1")).await, [id]);
        for auth in w.outsiders() {
            let right = w.ids(auth, &q("FPT-T-1")).await;
            let wrong = w.ids(auth, &q("NOT-AN-ID")).await;
            assert_eq!(right, wrong, "{list}: the hidden id answers differently");
            assert!(right.is_empty());
        }
    }
    // Sliver bboxes: a viewer's answer is exactly the routes whose visible
    // geometry (the cells of the unfiltered page) meets the box, for the
    // page, the as_of page and the GeoJSON export alike.
    let line = geo::LineString::from(ROUTE.iter().map(|c| (c[0], c[1])).collect::<Vec<_>>());
    let at = now();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    for auth in w.outsiders() {
        let page = w.get(auth, "/collections/fibre-routes/items").await.json();
        let cells: geojson::Geometry =
            serde_json::from_value(page["features"][0]["geometry"].clone()).unwrap();
        let cells = geo::Geometry::<f64>::try_from(cells).unwrap();
        let mut off_line = 0;
        for _ in 0..24 {
            let (lon, lat) = (rng.gen_range(108.19..108.23), rng.gen_range(16.04..16.07));
            let d = rng.gen_range(0.000_01..0.000_2);
            let rect = geo::Rect::new((lon, lat), (lon + d, lat + d));
            let expected: Vec<i64> = if cells.intersects(&rect) {
                vec![id]
            } else {
                vec![]
            };
            if cells.intersects(&rect) && !line.intersects(&rect) {
                off_line += 1;
            }
            let bbox = format!("{lon},{lat},{},{}", lon + d, lat + d);
            for uri in [
                format!("/collections/fibre-routes/items?bbox={bbox}"),
                format!("/collections/fibre-routes/items?bbox={bbox}&as_of={at}"),
                format!("/collections/fibre-routes/items?bbox={bbox}&f=geojson"),
            ] {
                assert_eq!(w.ids(auth, &uri).await, expected, "{uri}");
            }
        }
        assert!(off_line > 0, "some boxes meet the cells but not the line");
    }
}

/// A tower with a modelled sector and one of explicit range 1234.56 m.
fn tower_with_explicit_range() -> Value {
    let mut t = tower_feature();
    t["properties"]["sectors"][1]["range_m"] = json!(1234.56);
    t
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn editing_the_coverage_configuration_changes_no_etag(pool: PgPool) {
    common::operators(&pool).await;
    let admin = format!("Bearer {}", token(&pool, "admin", None).await);
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let mut paths = Vec::new();
    for (layer, body) in [
        ("towers", tower_with_explicit_range()),
        ("fibre-routes", fibre_feature()),
        ("data-centres", common::data_centre_feature()),
        ("districts", common::district_feature()),
    ] {
        let r = send_raw(
            &state,
            Method::POST,
            &format!("/collections/{layer}/items"),
            Some(("application/geo+json", serde_json::to_vec(&body).unwrap())),
            &[("authorization", &admin)],
        )
        .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        let id = r.json()["id"].clone();
        let id = id.as_str().map_or_else(|| id.to_string(), str::to_owned);
        paths.push(format!("/collections/{layer}/items/{id}"));
    }
    let read = |state: AppState, path: String, auth: Option<String>| async move {
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        send_raw(&state, Method::GET, &path, None, &headers).await
    };
    // The same database, served with a harsher 4G/5G threshold.
    let mut config = CoverageConfig::default();
    for v in config.threshold_dbm.values_mut() {
        *v += 12.0;
    }
    let harsh = AppState {
        coverage: Arc::new(CoverageState::new(config)),
        ..state.clone()
    };
    harsh.coverage.reload(&pool).await.unwrap();
    for path in &paths {
        for auth in [None, Some(admin.clone())] {
            let before = read(state.clone(), path.clone(), auth.clone()).await;
            let after = read(harsh.clone(), path.clone(), auth.clone()).await;
            assert_eq!(before.status, 200);
            assert_eq!(
                before.headers["etag"], after.headers["etag"],
                "{path}: the ETag follows the configuration"
            );
        }
    }
    // The served form does change: the modelled range is derived.
    let tower = &paths[0];
    let (a, b) = (
        read(state.clone(), tower.clone(), None).await.json(),
        read(harsh.clone(), tower.clone(), None).await.json(),
    );
    let modelled = |v: &Value| v["properties"]["sectors"][0]["range_m"].as_f64().unwrap();
    assert!(
        modelled(&b) < modelled(&a),
        "{} vs {}",
        modelled(&b),
        modelled(&a)
    );
    // A change based on the ETag read before the edit still applies.
    let etag = read(state.clone(), tower.clone(), None).await.headers["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let r = send_raw(
        &harsh,
        Method::PATCH,
        tower,
        Some((
            "application/merge-patch+json",
            r#"{"properties":{"name":"Trạm sau khi sửa cấu hình"}}"#
                .as_bytes()
                .to_vec(),
        )),
        &[("authorization", &admin), ("if-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The history records stored forms: no modelled range in them.
    let h = read(
        harsh.clone(),
        format!("{tower}/history"),
        Some(admin.clone()),
    )
    .await
    .json();
    for e in h["entries"].as_array().unwrap() {
        let s = &e["after"]["properties"]["sectors"];
        assert!(s[0].get("range_m").is_none(), "{s}");
        assert_eq!(s[1]["range_m"], 1234.56);
        assert_eq!(s[1]["range_source"], "explicit");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_explicit_range_survives_an_unrelated_patch_exactly(pool: PgPool) {
    common::operators(&pool).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let body = serde_json::to_vec(&tower_with_explicit_range()).unwrap();
    let r = common::send_to(
        &state,
        Method::POST,
        "/collections/towers/items",
        Some(("application/geo+json", body)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["properties"]["sectors"][1]["range_m"], 1234.56);
    let path = format!("/collections/towers/items/{}", r.json()["id"]);
    for name in ["Tên mới", "Tên mới nữa"] {
        let patch = json!({"properties": {"name": name}});
        let r = common::send_to(
            &state,
            Method::PATCH,
            &path,
            Some((
                "application/merge-patch+json",
                serde_json::to_vec(&patch).unwrap(),
            )),
        )
        .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let s = &r.json()["properties"]["sectors"];
        assert_eq!(s[1]["range_m"], 1234.56, "served after PATCH");
        assert_eq!(s[1]["range_source"], "explicit");
        assert_eq!(s[0]["range_source"], "model");
    }
    let stored: Vec<Option<f64>> = sqlx::query_scalar("select range_m from sectors order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(stored, [None, Some(1234.56)]);
}

/// The bbox of collection `id` in a `/collections` or `/collections/{id}`
/// reply.
fn extent_of(r: &Reply, id: &str) -> [f64; 4] {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let j = r.json();
    let doc = match j["collections"].as_array() {
        Some(all) => all.iter().find(|c| c["id"] == id).unwrap().clone(),
        None => j,
    };
    let b: Vec<f64> = doc["extent"]["spatial"]["bbox"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    b.try_into().unwrap()
}

#[sqlx::test]
async fn the_public_fibre_extent_is_the_generalised_cells_and_the_insiders_exact(pool: PgPool) {
    let w = World::new(&pool).await;
    let exact = [108.20, 16.05, 108.22, 16.06];
    let close = |a: [f64; 4]| a.iter().zip(exact).all(|(x, y)| (x - y).abs() < 1e-4);
    for auth in w.outsiders() {
        for uri in ["/collections", "/collections/fibre-routes"] {
            let b = extent_of(&w.get(auth, uri).await, "fibre-routes");
            assert!(!close(b), "{auth:?} {uri}: the exact vertex bbox {b:?}");
            assert!(
                b[0] <= exact[0] && b[1] <= exact[1] && exact[2] <= b[2] && exact[3] <= b[3],
                "{auth:?} {uri}: {b:?} does not hold the route"
            );
            // About one H3 resolution-8 cell (≈ 0.5 km) beyond the vertices.
            assert!(
                b.iter().zip(exact).all(|(x, y)| (x - y).abs() < 0.02),
                "{auth:?} {uri}: {b:?}"
            );
        }
    }
    let analyst = format!("Bearer {}", token(&pool, "analyst", None).await);
    let owner = format!("Bearer {}", token(&pool, "carrier", Some("fpt")).await);
    for auth in [&w.admin, &analyst, &owner] {
        for uri in ["/collections", "/collections/fibre-routes"] {
            let b = extent_of(&w.get(Some(auth), uri).await, "fibre-routes");
            assert!(close(b), "{uri}: {b:?} is not the exact {exact:?}");
        }
    }
}

#[sqlx::test]
async fn a_deleted_feature_names_who_deleted_it_only_to_those_who_may_read_its_history(
    pool: PgPool,
) {
    let w = World::new(&pool).await;
    let uri = format!("/collections/fibre-routes/items/{}", w.route_id);
    let r = send_raw(
        &w.state,
        Method::DELETE,
        &uri,
        None,
        &[("authorization", &w.admin), ("if-match", "*")],
    )
    .await;
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let deleter: String =
        sqlx::query_scalar("select actor from feature_history where op = 'delete'")
            .fetch_one(&pool)
            .await
            .unwrap();
    for auth in w.outsiders() {
        let r = w.get(auth, &uri).await;
        let p = r.problem(404);
        assert_eq!(
            p["detail"],
            format!(
                "feature '{}' of collection 'fibre-routes' was deleted",
                w.route_id
            ),
            "{auth:?}"
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains(&deleter),
            "{auth:?} learns the deleter: {body}"
        );
    }
    let p = w.get(Some(&w.admin), &uri).await.problem(404);
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("by {deleter}")), "{detail}");
}
