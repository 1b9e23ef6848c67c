//! `load-sample`: the real districts plus generated assets (idempotent).

use std::process::ExitCode;

use anyhow::Result;

use crate::config::SampleArgs;
use crate::{db, sample};

pub(super) async fn run(url: Option<&str>, args: &SampleArgs) -> Result<ExitCode> {
    let pool = super::connect(url, 2).await?;
    db::migrate(&pool).await?;
    let r = sample::load(&pool, &args.generator).await?;
    tracing::info!(
        districts = r.districts,
        streets = r.streets,
        towers = r.towers_inserted,
        fibre_routes = r.fibre_routes_inserted,
        data_centres = r.data_centres_inserted,
        structures = r.structures_inserted,
        duct_banks = r.duct_banks_inserted,
        duct_leases = r.duct_leases_inserted,
        unchanged = r.skipped,
        "sample loaded"
    );
    Ok(ExitCode::SUCCESS)
}
