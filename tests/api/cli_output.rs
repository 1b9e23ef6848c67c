//! The binary's output discipline: data on stdout, logs on stderr, at any
//! `RUST_LOG` level (a log line in a CSV breaks every consumer, and sqlx's
//! slow-statement warnings appear exactly when the machine is loaded).

use crate::common;

use std::process::{Command, Output};

use serde_json::Value;
use sqlx::PgPool;

/// Runs `telecom-gis ARGS` on the test database with every log enabled.
fn cli(pool: &PgPool, log_format: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_telecom-gis"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("DATABASE_URL", common::process::database_url_of(pool))
        .env("RUST_LOG", "debug")
        .env("LOG_FORMAT", log_format)
        .env_remove("COVERAGE_CONFIG")
        .env_remove("ANALYSIS_CONFIG")
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// No line of `stdout` looks like a log line of this service or sqlx.
fn assert_no_log_lines(what: &str, stdout: &str) {
    for line in stdout.lines() {
        assert!(
            !line.contains("telecom_gis::")
                && !line.contains("sqlx::")
                && !line.contains("\"level\":")
                && !line.contains(" DEBUG ")
                && !line.contains(" INFO "),
            "{what}: a log line on stdout: {line}"
        );
    }
}

/// The CSV's header and records; every record has the header's width.
fn parse_csv(what: &str, data: &str) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(data.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap_or_else(|e| panic!("{what}: no CSV header ({e}):\n{data}"))
        .iter()
        .map(str::to_owned)
        .collect();
    let records: Vec<csv::StringRecord> = reader
        .records()
        .map(|r| r.unwrap_or_else(|e| panic!("{what}: not CSV ({e}):\n{data}")))
        .collect();
    for (i, r) in records.iter().enumerate() {
        assert_eq!(
            r.len(),
            header.len(),
            "{what}: record {} has {} fields, the header {}: {r:?}",
            i + 1,
            r.len(),
            header.len()
        );
    }
    (header, records)
}

async fn count(pool: &PgPool, table: &str) -> usize {
    let n: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
        .fetch_one(pool)
        .await
        .unwrap();
    usize::try_from(n).unwrap()
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_underserved_csv_on_stdout_has_no_log_lines_at_debug(pool: PgPool) {
    common::load_sample(&pool, 60).await;
    let districts = count(&pool, "districts").await;
    for log_format in ["text", "json"] {
        let out = cli(
            &pool,
            log_format,
            &[
                "report",
                "underserved",
                "--technology",
                "4G",
                "--format",
                "csv",
            ],
        );
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_no_log_lines("report underserved --format csv", &stdout);
        let (header, rows) = parse_csv("report underserved --format csv", &stdout);
        assert_eq!(
            header[..5],
            ["rank", "code", "name", "class", "score"],
            "{stdout}"
        );
        assert_eq!(rows.len(), districts, "one row per district:\n{stdout}");
        let ranks: Vec<&str> = rows.iter().map(|r| &r[0]).collect();
        let expected: Vec<String> = (1..=districts).map(|i| i.to_string()).collect();
        assert_eq!(ranks, expected, "ranked worst first");
        assert!(
            stderr.contains("connected to PostgreSQL/PostGIS"),
            "the logs go to stderr:\n{stderr}"
        );
        if log_format == "json" {
            for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("a JSON log line is not JSON ({e}): {line}"));
            }
        }
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_underserved_geojson_on_stdout_parses_at_debug(pool: PgPool) {
    common::load_sample(&pool, 40).await;
    let out = cli(
        &pool,
        "text",
        &["report", "underserved", "--format", "geojson"],
    );
    let fc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            text(&out.stdout)
        )
    });
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(
        fc["features"].as_array().unwrap().len(),
        count(&pool, "districts").await
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn an_export_to_dev_stdout_is_clean_csv_and_geojson_at_debug(pool: PgPool) {
    common::load_sample(&pool, 50).await;
    let towers = count(&pool, "towers").await;
    assert!(towers > 0);
    let out = cli(
        &pool,
        "text",
        &[
            "export",
            "--layer",
            "towers",
            "--format",
            "csv",
            "--out",
            "/dev/stdout",
        ],
    );
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_no_log_lines("export --format csv", &stdout);
    let (header, rows) = parse_csv("export --format csv", &stdout);
    assert!(header.iter().any(|h| h == "operator"), "{header:?}");
    assert_eq!(rows.len(), towers, "one row per tower");
    assert!(
        stderr.contains("exported"),
        "the logs go to stderr:\n{stderr}"
    );

    let out = cli(
        &pool,
        "text",
        &[
            "export",
            "--layer",
            "towers",
            "--format",
            "geojson",
            "--out",
            "/dev/stdout",
        ],
    );
    let fc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "export --format geojson: stdout is not JSON ({e}):\n{}",
            text(&out.stdout)
        )
    });
    assert_eq!(fc["type"], "FeatureCollection");
    assert_eq!(fc["features"].as_array().unwrap().len(), towers);
    assert!(text(&out.stderr).contains("exported"));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_geopackage_export_refuses_dev_stdout_and_removes_nothing(pool: PgPool) {
    common::load_sample(&pool, 10).await;
    let out = Command::new(env!("CARGO_BIN_EXE_telecom-gis"))
        .args([
            "export",
            "--layer",
            "towers",
            "--format",
            "gpkg",
            "--out",
            "/dev/null",
        ])
        .env("DATABASE_URL", common::process::database_url_of(&pool))
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a regular file"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(std::path::Path::new("/dev/null").exists());
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn token_create_prints_only_the_secret_on_stdout(pool: PgPool) {
    let out = cli(
        &pool,
        "text",
        &["token", "create", "--role", "analyst", "--name", "cli test"],
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is the secret alone:\n{stdout}");
    assert!(
        !lines[0].is_empty() && !lines[0].contains(char::is_whitespace),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("shown once"), "{stderr}");
    assert!(!stderr.contains(lines[0]), "the secret is not logged");

    let out = cli(&pool, "text", &["token", "list"]);
    let stdout = text(&out.stdout);
    assert_no_log_lines("token list", &stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one token:\n{stdout}");
    assert!(lines[0].trim_start().starts_with("id") && lines[1].ends_with("cli test"));
}
