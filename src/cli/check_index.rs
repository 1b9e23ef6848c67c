//! `check-index`: compares a running service's coverage index with one
//! loaded fresh from the database. The verdict goes to stdout; exit code 1
//! when they differ.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::CheckIndexArgs;
use crate::coverage::index::IndexFingerprint;

pub(super) async fn run(url: Option<&str>, args: &CheckIndexArgs) -> Result<ExitCode> {
    let pool = super::connect(url, 4).await?;
    let config = super::load_coverage_config(args.coverage_config.as_deref())?;
    let endpoint = format!("{}/index/fingerprint", args.url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let attempts = args.attempts.max(1);
    for attempt in 1..=attempts {
        let served: IndexFingerprint = client
            .get(&endpoint)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("cannot read {endpoint}"))?
            .json()
            .await
            .with_context(|| format!("{endpoint} did not answer a fingerprint"))?;
        let fresh = crate::coverage::listener::fingerprint_from_db(&pool, config.clone()).await?;
        if served == fresh {
            println!(
                "index consistent: {} towers, {} sectors, {} fibre routes, {} data centres, {} areas, hash {}",
                fresh.towers,
                fresh.sectors,
                fresh.fibre_routes,
                fresh.data_centres,
                fresh.areas,
                fresh.hash
            );
            return Ok(ExitCode::SUCCESS);
        }
        if attempt == attempts {
            println!("index MISMATCH after {attempts} comparisons");
            println!("  service : {}", serde_json::to_string(&served)?);
            println!("  database: {}", serde_json::to_string(&fresh)?);
            return Ok(ExitCode::from(1));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Ok(ExitCode::from(1))
}
