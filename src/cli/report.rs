//! `report underserved`: the districts ranked worst first, as a table, CSV
//! or GeoJSON on stdout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::{ReportFormat, UnderservedArgs};
use crate::coverage::index::CoverageIndex;
use crate::coverage::listener::CoverageState;
use crate::domain::tower::Technology;
use crate::service::analysis::{self as report, DistrictReport};
use crate::spatial::analysis::UniformPopulation;

pub(super) async fn underserved(url: Option<&str>, args: &UnderservedArgs) -> Result<ExitCode> {
    let technology: Technology = args
        .technology
        .parse()
        .with_context(|| format!("--technology {}", args.technology))?;
    let pool = super::connect(url, 4).await?;
    let config = super::load_analysis_config(args.analysis_config.as_deref())?;
    let state = CoverageState::new(super::load_coverage_config(
        args.coverage_config.as_deref(),
    )?);
    state.reload(&pool).await?;
    let index = state.snapshot();
    let reports = report::districts(&pool, &index, &config, technology, &UniformPopulation).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Csv => write!(out, "{}", report::to_csv(&reports)?)?,
        ReportFormat::Geojson => writeln!(out, "{}", geojson(&index, &reports))?,
        ReportFormat::Table => table(&mut out, technology, &reports)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn geojson(index: &CoverageIndex, reports: &[DistrictReport]) -> serde_json::Value {
    let features: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            let geometry = index.areas.iter().find(|a| a.code == r.code).map(|a| {
                geojson::Geometry::new(geojson::Value::from(&geo::Geometry::MultiPolygon(
                    a.geometry.clone(),
                )))
            });
            serde_json::json!({"type": "Feature", "id": r.code, "geometry": geometry, "properties": {
                "code": r.code, "name": r.name, "rank": r.rank, "class": r.verdict.class, "score": r.verdict.score,
                "indicators": r.indicators, "explanation": r.verdict.explanation}})
        })
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

fn table(out: &mut impl Write, technology: Technology, reports: &[DistrictReport]) -> Result<()> {
    writeln!(out, "Underserved districts, {technology} (worst first)")?;
    writeln!(
        out,
        "{:>4}  {:<6} {:<16} {:<12} {:>6} {:>8} {:>8} {:>8} {:>7} {:>6}  failing criteria",
        "rank", "code", "name", "class", "score", "pop %", "area %", "fibre %", "DC km", "DEM %"
    )?;
    for r in reports {
        let c = &r.indicators.coverage;
        let class = serde_json::to_value(r.verdict.class)?
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let failing: Vec<&str> = r
            .verdict
            .explanation
            .iter()
            .filter(|e| !e.pass)
            .map(|e| e.criterion)
            .collect();
        let dc = c
            .nearest_data_centre_km
            .map_or_else(|| "–".into(), |d| format!("{d:.1}"));
        writeln!(
            out,
            "{:>4}  {:<6} {:<16} {:<12} {:>6.1} {:>8.1} {:>8.1} {:>8.1} {:>7} {:>6.1}  {}",
            r.rank,
            r.code,
            r.name,
            class,
            r.verdict.score,
            c.pop_coverage_any_pct,
            c.area_coverage_any_pct,
            c.fibre_reach_pop_pct,
            dc,
            c.dem_area_pct,
            if failing.is_empty() {
                "none".to_owned()
            } else {
                failing.join(", ")
            }
        )?;
    }
    if reports
        .iter()
        .any(|r| r.indicators.coverage.coverage_model == "terrain")
    {
        writeln!(
            out,
            "DEM %: share of the district inside the DEM, where coverage sees the terrain; \
             elsewhere the empirical model alone applies."
        )?;
    }
    Ok(())
}
