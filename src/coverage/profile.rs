//! Terrain path profiles: earth curvature, line of sight, Fresnel clearance
//! and knife-edge diffraction by the Deygout method (ITU-R P.526).
//!
//! **Profile.** The path from the transmitter to the receiver (lon/lat) is
//! sampled at one point per DEM pixel crossed (`n = ⌈max(|Δlon|/Δλ,
//! |Δlat|/Δφ)⌉` intervals of the finest raster's pixel `Δλ × Δφ`, at most
//! [`MAX_SAMPLES`]), the sample positions interpolated linearly in lon/lat
//! (for the ≤ 35 km paths of a city network this is within metres of the
//! geodesic) and the distances from [`path_length_m`]. Each sample's ground height is the
//! DEM's bilinear elevation; if any sample has none, the path has no terrain
//! (`terrain: "none"`) and only the empirical model applies.
//!
//! **Curvature.** With an effective earth radius `a_e = k · 6 371 km`
//! (`k = 4/3` by default, standard refraction), the ray seen over the ground
//! drops by the earth bulge `b(d₁) = d₁ d₂ / (2 a_e)`: the ray height over the
//! geoid at a sample is `h_t + (h_r − h_t) d₁/d − b(d₁)`, where `h_t`, `h_r`
//! are the antenna heights over the geoid (ground + height above ground).
//!
//! **Clearance.** The first Fresnel zone radius is `r₁ = √(λ d₁ d₂ / d)`. The
//! path has line of sight when every intermediate sample's ground is below
//! the ray; `fresnel_clearance_min` is the smallest `(ray − ground) / r₁`
//! over the intermediate samples (≥ 1: the first zone is clear; ≥ 0.6: the
//! usual planning criterion for negligible obstruction loss; < 0: blocked).
//!
//! **Diffraction.** Each sample is an edge with the Fresnel–Kirchhoff
//! parameter `ν = h √(2 d / (λ d₁ d₂))` (`h` its height above the line
//! joining the ends of the sub-path it lies in). Deygout: the edge with the
//! largest `ν` is the main edge, with loss `J(ν)`; the method is applied
//! again on each side of it, between the ends and the main edge, to at most
//! [`DEYGOUT_DEPTH`] levels (three edges). `J` is P.526's single knife-edge
//! approximation, `J(ν) = 6.9 + 20 log₁₀(√((ν − 0.1)² + 1) + ν − 0.1)` for
//! `ν > −0.78`, else 0 (ITU-R P.526-15, §4.1, eq. 31; Deygout 1966, as in
//! P.526's earlier §4.5.1). Limits: Deygout overestimates the loss of many
//! close edges (a plateau sampled at every pixel counts as a main edge and
//! a secondary one); ground is bare earth (a DEM such as SRTM includes
//! some buildings and canopy, so some clutter is in it already); no
//! reflection or tropospheric effects.

use crate::coverage::terrain::Dem;
use crate::spatial::geodesy::geodesic;

/// Most samples in one profile.
pub const MAX_SAMPLES: usize = 4096;

/// Levels of the Deygout construction: the main edge and one level of
/// secondary edges on each side of it.
pub const DEYGOUT_DEPTH: usize = 2;

/// Mean earth radius, metres.
pub const EARTH_RADIUS_M: f64 = 6_371_000.0;

/// Speed of light, m/s.
const C_M_S: f64 = 299_792_458.0;

/// P.526's single knife-edge loss `J(ν)`, dB (0 for `ν ≤ −0.78`).
pub fn knife_edge_loss_db(nu: f64) -> f64 {
    if nu <= -0.78 {
        return 0.0;
    }
    let v = nu - 0.1;
    6.9 + 20.0 * ((v * v + 1.0).sqrt() + v).log10()
}

/// One sample of a profile.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sample {
    /// Distance from the transmitter, metres.
    pub distance_m: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Ground elevation, metres over the DEM's datum; `None` without DEM.
    pub ground_m: Option<f64>,
    /// Height of the direct ray over the same datum with the earth bulge
    /// taken off, metres (compare with `ground_m`).
    pub ray_m: f64,
}

/// A path between two antennas, heights above ground.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Path {
    /// Transmitter (lon, lat), degrees.
    pub tx: (f64, f64),
    /// Transmitter antenna height above ground, metres.
    pub tx_height_m: f64,
    /// Receiver (lon, lat), degrees.
    pub rx: (f64, f64),
    /// Receiver antenna height above ground, metres.
    pub rx_height_m: f64,
    /// Carrier frequency, MHz.
    pub frequency_mhz: f64,
}

/// What the terrain does to a path.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Profile {
    /// Geodesic length, metres.
    pub distance_m: f64,
    /// True when every sample has a DEM elevation.
    pub has_terrain: bool,
    /// The samples, transmitter first, receiver last.
    pub samples: Vec<Sample>,
    /// No intermediate ground at or above the ray (`None` without terrain).
    pub line_of_sight: Option<bool>,
    /// Smallest clearance of the ray over the ground in first-Fresnel-zone
    /// radii over the intermediate samples (`None` without terrain or
    /// intermediate samples).
    pub fresnel_clearance_min: Option<f64>,
    /// Deygout diffraction loss, dB (0 without terrain).
    pub diffraction_loss_db: f64,
    /// The edges used, as sample indices, main edge first.
    pub edges: Vec<usize>,
}

/// Sampling cell, degrees (lon, lat): the finest DEM raster's pixel, or
/// 1″ without a DEM.
pub fn sample_cell_deg(dem: &Dem) -> (f64, f64) {
    dem.rasters()
        .first()
        .map_or((1.0 / 3600.0, 1.0 / 3600.0), |r| r.pixel_deg())
}

/// Intervals of a path spanning `dlon`, `dlat` degrees: one per sampling
/// cell crossed along the dominant axis, at least 1 and below
/// [`MAX_SAMPLES`].
pub fn intervals_for(dlon: f64, dlat: f64, cell: (f64, f64)) -> usize {
    // The small tolerance keeps a path of exactly j cells at j intervals
    // despite rounding (the footprints' radial nodes rely on it).
    let cells = (dlon.abs() / cell.0).max(dlat.abs() / cell.1);
    ((cells - 1e-6).ceil().max(1.0) as usize).min(MAX_SAMPLES - 1)
}

/// Length of a path, metres: the tangent-plane distance within 20 km
/// (centimetres), Karney's geodesic beyond.
pub fn path_length_m(from: (f64, f64), to: (f64, f64)) -> f64 {
    let (dx, dy) = crate::spatial::geodesy::offset_m(from, to);
    let d = dx.hypot(dy);
    if d <= 20_000.0 {
        d
    } else {
        geodesic(from, to).0
    }
}

/// Builds the profile of `path` over `dem` with effective earth-radius
/// factor `k_factor`.
pub fn profile(dem: &Dem, path: &Path, k_factor: f64) -> Profile {
    let (dlon, dlat) = (path.rx.0 - path.tx.0, path.rx.1 - path.tx.1);
    let n = intervals_for(dlon, dlat, sample_cell_deg(dem));
    let ground: Vec<Option<f64>> = (0..=n)
        .map(|i| {
            let t = i as f64 / n as f64;
            dem.elevation_m(path.tx.0 + dlon * t, path.tx.1 + dlat * t)
        })
        .collect();
    let d_total = path_length_m(path.tx, path.rx);
    let mut p = profile_of(&ground, d_total, path, k_factor);
    for (i, s) in p.samples.iter_mut().enumerate() {
        let t = i as f64 / n as f64;
        s.lon = path.tx.0 + dlon * t;
        s.lat = path.tx.1 + dlat * t;
    }
    p
}

/// The profile of a path of `d_total` metres whose evenly spaced samples
/// have the `ground` heights (transmitter first, receiver last; `None`:
/// unknown). Sample positions are left at the transmitter; [`profile`]
/// fills them in.
pub fn profile_of(ground: &[Option<f64>], d_total: f64, path: &Path, k_factor: f64) -> Profile {
    let intervals = ground.len().saturating_sub(1).max(1);
    let has_terrain = ground.len() >= 2 && ground.iter().all(Option::is_some);
    let g = |i: usize| {
        if has_terrain {
            ground.get(i).copied().flatten().unwrap_or(0.0)
        } else {
            0.0
        }
    };
    let a_e = k_factor * EARTH_RADIUS_M;
    let h_t = g(0) + path.tx_height_m;
    let h_r = g(intervals) + path.rx_height_m;
    let x: Vec<f64> = (0..=intervals)
        .map(|i| d_total * i as f64 / intervals as f64)
        .collect();
    let bulge = |d1: f64| d1 * (d_total - d1) / (2.0 * a_e);
    let samples: Vec<Sample> = (0..=intervals)
        .map(|i| {
            let t = i as f64 / intervals as f64;
            Sample {
                distance_m: x[i],
                lon: path.tx.0,
                lat: path.tx.1,
                ground_m: if has_terrain {
                    ground.get(i).copied().flatten()
                } else {
                    None
                },
                ray_m: h_t + (h_r - h_t) * t - bulge(x[i]),
            }
        })
        .collect();
    if !has_terrain || d_total <= 0.0 {
        return Profile {
            distance_m: d_total,
            has_terrain,
            samples,
            line_of_sight: None,
            fresnel_clearance_min: None,
            diffraction_loss_db: 0.0,
            edges: Vec::new(),
        };
    }
    let lambda = C_M_S / (path.frequency_mhz * 1e6);
    let known: Vec<f64> = (0..=intervals).map(g).collect();
    let (x, mut y) = flat_frame(
        &known,
        d_total,
        path.tx_height_m,
        path.rx_height_m,
        k_factor,
    );
    let mut los = true;
    let mut clearance = f64::INFINITY;
    for i in 1..intervals {
        let line = h_t + (h_r - h_t) * x[i] / d_total;
        if y[i] >= line {
            los = false;
        }
        let (d1, d2) = (x[i], d_total - x[i]);
        let r1 = (lambda * d1 * d2 / d_total).sqrt();
        if r1 > 0.0 {
            clearance = clearance.min((line - y[i]) / r1);
        }
    }
    y[0] = h_t;
    y[intervals] = h_r;
    let mut edges = Vec::new();
    let loss = deygout(&x, &y, lambda, 0, intervals, 0, &mut edges);
    debug_assert_eq!(
        loss,
        deygout_loss_db(
            &known,
            d_total,
            path.tx_height_m,
            path.rx_height_m,
            path.frequency_mhz,
            k_factor
        )
    );
    Profile {
        distance_m: d_total,
        has_terrain,
        samples,
        line_of_sight: Some(los),
        fresnel_clearance_min: clearance.is_finite().then_some(clearance),
        diffraction_loss_db: loss,
        edges,
    }
}

/// Distances and flat-frame heights of evenly spaced samples with
/// `ground` heights: the ground raised by the earth bulge, and the two
/// ends replaced by the antennas (`tx_height_m`, `rx_height_m` above
/// their ground).
fn flat_frame(
    ground: &[f64],
    d_total: f64,
    tx_height_m: f64,
    rx_height_m: f64,
    k_factor: f64,
) -> (Vec<f64>, Vec<f64>) {
    let n = ground.len().saturating_sub(1).max(1);
    let a_e = k_factor * EARTH_RADIUS_M;
    let x: Vec<f64> = (0..ground.len())
        .map(|i| d_total * i as f64 / n as f64)
        .collect();
    let mut y: Vec<f64> = ground
        .iter()
        .zip(&x)
        .map(|(g, xi)| g + xi * (d_total - xi) / (2.0 * a_e))
        .collect();
    if let Some(last) = ground.len().checked_sub(1) {
        y[0] = ground[0] + tx_height_m;
        y[last] = ground[last] + rx_height_m;
    }
    (x, y)
}

/// The Deygout diffraction loss, dB, of a path of `d_total` metres over
/// evenly spaced `ground` heights (transmitter first), antennas
/// `tx_height_m` and `rx_height_m` above their ground, at `frequency_mhz`:
/// what [`profile`] reports as `diffraction_loss_db` for the same samples.
pub fn deygout_loss_db(
    ground: &[f64],
    d_total: f64,
    tx_height_m: f64,
    rx_height_m: f64,
    frequency_mhz: f64,
    k_factor: f64,
) -> f64 {
    if ground.len() < 3 || d_total <= 0.0 {
        return 0.0;
    }
    let lambda = C_M_S / (frequency_mhz * 1e6);
    let (x, y) = flat_frame(ground, d_total, tx_height_m, rx_height_m, k_factor);
    let mut edges = Vec::new();
    deygout(&x, &y, lambda, 0, ground.len() - 1, 0, &mut edges)
}

/// Deygout loss of the sub-path between samples `a` and `b` (heights `y`
/// in the flat frame, distances `x`), dB.
fn deygout(
    x: &[f64],
    y: &[f64],
    lambda: f64,
    a: usize,
    b: usize,
    depth: usize,
    edges: &mut Vec<usize>,
) -> f64 {
    if depth >= DEYGOUT_DEPTH || b <= a + 1 {
        return 0.0;
    }
    let span = x[b] - x[a];
    let mut best: Option<(usize, f64)> = None;
    for i in a + 1..b {
        let (d1, d2) = (x[i] - x[a], x[b] - x[i]);
        if d1 <= 0.0 || d2 <= 0.0 {
            continue;
        }
        let line = y[a] + (y[b] - y[a]) * d1 / span;
        let nu = (y[i] - line) * (2.0 * span / (lambda * d1 * d2)).sqrt();
        if best.is_none_or(|(_, n)| nu > n) {
            best = Some((i, nu));
        }
    }
    let Some((m, nu)) = best else {
        return 0.0;
    };
    if nu <= -0.78 {
        return 0.0;
    }
    edges.push(m);
    knife_edge_loss_db(nu)
        + deygout(x, y, lambda, a, m, depth + 1, edges)
        + deygout(x, y, lambda, m, b, depth + 1, edges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coverage::terrain::DemRaster;

    #[test]
    fn the_knife_edge_loss_is_6_db_at_grazing_and_zero_well_below() {
        assert!((knife_edge_loss_db(0.0) - 6.0).abs() < 0.1);
        assert_eq!(knife_edge_loss_db(-0.8), 0.0);
        // P.526 Figure 7: about 13.9 dB at ν = 1.
        assert!((knife_edge_loss_db(1.0) - 13.9).abs() < 0.2);
    }

    fn flat(width: usize, height: usize, step: f64, z: f32) -> Dem {
        Dem::new(vec![
            DemRaster::from_grid(
                "flat",
                108.0,
                16.0,
                step,
                step,
                width,
                vec![z; width * height],
            )
            .expect("grid"),
        ])
    }

    #[test]
    fn a_flat_dem_gives_line_of_sight_and_no_diffraction() {
        let dem = flat(200, 10, 0.0005, 5.0);
        let p = profile(
            &dem,
            &Path {
                tx: (108.001, 15.999),
                tx_height_m: 30.0,
                rx: (108.05, 15.999),
                rx_height_m: 1.5,
                frequency_mhz: 1800.0,
            },
            4.0 / 3.0,
        );
        assert!(p.has_terrain);
        assert_eq!(p.line_of_sight, Some(true));
        assert_eq!(p.diffraction_loss_db, 0.0);
        assert!(p.samples.iter().all(|s| s.ground_m == Some(5.0)));
    }

    #[test]
    fn outside_the_dem_a_path_has_no_terrain() {
        let dem = flat(10, 10, 0.001, 5.0);
        let p = profile(
            &dem,
            &Path {
                tx: (108.001, 15.999),
                tx_height_m: 30.0,
                rx: (108.2, 15.999),
                rx_height_m: 1.5,
                frequency_mhz: 900.0,
            },
            4.0 / 3.0,
        );
        assert!(!p.has_terrain);
        assert_eq!(p.line_of_sight, None);
        assert_eq!(p.diffraction_loss_db, 0.0);
    }
}
