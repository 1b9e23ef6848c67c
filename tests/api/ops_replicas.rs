//! Two real `telecom-gis serve` processes on one database stay consistent
//! through LISTEN/NOTIFY: a write through replica A reaches replica B's
//! coverage index within 1 s, also after B's database connections were
//! terminated while A kept writing (B rebuilds in full on reconnect).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::common;
use crate::common::process::{
    Service, admin_client, client, database_url_of, db_fingerprint, omni_tower,
};

/// Terminates every backend of `app_name`; returns how many.
async fn terminate(pool: &PgPool, app_name: &str) -> i64 {
    sqlx::query_scalar(
        "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity
         where application_name = $1) t",
    )
    .bind(app_name)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Tower ids of the sectors covering `(lon, lat)` according to `svc`.
async fn covering_towers(svc: &Service, lon: f64, lat: f64) -> Vec<i64> {
    let v: Value = client()
        .get(format!("{}/coverage/point?lon={lon}&lat={lat}", svc.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["sectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tower_id"].as_i64().unwrap())
        .collect()
}

async fn create(http: &reqwest::Client, svc: &Service, site_code: &str, lon: f64, lat: f64) -> i64 {
    let r = http
        .post(format!("{}/collections/towers/items", svc.url))
        .header("content-type", "application/geo+json")
        .body(omni_tower(site_code, lon, lat).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "create {site_code}");
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_write_through_one_replica_reaches_the_other_within_a_second_even_after_it_lost_its_connection(
    pool: PgPool,
) {
    common::load_sample(&pool, 30).await;
    let url = database_url_of(&pool);
    let db = pool.connect_options().get_database().unwrap().to_owned();
    // application_name is cut at 63 bytes: keep it short but unique per test
    // database (tests share the server).
    let tag = &db[db.len().saturating_sub(16)..];
    let (a_name, b_name) = (format!("tgis-a-{tag}"), format!("tgis-b-{tag}"));
    // B logs in as its own role, so that it can be locked out for a while
    // (NOLOGIN) while A keeps writing.
    let b_role = format!("tgis_b_{}", tag.to_lowercase());
    // (A failed earlier run may have left it behind.)
    for sql in [
        format!("drop role if exists {b_role}"),
        format!("create role {b_role} login superuser"),
    ] {
        sqlx::query(&sql).execute(&pool).await.unwrap();
    }
    let b_url = with_user(&url, &b_role);
    let writer = admin_client(&pool).await;
    let a = Service::start(&url, &a_name, &[("RATE_LIMIT_PER_S", "0")]);
    let b = Service::start(&b_url, &b_name, &[("RATE_LIMIT_PER_S", "0")]);
    a.wait_ready(Duration::from_secs(30)).await;
    b.wait_ready(Duration::from_secs(30)).await;
    let http = writer.clone();

    // Live path: a tower created through A is covered on B within 1 s.
    let (lon, lat) = (108.1234, 16.0123);
    let id = create(&writer, &a, "REPL-1", lon, lat).await;
    let started = Instant::now();
    while !covering_towers(&b, lon, lat).await.contains(&id) {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B did not see tower {id} within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let live = started.elapsed();

    // B loses its connections (pool and listener) again and again while A
    // writes: creations, a retirement and a deletion.
    let connects_before = b
        .metric("telecom_gis_listener_connects_total")
        .await
        .unwrap();
    let mut killed = 0;
    let mut created = Vec::new();
    for round in 0..5 {
        killed += terminate(&pool, &b_name).await;
        let p = (108.05 + 0.01 * f64::from(round), 16.02);
        created.push((
            create(&writer, &a, &format!("REPL-{}", round + 2), p.0, p.1).await,
            p,
        ));
        if round == 2 {
            let r = http
                .patch(format!("{}/collections/towers/items/{id}", a.url))
                .header("content-type", "application/merge-patch+json")
                .body(json!({"properties": {"status": "retired"}}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        if round == 3 {
            let (gone, _) = created.remove(0);
            let r = http
                .delete(format!("{}/collections/towers/items/{gone}", a.url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    killed += terminate(&pool, &b_name).await;
    let last_kill = Instant::now();
    assert!(killed >= 5, "B's connections were terminated ({killed})");

    // B catches up: its whole index equals one loaded fresh from the
    // database within 1 s of losing its connection the last time.
    let want = db_fingerprint(&pool).await;
    loop {
        let got = b.fingerprint().await;
        if got == want {
            break;
        }
        assert!(
            last_kill.elapsed() < Duration::from_secs(1),
            "B not in sync 1 s after reconnecting:\n B  {got}\n db {want}\nlog:\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resync = last_kill.elapsed();
    assert_eq!(a.fingerprint().await, want, "A is in sync too");
    assert!(
        !covering_towers(&b, lon, lat).await.contains(&id),
        "retired"
    );
    for (tid, (x, y)) in &created {
        assert!(covering_towers(&b, *x, *y).await.contains(tid));
    }
    let connects_after = b
        .metric("telecom_gis_listener_connects_total")
        .await
        .unwrap();
    assert!(
        connects_after > connects_before,
        "B's listener reconnected ({connects_before} → {connects_after})"
    );
    b.wait_ready(Duration::from_secs(5)).await;

    // B is locked out for 1.5 s: it cannot reconnect while A writes.
    let warned_before = b.log_lines_with("retrying with backoff");
    let recovered_before = b.log_lines_with("coverage listener reconnected");
    sqlx::query(&format!("alter role {b_role} nologin"))
        .execute(&pool)
        .await
        .unwrap();
    assert!(terminate(&pool, &b_name).await >= 1);
    let (x, y) = (108.21, 16.03);
    let late = create(&writer, &a, "REPL-LATE", x, y).await;
    let (gone, _) = created.remove(0);
    let r = http
        .patch(format!("{}/collections/towers/items/{gone}", a.url))
        .header("content-type", "application/merge-patch+json")
        .body(json!({"properties": {"status": "planned"}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Meanwhile B still answers coverage (from its stale index), but is not
    // ready.
    assert!(
        !covering_towers(&b, x, y).await.contains(&late),
        "B is cut off"
    );
    let r = http.get(format!("{}/readyz", b.url)).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));

    sqlx::query(&format!("alter role {b_role} login"))
        .execute(&pool)
        .await
        .unwrap();
    let want = db_fingerprint(&pool).await;
    let unlocked = Instant::now();
    // B reconnects on its own (backoff of at most 4 s) …
    loop {
        let n: i64 =
            sqlx::query_scalar("select count(*) from pg_stat_activity where application_name = $1")
                .bind(&b_name)
                .fetch_one(&pool)
                .await
                .unwrap();
        if n > 0 {
            break;
        }
        assert!(
            unlocked.elapsed() < Duration::from_secs(8),
            "B did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reconnected = Instant::now();
    // … and is in sync within 1 s of reconnecting.
    loop {
        let got = b.fingerprint().await;
        if got == want {
            break;
        }
        assert!(
            reconnected.elapsed() < Duration::from_secs(1),
            "B not in sync 1 s after reconnecting:\n B  {got}\n db {want}\nlog:\n{}",
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lockout_resync = reconnected.elapsed();
    // Several failed attempts during the lock-out, but the outage is logged
    // once when it starts and once when it ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        (
            b.log_lines_with("retrying with backoff") - warned_before,
            b.log_lines_with("coverage listener reconnected") - recovered_before
        ),
        (1, 1),
        "log:\n{}",
        b.log()
    );
    assert!(covering_towers(&b, x, y).await.contains(&late));
    b.wait_ready(Duration::from_secs(5)).await;
    eprintln!(
        "replica B: live change seen after {live:?}; in sync {resync:?} after the last of {killed} terminated connections (listener connects {connects_before} → {connects_after}); after a 1.5 s lock-out it reconnected {:?} after the unlock and was in sync {lockout_resync:?} later",
        reconnected - unlocked
    );

    drop(a);
    drop(b);
    // Let the test database and the role be dropped: no session of the
    // killed processes may remain.
    for name in [&a_name, &b_name] {
        terminate(&pool, name).await;
    }
    sqlx::query(&format!("drop role {b_role}"))
        .execute(&pool)
        .await
        .unwrap();
}

/// `url` with its user replaced by `user`.
fn with_user(url: &str, user: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}
