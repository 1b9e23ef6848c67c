//! Times the generalised fibre layer on the default sample: `fibre_cells`
//! and `cells_outline` for every generated fibre route (seed 2019, 300 km;
//! no database involved).
//!
//! ```sh
//! cargo run --release --example generalise_timing
//! ```
//!
//! Prints the route count, total length, cells and outline vertices, and the
//! best of five runs for each step, milliseconds.

#![allow(clippy::unwrap_used)] // a benchmark or example aborts on a broken set-up

use std::path::PathBuf;
use std::time::Instant;

use geo::{Distance, Haversine, Point};
use telecom_gis::config::GeneratorArgs;
use telecom_gis::sample;
use telecom_gis::spatial::generalise::{cells_outline, fibre_cells};

fn main() -> anyhow::Result<()> {
    let args = GeneratorArgs {
        seed: 2019,
        towers: 1500,
        fibre_km: 300.0,
        data_centres: 8,
        data_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"),
    };
    let assets = sample::generate_assets(&args)?;
    let routes: Vec<geo::Geometry<f64>> = assets
        .fibre_routes
        .features
        .iter()
        .filter_map(|f| f.geometry.clone())
        .map(geo::Geometry::try_from)
        .collect::<Result<_, _>>()?;
    let length_km: f64 = routes
        .iter()
        .flat_map(|g| match g {
            geo::Geometry::LineString(ls) => ls.lines().collect::<Vec<_>>(),
            geo::Geometry::MultiLineString(mls) => {
                mls.iter().flat_map(geo::LineString::lines).collect()
            }
            _ => vec![],
        })
        .map(|l| Haversine.distance(Point(l.start), Point(l.end)))
        .sum::<f64>()
        / 1000.0;
    let vertices: usize = routes.iter().map(geo::CoordsIter::coords_count).sum();

    let (mut best_cells, mut best_outline) = (f64::INFINITY, f64::INFINITY);
    let (mut cells_total, mut outline_vertices) = (0, 0);
    for _ in 0..5 {
        let start = Instant::now();
        let cells: Vec<_> = routes.iter().map(fibre_cells).collect();
        best_cells = best_cells.min(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        let outlines: Vec<_> = cells.iter().map(|c| cells_outline(c)).collect();
        best_outline = best_outline.min(start.elapsed().as_secs_f64() * 1e3);
        cells_total = cells.iter().map(Vec::len).sum();
        outline_vertices = outlines.iter().map(geo::CoordsIter::coords_count).sum();
    }
    println!(
        "{} routes, {length_km:.1} km, {vertices} vertices -> {cells_total} res-8 cells, {outline_vertices} outline vertices",
        routes.len()
    );
    println!(
        "fibre_cells {best_cells:.1} ms, cells_outline {best_outline:.1} ms, total {:.1} ms (best of 5)",
        best_cells + best_outline
    );
    Ok(())
}
