//! `generate`: the synthetic assets as GeoJSON files.

use std::process::ExitCode;

use anyhow::Result;

use crate::config::GenerateArgs;
use crate::sample;

pub(super) fn run(args: &GenerateArgs) -> Result<ExitCode> {
    for path in sample::write_generated(&args.generator, &args.out)? {
        tracing::info!(path = %path.display(), "written");
    }
    Ok(ExitCode::SUCCESS)
}
