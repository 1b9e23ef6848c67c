//! Real `telecom-gis serve` processes for the operations tests (replicas,
//! database outage): started on a free loopback port, killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::PgPool;

/// A running service process.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its connections' `application_name`.
    pub app_name: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Service {
    /// Starts `telecom-gis serve` on `database_url` with connections named
    /// `app_name`, plus `env`; waits until it listens (not until it is ready).
    pub fn start(database_url: &str, app_name: &str, env: &[(&str, &str)]) -> Service {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_telecom-gis"));
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("BIND", "127.0.0.1")
            .env("PORT", "0")
            .env("WEB_DIR", "/nonexistent")
            // The flat model, as the in-process indexes these tests
            // compare with (`CoverageConfig::default()`).
            .env("COVERAGE_TERRAIN", "off")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info,sqlx=warn,tower_http=warn")
            .env("DB_APPLICATION_NAME", app_name)
            .env("DB_MAX_CONNECTIONS", "8")
            // One test client polls everything from 127.0.0.1: no anonymous
            // budgets unless a test sets them (the token's is its choice).
            .env("READ_RATE_LIMIT_PER_S", "0")
            .env("ANON_RATE_LIMIT_PER_S", "0")
            .env("EXPENSIVE_RATE_LIMIT_PER_S", "0")
            .env_remove("PUBLIC_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the telecom-gis binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        {
            // stderr carries the log (and panics, clap errors): to the log,
            // and through to the test's own stderr.
            let log = log.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    log.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        {
            let log = log.clone();
            std::thread::spawn(move || {
                // Keep draining so the child never blocks on a full pipe.
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!(
                    "{app_name} did not start listening; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            };
            if let Some(i) = line.find("serving http://") {
                let rest = &line[i + "serving http://".len()..];
                let host: String = rest
                    .chars()
                    .take_while(|c| *c != '/' && *c != '"')
                    .collect();
                break format!("http://{host}");
            }
        };
        Service {
            child,
            url,
            app_name: app_name.to_owned(),
            log,
        }
    }

    /// The process id (for `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Log lines containing `needle`.
    pub fn log_lines_with(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Waits until `GET /readyz` answers 200.
    pub async fn wait_ready(&self, within: Duration) {
        let client = client();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.url)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready within {within:?}; log:\n{}",
                self.app_name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /index/fingerprint` without `version` and `loaded`.
    pub async fn fingerprint(&self) -> Value {
        let mut v: Value = client()
            .get(format!("{}/index/fingerprint", self.url))
            .send()
            .await
            .expect("fingerprint answers")
            .json()
            .await
            .expect("fingerprint is JSON");
        let o = v.as_object_mut().unwrap();
        o.remove("version");
        o.remove("loaded");
        v
    }

    /// The value of the sample `name` (exact, labels included) in
    /// `/metrics`.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = client()
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines().find_map(|l| {
            let (n, v) = l.rsplit_once(' ')?;
            (n == name).then(|| v.parse().ok()).flatten()
        })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client with a short timeout and no connection reuse surprises.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// An HTTP client that writes as the Department: an admin token and
/// `If-Match: *` on every request (these tests are about availability, not
/// about concurrency control, which tests/api/history.rs covers).
pub async fn admin_client(pool: &PgPool) -> reqwest::Client {
    let token = super::token(pool, "admin", None).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    headers.insert(reqwest::header::IF_MATCH, "*".parse().unwrap());
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The URL of the database `pool` is connected to (the per-test database of
/// `#[sqlx::test]`), on the server of `DATABASE_URL`.
pub fn database_url_of(pool: &PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set");
    let name = pool
        .connect_options()
        .get_database()
        .expect("the pool names a database")
        .to_owned();
    let (server, _) = base
        .rsplit_once('/')
        .expect("DATABASE_URL names a database");
    format!("{server}/{name}")
}

/// The fingerprint of an index loaded fresh from `pool` with the shipped
/// coverage configuration, as JSON comparable with
/// [`Service::fingerprint`].
pub async fn db_fingerprint(pool: &PgPool) -> Value {
    let f = telecom_gis::coverage::listener::fingerprint_from_db(
        pool,
        telecom_gis::coverage::model::CoverageConfig::default(),
    )
    .await
    .expect("index loads");
    let mut v = serde_json::to_value(f).unwrap();
    // The read model follows the same changes: it must equal one loaded
    // fresh too.
    let m = telecom_gis::service::read_model::fingerprint_from_db(
        pool,
        telecom_gis::coverage::model::CoverageConfig::default(),
    )
    .await
    .expect("read model loads");
    v["read_model"] = serde_json::to_value(m).unwrap();
    v
}

/// A tower with one omni sector of explicit range at `lon, lat`.
pub fn omni_tower(site_code: &str, lon: f64, lat: f64) -> Value {
    serde_json::json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "operator": "viettel", "site_code": site_code, "structure_type": "compact",
            "height_m": 20.0, "status": "operational",
            "sectors": [{"operator": "viettel", "technology": "4G", "frequency_mhz": 1842.5,
                "azimuth_deg": 0, "beamwidth_deg": 360, "height_m": 18, "eirp_dbm": 60,
                "range_m": 300}]
        }
    })
}
