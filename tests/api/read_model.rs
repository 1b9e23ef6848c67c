//! The in-memory read model answers what PostGIS would: pages, items and
//! vector tiles from memory are compared with the same requests answered by
//! a service without a read model (every read from PostGIS), for every
//! layer and every kind of viewer, after loading, after an API write, after
//! a plain SQL write and after the change listener reconnects.
//!
//! Tiles are decoded with geozero's MVT reader and compared feature by
//! feature: ids, geometry type, attributes with their MVT value types, and
//! geometry commands.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use geozero::mvt::{Message, Tile};
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::coverage::listener::{CoverageState, ListenerState};
use telecom_gis::coverage::model::CoverageConfig;
use telecom_gis::http::limits::RateLimits;
use telecom_gis::service::read_model::ReadModel;
use telecom_gis::tiles::TileCoord;

use crate::common::{self, Reply, send_raw, token};

/// A service whose reads come from the read model (when it has caught up).
async fn memory_state(pool: &PgPool) -> AppState {
    AppState {
        limits: Arc::new(RateLimits::disabled()),
        ..AppState::loaded(pool.clone()).await.unwrap()
    }
}

/// A service without a read model: every page, item and tile from PostGIS.
async fn postgis_state(pool: &PgPool) -> AppState {
    let coverage = Arc::new(CoverageState::new(CoverageConfig::default()));
    coverage.reload(pool).await.unwrap();
    AppState {
        coverage,
        limits: Arc::new(RateLimits::disabled()),
        ..AppState::new(pool.clone())
    }
}

fn model(state: &AppState) -> &ReadModel {
    ReadModel::of(&state.coverage).expect("a read model is attached")
}

/// The viewers: the public, a carrier (exact fibre of its own only), the
/// Department.
async fn viewers(pool: &PgPool) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("public", None),
        (
            "carrier viettel",
            Some(format!(
                "Bearer {}",
                token(pool, "carrier", Some("viettel")).await
            )),
        ),
        (
            "admin",
            Some(format!("Bearer {}", token(pool, "admin", None).await)),
        ),
    ]
}

async fn get(state: &AppState, uri: &str, auth: &Option<String>) -> Reply {
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    send_raw(state, Method::GET, uri, None, &headers).await
}

/// A page or item document without what differs by the instant it was
/// served (`timeStamp`).
fn comparable(r: &Reply) -> Value {
    let mut v: Value = serde_json::from_slice(&r.body).unwrap_or(json!(null));
    if let Some(o) = v.as_object_mut() {
        o.remove("timeStamp");
    }
    v
}

const PAGE_URIS: &[&str] = &[
    "/collections/towers/items",
    "/collections/towers/items?limit=1000",
    "/collections/towers/items?limit=7&offset=13",
    "/collections/towers/items?bbox=108.18,16.03,108.24,16.08&limit=500",
    "/collections/towers/items?operator=viettel&limit=1000",
    "/collections/towers/items?technology=5G&status=operational&limit=1000",
    "/collections/towers/items?tenant=vnpt&limit=1000",
    "/collections/towers/items?structure_type=monopole&bbox=108.0,15.9,108.3,16.2",
    "/collections/fibre-routes/items?limit=1000",
    "/collections/fibre-routes/items?bbox=108.18,16.03,108.24,16.08",
    "/collections/fibre-routes/items?operator=vnpt&placement=underground",
    "/collections/fibre-routes/items?limit=3&offset=2",
    "/collections/data-centres/items",
    "/collections/data-centres/items?bbox=108.1,16.0,108.3,16.1&operator=viettel",
    "/collections/districts/items",
    "/collections/districts/items?code=490",
];

/// Compares every page of [`PAGE_URIS`] and every feature of the sample
/// between the two services, for each viewer.
async fn assert_same_reads(pool: &PgPool, memory: &AppState, postgis: &AppState, when: &str) {
    let before = model(memory).stats().memory;
    for (who, auth) in viewers(pool).await {
        for uri in PAGE_URIS {
            let (m, p) = (
                get(memory, uri, &auth).await,
                get(postgis, uri, &auth).await,
            );
            assert_eq!(m.status, p.status, "{when}, {who}: {uri}");
            assert_eq!(comparable(&m), comparable(&p), "{when}, {who}: {uri}");
        }
        for c in ["towers", "fibre-routes", "data-centres", "districts"] {
            let page = get(
                postgis,
                &format!("/collections/{c}/items?limit=10000"),
                &auth,
            )
            .await;
            let ids: Vec<String> = page.json()["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| match &f["id"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            assert!(!ids.is_empty(), "{c} has features");
            for id in ids.iter().step_by(7) {
                let uri = format!("/collections/{c}/items/{id}");
                let (m, p) = (
                    get(memory, &uri, &auth).await,
                    get(postgis, &uri, &auth).await,
                );
                assert_eq!(m.status, p.status, "{when}, {who}: {uri}");
                assert_eq!(m.body, p.body, "{when}, {who}: {uri}");
                assert_eq!(
                    m.headers.get("etag"),
                    p.headers.get("etag"),
                    "{when}, {who}: {uri}"
                );
            }
        }
    }
    assert!(
        model(memory).stats().memory > before,
        "{when}: the read model answered"
    );
}

/// A layer of a tile by name, with its features by id (districts: by code):
/// geometry type, attributes (name and MVT value), and the parts of the
/// geometry in tile units (polygon rings from their least vertex: where a
/// ring starts is not part of its shape).
type Decoded =
    BTreeMap<String, BTreeMap<String, (Option<i32>, Vec<(String, String)>, Vec<Vec<(i32, i32)>>)>>;

/// The parts (MoveTo … LineTo runs) of MVT geometry commands.
fn parts(kind: Option<i32>, cmds: &[u32]) -> Vec<Vec<(i32, i32)>> {
    let zz = |v: u32| ((v >> 1) as i32) ^ -((v & 1) as i32);
    let mut out: Vec<Vec<(i32, i32)>> = vec![];
    let (mut at, mut i) = ((0, 0), 0usize);
    while i < cmds.len() {
        let (id, count) = (cmds[i] & 7, cmds[i] >> 3);
        i += 1;
        for _ in 0..count {
            match id {
                1 | 2 => {
                    at = (at.0 + zz(cmds[i]), at.1 + zz(cmds[i + 1]));
                    i += 2;
                    if id == 1 {
                        out.push(vec![]);
                    }
                    out.last_mut().unwrap().push(at);
                }
                _ => {}
            }
        }
    }
    if kind == Some(3) {
        for ring in &mut out {
            let start = (0..ring.len()).min_by_key(|k| ring[*k]).unwrap_or(0);
            ring.rotate_left(start);
        }
    }
    out
}

fn decode(r: &Reply) -> Decoded {
    let mut out = Decoded::new();
    if r.status.as_u16() == 204 {
        return out;
    }
    assert_eq!(
        r.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let body = if r
        .headers
        .get("content-encoding")
        .is_some_and(|v| v == "gzip")
    {
        use std::io::Read;
        let mut d = flate2::read::GzDecoder::new(r.body.as_slice());
        let mut v = Vec::new();
        d.read_to_end(&mut v).unwrap();
        v
    } else {
        r.body.clone()
    };
    let t = Tile::decode(body.as_slice()).expect("a valid MVT");
    for l in t.layers {
        let features = out.entry(l.name.clone()).or_default();
        for f in &l.features {
            let mut props: Vec<(String, String)> = f
                .tags
                .chunks(2)
                .map(|kv| {
                    (
                        l.keys[kv[0] as usize].clone(),
                        format!("{:?}", l.values[kv[1] as usize]),
                    )
                })
                .collect();
            props.sort();
            let id = match f.id {
                Some(id) => id.to_string(),
                None => props
                    .iter()
                    .find(|(k, _)| k == "code")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
            };
            let prev = features.insert(id.clone(), (f.r#type, props, parts(f.r#type, &f.geometry)));
            assert!(prev.is_none(), "feature {id} twice in layer {}", l.name);
        }
    }
    out
}

/// The tile of zoom `z` over the centre of Đà Nẵng (lon 108.2, lat 16.05).
fn centre_tile(z: u8) -> TileCoord {
    let n = f64::from(1u32 << z);
    let (lon, lat) = (108.2_f64, 16.05_f64);
    let x = ((lon + 180.0) / 360.0 * n).floor() as u32;
    let y =
        ((1.0 - lat.to_radians().tan().asinh() / std::f64::consts::PI) / 2.0 * n).floor() as u32;
    TileCoord::new(u32::from(z), x, y).unwrap()
}

/// Points equal exactly; lines and polygon rings within one tile unit of
/// each other (Hausdorff distance: PostGIS also drops vertices within a
/// fraction of a unit of the line through their neighbours, and may round a
/// cut point to the neighbouring unit).
fn same_shape(kind: Option<i32>, a: &[Vec<(i32, i32)>], b: &[Vec<(i32, i32)>]) -> bool {
    if kind == Some(1) {
        return a == b;
    }
    let closed = kind == Some(3);
    let segs = |parts: &[Vec<(i32, i32)>]| -> Vec<((f64, f64), (f64, f64))> {
        let mut out = Vec::new();
        for p in parts {
            let pts: Vec<(f64, f64)> = p
                .iter()
                .map(|(x, y)| (f64::from(*x), f64::from(*y)))
                .collect();
            for w in pts.windows(2) {
                out.push((w[0], w[1]));
            }
            if closed && pts.len() > 2 {
                out.push((pts[pts.len() - 1], pts[0]));
            }
            if pts.len() == 1 {
                out.push((pts[0], pts[0]));
            }
        }
        out
    };
    let dist = |p: (f64, f64), (a, b): ((f64, f64), (f64, f64))| {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        let t = if len2 == 0.0 {
            0.0
        } else {
            (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
        };
        ((p.0 - a.0 - t * dx).powi(2) + (p.1 - a.1 - t * dy).powi(2)).sqrt()
    };
    // The tip of a zero-width spike (a vertex whose neighbours lie on one
    // line with it, on the same side) may be dropped by PostGIS.
    let spike = |part: &[(i32, i32)], i: usize| {
        i > 0 && i + 1 < part.len() && {
            let (a, m, b) = (part[i - 1], part[i], part[i + 1]);
            let (ux, uy) = (i64::from(m.0 - a.0), i64::from(m.1 - a.1));
            let (vx, vy) = (i64::from(b.0 - m.0), i64::from(b.1 - m.1));
            ux * vy - uy * vx == 0 && ux * vx + uy * vy < 0
        }
    };
    let within = |from: &[Vec<(i32, i32)>], to: &[Vec<(i32, i32)>]| {
        let to = segs(to);
        from.iter().all(|part| {
            part.iter().enumerate().all(|(i, (x, y))| {
                let p = (f64::from(*x), f64::from(*y));
                spike(part, i) || to.iter().any(|s| dist(p, *s) <= 1.5)
            })
        })
    };
    a.len() == b.len() && within(a, b) && within(b, a)
}

/// Tiles over the city from zoom 9 to 16 (each zoom's tiles around the
/// centre, and the neighbours that cut features at their edges).
fn city_tiles() -> Vec<TileCoord> {
    let mut out = Vec::new();
    for z in 9u8..=16 {
        let c = centre_tile(z);
        let (x, y) = (i64::from(c.x), i64::from(c.y));
        let r: i64 = if z >= 14 { 2 } else { 1 };
        for dx in -r..=r {
            for dy in -r..=r {
                out.push(TileCoord::new(u32::from(z), (x + dx) as u32, (y + dy) as u32).unwrap());
            }
        }
    }
    out
}

async fn assert_same_tiles(pool: &PgPool, memory: &AppState, postgis: &AppState, when: &str) {
    let tiles = city_tiles();
    for (who, auth) in viewers(pool).await {
        for set in [
            "towers",
            "data-centres",
            "fibre-routes",
            "sectors",
            "districts",
        ] {
            let mut features = 0;
            for t in &tiles {
                let uri = format!(
                    "/collections/{set}/tiles/WebMercatorQuad/{}/{}/{}",
                    t.z, t.y, t.x
                );
                let (m, p) = (
                    get(memory, &uri, &auth).await,
                    get(postgis, &uri, &auth).await,
                );
                assert_eq!(m.status, p.status, "{when}, {who}: {uri}");
                let (dm, dp) = (decode(&m), decode(&p));
                assert_eq!(
                    dm.keys().collect::<Vec<_>>(),
                    dp.keys().collect::<Vec<_>>(),
                    "{when}, {who}: layers of {uri}"
                );
                for (name, fp) in &dp {
                    let fm = &dm[name];
                    assert_eq!(
                        fm.keys().collect::<Vec<_>>(),
                        fp.keys().collect::<Vec<_>>(),
                        "{when}, {who}: features of {name} in {uri}"
                    );
                    for (id, f) in fp {
                        let mine = &fm[id];
                        assert_eq!(
                            (mine.0, &mine.1),
                            (f.0, &f.1),
                            "{when}, {who}: feature {id} of {name} in {uri}"
                        );
                        assert!(
                            same_shape(f.0, &mine.2, &f.2),
                            "{when}, {who}: geometry of feature {id} of {name} in {uri}:\n{:?}\n{:?}",
                            mine.2,
                            f.2
                        );
                    }
                    features += fp.len();
                }
                if set != "sectors" {
                    assert_eq!(
                        m.headers.get("etag"),
                        p.headers.get("etag"),
                        "{when}, {who}: {uri}"
                    );
                }
            }
            assert!(features > 0, "{when}, {who}: {set} tiles have features");
        }
    }
}

/// Waits until the read model has caught up with the database.
async fn caught_up(pool: &PgPool, state: &AppState) {
    let held: Vec<telecom_gis::domain::CollectionId> = telecom_gis::domain::CollectionId::ALL
        .into_iter()
        .filter(|c| c.in_read_model())
        .collect();
    for _ in 0..200 {
        if model(state)
            .fresh(pool, &state.coverage, &held)
            .await
            .unwrap()
            .is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the read model did not catch up within 5 s");
}

#[sqlx::test]
async fn pages_items_and_tiles_from_memory_equal_postgis_for_every_layer_and_viewer(pool: PgPool) {
    common::load_sample(&pool, 400).await;
    let memory = memory_state(&pool).await;
    let postgis = postgis_state(&pool).await;
    assert_same_reads(&pool, &memory, &postgis, "after loading").await;
    assert_same_tiles(&pool, &memory, &postgis, "after loading").await;

    // An API write: the model is patched after the commit and serves it.
    let admin = format!("Bearer {}", token(&pool, "admin", None).await);
    let mut tower = common::tower_feature();
    tower["properties"]["site_code"] = json!("RM-API-1");
    let created = send_raw(
        &memory,
        Method::POST,
        "/collections/towers/items",
        Some(("application/geo+json", serde_json::to_vec(&tower).unwrap())),
        &[("authorization", &admin)],
    )
    .await;
    assert_eq!(
        created.status.as_u16(),
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let served = model(&memory).stats().memory;
    let page = get(
        &memory,
        "/collections/towers/items?site_code=RM-API-1",
        &None,
    )
    .await;
    assert_eq!(page.json()["numberMatched"], 1);
    assert!(
        model(&memory).stats().memory > served,
        "the write is served from memory at once"
    );
    // The other service's coverage index (its sectors tiles) learns of the
    // write only through a listener, which it does not run.
    postgis.coverage.reload(&pool).await.unwrap();
    assert_same_reads(&pool, &memory, &postgis, "after an API write").await;
    assert_same_tiles(&pool, &memory, &postgis, "after an API write").await;
}

#[sqlx::test]
async fn plain_sql_writes_and_a_reconnect_reach_the_read_model_through_the_listener(pool: PgPool) {
    common::load_sample(&pool, 300).await;
    let memory = memory_state(&pool).await;
    let listener = tokio::spawn(telecom_gis::coverage::listener::listen(
        memory.coverage.clone(),
        pool.clone(),
    ));
    for _ in 0..200 {
        if memory.coverage.listener_state() == ListenerState::Connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let postgis = postgis_state(&pool).await;

    // Plain SQL, as another tool would write: right after it, a read
    // either waits for the listener or reads PostGIS; it is never stale.
    sqlx::query("update towers set height_m = height_m + 3, name = 'SQL edit' where id % 5 = 0")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "delete from sectors where tower_id in (select id from towers order by id limit 3)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("update fibre_routes set status = 'planned' where id % 3 = 0")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("update data_centres set tier = 4 where id % 2 = 0")
        .execute(&pool)
        .await
        .unwrap();
    let now = get(&memory, "/collections/towers/items?limit=10000", &None).await;
    let direct = get(&postgis, "/collections/towers/items?limit=10000", &None).await;
    assert_eq!(
        comparable(&now),
        comparable(&direct),
        "never stale right after SQL"
    );
    caught_up(&pool, &memory).await;
    assert_same_reads(&pool, &memory, &postgis, "after plain SQL").await;
    assert_same_tiles(&pool, &memory, &postgis, "after plain SQL").await;

    // The listener's connection is killed: it reconnects and rebuilds; a
    // change made meanwhile is in the model afterwards.
    let connects = memory.coverage.stats().listener_connects;
    sqlx::query(
        "select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and query ilike 'listen%'",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("update towers set name = 'during the outage' where id % 7 = 0")
        .execute(&pool)
        .await
        .unwrap();
    for _ in 0..400 {
        if memory.coverage.stats().listener_connects > connects {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        memory.coverage.stats().listener_connects > connects,
        "the listener reconnected"
    );
    caught_up(&pool, &memory).await;
    assert_same_reads(&pool, &memory, &postgis, "after a reconnect").await;
    assert_same_tiles(&pool, &memory, &postgis, "after a reconnect").await;
    listener.abort();
}

#[sqlx::test]
async fn a_dense_towers_tile_is_thinned_in_memory_as_postgis_thins_it(pool: PgPool) {
    // More than 8,000 towers in the city's z10 tile: thinned, with
    // point_count.
    common::load_sample(&pool, 9_000).await;
    let memory = memory_state(&pool).await;
    let postgis = postgis_state(&pool).await;
    let auth = None;
    let t = centre_tile(10);
    let uri = format!(
        "/collections/towers/tiles/WebMercatorQuad/{}/{}/{}",
        t.z, t.y, t.x
    );
    let (m, p) = (
        get(&memory, &uri, &auth).await,
        get(&postgis, &uri, &auth).await,
    );
    let (dm, dp) = (decode(&m), decode(&p));
    let towers = &dp["towers"];
    assert!(
        towers
            .values()
            .any(|(_, props, _)| props.iter().any(|(k, v)| {
                let n = v
                    .split("uint_value: Some(")
                    .nth(1)
                    .and_then(|r| r.split(')').next())
                    .and_then(|n| n.parse::<u64>().ok());
                k == "point_count" && n.is_some_and(|n| n > 1)
            })),
        "the tile is thinned"
    );
    assert_eq!(dm, dp);
}

#[sqlx::test]
async fn a_repeated_tile_comes_from_the_cache_and_gzip_is_served_when_accepted(pool: PgPool) {
    common::load_sample(&pool, 200).await;
    let memory = memory_state(&pool).await;
    let t = centre_tile(13);
    let uri = &format!(
        "/collections/towers/tiles/WebMercatorQuad/13/{}/{}",
        t.y, t.x
    );
    let first = get(&memory, uri, &None).await;
    let (entries, _) = model(&memory).tiles().usage();
    let again = send_raw(
        &memory,
        Method::GET,
        uri,
        None,
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(again.headers.get("content-encoding").unwrap(), "gzip");
    assert_eq!(decode(&first), decode(&again));
    assert_eq!(
        model(&memory).tiles().usage().0,
        entries,
        "served from the cache"
    );
    assert!(entries >= 1);
}

#[sqlx::test]
async fn check_index_compares_the_read_model_with_the_database(pool: PgPool) {
    common::load_sample(&pool, 150).await;
    let state = memory_state(&pool).await;
    let base = common::serve_state(state.clone()).await;
    let url = crate::common::process::database_url_of(&pool);
    let check = |base: String, url: String| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_telecom-gis"))
                .args(["check-index", "--url", &base, "--attempts", "1"])
                .env("DATABASE_URL", url)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let ok = check(base.clone(), url.clone()).await;
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(
        ok.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(text.contains("read model consistent: 150 towers"), "{text}");
    // A change the service does not hear of (it runs no listener): the
    // read model differs from the database, and check-index says so.
    sqlx::query("update towers set name = 'unheard' where id = (select min(id) from towers)")
        .execute(&pool)
        .await
        .unwrap();
    let stale = check(base, url).await;
    let text = String::from_utf8_lossy(&stale.stdout);
    assert_eq!(stale.status.code(), Some(1), "{text}");
    assert!(text.contains("read model, service"), "{text}");
}

/// The shared version probe never answers a reader with versions older
/// than a commit made before it asked, however many readers queue on it.
#[sqlx::test]
async fn concurrent_readers_of_the_version_probe_see_every_commit_made_before_they_asked(
    pool: PgPool,
) {
    let model = Arc::new(telecom_gis::service::read_model::ReadModel::new(Arc::new(
        CoverageConfig::default(),
    )));
    // Readers that keep the probe busy, so later ones queue behind a
    // statement already under way.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut busy = Vec::new();
    for _ in 0..4 {
        let (model, pool, stop) = (model.clone(), pool.clone(), stop.clone());
        busy.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                model.versions(&pool).await.unwrap();
            }
        }));
    }
    for _ in 0..30 {
        let committed: i64 = sqlx::query_scalar(
            "update layer_versions set version = version + 1 where layer = 'towers' returning version",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        let readers: Vec<_> = (0..16)
            .map(|_| {
                let (model, pool) = (model.clone(), pool.clone());
                tokio::spawn(async move { model.versions(&pool).await.unwrap().towers })
            })
            .collect();
        for r in readers {
            let seen = r.await.unwrap();
            assert!(
                seen >= committed,
                "a reader saw {seen} after {committed} was committed"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for b in busy {
        b.await.unwrap();
    }
}

/// The layers of a tile as [`decode`] reads them, from its bytes.
fn decode_bytes(mvt: Vec<u8>) -> Decoded {
    let status = if mvt.is_empty() { 204 } else { 200 };
    decode(&Reply {
        status: axum::http::StatusCode::from_u16(status).unwrap(),
        content_type: "application/vnd.mapbox-vector-tile".to_owned(),
        headers: axum::http::HeaderMap::new(),
        body: mvt,
    })
}

/// Bursts of concurrent API writes (seeded: creations, moves, status
/// patches and deletions of towers) are patched into the read model in
/// combined batches whose write spans chain the label up to the database's
/// version with no listener running; pages and tiles then equal PostGIS's,
/// and the towers tile store patched batch after batch cuts the same tiles
/// as one built afresh from the layer, across the rebuilds of the
/// persistent layer's R-tree and of the store.
#[sqlx::test]
async fn bursts_of_concurrent_writes_leave_the_model_equal_to_postgis_without_a_listener(
    pool: PgPool,
) {
    use rand::{Rng, SeedableRng};
    use telecom_gis::domain::CollectionId;
    use telecom_gis::tiles::towers::TowerPoints;
    common::load_sample(&pool, 200).await;
    let memory = memory_state(&pool).await;
    let postgis = postgis_state(&pool).await;
    let admin = format!("Bearer {}", token(&pool, "admin", None).await);
    // Cut tiles first, so the store exists and is patched from then on.
    assert_same_tiles(&pool, &memory, &postgis, "after loading").await;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20_261_206);
    let ids: Vec<i64> = sqlx::query_scalar("select id from towers order by id limit 60")
        .fetch_all(&pool)
        .await
        .unwrap();
    // 96 writes: past the layer's and the tile store's R-tree rebuild
    // (`rebuild_after`: 64 entries put in for a layer this small) and the
    // store's dead-slot rebuild (a quarter of it), so pages, boxes and
    // tiles are checked across both.
    for round in 0..3 {
        let mut writes = Vec::new();
        for k in 0..32 {
            let (method, uri, body) = match rng.gen_range(0..4) {
                0 => {
                    let mut t = common::tower_feature();
                    t["properties"]["site_code"] = json!(format!("BURST-{round}-{k}"));
                    t["geometry"]["coordinates"] = json!([
                        108.15 + rng.gen_range(0.0..0.1),
                        16.0 + rng.gen_range(0.0..0.1)
                    ]);
                    (Method::POST, "/collections/towers/items".to_owned(), t)
                }
                1 => {
                    let id = ids[rng.gen_range(0..ids.len())];
                    let status = if rng.gen_bool(0.5) {
                        "planned"
                    } else {
                        "operational"
                    };
                    (
                        Method::PATCH,
                        format!("/collections/towers/items/{id}"),
                        json!({"properties": {"status": status}}),
                    )
                }
                2 => {
                    let id = ids[rng.gen_range(0..ids.len())];
                    let at = json!([
                        108.15 + rng.gen_range(0.0..0.1),
                        16.0 + rng.gen_range(0.0..0.1)
                    ]);
                    (
                        Method::PATCH,
                        format!("/collections/towers/items/{id}"),
                        json!({"geometry": {"type": "Point", "coordinates": at}}),
                    )
                }
                _ => {
                    let id = ids[rng.gen_range(0..ids.len())];
                    (
                        Method::DELETE,
                        format!("/collections/towers/items/{id}"),
                        Value::Null,
                    )
                }
            };
            let (state, admin) = (memory.clone(), admin.clone());
            writes.push(tokio::spawn(async move {
                let body = (!body.is_null()).then(|| {
                    let kind = if method == Method::PATCH {
                        "application/merge-patch+json"
                    } else {
                        "application/geo+json"
                    };
                    (kind, serde_json::to_vec(&body).unwrap())
                });
                let r = send_raw(
                    &state,
                    method.clone(),
                    &uri,
                    body,
                    &[("authorization", &admin), ("if-match", "*")],
                )
                .await;
                // A tower deleted by an earlier write of the burst is a 404.
                assert!(
                    r.status.is_success() || r.status.as_u16() == 404,
                    "{method} {uri}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
            }));
        }
        for w in writes {
            w.await.unwrap();
        }
        // No listener runs: only the writers' spans can have moved the
        // label to the database's version.
        let fresh = model(&memory)
            .fresh(&pool, &memory.coverage, &[CollectionId::Towers])
            .await
            .unwrap();
        assert!(
            fresh.is_some(),
            "round {round}: the label reached the database's version"
        );
        let when = format!("after burst {round}");
        postgis.coverage.reload(&pool).await.unwrap();
        assert_same_reads(&pool, &memory, &postgis, &when).await;
        assert_same_tiles(&pool, &memory, &postgis, &when).await;
        let layer_of = model(&memory).snapshot();
        let layer = layer_of.layer(CollectionId::Towers);
        let afresh = TowerPoints::build(layer.iter());
        assert_eq!(layer.tower_points().len(), afresh.len(), "{when}");
        for t in city_tiles() {
            assert_eq!(
                decode_bytes(layer.tower_points().tile(t)),
                decode_bytes(afresh.tile(t)),
                "{when}: tile {t:?} of the patched store"
            );
        }
    }
}

/// A towers tile is carried to the next version when no tower changed
/// within its buffered bounds (same bytes, the new version's ETag), and cut
/// again once a tower moves into its buffer, outside the tile itself; both
/// times it equals PostGIS's.
#[sqlx::test]
async fn a_towers_tile_is_carried_across_versions_until_a_tower_moves_into_its_buffer(
    pool: PgPool,
) {
    use telecom_gis::tiles::BUFFER;
    common::load_sample(&pool, 200).await;
    let memory = memory_state(&pool).await;
    let postgis = postgis_state(&pool).await;
    let admin = format!("Bearer {}", token(&pool, "admin", None).await);
    let t = centre_tile(15);
    let uri = format!(
        "/collections/towers/tiles/WebMercatorQuad/{}/{}/{}",
        t.z, t.y, t.x
    );
    let anyone = None;
    let first = get(&memory, &uri, &anyone).await;
    assert_eq!(first.status.as_u16(), 200, "the centre tile has towers");
    let far: i64 = sqlx::query_scalar(
        "select id from towers order by geom <-> st_setsrid(st_point(108.2, 16.05), 4326) desc limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let patch = |body: Value| {
        let (memory, admin) = (memory.clone(), admin.clone());
        async move {
            let r = send_raw(
                &memory,
                Method::PATCH,
                &format!("/collections/towers/items/{far}"),
                Some((
                    "application/merge-patch+json",
                    serde_json::to_vec(&body).unwrap(),
                )),
                &[("authorization", &admin), ("if-match", "*")],
            )
            .await;
            assert!(
                r.status.is_success(),
                "{}",
                String::from_utf8_lossy(&r.body)
            );
        }
    };
    patch(json!({"properties": {"status": "planned"}})).await;
    let hits = model(&memory).tiles().carried_hits();
    let carried = get(&memory, &uri, &anyone).await;
    assert_eq!(
        model(&memory).tiles().carried_hits(),
        hits + 1,
        "the tile was carried"
    );
    assert_eq!(carried.body, first.body);
    assert_ne!(carried.headers.get("etag"), first.headers.get("etag"));
    assert_eq!(
        decode(&carried),
        decode(&get(&postgis, &uri, &anyone).await)
    );

    // Into the buffer west of the tile, halfway up.
    let (inner, outer) = (t.bounds_lonlat(0), t.bounds_lonlat(BUFFER));
    let at = json!([(inner[0] + outer[0]) / 2.0, (inner[1] + inner[3]) / 2.0]);
    patch(json!({"geometry": {"type": "Point", "coordinates": at}})).await;
    let moved = get(&memory, &uri, &anyone).await;
    assert_eq!(
        model(&memory).tiles().carried_hits(),
        hits + 1,
        "the tile was cut again"
    );
    let decoded = decode(&moved);
    assert!(
        decoded["towers"].contains_key(&far.to_string()),
        "the moved tower is in the tile's buffer"
    );
    assert_eq!(decoded, decode(&get(&postgis, &uri, &anyone).await));
}

/// A writer patches the coverage index with its tower as its transaction
/// left it (nothing read again), as of the towers version it committed: a
/// late patch of an older write is skipped, a full load's version is the
/// floor, and a newer write is taken.
#[sqlx::test]
async fn the_index_takes_a_written_tower_only_when_newer_than_what_it_holds(pool: PgPool) {
    use telecom_gis::db::coverage::tower_sectors_as_of;
    common::load_sample(&pool, 20).await;
    let state = CoverageState::new(CoverageConfig::default());
    state.reload(&pool).await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "select t.id from towers t where t.status = 'operational' \
         and exists (select 1 from sectors s where s.tower_id = t.id) order by t.id limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let (v0, stored) = tower_sectors_as_of(&mut conn, &[id]).await.unwrap();
    drop(conn);
    assert!(!stored.is_empty());
    let aimed = |deg: f64| {
        stored
            .iter()
            .cloned()
            .map(|mut s| {
                s.azimuth_deg = deg;
                s
            })
            .collect::<Vec<_>>()
    };
    let azimuths = || {
        state
            .snapshot()
            .tower_sectors(id)
            .iter()
            .map(|c| c.azimuth_deg)
            .collect::<Vec<_>>()
    };
    let all = |deg: f64| vec![deg; stored.len()];

    state
        .patch_written(&pool, id, v0 + 2, aimed(10.0))
        .await
        .unwrap();
    assert_eq!(azimuths(), all(10.0), "a newer write is taken");
    state
        .patch_written(&pool, id, v0 + 1, aimed(20.0))
        .await
        .unwrap();
    assert_eq!(azimuths(), all(10.0), "a late, older write is skipped");

    state.reload(&pool).await.unwrap();
    let stored_azimuths: Vec<f64> = stored.iter().map(|s| s.azimuth_deg).collect();
    assert_eq!(
        azimuths(),
        stored_azimuths,
        "a full load reads the database"
    );
    state
        .patch_written(&pool, id, v0, aimed(30.0))
        .await
        .unwrap();
    assert_eq!(
        azimuths(),
        stored_azimuths,
        "a write the full load already saw is skipped"
    );
    state
        .patch_written(&pool, id, v0 + 1, aimed(40.0))
        .await
        .unwrap();
    assert_eq!(
        azimuths(),
        all(40.0),
        "a write after the full load is taken"
    );
    state
        .patch_written(&pool, id, v0 + 3, Vec::new())
        .await
        .unwrap();
    assert!(azimuths().is_empty(), "a deleted tower leaves the index");
}
