//! `generate-opencellid`: a deterministic OpenCelliD-style CSV.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::GenerateOpenCellIdArgs;

pub(super) fn run(args: &GenerateOpenCellIdArgs) -> Result<ExitCode> {
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    crate::generate::opencellid::write(args.rows, args.seed, std::io::BufWriter::new(file))
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    tracing::info!(path = %args.out.display(), rows = args.rows, "written");
    Ok(ExitCode::SUCCESS)
}
