//! The audit history: who changed what, the network as it was at any past
//! instant (`as_of`), exact restores, and optimistic concurrency (ETag and
//! If-Match).

use crate::common;
use crate::common::{Reply, fingerprint, send_raw, token};
use axum::http::Method;
use rand::{Rng, SeedableRng};
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

struct Client {
    state: AppState,
    auth: String,
}

impl Client {
    async fn new(pool: &PgPool, role: &str, operator: Option<&str>) -> Client {
        common::operators(pool).await;
        Client {
            state: unlimited(pool).await,
            auth: format!("Bearer {}", token(pool, role, operator).await),
        }
    }

    async fn send(
        &self,
        method: Method,
        uri: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Reply {
        let mut headers = vec![("authorization", self.auth.as_str())];
        headers.extend_from_slice(extra);
        let ct = if method == Method::PATCH {
            "application/merge-patch+json"
        } else {
            "application/geo+json"
        };
        let body = body.map(|b| (ct, serde_json::to_vec(&b).unwrap()));
        send_raw(&self.state, method, uri, body, &headers).await
    }

    /// POSTs the shared test tower.
    async fn create_tower(&self) -> Reply {
        let tower = Some(common::tower_feature());
        self.send(Method::POST, "/collections/towers/items", tower, &[])
            .await
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, None, &[]).await
    }
}

fn etag(r: &Reply) -> String {
    r.headers["etag"].to_str().unwrap().to_owned()
}

fn path_of(r: &Reply) -> String {
    r.headers["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("http://test.local")
        .to_owned()
}

/// The instant just after a step: waits a millisecond so that history
/// times (millisecond precision) of the next step are later.
async fn instant() -> String {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let t = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    t
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_seeded_sequence_of_edits_is_reconstructed_exactly_by_as_of_at_each_step(pool: PgPool) {
    let admin = Client::new(&pool, "admin", None).await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2019);
    let t0 = instant().await;
    let created = admin.create_tower().await;
    assert_eq!(created.status, 201);
    let path = path_of(&created);
    // (instant, the feature as GET served it then; None when absent)
    let mut steps: Vec<(String, Option<Value>)> = vec![(t0, None)];
    steps.push((instant().await, Some(admin.get(&path).await.json())));
    for i in 0..12 {
        let current = admin.get(&path).await;
        let tag = etag(&current);
        let patch = match rng.gen_range(0..4) {
            0 => json!({"properties": {"height_m": rng.gen_range(10..60) as f64}}),
            1 => {
                let status = ["planned", "operational", "retired"][rng.gen_range(0..3)];
                json!({"properties": {"status": status}})
            }
            2 => json!({"properties": {"name": format!("Trạm {i}")}}),
            _ => json!({"geometry": {"type": "Point", "coordinates": [
                108.2 + rng.gen_range(0.0..0.05), 16.05 + rng.gen_range(0.0..0.05)]}}),
        };
        let r = admin
            .send(Method::PATCH, &path, Some(patch), &[("if-match", &tag)])
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        steps.push((instant().await, Some(admin.get(&path).await.json())));
    }
    let last = admin.get(&path).await;
    let r = admin
        .send(Method::DELETE, &path, None, &[("if-match", &etag(&last))])
        .await;
    assert_eq!(r.status, 204);
    steps.push((instant().await, None));
    let restored = admin
        .send(Method::POST, &format!("{path}/restore"), None, &[])
        .await;
    assert_eq!(restored.status, 200);
    steps.push((instant().await, Some(admin.get(&path).await.json())));

    for (i, (at, want)) in steps.iter().enumerate() {
        let q = format!("{path}?as_of={}", at.replace('+', "%2B"));
        let r = admin.get(&q).await;
        match want {
            Some(feature) => {
                assert_eq!(r.status, 200, "step {i}");
                assert_eq!(&r.json(), feature, "step {i} at {at}");
            }
            None => {
                r.problem(404);
            }
        }
        // The collection at that instant holds exactly that feature.
        let list = admin
            .get(&format!(
                "/collections/towers/items?as_of={}",
                at.replace('+', "%2B")
            ))
            .await
            .json();
        let ids: Vec<&Value> = list["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["id"])
            .collect();
        assert_eq!(ids.len(), usize::from(want.is_some()), "step {i}");
        if let Some(feature) = want {
            let mut listed = list["features"][0].clone();
            let mut expected = feature.clone();
            expected.as_object_mut().unwrap().remove("links");
            listed.as_object_mut().unwrap().remove("links");
            assert_eq!(listed, expected, "step {i} (list)");
        }
    }

    // The history says who did what, in order, with before and after.
    let h = admin.get(&format!("{path}/history")).await.json();
    let entries = h["entries"].as_array().unwrap();
    let ops: Vec<&str> = entries.iter().map(|e| e["op"].as_str().unwrap()).collect();
    assert_eq!(ops.len(), 15);
    assert_eq!(ops[0], "create");
    assert_eq!(&ops[13..], ["delete", "restore"]);
    for w in entries.windows(2) {
        if w[1]["op"] == "update" || w[1]["op"] == "delete" {
            assert_eq!(
                w[1]["before"], w[0]["after"],
                "each change starts where the last ended"
            );
        }
        assert!(w[0]["at"].as_str() <= w[1]["at"].as_str());
    }
    assert!(
        entries
            .iter()
            .all(|e| e["actor"]["role"] == "admin" && e["request_id"].is_string())
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_restored_feature_is_identical_and_deleted_ones_leave_every_layer(pool: PgPool) {
    let admin = Client::new(&pool, "admin", None).await;
    common::load_sample(&pool, 60).await;
    let admin = Client {
        state: unlimited(&pool).await,
        auth: admin.auth,
    };
    let list = admin
        .get("/collections/towers/items?limit=1&operator=viettel")
        .await
        .json();
    let id = list["features"][0]["id"].as_i64().unwrap();
    let path = format!("/collections/towers/items/{id}");
    let before = admin.get(&path).await;
    let fp = fingerprint(&pool).await;
    let summary_before = admin.get("/analysis/summary").await.json();
    let r = admin
        .send(Method::DELETE, &path, None, &[("if-match", &etag(&before))])
        .await;
    assert_eq!(r.status, 204);

    // Gone from items, the list, the coverage index and the analysis.
    let gone = admin.get(&path).await.problem(404);
    assert!(
        gone["detail"].as_str().unwrap().contains("deleted"),
        "{gone}"
    );
    let ids: Vec<i64> = admin
        .get("/collections/towers/items?limit=10000")
        .await
        .json()["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(!ids.contains(&id));
    assert!(admin.state.coverage.snapshot().tower_sectors(id).is_empty());
    let summary_after = admin.get("/analysis/summary").await.json();
    assert_ne!(
        summary_before, summary_after,
        "the analysis no longer counts it"
    );

    let r = admin
        .send(Method::POST, &format!("{path}/restore"), None, &[])
        .await;
    assert_eq!(r.status, 200);
    let after = admin.get(&path).await;
    assert_eq!(after.json(), before.json(), "identical feature");
    assert_eq!(etag(&after), etag(&before), "identical representation");
    // The data is as it was; only the history grew.
    let strip = |s: String| -> String {
        s.split(';')
            .filter(|p| !p.starts_with("feature_history"))
            .collect::<Vec<_>>()
            .join(";")
    };
    assert_eq!(strip(fingerprint(&pool).await), strip(fp));
    assert_eq!(admin.get("/analysis/summary").await.json(), summary_before);

    // Restoring a live feature, or one that never was, is refused.
    admin
        .send(Method::POST, &format!("{path}/restore"), None, &[])
        .await
        .problem(409);
    admin
        .send(
            Method::POST,
            "/collections/towers/items/999999/restore",
            None,
            &[],
        )
        .await
        .problem(404);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn writes_need_if_match_and_a_stale_one_is_refused(pool: PgPool) {
    let admin = Client::new(&pool, "admin", None).await;
    let created = admin.create_tower().await;
    let path = path_of(&created);
    let first = etag(&created);
    assert_eq!(
        first,
        etag(&admin.get(&path).await),
        "POST and GET agree on the ETag"
    );
    let patch = || Some(json!({"properties": {"name": "Mới"}}));
    let before = fingerprint(&pool).await;
    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        let body = match method {
            Method::PUT => Some(common::tower_feature()),
            Method::PATCH => patch(),
            _ => None,
        };
        let p = admin
            .send(method.clone(), &path, body.clone(), &[])
            .await
            .problem(428);
        assert_eq!(p["errors"][0]["header"], "If-Match");
        let weak = format!("W/{first}");
        admin
            .send(method.clone(), &path, body, &[("if-match", &weak)])
            .await
            .problem(412);
    }
    assert_eq!(fingerprint(&pool).await, before);
    let r = admin
        .send(Method::PATCH, &path, patch(), &[("if-match", &first)])
        .await;
    assert_eq!(r.status, 200);
    let second = etag(&r);
    assert_ne!(first, second);
    let before = fingerprint(&pool).await;
    let stale = admin
        .send(Method::PATCH, &path, patch(), &[("if-match", &first)])
        .await;
    stale.problem(412);
    assert_eq!(etag(&stale), second, "412 says the current ETag");
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn of_two_concurrent_patches_with_the_same_etag_exactly_one_succeeds(pool: PgPool) {
    let admin = Client::new(&pool, "admin", None).await;
    let created = admin.create_tower().await;
    let path = path_of(&created);
    for round in 0..8 {
        let tag = etag(&admin.get(&path).await);
        let headers = [("if-match", tag.as_str())];
        let a = admin.send(
            Method::PATCH,
            &path,
            Some(json!({"properties": {"name": format!("A{round}")}})),
            &headers,
        );
        let b = admin.send(
            Method::PATCH,
            &path,
            Some(json!({"properties": {"height_m": 40.0 + round as f64}})),
            &headers,
        );
        let (a, b) = tokio::join!(a, b);
        let mut codes = [a.status.as_u16(), b.status.as_u16()];
        codes.sort_unstable();
        assert_eq!(codes, [200, 412], "round {round}");
    }
    let h = admin.get(&format!("{path}/history")).await.json();
    assert_eq!(
        h["entries"].as_array().unwrap().len(),
        1 + 8,
        "one update per round"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_change_feed_pages_by_cursor_and_a_carrier_sees_only_its_own(pool: PgPool) {
    let admin = Client::new(&pool, "admin", None).await;
    let viettel = Client::new(&pool, "carrier", Some("viettel")).await;
    let mut vt = common::tower_feature();
    vt["properties"]["tenants"] = json!([]);
    vt["properties"]["sectors"]
        .as_array_mut()
        .unwrap()
        .truncate(1);
    let since = instant().await;
    for i in 0..3 {
        let mut f = vt.clone();
        f["properties"]["site_code"] = json!(format!("FEED-{i}"));
        let r = viettel
            .send(Method::POST, "/collections/towers/items", Some(f), &[])
            .await;
        assert_eq!(r.status, 201);
    }
    let r = admin
        .send(
            Method::POST,
            "/collections/data-centres/items",
            Some(common::data_centre_feature()),
            &[],
        )
        .await;
    assert_eq!(r.status, 201);

    let mut seen = Vec::new();
    let mut uri = format!("/changes?since={}&limit=2", since.replace('+', "%2B"));
    loop {
        let page = admin.get(&uri).await.json();
        for c in page["changes"].as_array().unwrap() {
            seen.push((
                c["collection"].as_str().unwrap().to_owned(),
                c["op"].as_str().unwrap().to_owned(),
            ));
        }
        match page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
        {
            Some(next) => {
                uri = next["href"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("http://test.local")
                    .to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 4);
    let mine = viettel.get("/changes").await.json();
    assert_eq!(
        mine["changes"].as_array().unwrap().len(),
        3,
        "viettel's own only"
    );
    viettel.get("/changes?operator=vnpt").await.problem(403);
    let anon = send_raw(&admin.state, Method::GET, "/changes", None, &[]).await;
    anon.problem(401);
    admin.get("/changes?since=yesterday").await.problem(400);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn features_loaded_before_the_history_began_have_their_state_as_of_any_later_time(
    pool: PgPool,
) {
    common::load_sample(&pool, 20).await;
    let admin = Client::new(&pool, "admin", None).await;
    let loaded = instant().await;
    let list_then = admin
        .get("/collections/towers/items?limit=100")
        .await
        .json();
    let first = &list_then["features"][0];
    let path = format!("/collections/towers/items/{}", first["id"]);
    let tag = etag(&admin.get(&path).await);
    let r = admin
        .send(
            Method::PATCH,
            &path,
            Some(json!({"properties": {"status": "retired"}})),
            &[("if-match", &tag)],
        )
        .await;
    assert_eq!(r.status, 200);
    let past = admin
        .get(&format!(
            "/collections/towers/items?limit=100&as_of={}",
            loaded.replace('+', "%2B")
        ))
        .await
        .json();
    assert_eq!(
        past["features"], list_then["features"],
        "the sample as it was, unaudited rows included"
    );
    assert_eq!(past["numberMatched"], list_then["numberMatched"]);
    let before_load = "2000-01-01T00:00:00Z";
    let empty = admin
        .get(&format!("/collections/towers/items?as_of={before_load}"))
        .await
        .json();
    assert_eq!(empty["numberMatched"], 0);
    admin
        .get("/collections/towers/items?as_of=last-week")
        .await
        .problem(400);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn history_rows_cannot_be_changed_or_removed(pool: PgPool) {
    let admin = Client::new(&pool, "admin", None).await;
    let r = admin.create_tower().await;
    assert_eq!(r.status, 201);
    for sql in [
        "update feature_history set actor = 'someone else'",
        "delete from feature_history",
        "truncate feature_history",
    ] {
        let e = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(e.to_string().contains("append-only"), "{sql}: {e}");
    }
}
