//! Request limits and hygiene through the real router: body size, rate
//! limit, timeouts, CORS, request ids, and SQL injection attempts.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use axum::http::{Method, header};
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::http::MAX_BODY_BYTES;
use telecom_gis::http::limits::{CorsOrigins, RateLimiter, RateLimits, Timeouts};

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
        limits: Arc::new(RateLimits {
            token: RateLimiter::new(1.0, 2),
            ..RateLimits::disabled()
        }),
        ..AppState::new(pool)
    };
    // The change feed is not a cheap read: it draws from the token's budget
    // (the unknown token is refused 401 after the limiter let it through).
    let token_a = [("authorization", "Bearer tgis_aaaaaaaa")];
    for _ in 0..2 {
        let r = send_with_headers(&state, Method::GET, "/changes", None, &token_a).await;
        assert_ne!(r.status, 429);
    }
    let r = send_with_headers(&state, Method::GET, "/changes", None, &token_a).await;
    let p = r.problem(429);
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("1 requests per second") && detail.contains("retry in 1 s"),
        "{p}"
    );
    // Other tokens and anonymous requests are not affected.
    let token_b = [("authorization", "Bearer tgis_bbbbbbbb")];
    let r = send_with_headers(&state, Method::GET, "/changes", None, &token_b).await;
    assert_ne!(r.status, 429);
    for _ in 0..5 {
        assert_ne!(
            send_to(&state, Method::GET, "/changes", None).await.status,
            429
        );
    }
    // The bucket refills at the configured rate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = send_with_headers(&state, Method::GET, "/changes", None, &token_a).await;
    assert_ne!(r.status, 429);
}

/// One request from `peer` (as `serve` records it with `ConnectInfo`).
async fn send_from(
    state: &AppState,
    peer: &str,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> Reply {
    use axum::extract::ConnectInfo;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header(header::HOST, "test.local");
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut req = req.body(axum::body::Body::empty()).unwrap();
    let addr: std::net::SocketAddr = peer.parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let res = telecom_gis::app(state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    Reply {
        status: parts.status,
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    }
}

/// A budget that nothing refills during a test: `burst` requests, then 429.
fn spent_after(burst: u32) -> RateLimiter {
    RateLimiter::new(0.001, burst)
}

#[sqlx::test]
async fn padded_or_recased_authorization_headers_share_one_token_budget(pool: PgPool) {
    let state = AppState {
        limits: Arc::new(RateLimits {
            token: spent_after(3),
            ..RateLimits::disabled()
        }),
        ..AppState::new(pool)
    };
    let spellings = [
        "Bearer tgis_padded",
        "Bearer    tgis_padded",
        "bearer tgis_padded   ",
        "BEARER \t tgis_padded \t",
        "Bearer tgis_padded ",
    ];
    let mut statuses = Vec::new();
    for auth in spellings {
        let r = send_with_headers(
            &state,
            Method::GET,
            "/changes",
            None,
            &[("authorization", auth)],
        )
        .await;
        statuses.push(r.status.as_u16());
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429],
        "one budget for one token"
    );
    // Another token is unaffected.
    let r = send_with_headers(
        &state,
        Method::GET,
        "/changes",
        None,
        &[("authorization", "Bearer tgis_other")],
    )
    .await;
    assert_eq!(r.status, 401);
}

#[sqlx::test]
async fn anonymous_requests_are_limited_per_client_address(pool: PgPool) {
    let state = AppState {
        limits: Arc::new(RateLimits {
            reads: spent_after(3),
            ..RateLimits::disabled()
        }),
        ..AppState::new(pool)
    };
    for _ in 0..3 {
        let r = send_from(
            &state,
            "198.51.100.7:40000",
            Method::GET,
            "/conformance",
            &[],
        )
        .await;
        assert_eq!(r.status, 200);
    }
    // Another port of the same address is the same client.
    let r = send_from(
        &state,
        "198.51.100.7:40001",
        Method::GET,
        "/conformance",
        &[],
    )
    .await;
    let p = r.problem(429);
    assert!(
        p["detail"].as_str().unwrap().contains("per client address"),
        "{p}"
    );
    // Another address has its own budget, and so has another /64 of IPv6.
    for peer in [
        "198.51.100.8:1",
        "[2001:db8:0:1::1]:1",
        "[2001:db8:0:2::1]:1",
    ] {
        let r = send_from(&state, peer, Method::GET, "/conformance", &[]).await;
        assert_eq!(r.status, 200, "{peer}");
    }
    // X-Forwarded-For from an untrusted peer changes nothing.
    let xff = [("x-forwarded-for", "203.0.113.99")];
    let r = send_from(
        &state,
        "198.51.100.7:40002",
        Method::GET,
        "/conformance",
        &xff,
    )
    .await;
    r.problem(429);
    // Probes are never limited.
    let r = send_from(&state, "198.51.100.7:40002", Method::GET, "/healthz", &[]).await;
    assert_eq!(r.status, 200);
    // In process, without a peer address, all requests share one budget.
    for _ in 0..3 {
        assert_eq!(
            send_to(&state, Method::GET, "/conformance", None)
                .await
                .status,
            200
        );
    }
    send_to(&state, Method::GET, "/conformance", None)
        .await
        .problem(429);
}

#[sqlx::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_is_limited(pool: PgPool) {
    let state = AppState {
        limits: Arc::new(RateLimits {
            reads: spent_after(1),
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..RateLimits::disabled()
        }),
        ..AppState::new(pool)
    };
    let from = |client: &'static str| [("x-forwarded-for", client)];
    let proxy = "10.0.0.5:3000";
    let r = send_from(
        &state,
        proxy,
        Method::GET,
        "/conformance",
        &from("203.0.113.1"),
    )
    .await;
    assert_eq!(r.status, 200);
    send_from(
        &state,
        proxy,
        Method::GET,
        "/conformance",
        &from("203.0.113.1"),
    )
    .await
    .problem(429);
    let r = send_from(
        &state,
        proxy,
        Method::GET,
        "/conformance",
        &from("203.0.113.2"),
    )
    .await;
    assert_eq!(r.status, 200, "another client behind the same proxy");
}

#[sqlx::test]
async fn by_default_expensive_anonymous_requests_run_out_long_before_cheap_ones(pool: PgPool) {
    let state = AppState::new(pool);
    let peer = "192.0.2.10:5000";
    // Refused for their parameters, but only after the limiter counted them.
    let mut expensive = 0;
    while send_from(
        &state,
        peer,
        Method::GET,
        "/coverage/gaps?resolution=99",
        &[],
    )
    .await
    .status
        != 429
    {
        expensive += 1;
        assert!(expensive < 1000, "expensive requests are not limited");
    }
    assert_eq!(expensive, 20, "the default expensive burst");
    for uri in [
        "/analysis/summary",
        "/coverage/footprints",
        "/collections/towers/items?f=csv",
    ] {
        send_from(&state, peer, Method::GET, uri, &[])
            .await
            .problem(429);
    }
    // Cheap reads of the same address go on far beyond that.
    for _ in 0..(5 * expensive) {
        let r = send_from(&state, peer, Method::GET, "/conformance", &[]).await;
        assert_eq!(r.status, 200);
    }
}

#[sqlx::test]
async fn every_budget_answers_429_problem_with_retry_after_naming_its_setting(pool: PgPool) {
    let token = [("authorization", "Bearer tgis_budget")];
    type Case<'a> = (
        &'a str,
        fn(RateLimiter) -> RateLimits,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
    );
    let cases: [Case; 4] = [
        (
            "token",
            |l| RateLimits {
                token: l,
                ..RateLimits::disabled()
            },
            "/changes",
            &token,
            "RATE_LIMIT_PER_S",
        ),
        (
            "reads",
            |l| RateLimits {
                reads: l,
                ..RateLimits::disabled()
            },
            "/conformance",
            &[],
            "READ_RATE_LIMIT_PER_S",
        ),
        (
            "anonymous",
            |l| RateLimits {
                anonymous: l,
                ..RateLimits::disabled()
            },
            "/changes",
            &[],
            "ANON_RATE_LIMIT_PER_S",
        ),
        (
            "expensive",
            |l| RateLimits {
                expensive: l,
                ..RateLimits::disabled()
            },
            "/coverage/gaps?resolution=99",
            &[],
            "EXPENSIVE_RATE_LIMIT_PER_S",
        ),
    ];
    for (name, limits, uri, headers, setting) in cases {
        let state = AppState {
            limits: Arc::new(limits(spent_after(1))),
            ..AppState::new(pool.clone())
        };
        let first = send_from(&state, "192.0.2.1:1", Method::GET, uri, headers).await;
        assert_ne!(first.status, 429, "{name}");
        let r = send_from(&state, "192.0.2.1:1", Method::GET, uri, headers).await;
        let p = r.problem(429);
        let retry: u64 = r.headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1, "{name}: Retry-After {retry}");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains(setting), "{name}: {detail}");
        assert!(
            detail.contains(&format!("retry in {retry} s")),
            "{name}: {detail}"
        );
    }
}

#[sqlx::test]
async fn a_malformed_authorization_header_is_401_problem_before_any_work(pool: PgPool) {
    load_sample(&pool, 5).await;
    let before = fingerprint(&pool).await;
    let state = AppState {
        limits: Arc::new(RateLimits {
            token: spent_after(1),
            reads: spent_after(1),
            ..RateLimits::disabled()
        }),
        ..AppState::new(pool.clone())
    };
    for auth in [
        "Basic dTpw",
        "Bearer",
        "Bearer    ",
        "Token tgis_x",
        "Bearertgis_x",
    ] {
        for (method, uri) in [
            (Method::GET, "/conformance"),
            (Method::GET, "/collections/towers/items"),
            (Method::DELETE, "/collections/towers/items/1"),
        ] {
            let r = send_from(
                &state,
                "192.0.2.2:1",
                method.clone(),
                uri,
                &[("authorization", auth)],
            )
            .await;
            let p = r.problem(401);
            assert!(
                p["detail"].as_str().unwrap().contains("Bearer <token>"),
                "{auth:?} {method} {uri}: {p}"
            );
        }
    }
    // Given twice, even if both are well formed.
    let twice = [
        ("authorization", "Bearer tgis_a"),
        ("authorization", "Bearer tgis_b"),
    ];
    send_from(&state, "192.0.2.2:1", Method::GET, "/conformance", &twice)
        .await
        .problem(401);
    // Refused before the limiter: the budgets are untouched.
    let r = send_from(&state, "192.0.2.2:1", Method::GET, "/conformance", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(fingerprint(&pool).await, before);
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
