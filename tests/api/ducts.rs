//! The shared underground network (issue 17): structures and duct banks as
//! OGC API collections, leases with the fill rules enforced in one
//! transaction, who sees what, and the route finder.

use crate::common;
use crate::common::{Reply, fingerprint, send_raw, token};
use axum::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;

/// Two manholes 107 m apart on Bạch Đằng (lon/lat).
const A: [f64; 2] = [108.2208, 16.0471];
const B: [f64; 2] = [108.2218, 16.0471];
const C: [f64; 2] = [108.2228, 16.0471];

async fn as_role(
    state: &AppState,
    secret: &str,
    method: Method,
    uri: &str,
    body: Option<&Value>,
) -> Reply {
    let auth = format!("Bearer {secret}");
    let body = body.map(|b| ("application/json", serde_json::to_vec(b).unwrap()));
    send_raw(state, method, uri, body, &[("authorization", &auth)]).await
}

async fn state(pool: &PgPool) -> AppState {
    AppState::loaded(pool.clone()).await.unwrap()
}

/// Creates a feature as the Department and returns its id.
async fn create(state: &AppState, admin: &str, c: &str, f: &Value) -> i64 {
    let r = as_role(
        state,
        admin,
        Method::POST,
        &format!("/collections/{c}/items"),
        Some(f),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_i64().unwrap()
}

/// Three manholes A–B–C and two banks A→B, B→C (see
/// [`common::duct_bank_between`]); returns (admin token, banks).
async fn network(pool: &PgPool, state: &AppState) -> (String, [i64; 2], [i64; 3]) {
    common::operators(pool).await;
    let admin = token(pool, "admin", None).await;
    let a = create(state, &admin, "structures", &common::structure_at(A)).await;
    let b = create(state, &admin, "structures", &common::structure_at(B)).await;
    let c = create(state, &admin, "structures", &common::structure_at(C)).await;
    let ab = create(
        state,
        &admin,
        "duct-banks",
        &common::duct_bank_between(a, b, A, B),
    )
    .await;
    let bc = create(
        state,
        &admin,
        "duct-banks",
        &common::duct_bank_between(b, c, B, C),
    )
    .await;
    (admin, [ab, bc], [a, b, c])
}

fn lease(operator: Option<&str>, cable_mm: f64, segments: Value) -> Value {
    let mut v = json!({"cable_diameter_mm": cable_mm, "fibre_count": 48, "segments": segments});
    if let Some(op) = operator {
        v["operator"] = json!(op);
    }
    v
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_duct_bank_round_trips_with_its_ducts_subducts_and_geodesic_length(pool: PgPool) {
    let st = state(&pool).await;
    let (admin, [ab, _], [a, b, _]) = network(&pool, &st).await;
    let r = as_role(
        &st,
        &admin,
        Method::GET,
        &format!("/collections/duct-banks/items/{ab}"),
        None,
    )
    .await;
    assert_eq!(r.status, 200);
    let f = r.json();
    let p = &f["properties"];
    assert_eq!(p["owner"], "city");
    assert_eq!(
        (
            p["from_structure_id"].as_i64(),
            p["to_structure_id"].as_i64()
        ),
        (Some(a), Some(b))
    );
    assert_eq!(p["configuration"], "2x2");
    let ducts = p["ducts"].as_array().unwrap();
    assert_eq!(ducts.len(), 2);
    assert_eq!(ducts[0]["position"], "A1");
    assert_eq!(ducts[0]["subducts"].as_array().unwrap().len(), 3);
    // 0.001° of longitude at 16.05° N: 107.0 m on the WGS84 spheroid.
    let oracle: f64 = sqlx::query_scalar(
        "select ST_Length(ST_MakeLine(ST_MakePoint(108.2208, 16.0471), ST_MakePoint(108.2218, 16.0471))::geography)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        (p["length_m"].as_f64().unwrap() - oracle).abs() < 1e-6,
        "{p}"
    );
    // The public reads the inventory too (no occupancy in it).
    let public = send_raw(&st, Method::GET, "/collections/duct-banks/items", None, &[]).await;
    assert_eq!(public.json()["numberMatched"], 2);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_bank_whose_ends_are_not_at_its_structures_is_refused_and_nothing_changes(pool: PgPool) {
    let st = state(&pool).await;
    let (admin, _, [a, b, _]) = network(&pool, &st).await;
    let before = fingerprint(&pool).await;
    // The first position 2.2 m west of structure a.
    let off = common::duct_bank_between(a, b, [A[0] - 0.00002, A[1]], B);
    let r = as_role(
        &st,
        &admin,
        Method::POST,
        "/collections/duct-banks/items",
        Some(&off),
    )
    .await;
    let p = r.problem(422);
    assert_eq!(p["errors"][0]["pointer"], "/geometry/coordinates/0", "{p}");
    assert!(
        p["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("within 1 m"),
        "{p}"
    );
    // An unknown structure.
    let unknown = common::duct_bank_between(a, 999_999, A, B);
    let r = as_role(
        &st,
        &admin,
        Method::POST,
        "/collections/duct-banks/items",
        Some(&unknown),
    )
    .await;
    let p = r.problem(422);
    assert_eq!(
        p["errors"][0]["pointer"], "/properties/to_structure_id",
        "{p}"
    );
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_structure_that_moves_takes_its_banks_ends_with_it_and_both_are_in_the_history(
    pool: PgPool,
) {
    let st = state(&pool).await;
    let (admin, [ab, _], [a, _, _]) = network(&pool, &st).await;
    let moved = common::structure_at([A[0] - 0.0001, A[1]]);
    let uri = format!("/collections/structures/items/{a}");
    let etag = as_role(&st, &admin, Method::GET, &uri, None).await.headers["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let auth = format!("Bearer {admin}");
    let r = send_raw(
        &st,
        Method::PUT,
        &uri,
        Some(("application/geo+json", serde_json::to_vec(&moved).unwrap())),
        &[("authorization", &auth), ("if-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let bank = as_role(
        &st,
        &admin,
        Method::GET,
        &format!("/collections/duct-banks/items/{ab}"),
        None,
    )
    .await
    .json();
    assert_eq!(
        bank["geometry"]["coordinates"][0],
        json!([A[0] - 0.0001, A[1]])
    );
    let history = as_role(
        &st,
        &admin,
        Method::GET,
        &format!("/collections/duct-banks/items/{ab}/history"),
        None,
    )
    .await;
    assert_eq!(
        history.status,
        200,
        "{}",
        String::from_utf8_lossy(&history.body)
    );
    let ops: Vec<String> = history.json()["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["op"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ops.len(), 2, "create and the follow-up update: {ops:?}");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_structure_with_banks_cannot_be_deleted_and_a_bank_with_a_live_lease_cannot_either(
    pool: PgPool,
) {
    let st = state(&pool).await;
    let (admin, [ab, _], [a, _, _]) = network(&pool, &st).await;
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    let r = as_role(
        &st,
        &viettel,
        Method::POST,
        "/ducts/leases",
        Some(&lease(None, 12.0, json!([{"bank_id": ab, "duct": "A2"}]))),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let before = fingerprint(&pool).await;
    let auth = format!("Bearer {admin}");
    for uri in [
        format!("/collections/structures/items/{a}"),
        format!("/collections/duct-banks/items/{ab}"),
    ] {
        let etag = as_role(&st, &admin, Method::GET, &uri, None).await.headers["etag"]
            .to_str()
            .unwrap()
            .to_owned();
        let r = send_raw(
            &st,
            Method::DELETE,
            &uri,
            None,
            &[("authorization", &auth), ("if-match", &etag)],
        )
        .await;
        let p = r.problem(409);
        assert!(
            p["detail"].as_str().unwrap().contains("lease")
                || p["detail"].as_str().unwrap().contains("duct banks"),
            "{p}"
        );
    }
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_lease_over_the_fill_limit_is_refused_naming_the_duct_and_by_how_much(pool: PgPool) {
    let st = state(&pool).await;
    let (_, [ab, bc], _) = network(&pool, &st).await;
    let vnpt = token(&pool, "carrier", Some("vnpt")).await;
    // A2 is 50 mm: one cable may fill 53 % (36.4 mm); two 31 % together.
    let first = lease(
        None,
        30.0,
        json!([{"bank_id": ab, "duct": "A2"}, {"bank_id": bc, "duct": "A2"}]),
    );
    let r = as_role(&st, &vnpt, Method::POST, "/ducts/leases", Some(&first)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let l = r.json();
    assert_eq!(l["properties"]["state"], "requested");
    assert_eq!(l["properties"]["operator"], "vnpt");
    assert_eq!(l["geometry"]["type"], "MultiLineString");
    let before = fingerprint(&pool).await;
    let second = lease(None, 10.0, json!([{"bank_id": ab, "duct": "A2"}]));
    let r = as_role(&st, &vnpt, Method::POST, "/ducts/leases", Some(&second)).await;
    let p = r.problem(409);
    // (30² + 10²) / 50² = 40 % against 31 % for two cables.
    assert_eq!(
        p["detail"],
        format!(
            "duct A2 of duct bank {ab}: the duct would be filled to 40.0 % with 2 cables, over its limit of 31.0 % by 9.0 points"
        ),
        "{p}"
    );
    assert_eq!(p["errors"][0]["pointer"], "/segments/0", "{p}");
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_occupied_subduct_refuses_a_second_lease_until_the_first_is_released(pool: PgPool) {
    let st = state(&pool).await;
    let (admin, [ab, _], _) = network(&pool, &st).await;
    let fpt = token(&pool, "carrier", Some("fpt")).await;
    let want = lease(
        None,
        12.0,
        json!([{"bank_id": ab, "duct": "A1", "subduct": 2}]),
    );
    let r = as_role(&st, &fpt, Method::POST, "/ducts/leases", Some(&want)).await;
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().unwrap();
    let again = as_role(&st, &fpt, Method::POST, "/ducts/leases", Some(&want)).await;
    let p = again.problem(409);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("subduct 2 of duct A1"),
        "{p}"
    );
    // Approve (the city owns the bank: the Department), activate, release.
    for (who, state_name) in [(&admin, "approved"), (&fpt, "active"), (&fpt, "released")] {
        let r = as_role(
            &st,
            who,
            Method::PATCH,
            &format!("/ducts/leases/{id}"),
            Some(&json!({"state": state_name})),
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "{state_name}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["properties"]["state"], state_name);
    }
    let r = as_role(&st, &fpt, Method::POST, "/ducts/leases", Some(&want)).await;
    assert_eq!(
        r.status,
        201,
        "the released subduct is free: {}",
        String::from_utf8_lossy(&r.body)
    );
    let history: i64 =
        sqlx::query_scalar("select count(*) from feature_history where collection = 'duct-leases'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(history, 5, "two requests and three state changes");
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn lease_state_jumps_and_other_peoples_decisions_are_refused_and_change_nothing(
    pool: PgPool,
) {
    let st = state(&pool).await;
    let (_, [ab, _], _) = network(&pool, &st).await;
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    let vnpt = token(&pool, "carrier", Some("vnpt")).await;
    let r = as_role(
        &st,
        &viettel,
        Method::POST,
        "/ducts/leases",
        Some(&lease(None, 8.0, json!([{"bank_id": ab, "duct": "A1"}]))),
    )
    .await;
    let id = r.json()["id"].as_i64().unwrap();
    let before = fingerprint(&pool).await;
    let uri = format!("/ducts/leases/{id}");
    // requested → active skips the decision.
    let r = as_role(
        &st,
        &viettel,
        Method::PATCH,
        &uri,
        Some(&json!({"state": "active"})),
    )
    .await;
    r.problem(409);
    // A carrier may not approve on a city bank.
    let r = as_role(
        &st,
        &viettel,
        Method::PATCH,
        &uri,
        Some(&json!({"state": "approved"})),
    )
    .await;
    r.problem(403);
    // Another carrier does not even see it.
    let r = as_role(
        &st,
        &vnpt,
        Method::PATCH,
        &uri,
        Some(&json!({"state": "released"})),
    )
    .await;
    r.problem(404);
    let r = as_role(
        &st,
        &viettel,
        Method::PATCH,
        &uri,
        Some(&json!({"state": "gone"})),
    )
    .await;
    assert_eq!(r.problem(422)["errors"][0]["pointer"], "/state");
    // Requests for someone else, and by the public.
    let r = as_role(
        &st,
        &viettel,
        Method::POST,
        "/ducts/leases",
        Some(&lease(
            Some("vnpt"),
            8.0,
            json!([{"bank_id": ab, "duct": "A1"}]),
        )),
    )
    .await;
    r.problem(403);
    let r = send_raw(
        &st,
        Method::POST,
        "/ducts/leases",
        Some(("application/json", b"{}".to_vec())),
        &[],
    )
    .await;
    r.problem(401);
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn leases_whose_banks_do_not_follow_each_other_or_name_unknown_ducts_are_refused(
    pool: PgPool,
) {
    let st = state(&pool).await;
    let (admin, [ab, bc], [a, _, _]) = network(&pool, &st).await;
    // A bank elsewhere, sharing no structure with bc.
    let d = create(
        &st,
        &admin,
        "structures",
        &common::structure_at([108.23, 16.05]),
    )
    .await;
    let far = create(
        &st,
        &admin,
        "duct-banks",
        &common::duct_bank_between(a, d, A, [108.23, 16.05]),
    )
    .await;
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    let before = fingerprint(&pool).await;
    let r = as_role(&st, &viettel, Method::POST, "/ducts/leases", Some(&lease(None, 8.0, json!([
        {"bank_id": bc, "duct": "A1"}, {"bank_id": far, "duct": "A1"}, {"bank_id": ab, "duct": "Z9"}
    ])))).await;
    let p = r.problem(422);
    let pointers: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/segments/1/bank_id", "/segments/2/duct"], "{p}");
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn concurrent_requests_for_the_last_room_let_exactly_one_win(pool: PgPool) {
    let st = state(&pool).await;
    let (_, [ab, _], _) = network(&pool, &st).await;
    // A2 (50 mm) takes one 36 mm cable (51.8 %) and then nothing more.
    let mut tasks = Vec::new();
    for op in ["viettel", "vnpt", "mobifone", "fpt", "viettel", "vnpt"] {
        let secret = token(&pool, "carrier", Some(op)).await;
        let st = st.clone();
        tasks.push(tokio::spawn(async move {
            let body = lease(None, 36.0, json!([{"bank_id": ab, "duct": "A2"}]));
            as_role(&st, &secret, Method::POST, "/ducts/leases", Some(&body))
                .await
                .status
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, [201, 409, 409, 409, 409, 409]);
    let held: i64 = sqlx::query_scalar("select count(*) from duct_leases")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(held, 1);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn each_role_sees_only_the_leases_and_capacity_details_it_may(pool: PgPool) {
    let st = state(&pool).await;
    let (_, [ab, bc], _) = network(&pool, &st).await;
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    let vnpt = token(&pool, "carrier", Some("vnpt")).await;
    let analyst = token(&pool, "analyst", None).await;
    as_role(
        &st,
        &viettel,
        Method::POST,
        "/ducts/leases",
        Some(&lease(None, 10.0, json!([{"bank_id": ab, "duct": "A2"}]))),
    )
    .await;
    as_role(
        &st,
        &vnpt,
        Method::POST,
        "/ducts/leases",
        Some(&lease(None, 10.0, json!([{"bank_id": bc, "duct": "A2"}]))),
    )
    .await;
    let count = |r: Reply| r.json()["numberMatched"].as_i64().unwrap();
    assert_eq!(
        count(as_role(&st, &viettel, Method::GET, "/ducts/leases", None).await),
        1
    );
    assert_eq!(
        count(as_role(&st, &analyst, Method::GET, "/ducts/leases", None).await),
        2
    );
    send_raw(&st, Method::GET, "/ducts/leases", None, &[])
        .await
        .problem(401);
    // The public sees corridors with a class and nothing of the fill.
    let public = send_raw(&st, Method::GET, "/ducts/capacity", None, &[])
        .await
        .json();
    assert_eq!(public["features"].as_array().unwrap().len(), 2);
    let p = &public["features"][0]["properties"];
    assert_eq!(p["capacity_class"], "ample");
    assert!(
        p.get("conduits").is_none() && p.get("max_fill").is_none(),
        "{p}"
    );
    let signed = as_role(&st, &vnpt, Method::GET, "/ducts/capacity", None)
        .await
        .json();
    let conduits = signed["features"][0]["properties"]["conduits"]
        .as_array()
        .unwrap()
        .clone();
    // A1 and its three subducts, then A2 with viettel's 10 mm cable: 4 %.
    assert_eq!(conduits.len(), 5);
    assert_eq!(conduits[4]["duct"], "A2");
    assert_eq!(conduits[4]["fill"], 0.04);
    assert!(
        !signed.to_string().contains("viettel"),
        "no lessee in the capacity map"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_route_finder_follows_banks_with_room_and_names_the_bank_that_blocks(pool: PgPool) {
    let st = state(&pool).await;
    let (_, [ab, bc], [a, b, c]) = network(&pool, &st).await;
    let uri = |mm: f64| {
        format!(
            "/ducts/route?from={},{}&to={},{}&cable_diameter_mm={mm}",
            A[0], A[1], C[0], C[1]
        )
    };
    let r = send_raw(&st, Method::GET, &uri(20.0), None, &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let f = r.json();
    let p = &f["properties"];
    assert_eq!(p["structures"], json!([a, b, c]));
    let banks: Vec<i64> = p["banks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["bank_id"].as_i64().unwrap())
        .collect();
    assert_eq!(banks, [ab, bc]);
    // 20 mm does not fit a 27 mm subduct (54.9 % > 53 %): the smallest
    // conduit with room is A2 (50 mm).
    assert_eq!(p["banks"][0]["duct"], "A2", "{p}");
    // Fill A2 of bc with a 36 mm cable.
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    let r = as_role(
        &st,
        &viettel,
        Method::POST,
        "/ducts/leases",
        Some(&lease(None, 36.0, json!([{"bank_id": bc, "duct": "A2"}]))),
    )
    .await;
    assert_eq!(r.status, 201);
    let r = send_raw(&st, Method::GET, &uri(30.0), None, &[]).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // 30 mm: A2 in ab (36 %), A1 in bc beside its subducts (39.7 %).
    let p = r.json()["properties"].clone();
    assert_eq!(
        (p["banks"][0]["duct"].clone(), p["banks"][1]["duct"].clone()),
        (json!("A2"), json!("A1")),
        "{p}"
    );
    let r = send_raw(&st, Method::GET, &uri(60.0), None, &[]).await;
    let p = r.problem(404);
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("duct bank {ab}")),
        "{p}"
    );
    // Bad parameters.
    send_raw(
        &st,
        Method::GET,
        "/ducts/route?from=108,16&to=200,16&cable_diameter_mm=10",
        None,
        &[],
    )
    .await
    .problem(400);
    send_raw(
        &st,
        Method::GET,
        "/ducts/route?from=108,16&to=108.1,16",
        None,
        &[],
    )
    .await
    .problem(400);
    // The drafted lease request is a valid request as it stands: a 10 mm
    // cable goes in a subduct, named by number, and the stored lease holds
    // the same banks, ducts and subducts.
    let r = send_raw(&st, Method::GET, &uri(10.0), None, &[]).await;
    let draft = r.json()["properties"]["lease_request"].clone();
    assert!(draft["segments"][0]["subduct"].is_i64(), "{draft}");
    let r = as_role(&st, &viettel, Method::POST, "/ducts/leases", Some(&draft)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let stored: Vec<Value> = r.json()["properties"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| json!({"bank_id": s["bank_id"], "duct": s["duct"], "subduct": s["subduct"]}))
        .collect();
    assert_eq!(json!(stored), draft["segments"]);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_capacity_map_patched_after_each_lease_equals_one_built_afresh(pool: PgPool) {
    let st = state(&pool).await;
    let (admin, [ab, bc], _) = network(&pool, &st).await;
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    // Build the snapshot, then change it lease by lease.
    let map = |st: AppState| {
        let admin = admin.clone();
        async move {
            as_role(&st, &admin, Method::GET, "/ducts/capacity", None)
                .await
                .json()
        }
    };
    map(st.clone()).await;
    let body = lease(
        None,
        15.0,
        json!([{"bank_id": ab, "duct": "A2"}, {"bank_id": bc, "duct": "A1", "subduct": 1}]),
    );
    let r = as_role(&st, &viettel, Method::POST, "/ducts/leases", Some(&body)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_i64().unwrap();
    let patched = map(st.clone()).await;
    assert_eq!(st.ducts.rebuilds(), 1, "patched, not rebuilt");
    assert_eq!(patched, map(state(&pool).await).await);
    assert_eq!(
        patched["features"][0]["properties"]["conduits"][4]["fill"],
        0.09
    );
    as_role(
        &st,
        &admin,
        Method::PATCH,
        &format!("/ducts/leases/{id}"),
        Some(&json!({"state": "rejected"})),
    )
    .await;
    let patched = map(st.clone()).await;
    assert_eq!(st.ducts.rebuilds(), 1, "patched, not rebuilt");
    assert_eq!(patched, map(state(&pool).await).await);
    assert_eq!(
        patched["features"][0]["properties"]["conduits"][4]["fill"],
        0.0
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_summary_counts_duct_km_fill_and_aerial_fibre_beside_banks_with_room(pool: PgPool) {
    let st = state(&pool).await;
    let (admin, [ab, bc], _) = network(&pool, &st).await;
    // An aerial route 20 m north of the banks, from A to C (214 m), and one
    // 2 km away that no bank is near.
    let near = json!({"type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[A[0], A[1] + 0.00018], [C[0], C[1] + 0.00018]]},
        "properties": {"operator": "vnpt", "placement": "aerial", "fibre_count": 24}});
    let far = json!({"type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[A[0], A[1] + 0.02], [C[0], C[1] + 0.02]]},
        "properties": {"operator": "vnpt", "placement": "aerial", "fibre_count": 24}});
    create(&st, &admin, "fibre-routes", &near).await;
    create(&st, &admin, "fibre-routes", &far).await;
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    let r = as_role(
        &st,
        &viettel,
        Method::POST,
        "/ducts/leases",
        Some(&lease(
            None,
            30.0,
            json!([{"bank_id": ab, "duct": "A2"}, {"bank_id": bc, "duct": "A2"}]),
        )),
    )
    .await;
    assert_eq!(r.status, 201);
    let s = as_role(&st, &admin, Method::GET, "/analysis/summary", None)
        .await
        .json();
    let d = &s["ducts"];
    assert!(d.is_object(), "{s}");
    let oracle: (f64, f64) = sqlx::query_as(
        "select (select sum(length_m) / 1000 from duct_banks),
                (select ST_Length(geom::geography) / 1000 from fibre_routes order by id limit 1)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        (d["bank_km"].as_f64().unwrap() - oracle.0).abs() < 1e-3,
        "{d}"
    );
    assert_eq!(
        (d["banks"].as_i64(), d["ducts"].as_i64()),
        (Some(2), Some(4))
    );
    // Brute force: A1 holds three 32 mm subducts (30.72 %), A2 one 30 mm
    // cable (36 %), in each bank.
    let mean = (0.3072 + 0.36) / 2.0;
    assert!(
        (d["average_fill"].as_f64().unwrap() - mean).abs() < 1e-4,
        "{d}"
    );
    assert_eq!(d["max_fill"], 0.36);
    assert_eq!(d["banks_over_limit"], 0);
    assert_eq!(d["banks_with_room"], 2);
    // The near route lies wholly within 50 m of the banks; the far one not.
    assert!(
        (d["aerial_km_near_room"].as_f64().unwrap() - oracle.1).abs() < 0.002,
        "{d} vs {}",
        oracle.1
    );
}

/// The programme's test area on top of [`network`]: district T02 around
/// the banks, and three aerial routes from A to C — 20 m north of the
/// banks, 1 km north, and 555 m south, that one then moved underground
/// (a PATCH, so the history holds the move). Returns the length of one
/// route and of all banks, km (PostGIS geodesic).
async fn programme_network(pool: &PgPool, st: &AppState, admin: &str) -> (f64, f64) {
    let district = json!({"type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [[[108.215, 16.04], [108.235, 16.04], [108.235, 16.06], [108.215, 16.06], [108.215, 16.04]]]},
        "properties": {"code": "T02", "name": "Khu thử nghiệm", "population": 1000}});
    let r = as_role(
        st,
        admin,
        Method::POST,
        "/collections/districts/items",
        Some(&district),
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let aerial = |lat: f64| {
        json!({"type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[A[0], lat], [C[0], lat]]},
        "properties": {"operator": "vnpt", "placement": "aerial", "fibre_count": 24}})
    };
    // 20 m north of the banks: near room. 1 km north: not near.
    create(st, admin, "fibre-routes", &aerial(A[1] + 0.00018)).await;
    create(st, admin, "fibre-routes", &aerial(A[1] + 0.009)).await;
    // A third one moved underground.
    let moved = create(st, admin, "fibre-routes", &aerial(A[1] - 0.005)).await;
    let uri = format!("/collections/fibre-routes/items/{moved}");
    let etag = as_role(st, admin, Method::GET, &uri, None).await.headers["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let auth = format!("Bearer {admin}");
    let patch = serde_json::to_vec(&json!({"properties": {"placement": "underground"}})).unwrap();
    let r = send_raw(
        st,
        Method::PATCH,
        &uri,
        Some(("application/merge-patch+json", patch)),
        &[("authorization", &auth), ("if-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let one: f64 = sqlx::query_scalar(
        "select ST_Length(geom::geography) / 1000 from fibre_routes order by id limit 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let banks: f64 = sqlx::query_scalar("select sum(length_m) / 1000 from duct_banks")
        .fetch_one(pool)
        .await
        .unwrap();
    (one, banks)
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_undergrounding_programme_counts_fibre_to_move_moved_and_near_room_per_district(
    pool: PgPool,
) {
    let st = state(&pool).await;
    let (admin, _, _) = network(&pool, &st).await;
    let (one, banks) = programme_network(&pool, &st, &admin).await;
    let doc = send_raw(&st, Method::GET, "/analysis/undergrounding", None, &[])
        .await
        .json();
    let d = &doc["districts"][0];
    assert_eq!(d["code"], "T02", "{doc}");
    let close = |k: &str, v: f64| {
        assert!(
            (d[k].as_f64().unwrap() - v).abs() < 0.002,
            "{k}: {d} vs {v}"
        );
    };
    close("aerial_km", 2.0 * one);
    close("underground_km", one);
    close("moved_km", one);
    close("aerial_km_near_room", one);
    close("bank_km", banks);
    let csv = send_raw(
        &st,
        Method::GET,
        "/analysis/undergrounding?f=csv",
        None,
        &[],
    )
    .await;
    assert!(csv.content_type.starts_with("text/csv"));
    assert!(String::from_utf8_lossy(&csv.body).starts_with("code,name,aerial_km,"));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_programme_per_street_segment_counts_what_runs_along_each_street_inside_each_district(
    pool: PgPool,
) {
    let st = state(&pool).await;
    let (admin, _, _) = network(&pool, &st).await;
    let (one, banks) = programme_network(&pool, &st, &admin).await;
    let north = A[1] + 0.00018; // 20 m north of the banks
    let south = A[1] - 0.005; // 555 m south
    // Street 1 runs 20 m north of the banks and leaves the district at
    // 108.235; street 2 runs along the route that moves underground.
    for (gid, name, lat, east) in [
        (1, "Bạch Đằng", north, 108.24),
        (2, "Trần Phú", south, 108.226),
    ] {
        sqlx::query(
            "insert into streets (source_gid, name, class, level, geom)
             values ($1, $2, 'road', 'city', ST_Multi(ST_MakeLine(ST_MakePoint(108.218, $3), ST_MakePoint($4, $3)))::geometry(MultiLineString, 4326))",
        )
        .bind(gid)
        .bind(name)
        .bind(lat)
        .bind(east)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Oracles: the routes' and banks' geodesic lengths (each lies wholly
    // within 30 m of its street), and the segment's length on the WGS 84
    // ellipsoid (Karney's geodesic, as PostGIS's geography).
    let geodesic_km = |dlon: f64, lat: f64| {
        use geo::{Distance, Geodesic, Point};
        Geodesic.distance(Point::new(108.218, lat), Point::new(108.218 + dlon, lat)) / 1000.0
    };
    let doc = send_raw(
        &st,
        Method::GET,
        "/analysis/undergrounding/streets",
        None,
        &[],
    )
    .await
    .json();
    assert_eq!(doc["corridor_m"], 30.0);
    let segs = doc["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 2, "{doc}");
    let (first, second) = (&segs[0], &segs[1]);
    assert_eq!(
        (first["name"].as_str(), first["code"].as_str()),
        (Some("Bạch Đằng"), Some("T02"))
    );
    let close = |seg: &Value, k: &str, v: f64| {
        assert!(
            (seg[k].as_f64().unwrap() - v).abs() < 0.002,
            "{k}: {seg} vs {v}"
        );
    };
    close(first, "length_km", geodesic_km(108.235 - 108.218, north));
    close(first, "aerial_km", one);
    close(first, "moved_km", 0.0);
    close(first, "bank_km", banks);
    close(first, "bank_km_with_room", banks);
    assert_eq!(second["name"], "Trần Phú");
    close(second, "aerial_km", 0.0);
    close(second, "moved_km", one);
    close(second, "bank_km", 0.0);
    // A corridor of 10 m leaves out the banks 20 m from street 1.
    let narrow = send_raw(
        &st,
        Method::GET,
        "/analysis/undergrounding/streets?corridor_m=10",
        None,
        &[],
    )
    .await
    .json();
    close(&narrow["segments"][0], "bank_km", 0.0);
    close(&narrow["segments"][0], "aerial_km", one);
    let csv = send_raw(
        &st,
        Method::GET,
        "/analysis/undergrounding/streets?f=csv",
        None,
        &[],
    )
    .await;
    assert!(csv.content_type.starts_with("text/csv"));
    assert!(
        String::from_utf8_lossy(&csv.body).starts_with("street_id,name,code,district,length_km,")
    );
    for bad in [
        "corridor_m=0",
        "corridor_m=500",
        "corridor_m=x",
        "by=street",
    ] {
        send_raw(
            &st,
            Method::GET,
            &format!("/analysis/undergrounding/streets?{bad}"),
            None,
            &[],
        )
        .await
        .problem(400);
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_city_with_stricter_fill_limits_gets_them_in_admission_capacity_and_tiles(pool: PgPool) {
    // One cable may take 20 % of a duct (NEC: 53 %).
    let policy: telecom_gis::domain::duct::CapacityPolicy = "20,31,40".parse().unwrap();
    let st = AppState {
        ducts: std::sync::Arc::new(telecom_gis::service::ducts::DuctState::new(policy)),
        ..state(&pool).await
    };
    let (admin, [ab, _], _) = network(&pool, &st).await;
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    // A2 of ab is 50 mm: a 25 mm cable fills it to 25 % — admitted under
    // NEC, refused here.
    let body = lease(None, 25.0, json!([{"bank_id": ab, "duct": "A2"}]));
    let before = common::fingerprint(&pool).await;
    let r = as_role(&st, &viettel, Method::POST, "/ducts/leases", Some(&body)).await;
    let p = r.problem(409);
    assert!(p["detail"].as_str().unwrap().contains("20.0 %"), "{p}");
    assert_eq!(common::fingerprint(&pool).await, before);
    // The empty 50 mm duct A2 takes 50·√0.2 = 22.4 mm.
    let map = as_role(&st, &admin, Method::GET, "/ducts/capacity", None)
        .await
        .json();
    assert_eq!(map["fill_limits"]["one_cable"], 0.2);
    let conduits = map["features"][0]["properties"]["conduits"]
        .as_array()
        .unwrap();
    let a2 = conduits.iter().find(|c| c["duct"] == "A2").unwrap();
    assert!(
        (a2["largest_cable_mm"].as_f64().unwrap() - 50.0 * 0.2f64.sqrt()).abs() < 0.01,
        "{a2}"
    );
    // The tile's fill details use the same limits.
    let largest = map["features"][0]["properties"]["largest_cable_mm"]
        .as_f64()
        .unwrap();
    let uri = {
        use telecom_gis::tiles::{MERCATOR_HALF_M, to_3857};
        let z = 16u32;
        let n = f64::from(1u32 << z);
        let (x, y) = to_3857((A[0] + B[0]) / 2.0, A[1]);
        let col = ((x + MERCATOR_HALF_M) / (2.0 * MERCATOR_HALF_M) * n) as u32;
        let row = ((MERCATOR_HALF_M - y) / (2.0 * MERCATOR_HALF_M) * n) as u32;
        format!("/collections/duct-banks/tiles/WebMercatorQuad/{z}/{row}/{col}")
    };
    let r = as_role(&st, &admin, Method::GET, &uri, None).await;
    assert_eq!(r.status, 200);
    use geozero::mvt::Message;
    let tile = geozero::mvt::Tile::decode(r.body.as_slice()).unwrap();
    let layer = &tile.layers[0];
    let key = layer
        .keys
        .iter()
        .position(|k| k == "largest_cable_mm")
        .unwrap() as u32;
    let f = layer
        .features
        .iter()
        .find(|f| f.id == Some(ab as u64))
        .unwrap();
    let v = f.tags.chunks(2).find(|kv| kv[0] == key).unwrap()[1];
    assert_eq!(layer.values[v as usize].double_value, Some(largest));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_duct_layers_export_as_geojson_with_their_ducts(pool: PgPool) {
    let st = state(&pool).await;
    network(&pool, &st).await;
    let r = send_raw(
        &st,
        Method::GET,
        "/collections/duct-banks/items?f=geojson",
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let fc = r.json();
    assert_eq!(fc["features"].as_array().unwrap().len(), 2);
    assert_eq!(
        fc["features"][0]["properties"]["ducts"][0]["subducts"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = send_raw(
        &st,
        Method::GET,
        "/collections/structures/items?f=geojson",
        None,
        &[],
    )
    .await;
    assert_eq!(r.json()["features"].as_array().unwrap().len(), 3);
}

/// `GET {uri}` as `token`; the body as text (200 expected).
async fn text_of(st: &AppState, token: &str, uri: &str) -> Vec<u8> {
    let r = as_role(st, token, Method::GET, uri, None).await;
    assert_eq!(r.status, 200, "{uri}: {}", String::from_utf8_lossy(&r.body));
    r.body
}

/// `POST /imports?{query}` of `body` as `token`; the report.
async fn import_as(st: &AppState, token: &str, query: &str, body: Vec<u8>) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let r = send_raw(
        st,
        Method::POST,
        &format!("/imports?{query}"),
        Some(("application/octet-stream", body)),
        &[("authorization", &auth)],
    )
    .await;
    let status = r.status.as_u16();
    let v = r.json();
    (status, v.get("report").cloned().unwrap_or(v))
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_duct_layers_round_trip_through_csv_and_geopackage_and_banks_find_their_structures(
    pool: PgPool,
) {
    let st = state(&pool).await;
    let (admin, _, _) = network(&pool, &st).await;
    sqlx::query("update structures set external_id = 'MH-' || id")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "update duct_banks set external_id = 'DB-' || id, encasement = 'concrete', depth_m = 0.8",
    )
    .execute(&pool)
    .await
    .unwrap();
    let structures_csv = text_of(&st, &admin, "/collections/structures/items?f=csv").await;
    let banks_csv = text_of(&st, &admin, "/collections/duct-banks/items?f=csv").await;
    let banks_gpkg = text_of(&st, &admin, "/collections/duct-banks/items?f=gpkg").await;
    // (The GeoJSON export names the structures by this database's ids.)
    let banks_geojson = text_of(&st, &admin, "/collections/duct-banks/items?f=geojson").await;
    let head = String::from_utf8_lossy(&banks_csv);
    assert!(
        head.starts_with("external_id,owner,name,configuration,encasement,depth_m,status,synthetic,length_m,ducts,wkt"),
        "{head}"
    );
    assert!(head.contains("LINESTRING"), "{head}");
    // An empty network: banks cannot come before their structures.
    sqlx::query("truncate duct_lease_segments, duct_leases, subducts, ducts, duct_banks, structures cascade")
        .execute(&pool)
        .await
        .unwrap();
    let before = common::fingerprint(&pool).await;
    let (status, report) = import_as(
        &st,
        &admin,
        "layer=duct-banks&format=csv&mode=commit",
        banks_csv.clone(),
    )
    .await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["rejected"], 2, "{report}");
    let reason = report["problems"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("import the structures first"), "{report}");
    assert_eq!(report["problems"][0]["field"], "from_structure_id");
    assert_eq!(common::fingerprint(&pool).await, before, "nothing stored");
    // Structures, then banks: the banks' ends are found at the structures.
    let (status, report) = import_as(
        &st,
        &admin,
        "layer=structures&format=csv&mode=commit",
        structures_csv.clone(),
    )
    .await;
    assert_eq!(
        (status, report["created"].as_i64()),
        (200, Some(3)),
        "{report}"
    );
    let (status, report) = import_as(
        &st,
        &admin,
        "layer=duct-banks&format=csv&mode=commit",
        banks_csv.clone(),
    )
    .await;
    assert_eq!(
        (status, report["created"].as_i64()),
        (200, Some(2)),
        "{report}"
    );
    // The same exports again (ids are new; exports leave them out).
    assert_eq!(
        text_of(&st, &admin, "/collections/structures/items?f=csv").await,
        structures_csv
    );
    assert_eq!(
        text_of(&st, &admin, "/collections/duct-banks/items?f=csv").await,
        banks_csv
    );
    let ends: Vec<(i64, i64)> = sqlx::query_as(
        "select (select count(*) from structures s where s.id = b.from_structure_id
                 and ST_DWithin(s.geom::geography, ST_StartPoint(b.geom)::geography, 1)),
                (select count(*) from structures s where s.id = b.to_structure_id
                 and ST_DWithin(s.geom::geography, ST_EndPoint(b.geom)::geography, 1))
         from duct_banks b",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(ends, vec![(1, 1), (1, 1)]);
    // The GeoPackage export reads back as the same banks (a dry run: all
    // unchanged), and every import is in the history.
    let (status, report) = import_as(
        &st,
        &admin,
        "layer=duct-banks&format=gpkg&mode=dry-run",
        banks_gpkg,
    )
    .await;
    assert_eq!(
        (status, report["unchanged"].as_i64()),
        (200, Some(2)),
        "{report}"
    );
    // So does the GeoJSON export, whose structure ids are stale now: the
    // structures are found at the banks' ends.
    let (status, report) = import_as(
        &st,
        &admin,
        "layer=duct-banks&format=geojson&mode=dry-run",
        banks_geojson,
    )
    .await;
    assert_eq!(
        (status, report["unchanged"].as_i64()),
        (200, Some(2)),
        "{report}"
    );
    let created: i64 = sqlx::query_scalar(
        "select count(*) from feature_history where collection in ('structures', 'duct-banks') and op = 'create'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(created, 3 + 2 + 3 + 2, "network creation and the imports");
    // A carrier may not import the city's banks: every row refused.
    let viettel = token(&pool, "carrier", Some("viettel")).await;
    let before = common::fingerprint(&pool).await;
    let (status, report) = import_as(
        &st,
        &viettel,
        "layer=structures&format=csv&mode=commit",
        structures_csv,
    )
    .await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["problems"][0]["field"], "owner", "{report}");
    assert_eq!(common::fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_capacity_map_pages_by_bank_id_within_a_bbox(pool: PgPool) {
    let st = state(&pool).await;
    let (_, [ab, bc], _) = network(&pool, &st).await;
    let page = send_raw(
        &st,
        Method::GET,
        "/ducts/capacity?limit=1&offset=1",
        None,
        &[],
    )
    .await
    .json();
    assert_eq!(
        (
            page["numberMatched"].as_i64(),
            page["numberReturned"].as_i64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(page["features"][0]["id"], bc);
    // A box around the first bank only.
    let r = send_raw(
        &st,
        Method::GET,
        &format!(
            "/ducts/capacity?bbox={},{},{},{}",
            A[0] - 0.0001,
            A[1] - 0.0001,
            A[0] + 0.0005,
            A[1] + 0.0001
        ),
        None,
        &[],
    )
    .await
    .json();
    let ids: Vec<i64> = r["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [ab]);
    send_raw(&st, Method::GET, "/ducts/capacity?limit=0", None, &[])
        .await
        .problem(400);
    send_raw(&st, Method::GET, "/ducts/capacity?limit=10001", None, &[])
        .await
        .problem(400);
}
