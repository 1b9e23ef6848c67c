//! `export`: every feature of a layer to a file (`--out /dev/stdout` for a
//! pipe; CSV and GeoJSON only, a GeoPackage needs a regular file).
//! The command line acts as the Department (it reads the database
//! directly), so exports are exact.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::ExportArgs;
use crate::db;
use crate::domain::CollectionId;
use crate::service::Viewer;
use crate::service::export::{ExportFormat, ExportRequest};

pub(super) async fn run(url: Option<&str>, args: &ExportArgs) -> Result<ExitCode> {
    let n = export_layer(url, args).await?;
    tracing::info!(path = %args.out.display(), features = n, "exported");
    Ok(ExitCode::SUCCESS)
}

/// Writes the layer; returns the number of features.
async fn export_layer(url: Option<&str>, args: &ExportArgs) -> Result<u64> {
    let layer = CollectionId::parse(&args.layer)
        .filter(|c| *c != CollectionId::Districts)
        .context("--layer must be towers, fibre-routes, data-centres, structures or duct-banks")?;
    let pool = super::connect(url, 2).await?;
    let service = super::service(pool.clone(), args.coverage_config.as_deref())?;
    if args.format == ExportFormat::Geojson {
        // Sector ranges are served from the coverage model.
        service.coverage.reload(&pool).await?;
    }
    let request = ExportRequest {
        layer,
        filter: db::ItemFilter {
            properties: args
                .operator
                .iter()
                .map(|o| ("operator".to_owned(), o.clone()))
                .collect(),
            ..db::ItemFilter::default()
        },
        limited: false,
        format: args.format,
    };
    let viewer = Viewer::new(super::command_line());
    if args.format == ExportFormat::Gpkg {
        // SQLite refuses to create tables in an existing GeoPackage: start
        // afresh, but never remove anything but a regular file (not
        // /dev/stdout).
        match std::fs::metadata(&args.out) {
            Ok(m) if m.is_file() => std::fs::remove_file(&args.out)
                .with_context(|| format!("cannot replace {}", args.out.display()))?,
            Ok(_) => anyhow::bail!(
                "{} is not a regular file: a GeoPackage is an SQLite database and needs one",
                args.out.display()
            ),
            Err(_) => {}
        }
        return Ok(service.export_gpkg(&viewer, request, &args.out).await?);
    }
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(file);
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
        }
        out.flush()
    });
    let n = service.export_stream(&viewer, request, &tx).await?;
    drop(tx);
    writer
        .await
        .context("the file writer stopped")?
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    Ok(n)
}
