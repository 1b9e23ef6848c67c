//! Terrain path profiles: earth curvature, line of sight, Fresnel clearance
//! and diffraction by the delta-Bullington method (ITU-R P.526-15 §4.5).
//!
//! **Profile.** The path from the transmitter to the receiver (lon/lat) is
//! sampled at one point per DEM pixel crossed (`n = ⌈max(|Δlon|/Δλ,
//! |Δlat|/Δφ)⌉` intervals of the finest raster's pixel `Δλ × Δφ`, at most
//! [`MAX_SAMPLES`]), the sample positions interpolated linearly in lon/lat
//! (for the ≤ 35 km paths of a city network this is within metres of the
//! geodesic) and the distances from [`path_length_m`]. Each sample's ground
//! height is the DEM's bilinear elevation; if any sample has none, the path
//! has no terrain (`terrain: "none"`) and only the empirical model applies.
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
//! parameter `ν = h √(2 d / (λ d₁ d₂))` (`h` its height, with the bulge,
//! above the straight ray). `J` is P.526's single knife-edge approximation,
//! `J(ν) = 6.9 + 20 log₁₀(√((ν − 0.1)² + 1) + ν − 0.1)` for `ν > −0.78`,
//! else 0 (P.526-15 §4.1, eq. 31). Bullington's construction (§4.5.1)
//! replaces the profile by one equivalent edge: with line of sight, the
//! sample of largest `ν`; without, the point where the horizon rays from
//! the two antennas cross. We leave out §4.5.1's empirical correction
//! `(1 − e^(−L/6))(10 + 0.02 d_km)`, so that one knife edge gives exactly
//! `J(ν)`.
//!
//! The empirical models (Hata, COST-231, 38.901) were fitted over
//! quasi-smooth ground: they already hold the loss of a low receiver's
//! Fresnel zone grazing smooth earth. So the terrain adds only what the
//! actual profile obstructs beyond a smooth earth — P.526 §4.5's delta:
//! `L = max(L_b(actual) − L_b(smooth), 0)`, where the smooth profile is the
//! least-squares surface of the ground lowered under obstacles (§4.5.2,
//! eqs. 37–47) with heights set to zero and the antennas at their heights
//! over it. In place of §4.5's spherical-earth term (which needs ground
//! constants and polarisation we do not hold), a path beyond the smooth
//! earth's radio horizon adds `L_b(smooth) − J(0)`: zero at grazing,
//! growing with the depth of the curvature shadow. Over flat ground a
//! transmitter 30 m up and a receiver at 1.5 m (k = 4/3) lose sight at
//! `√(2 a_e)(√30 + √1.5) ≈ 27.6 km`.
//!
//! Limits: one equivalent edge (Bullington underestimates the loss of
//! several separate ridges); ground is bare earth (SRTM includes some
//! buildings and canopy, so some clutter is in it already); no reflection,
//! ducting or tropospheric scatter; the loss is deterministic (no
//! location variability).

use crate::coverage::terrain::{Dem, DemRaster};
use crate::spatial::geodesy::geodesic;

/// Most samples in one profile.
pub const MAX_SAMPLES: usize = 4096;

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
    /// Diffraction loss added to the empirical model, dB (0 without
    /// terrain): see [`Diffraction::loss_db`].
    pub diffraction_loss_db: f64,
    /// Bullington's loss over the actual profile, dB.
    pub bullington_actual_db: f64,
    /// Bullington's loss over the smooth earth, dB.
    pub bullington_smooth_db: f64,
    /// Sample index of the main obstacle, if any intermediate sample.
    pub obstacle: Option<usize>,
}

/// Sampling cell, degrees (lon, lat): the finest DEM raster's pixel, or
/// 1″ without a DEM.
pub fn sample_cell_deg(dem: &Dem) -> (f64, f64) {
    dem.rasters()
        .first()
        .map_or((1.0 / 3600.0, 1.0 / 3600.0), DemRaster::pixel_deg)
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
    let d = (dx * dx + dy * dy).sqrt();
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
    let step = d_total / intervals as f64;
    let bulge = |d1: f64| d1 * (d_total - d1) / (2.0 * a_e);
    let samples: Vec<Sample> = (0..=intervals)
        .map(|i| {
            let t = i as f64 / intervals as f64;
            let x = step * i as f64;
            Sample {
                distance_m: x,
                lon: path.tx.0,
                lat: path.tx.1,
                ground_m: if has_terrain {
                    ground.get(i).copied().flatten()
                } else {
                    None
                },
                ray_m: h_t + (h_r - h_t) * t - bulge(x),
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
            bullington_actual_db: 0.0,
            bullington_smooth_db: 0.0,
            obstacle: None,
        };
    }
    let lambda = wavelength_m(path.frequency_mhz);
    let known: Vec<f64> = (0..=intervals).map(g).collect();
    let mut clearance = f64::INFINITY;
    for (i, s) in samples.iter().enumerate().take(intervals).skip(1) {
        let (d1, d2) = (s.distance_m, d_total - s.distance_m);
        let r1 = (lambda * d1 * d2 / d_total).sqrt();
        if r1 > 0.0 {
            clearance = clearance.min((s.ray_m - known[i]) / r1);
        }
    }
    let dif = diffraction(
        &known,
        d_total,
        path.tx_height_m,
        path.rx_height_m,
        path.frequency_mhz,
        k_factor,
    );
    Profile {
        distance_m: d_total,
        has_terrain,
        samples,
        line_of_sight: Some(dif.line_of_sight),
        fresnel_clearance_min: clearance.is_finite().then_some(clearance),
        diffraction_loss_db: dif.loss_db,
        bullington_actual_db: dif.actual_db,
        bullington_smooth_db: dif.smooth_db,
        obstacle: dif.obstacle,
    }
}

/// Wavelength at `frequency_mhz`, metres.
pub fn wavelength_m(frequency_mhz: f64) -> f64 {
    C_M_S / (frequency_mhz * 1e6)
}

/// The diffraction of a path over evenly spaced ground heights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diffraction {
    /// No intermediate ground (raised by the earth bulge) at or above the
    /// ray.
    pub line_of_sight: bool,
    /// Bullington's loss over the actual profile, dB.
    pub actual_db: f64,
    /// Bullington's loss over the smooth earth (the least-squares surface
    /// of P.526 §4.5.2, heights zero), dB.
    pub smooth_db: f64,
    /// The loss added to the empirical model, dB:
    /// `max(actual − smooth, 0)`, plus, beyond the smooth earth's radio
    /// horizon, `smooth − J(0)`.
    pub loss_db: f64,
    /// The sample of Bullington's main obstacle over the actual profile
    /// (the horizon seen from the transmitter when the path is obstructed,
    /// else the sample of largest ν), if any intermediate sample.
    pub obstacle: Option<usize>,
}

/// Bullington's equivalent knife edge (ITU-R P.526-15 §4.5.1, without the
/// empirical correction term, so that a single edge gives exactly `J(ν)`)
/// over `n + 1` evenly spaced samples `0..=n` of a `d` metre path:
/// heights `h(i)` (the ends' are ignored), antennas at `hts` and `hrs`
/// over the same datum. Returns (loss dB, line of sight, main sample).
#[inline]
fn bullington(
    h: impl Fn(usize) -> f64,
    n: usize,
    d: f64,
    hts: f64,
    hrs: f64,
    lambda: f64,
    inv_2ae: f64,
) -> (f64, bool, Option<usize>) {
    if n < 2 || d <= 0.0 {
        return (0.0, true, None);
    }
    let step = d / n as f64;
    let str_ = (hrs - hts) / d;
    // Highest slope from the transmitter to an intermediate sample.
    let mut stim = f64::NEG_INFINITY;
    let mut at = 1;
    for i in 1..n {
        let di = step * i as f64;
        let s = (h(i) + di * (d - di) * inv_2ae - hts) / di;
        if s > stim {
            stim = s;
            at = i;
        }
    }
    if stim < str_ {
        // Line of sight: the sample of largest ν.
        let mut nu_max = f64::NEG_INFINITY;
        let mut at = 1;
        for i in 1..n {
            let di = step * i as f64;
            let d2 = d - di;
            let nu = (h(i) + di * d2 * inv_2ae - (hts * d2 + hrs * di) / d)
                * (2.0 * d / (lambda * di * d2)).sqrt();
            if nu > nu_max {
                nu_max = nu;
                at = i;
            }
        }
        return (knife_edge_loss_db(nu_max), true, Some(at));
    }
    // Obstructed: the highest slope from the receiver, and the edge where
    // the two horizon rays cross.
    let mut srim = f64::NEG_INFINITY;
    for i in 1..n {
        let di = step * i as f64;
        let d2 = d - di;
        srim = srim.max((h(i) + di * d2 * inv_2ae - hrs) / d2);
    }
    let db = ((hrs - hts + srim * d) / (stim + srim)).clamp(step * 1e-3, d - step * 1e-3);
    let nu_b = (hts + stim * db - (hts * (d - db) + hrs * db) / d)
        * (2.0 * d / (lambda * db * (d - db))).sqrt();
    (knife_edge_loss_db(nu_b), false, Some(at))
}

/// Bullington's loss over the actual profile (what
/// [`Diffraction::actual_db`] holds), with the line-of-sight flag and main
/// sample: an upper bound of [`Diffraction::loss_db`] on paths shorter than
/// [`horizon_bound_m`], at a fraction of [`diffraction`]'s cost.
pub fn bullington_actual(
    ground: &[f64],
    d_total: f64,
    tx_height_m: f64,
    rx_height_m: f64,
    frequency_mhz: f64,
    k_factor: f64,
) -> (f64, bool, Option<usize>) {
    let n = ground.len().saturating_sub(1);
    if n < 2 || d_total <= 0.0 {
        return (0.0, true, None);
    }
    bullington(
        |i| ground[i],
        n,
        d_total,
        ground[0] + tx_height_m,
        ground[n] + rx_height_m,
        wavelength_m(frequency_mhz),
        1.0 / (2.0 * k_factor * EARTH_RADIUS_M),
    )
}

/// The smooth-earth radio horizon of antennas `tx_height_m` and
/// `rx_height_m` above their ground at the least, metres:
/// `√(2 a_e)(√h_t + √h_r)`. The smooth surface of [`diffraction`] is never
/// above the ground at the ends, so on a shorter path the smooth profile
/// has line of sight and [`Diffraction::loss_db`] ≤
/// [`Diffraction::actual_db`].
pub fn horizon_bound_m(tx_height_m: f64, rx_height_m: f64, k_factor: f64) -> f64 {
    (2.0 * k_factor * EARTH_RADIUS_M).sqrt()
        * (tx_height_m.max(0.0).sqrt() + rx_height_m.max(0.0).sqrt())
}

/// The diffraction loss of a path of `d_total` metres over evenly spaced
/// `ground` heights (transmitter first), antennas `tx_height_m` and
/// `rx_height_m` above their ground, at `frequency_mhz`, with effective
/// earth-radius factor `k_factor`: the delta-Bullington method of ITU-R
/// P.526-15 §4.5, as an excess over the empirical model (see the module
/// documentation). What [`profile`] reports for the same samples.
pub fn diffraction(
    ground: &[f64],
    d_total: f64,
    tx_height_m: f64,
    rx_height_m: f64,
    frequency_mhz: f64,
    k_factor: f64,
) -> Diffraction {
    let actual = bullington_actual(
        ground,
        d_total,
        tx_height_m,
        rx_height_m,
        frequency_mhz,
        k_factor,
    );
    diffraction_with(
        ground,
        d_total,
        tx_height_m,
        rx_height_m,
        frequency_mhz,
        k_factor,
        actual,
    )
}

/// [`diffraction`] given the [`bullington_actual`] of the same path.
pub fn diffraction_with(
    ground: &[f64],
    d_total: f64,
    tx_height_m: f64,
    rx_height_m: f64,
    frequency_mhz: f64,
    k_factor: f64,
    actual: (f64, bool, Option<usize>),
) -> Diffraction {
    let n = ground.len().saturating_sub(1);
    if n < 2 || d_total <= 0.0 {
        return Diffraction {
            line_of_sight: true,
            actual_db: 0.0,
            smooth_db: 0.0,
            loss_db: 0.0,
            obstacle: None,
        };
    }
    let lambda = wavelength_m(frequency_mhz);
    let inv_2ae = 1.0 / (2.0 * k_factor * EARTH_RADIUS_M);
    let d = d_total;
    let step = d / n as f64;
    let hts = ground[0] + tx_height_m;
    let hrs = ground[n] + rx_height_m;
    let (actual_db, line_of_sight, obstacle) = actual;
    // The smooth surface: the least-squares line of the ground (P.526
    // eqs. 37–40), lowered under obstacles above the line of the antennas
    // (eqs. 41–46), not above the ground at either end (eq. 47).
    let (mut v1, mut v2) = (0.0, 0.0);
    let (mut h_obs, mut a_obt, mut a_obr) =
        (f64::NEG_INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for i in 1..=n {
        let (di, dp) = (step * i as f64, step * (i - 1) as f64);
        let (hi, hp) = (ground[i], ground[i - 1]);
        v1 += (di - dp) * (hi + hp);
        v2 += (di - dp) * (hi * (2.0 * di + dp) + hp * (di + 2.0 * dp));
        if i < n {
            let hh = hi - (hts * (d - di) + hrs * di) / d;
            h_obs = h_obs.max(hh);
            a_obt = a_obt.max(hh / di);
            a_obr = a_obr.max(hh / (d - di));
        }
    }
    let h_stip = (2.0 * v1 * d - v2) / (d * d);
    let h_srip = (v2 - v1 * d) / (d * d);
    let (h_stp, h_srp) = if h_obs <= 0.0 {
        (h_stip, h_srip)
    } else {
        let (gt, gr) = (a_obt / (a_obt + a_obr), a_obr / (a_obt + a_obr));
        (h_stip - h_obs * gt, h_srip - h_obs * gr)
    };
    let h_st = h_stp.min(ground[0]);
    let h_sr = h_srp.min(ground[n]);
    let (smooth_db, smooth_los, _) =
        bullington(|_| 0.0, n, d, hts - h_st, hrs - h_sr, lambda, inv_2ae);
    let mut loss_db = (actual_db - smooth_db).max(0.0);
    if loss_db < 1e-9 {
        loss_db = 0.0;
    }
    if !smooth_los {
        loss_db += (smooth_db - knife_edge_loss_db(0.0)).max(0.0);
    }
    Diffraction {
        line_of_sight,
        actual_db,
        smooth_db,
        loss_db,
        obstacle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spatial::geodesy::metres_per_degree;

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
        for (rx, rx_height_m) in [((108.05, 15.999), 1.5), ((108.09, 15.996), 10.0)] {
            let p = profile(
                &dem,
                &Path {
                    tx: (108.001, 15.999),
                    tx_height_m: 30.0,
                    rx,
                    rx_height_m,
                    frequency_mhz: 1800.0,
                },
                4.0 / 3.0,
            );
            assert!(p.has_terrain);
            assert_eq!(p.line_of_sight, Some(true));
            assert_eq!(p.diffraction_loss_db, 0.0, "{p:?}");
            assert!(p.samples.iter().all(|s| s.ground_m == Some(5.0)));
        }
    }

    /// A flat DEM at 0 m with one pixel column raised to `ridge_m` (1″
    /// pixels, 600 columns), and the path along row 2 from column 10 to
    /// column 410 (antennas 30 m up, 900 MHz), the ridge at column 210.
    fn knife_edge(ridge_m: f32) -> (Dem, Path) {
        let step = 1.0 / 3600.0;
        let width = 600;
        let mut values = vec![0.0f32; width * 5];
        for row in 0..5 {
            values[row * width + 210] = ridge_m;
        }
        let raster =
            DemRaster::from_grid("edge", 108.0, 16.0, step, step, width, values).expect("grid");
        let tx = raster.pixel_centre(10, 2);
        let rx = raster.pixel_centre(410, 2);
        (
            Dem::new(vec![raster]),
            Path {
                tx,
                tx_height_m: 30.0,
                rx,
                rx_height_m: 30.0,
                frequency_mhz: 900.0,
            },
        )
    }

    #[test]
    fn a_single_knife_edge_loses_p526_j_of_nu_within_half_a_db() {
        let k = 4.0 / 3.0;
        let (_, path) = knife_edge(0.0);
        let d = path_length_m(path.tx, path.rx);
        let (d1, d2) = (d * 200.0 / 400.0, d * 200.0 / 400.0);
        let lambda = wavelength_m(path.frequency_mhz);
        let bulge = d1 * d2 / (2.0 * k * EARTH_RADIUS_M);
        let scale = (2.0 * d / (lambda * d1 * d2)).sqrt();
        let mut nu = -0.7;
        while nu <= 3.0 + 1e-9 {
            // The edge's height over the straight ray (30 m at both ends)
            // is h = ν / scale; the ground there is h + 30 − bulge.
            let ridge = (nu / scale + 30.0 - bulge) as f32;
            let (dem, path) = knife_edge(ridge);
            let p = profile(&dem, &path, k);
            let want = knife_edge_loss_db(nu);
            assert!(
                (p.diffraction_loss_db - want).abs() <= 0.5,
                "ν = {nu}: {} dB, J(ν) = {want} dB",
                p.diffraction_loss_db
            );
            if nu.abs() > 0.05 {
                assert_eq!(p.line_of_sight, Some(nu < 0.0), "ν = {nu}");
            }
            assert_eq!(p.obstacle, Some(200), "ν = {nu}");
            nu += 0.1;
        }
    }

    #[test]
    fn curvature_shadows_a_low_receiver_beyond_the_radio_horizon() {
        // Flat ground at 0 m; transmitter 30 m, receiver 1.5 m, k = 4/3:
        // the smooth-earth horizon is √(2 a_e)(√30 + √1.5) ≈ 27.6 km.
        let a_e = 4.0 / 3.0 * EARTH_RADIUS_M;
        let horizon = (2.0 * a_e).sqrt() * (30f64.sqrt() + 1.5f64.sqrt());
        assert!((horizon - 27_600.0).abs() < 100.0, "{horizon}");
        let dem = flat(400, 10, 0.001, 0.0);
        let tx = (108.001, 15.996);
        let at = |d_m: f64| {
            let (m_lon, _) = metres_per_degree(tx.1);
            profile(
                &dem,
                &Path {
                    tx,
                    tx_height_m: 30.0,
                    rx: (tx.0 + d_m / m_lon, tx.1),
                    rx_height_m: 1.5,
                    frequency_mhz: 900.0,
                },
                4.0 / 3.0,
            )
        };
        let near = at(horizon - 1500.0);
        assert_eq!(near.line_of_sight, Some(true));
        assert_eq!(near.diffraction_loss_db, 0.0);
        let far = at(horizon + 1500.0);
        assert_eq!(far.line_of_sight, Some(false));
        let farther = at(horizon + 6000.0);
        eprintln!(
            "beyond the horizon: {} dB at +1.5 km, {} dB at +6 km",
            far.diffraction_loss_db, farther.diffraction_loss_db
        );
        assert!(far.diffraction_loss_db > 0.0);
        assert!(farther.diffraction_loss_db > far.diffraction_loss_db + 0.5);
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
