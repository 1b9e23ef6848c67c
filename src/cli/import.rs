//! `import FILE`: a bulk import with a progress bar (stderr) and a summary
//! (stdout); exit code 1 when rows were refused (then nothing is stored).
//! It imports as the Department (`cli:<user>` in the audit history).

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::ImportArgs;
use crate::domain::CollectionId;
use crate::import::{Format, ImportOptions, Mode, Report};
use crate::service::Caller;

/// Counts the bytes read, for the progress bar.
struct Progressing<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R: std::io::Read> std::io::Read for Progressing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

pub(super) async fn run(url: Option<&str>, args: &ImportArgs) -> Result<ExitCode> {
    let layer = CollectionId::parse(&args.layer)
        .filter(|c| *c != CollectionId::Districts)
        .context("--layer must be towers, fibre-routes, data-centres, structures or duct-banks")?;
    let format = match args.format {
        Some(f) => f,
        None => Format::from_path(&args.file).with_context(|| {
            format!(
                "cannot tell the format of {} from its extension: pass --format",
                args.file.display()
            )
        })?,
    };
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Commit
    };
    let mut options = ImportOptions::new(layer, format, mode);
    options.operator = args.operator.clone();
    options.batch_size = args.batch_size.max(1);
    options.opencellid.site_radius_m = args.site_radius_m;
    options.opencellid.beamwidth_deg = args.beamwidth_deg;
    options.opencellid.azimuth_deg = args.azimuth_deg;
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let size = file.metadata().map_or(0, |m| m.len());
    // On stderr (hidden when it is not a terminal): stdout carries the summary.
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(size),
        indicatif::ProgressDrawTarget::stderr(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let pool = super::connect(url, 3).await?;
    let started = std::time::Instant::now();
    let input = Progressing {
        inner: file,
        bar: bar.clone(),
    };
    let progress_bar = bar.clone();
    let progress = move |rows: u64| {
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        progress_bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
    };
    let service = crate::service::Service {
        region: std::sync::Arc::new(args.region.region().map_err(anyhow::Error::msg)?),
        ..super::service(pool.clone(), None)?
    };
    let caller = Caller {
        actor: super::command_line(),
        request_id: None,
    };
    let report = service
        .import(&caller, Box::new(input), options, &progress)
        .await?;
    bar.finish_and_clear();
    print_summary(args, &report, started.elapsed().as_secs_f64());
    Ok(if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The summary: the command's output, on stdout.
fn print_summary(args: &ImportArgs, report: &Report, secs: f64) {
    println!("{:<10} {}", "file", args.file.display());
    for (k, v) in [
        ("mode", report.mode.clone()),
        ("layer", report.layer.clone()),
        ("format", report.format.clone()),
        ("rows", report.rows.to_string()),
        ("accepted", report.accepted.to_string()),
        ("created", report.created.to_string()),
        ("updated", report.updated.to_string()),
        ("unchanged", report.unchanged.to_string()),
        ("rejected", report.rejected.to_string()),
        ("committed", report.committed.to_string()),
        ("seconds", format!("{secs:.1}")),
        (
            "rows/s",
            format!("{:.0}", report.rows as f64 / secs.max(1e-3)),
        ),
    ] {
        println!("{k:<10} {v}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    for p in report.problems.iter().take(args.show_problems) {
        let at = match (p.row, p.feature) {
            (Some(r), _) => format!("row {r}"),
            (_, Some(f)) => format!("feature {f}"),
            _ => "file".into(),
        };
        println!("problem: {at:<12} {:<20} {}", p.field, p.reason);
    }
    let shown = report.problems.len().min(args.show_problems) as u64;
    if report.problems_total > shown {
        println!("… and {} more problems", report.problems_total - shown);
    }
    if report.has_errors() && !args.dry_run {
        println!("nothing was stored: fix the problems and import again");
    }
}
