//! `check-index`: compares a running service's coverage index, and its read
//! model, with ones loaded fresh from the database. The verdict goes to
//! stdout; exit code 1 when they differ.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::CheckIndexArgs;
use crate::coverage::index::IndexFingerprint;
use crate::service::read_model::ModelFingerprint;

pub(super) async fn run(url: Option<&str>, args: &CheckIndexArgs) -> Result<ExitCode> {
    let pool = super::connect(url, 4).await?;
    let config = super::load_coverage_config(args.coverage_config.as_deref())?;
    let endpoint = format!("{}/index/fingerprint", args.url.trim_end_matches('/'));
    let client = reqwest::Client::new();
    let attempts = args.attempts.max(1);
    for attempt in 1..=attempts {
        let answer: serde_json::Value = client
            .get(&endpoint)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("cannot read {endpoint}"))?
            .json()
            .await
            .with_context(|| format!("{endpoint} did not answer a fingerprint"))?;
        let served: IndexFingerprint = serde_json::from_value(answer.clone())
            .with_context(|| format!("{endpoint} did not answer a fingerprint"))?;
        let served_model: Option<ModelFingerprint> = answer
            .get("read_model")
            .and_then(|m| serde_json::from_value(m.clone()).ok());
        let fresh = crate::coverage::listener::fingerprint_from_db(&pool, config.clone()).await?;
        let fresh_model = match &served_model {
            Some(_) => {
                Some(crate::service::read_model::fingerprint_from_db(&pool, config.clone()).await?)
            }
            None => None,
        };
        if served == fresh && served_model == fresh_model {
            if let Some(m) = &fresh_model {
                println!(
                    "read model consistent: {} towers, {} fibre routes, {} data centres, {} districts, hash {}",
                    m.towers, m.fibre_routes, m.data_centres, m.districts, m.hash
                );
            }
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
            if served_model != fresh_model {
                println!(
                    "  read model, service : {}",
                    serde_json::to_string(&served_model)?
                );
                println!(
                    "  read model, database: {}",
                    serde_json::to_string(&fresh_model)?
                );
            }
            return Ok(ExitCode::from(1));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Ok(ExitCode::from(1))
}
