//! Request limits and hygiene through the real router: body size, rate
//! limit, timeouts, CORS, request ids, and SQL injection attempts.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use axum::http::{Method, header};
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::http::MAX_BODY_BYTES;
use telecom_gis::http::limits::{CorsOrigins, RateLimiter, Timeouts};

#[sqlx::test]
async fn a_body_over_the_limit_gets_413_problem_and_changes_nothing(pool: PgPool) {
    load_sample(&pool, 10).await;
    let before = fingerprint(&pool).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    for (method, uri) in [
        (Method::POST, "/collections/towers/items"),
        (Method::PUT, "/collections/towers/items/1"),
        (Method::PATCH, "/collections/towers/items/1"),
    ] {
        let r = send_to(
            &state,
            method.clone(),
            uri,
            Some(("application/geo+json", huge.clone())),
        )
        .await;
        let p = r.problem(413);
        assert!(
            p["detail"].as_str().unwrap().contains("bytes"),
            "{method} {uri}: {p}"
        );
    }
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test]
async fn a_token_over_its_rate_gets_429_problem_with_retry_after(pool: PgPool) {
    let state = AppState {
        limits: Arc::new(RateLimiter::new(1.0, 2)),
        ..AppState::new(pool)
    };
    let token_a = [("authorization", "Bearer tgis_aaaaaaaa")];
    for _ in 0..2 {
        let r = send_with_headers(&state, Method::GET, "/healthz", None, &token_a).await;
        assert_ne!(r.status, 429);
    }
    let r = send_with_headers(&state, Method::GET, "/healthz", None, &token_a).await;
    let p = r.problem(429);
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("1 requests per second") && detail.contains("retry in 1 s"),
        "{p}"
    );
    // Other tokens and anonymous requests are not affected.
    let token_b = [("authorization", "Bearer tgis_bbbbbbbb")];
    let r = send_with_headers(&state, Method::GET, "/healthz", None, &token_b).await;
    assert_ne!(r.status, 429);
    for _ in 0..5 {
        assert_eq!(
            send_to(&state, Method::GET, "/healthz", None).await.status,
            200
        );
    }
    // The bucket refills at the configured rate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = send_with_headers(&state, Method::GET, "/healthz", None, &token_a).await;
    assert_ne!(r.status, 429);
}

#[sqlx::test]
async fn a_request_over_its_timeout_gets_503_problem_with_retry_after(pool: PgPool) {
    let state = AppState {
        timeouts: Timeouts {
            request: Duration::ZERO,
            import: Duration::ZERO,
        },
        ..AppState::new(pool)
    };
    // Any database query waits for I/O, so it cannot beat a zero timeout.
    let r = send_to(&state, Method::GET, "/collections/towers/items", None).await;
    r.problem(503);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
}

fn preflight(origin: &'static str) -> [(&'static str, &'static str); 3] {
    [
        ("origin", origin),
        ("access-control-request-method", "PATCH"),
        (
            "access-control-request-headers",
            "authorization,content-type,if-match",
        ),
    ]
}

#[sqlx::test]
async fn a_preflight_from_an_allowed_origin_is_answered_and_one_from_another_is_not(pool: PgPool) {
    let state = AppState {
        cors_origins: "https://map.example.org".parse().unwrap(),
        ..AppState::new(pool)
    };
    let uri = "/collections/towers/items/1";
    let ok = send_with_headers(
        &state,
        Method::OPTIONS,
        uri,
        None,
        &preflight("https://map.example.org"),
    )
    .await;
    assert!(ok.status.is_success(), "{ok:?}");
    let h = &ok.headers;
    assert_eq!(h["access-control-allow-origin"], "https://map.example.org");
    assert!(!h.contains_key("access-control-allow-credentials"));
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = h["access-control-allow-headers"].to_str().unwrap();
    for name in [
        "authorization",
        "content-type",
        "accept",
        "if-match",
        "if-none-match",
    ] {
        assert!(allowed.contains(name), "{allowed}");
    }
    let refused = send_with_headers(
        &state,
        Method::OPTIONS,
        uri,
        None,
        &preflight("https://evil.example.org"),
    )
    .await;
    assert!(!refused.headers.contains_key("access-control-allow-origin"));
}

#[sqlx::test]
async fn by_default_any_origin_may_read_answers_and_their_useful_headers(pool: PgPool) {
    let state = AppState::new(pool);
    assert_eq!(state.cors_origins, CorsOrigins::Any);
    let r = send_with_headers(
        &state,
        Method::GET,
        "/healthz",
        None,
        &[("origin", "https://anywhere.example")],
    )
    .await;
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert!(!r.headers.contains_key("access-control-allow-credentials"));
    let exposed = r.headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "etag",
        "location",
        "retry-after",
        "content-disposition",
        "x-request-id",
    ] {
        assert!(exposed.contains(name), "{exposed}");
    }
}

#[sqlx::test]
async fn every_answer_carries_a_request_id_keeping_a_sane_one_from_the_client(pool: PgPool) {
    let state = AppState::new(pool);
    let generated = send_to(&state, Method::GET, "/healthz", None).await;
    let id = generated.headers["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let again = send_to(&state, Method::GET, "/healthz", None).await;
    assert_ne!(again.headers["x-request-id"], id.as_str());

    let kept = send_with_headers(
        &state,
        Method::GET,
        "/no/such/path",
        None,
        &[("x-request-id", "client-42.a:b_c")],
    )
    .await;
    kept.problem(404);
    assert_eq!(kept.headers["x-request-id"], "client-42.a:b_c");

    for bad in ["has spaces", "quote\"d", &"x".repeat(65)] {
        let r = send_with_headers(
            &state,
            Method::GET,
            "/healthz",
            None,
            &[("x-request-id", bad)],
        )
        .await;
        let got = r.headers["x-request-id"].to_str().unwrap();
        assert!(got != bad && got.len() == 36, "{bad:?} gave {got:?}");
    }
}

fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

#[sqlx::test]
async fn sql_injection_attempts_in_parameters_match_nothing_and_change_nothing(pool: PgPool) {
    load_sample(&pool, 30).await;
    let before_counts = row_counts(&pool).await;
    let before = fingerprint(&pool).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let features = |r: &Reply| r.json()["features"].as_array().unwrap().len();

    // Control: the honest filter finds towers, so an injected one that
    // returned everything would show.
    let honest = send_to(
        &state,
        Method::GET,
        &format!(
            "/collections/towers/items?{}",
            query(&[("operator", "viettel")])
        ),
        None,
    )
    .await;
    assert_eq!(honest.status, 200);
    assert!(features(&honest) > 0);

    let empty = [
        ("towers", "operator", "viettel' or '1'='1"),
        ("towers", "operator", "viettel'; delete from towers; --"),
        ("towers", "site_code", "x\" or \"\"=\""),
        ("towers", "tenant", "vnpt') or true --"),
        ("fibre-routes", "external_id", "1; drop table fibre_routes"),
        ("districts", "name", "' or ''='"),
        ("districts", "code", "HC' union select * from towers --"),
    ];
    for (collection, name, value) in empty {
        let r = send_to(
            &state,
            Method::GET,
            &format!(
                "/collections/{collection}/items?{}",
                query(&[(name, value)])
            ),
            None,
        )
        .await;
        assert_eq!(
            r.status,
            200,
            "{name}={value}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(features(&r), 0, "{name}={value}");
    }

    let refused = [
        format!(
            "/collections/towers/items?{}",
            query(&[("bbox", "108,16,109,17);delete from towers;--")])
        ),
        format!(
            "/collections/towers/items?{}",
            query(&[("status", "operational' or '1'='1")])
        ),
        format!(
            "/collections/data-centres/items?{}",
            query(&[("tier", "1 or 1=1")])
        ),
        format!(
            "/collections/towers/items?{}",
            query(&[("limit", "1; delete from towers")])
        ),
        format!(
            "/coverage/point?{}",
            query(&[
                ("lon", "108.2"),
                ("lat", "16.05"),
                ("operator", "viettel'--")
            ])
        ),
        format!(
            "/analysis/districts?{}",
            query(&[("technology", "4G'; drop table districts; --")])
        ),
        "/collections/towers/items/1%27%20or%20%271%27=%271".to_owned(),
        "/collections/districts/items/x%27;drop%20table%20districts".to_owned(),
    ];
    for uri in &refused {
        let r = send_to(&state, Method::GET, uri, None).await;
        assert!(r.status.is_client_error(), "{uri}: {:?}", r.status);
    }

    assert_eq!(row_counts(&pool).await, before_counts);
    assert_eq!(fingerprint(&pool).await, before);
}
