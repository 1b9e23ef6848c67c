//! The real binary, logging verbosely, never prints the database password
//! or a client's credentials.

use std::process::Command;
use std::time::Duration;

use crate::common::process::{Service, client, database_url_of};
use sqlx::PgPool;

const PASSWORD: &str = "pw_SECRET_7f3a9c51";
const TOKEN: &str = "tgis_SECRET_4b1e8d2a90c3";

/// `url` with a password (trust authentication ignores it); when the URL
/// already has one, that one, which must not leak either.
fn with_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (user, host) = rest.split_once('@').unwrap_or(("postgres", rest));
    match user.split_once(':') {
        Some((_, existing)) => (url.to_owned(), existing.to_owned()),
        None => (
            format!("{scheme}://{user}:{PASSWORD}@{host}"),
            PASSWORD.to_owned(),
        ),
    }
}

fn assert_clean(what: &str, output: &str, password: &str) {
    assert!(
        !output.contains(password),
        "{what} shows the password:\n{output}"
    );
    assert!(!output.contains(TOKEN), "{what} shows the token:\n{output}");
}

#[sqlx::test]
async fn a_verbose_service_logs_neither_the_database_password_nor_tokens(pool: PgPool) {
    let (url, password) = with_password(&database_url_of(&pool));
    let svc = Service::start(
        &url,
        "secrets-test",
        &[(
            "RUST_LOG",
            "debug,tower_http=trace,sqlx=trace,telecom_gis=trace",
        )],
    );
    svc.wait_ready(Duration::from_secs(30)).await;
    let bearer = format!("Bearer {TOKEN}");
    let http = client();
    for (method, path) in [
        (reqwest::Method::GET, "/healthz"),
        (reqwest::Method::GET, "/collections/towers/items?limit=1"),
        (reqwest::Method::GET, "/no/such/path"),
        (reqwest::Method::POST, "/collections/towers/items"),
        (reqwest::Method::DELETE, "/collections/towers/items/999999"),
    ] {
        let r = http
            .request(method, format!("{}{path}", svc.url))
            .header("authorization", &bearer)
            .header("proxy-authorization", &bearer)
            .header("cookie", format!("session={TOKEN}"))
            .header("x-request-id", "secrets-probe")
            .header("content-type", "application/geo+json")
            .body("{\"type\": \"Feature\"")
            .send()
            .await
            .expect("the service answers");
        assert!(r.status().as_u16() < 500, "{path}: {}", r.status());
    }
    // Let the last lines reach the log.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = svc.log();
    assert!(
        log.contains("secrets-probe"),
        "requests are logged with their id at this level:\n{log}"
    );
    assert_clean("the service log", &log, &password);
}

fn run(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_telecom-gis"));
    cmd.args(args)
        .env("RUST_LOG", "trace")
        .env("LOG_FORMAT", "text");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the binary runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn failed_connections_do_not_print_the_database_url() {
    let unreachable = format!("postgres://postgres:{PASSWORD}@127.0.0.1:1/telecom");
    let malformed = format!("postgres://postgres:{PASSWORD}@127.0.0.1:notaport/telecom");
    let bad_option = format!("postgres://postgres:{PASSWORD}@127.0.0.1/telecom?sslmode=bogus");
    for url in [&unreachable, &malformed, &bad_option] {
        let out = run(&["migrate"], &[("DATABASE_URL", url)]);
        assert!(out.contains("ERROR"), "the failure is reported:\n{out}");
        assert_clean("a failed connection", &out, PASSWORD);
    }
}

#[test]
fn help_does_not_show_database_urls_from_the_environment() {
    let url = format!("postgres://postgres:{PASSWORD}@db/telecom");
    for args in [&["--help"][..], &["serve", "--help"][..]] {
        let out = run(
            args,
            &[("DATABASE_URL", &url), ("DATABASE_LISTEN_URL", &url)],
        );
        assert!(out.contains("--database-url"), "{out}");
        assert_clean("--help", &out, PASSWORD);
    }
}
