//! `migrate`: applies the embedded migrations.

use std::process::ExitCode;

use anyhow::Result;

use crate::db;

pub(super) async fn run(url: Option<&str>) -> Result<ExitCode> {
    let pool = super::connect(url, 2).await?;
    db::migrate(&pool).await?;
    tracing::info!("migrations applied");
    Ok(ExitCode::SUCCESS)
}
