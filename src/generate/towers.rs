//! Towers: placement by population with clustering and a minimum spacing,
//! then structure, status, tenants and sectors.

use geo::Coord;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use super::spatial::{LocalProjection, PointGrid, PreparedArea, RoadNetwork};
use super::util::{
    code_prefix, feature, gaussian, object, pick_index, pick_weighted, position, round_coord,
    round1, uniform1,
};
use super::{GenerateError, OPERATORS};

/// Preferred minimum distance between two towers, metres. It is reduced in
/// areas where the requested density would not fit (large tower counts).
const MIN_SPACING_M: f64 = 60.0;
/// Failed placement attempts after which the spacing is relaxed by 30 %.
const RELAX_EVERY: usize = 300;
/// Failed placement attempts after which placement gives up.
const MAX_MISSES: usize = 6_000;

/// Tower owners (indexes into [`OPERATORS`]) and their market weights.
const OWNERS: &[(usize, f64)] = &[(0, 0.45), (1, 0.30), (2, 0.25)];

/// Where a tower was placed, for the fibre generator.
#[derive(Debug, Clone, Copy)]
pub(super) struct Site {
    /// Position in local metres.
    pub(super) m: Coord<f64>,
    /// Index of the owner in [`OPERATORS`].
    pub(super) operator: usize,
    /// Index of the area the tower is in.
    pub(super) area: usize,
}

/// Generated towers.
pub(super) struct Towers {
    /// The GeoJSON features.
    pub(super) features: Vec<geojson::Feature>,
    /// Positions and owners, in feature order.
    pub(super) sites: Vec<Site>,
}

/// Splits `n` into integer shares proportional to `weights` (largest
/// remainder method, ties broken by index).
pub(super) fn apportion(n: usize, weights: &[f64]) -> Vec<usize> {
    let total: f64 = weights.iter().sum();
    if weights.is_empty() || total <= 0.0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<f64> = weights.iter().map(|w| n as f64 * w / total).collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let missing = n - counts.iter().sum::<usize>();
    for &i in order.iter().cycle().take(missing) {
        counts[i] += 1;
    }
    counts
}

/// Candidate positions for one area: a mixture of uniform points, points
/// around "hotspots" (neighbourhood centres, villages) and, in rural areas,
/// points along the main roads.
struct Placer<'a> {
    area: &'a PreparedArea<'a>,
    hotspots: Vec<Coord<f64>>,
    hotspot_weights: Vec<f64>,
    hotspot_sigma_m: f64,
    road_points: Vec<Coord<f64>>,
    /// Probabilities of the hotspot and road modes (the rest is uniform).
    p_hotspot: f64,
    p_road: f64,
}

impl<'a> Placer<'a> {
    fn new<R: Rng>(
        rng: &mut R,
        area: &'a PreparedArea<'a>,
        proj: &LocalProjection,
        roads: &RoadNetwork,
    ) -> Result<Self, GenerateError> {
        let rural = area.area.rural;
        let n_hot = if rural {
            (area.area_km2 / 15.0).round().clamp(6.0, 60.0)
        } else {
            (area.area_km2 / 2.0).round().clamp(4.0, 30.0)
        } as usize;
        let mut hotspots = Vec::with_capacity(n_hot);
        for _ in 0..n_hot {
            let h =
                area.sample_uniform(rng, 20_000)
                    .ok_or_else(|| GenerateError::PlacementFailed {
                        code: area.area.code.clone(),
                        what: "towers",
                    })?;
            hotspots.push(h);
        }
        let hotspot_weights = (0..n_hot).map(|_| rng.gen_range(0.3..1.0)).collect();
        let road_points = if rural {
            roads
                .points_along(400.0)
                .into_iter()
                .map(|m| proj.to_lonlat(m))
                .filter(|&c| area.contains(c))
                .collect()
        } else {
            Vec::new()
        };
        let (p_hotspot, p_road) = match (rural, road_points.is_empty()) {
            (true, false) => (0.35, 0.35),
            (true, true) => (0.5, 0.0),
            (false, _) => (0.3, 0.0),
        };
        Ok(Self {
            area,
            hotspots,
            hotspot_weights,
            hotspot_sigma_m: if rural { 1_500.0 } else { 350.0 },
            road_points,
            p_hotspot,
            p_road,
        })
    }

    /// One candidate position (lon/lat, not yet checked against the area).
    fn candidate<R: Rng>(&self, rng: &mut R, proj: &LocalProjection) -> Option<Coord<f64>> {
        let u: f64 = rng.r#gen();
        let around = |rng: &mut R, centre: Coord<f64>, sigma: f64| {
            let m = proj.to_m(centre);
            let dx = gaussian(rng) * sigma;
            let dy = gaussian(rng) * sigma;
            proj.to_lonlat(Coord {
                x: m.x + dx,
                y: m.y + dy,
            })
        };
        if u < self.p_hotspot {
            let h = self.hotspots[pick_index(rng, &self.hotspot_weights)];
            Some(around(rng, h, self.hotspot_sigma_m))
        } else if u < self.p_hotspot + self.p_road {
            let r = self.road_points[rng.gen_range(0..self.road_points.len())];
            Some(around(rng, r, 400.0))
        } else {
            self.area.sample_uniform(rng, 1)
        }
    }
}

/// Generates `n` towers spread over `areas` in proportion to population.
pub(super) fn generate<R: Rng>(
    rng: &mut R,
    n: usize,
    areas: &[PreparedArea<'_>],
    proj: &LocalProjection,
    transport_lines: &[geo::LineString<f64>],
) -> Result<Towers, GenerateError> {
    let populations: Vec<f64> = areas.iter().map(|a| a.area.population as f64).collect();
    let weights = if populations.iter().sum::<f64>() > 0.0 {
        populations
    } else {
        areas.iter().map(|a| a.area_km2).collect()
    };
    let counts = apportion(n, &weights);
    let roads = RoadNetwork::new(transport_lines, proj);
    let mut grid = PointGrid::new(MIN_SPACING_M);
    let mut features = Vec::with_capacity(n);
    let mut sites = Vec::with_capacity(n);
    let mut site_numbers = [0usize; 3];

    for (ai, (area, &count)) in areas.iter().zip(&counts).enumerate() {
        if count == 0 {
            continue;
        }
        let placer = Placer::new(rng, area, proj, &roads)?;
        // Shrink the spacing where the density would not fit: keep it below
        // half the mean distance between towers of this area.
        let mean_gap = (area.area_km2 * 1e6 / count as f64).sqrt();
        let spacing = MIN_SPACING_M.min(0.5 * mean_gap);
        for number in 1..=count {
            let (lonlat, m) = place(rng, &placer, proj, &grid, spacing)?;
            grid.insert(m, sites.len());
            let owner = *pick_weighted(rng, OWNERS);
            site_numbers[owner] += 1;
            let site_code = format!(
                "{}-DNG-{:05}",
                code_prefix(OPERATORS[owner].id),
                site_numbers[owner]
            );
            let name = format!("{} {number:03}", area.area.name);
            let properties = tower_properties(rng, owner, site_code, name, area.area.rural);
            features.push(feature(geojson::Value::Point(position(lonlat)), properties));
            sites.push(Site {
                m,
                operator: owner,
                area: ai,
            });
        }
    }
    Ok(Towers { features, sites })
}

/// Finds a free position: inside the area (after rounding) and at least
/// `spacing` metres from every tower placed so far; the spacing is relaxed
/// after repeated misses.
fn place<R: Rng>(
    rng: &mut R,
    placer: &Placer<'_>,
    proj: &LocalProjection,
    grid: &PointGrid,
    spacing: f64,
) -> Result<(Coord<f64>, Coord<f64>), GenerateError> {
    let mut spacing = spacing;
    for miss in 0..MAX_MISSES {
        if miss > 0 && miss % RELAX_EVERY == 0 {
            spacing *= 0.7;
        }
        let Some(c) = placer.candidate(rng, proj) else {
            continue;
        };
        let c = round_coord(c);
        if !placer.area.contains(c) {
            continue;
        }
        let m = proj.to_m(c);
        if grid.any_within(m, spacing) {
            continue;
        }
        return Ok((c, m));
    }
    Err(GenerateError::PlacementFailed {
        code: placer.area.area.code.clone(),
        what: "towers",
    })
}

/// Builds the properties of one tower.
fn tower_properties<R: Rng>(
    rng: &mut R,
    owner: usize,
    site_code: String,
    name: String,
    rural: bool,
) -> serde_json::Map<String, Value> {
    let structure = *pick_weighted(
        rng,
        if rural {
            &[
                ("lattice", 0.38),
                ("monopole", 0.30),
                ("guyed", 0.20),
                ("compact", 0.05),
                ("rooftop", 0.04),
                ("camouflaged", 0.03),
            ]
        } else {
            &[
                ("rooftop", 0.42),
                ("compact", 0.18),
                ("camouflaged", 0.12),
                ("monopole", 0.20),
                ("lattice", 0.06),
                ("guyed", 0.02),
            ]
        },
    );
    let (lo, hi) = match structure {
        "rooftop" => (6.0, 20.0),
        "compact" => (6.0, 15.0),
        "camouflaged" => (10.0, 25.0),
        "monopole" => (20.0, 45.0),
        "lattice" => (30.0, 60.0),
        _ => (30.0, 80.0), // guyed
    };
    let height = uniform1(rng, lo, hi);
    let status = *pick_weighted(
        rng,
        &[
            ("operational", 0.90),
            ("planned", 0.04),
            ("under_construction", 0.045),
            ("retired", 0.015),
        ],
    );

    // Tenants: the other mobile operators sharing the structure.
    let mut others: Vec<usize> = OWNERS
        .iter()
        .map(|(i, _)| *i)
        .filter(|&i| i != owner)
        .collect();
    let u: f64 = rng.r#gen();
    let n_tenants = if status == "retired" {
        0
    } else if u < 0.035 {
        2
    } else if u < 0.245 {
        1
    } else {
        0
    };
    others.shuffle(rng);
    let mut tenants: Vec<usize> = others.into_iter().take(n_tenants).collect();
    tenants.sort_unstable();

    let ctx = SiteContext {
        rural,
        status,
        tower_height: height,
    };
    let mut sectors = Vec::new();
    add_operator_sectors(rng, &ctx, owner, false, &mut sectors);
    for &t in &tenants {
        add_operator_sectors(rng, &ctx, t, true, &mut sectors);
    }

    object(json!({
        "operator": OPERATORS[owner].id,
        "site_code": site_code,
        "external_id": site_code,
        "name": name,
        "structure_type": structure,
        "height_m": height,
        "status": status,
        "tenants": tenants.iter().map(|&t| OPERATORS[t].id).collect::<Vec<_>>(),
        "sectors": sectors,
        "synthetic": true,
    }))
}

struct SiteContext {
    rural: bool,
    status: &'static str,
    tower_height: f64,
}

/// Antenna faces of one operator on a site: `(azimuth, beamwidth)`.
fn faces<R: Rng>(rng: &mut R, rural: bool, tenant: bool) -> Vec<(f64, f64)> {
    let layout = *pick_weighted(
        rng,
        match (rural, tenant) {
            (false, false) => &[(3u8, 0.75), (2, 0.15), (1, 0.10)],
            (false, true) => &[(3, 0.85), (2, 0.15), (1, 0.0)],
            (true, false) => &[(3, 0.65), (0, 0.35), (1, 0.0)],
            (true, true) => &[(3, 0.80), (0, 0.20), (1, 0.0)],
        },
    );
    let azimuth = |a: f64| {
        let a = round1(a.rem_euclid(360.0));
        if a >= 360.0 { 0.0 } else { a }
    };
    match layout {
        0 => vec![(0.0, 360.0)], // omni
        1 => vec![(azimuth(rng.gen_range(0.0..360.0)), 65.0)],
        k => {
            let step = 360.0 / f64::from(k);
            let base = rng.gen_range(0.0..step);
            (0..k)
                .map(|i| {
                    let jitter = rng.gen_range(-10.0..=10.0);
                    (azimuth(base + step * f64::from(i) + jitter), 65.0)
                })
                .collect()
        }
    }
}

/// Technology layers `(technology, frequency MHz)` an operator runs on every
/// face of a site, oldest first.
fn layers<R: Rng>(
    rng: &mut R,
    ctx: &SiteContext,
    operator: usize,
    tenant: bool,
) -> Vec<(&'static str, f64)> {
    let op = OPERATORS[operator].id;
    // Per-operator centre frequencies (downlink), MHz.
    let (f900, f1800, f2100, f2600) = match op {
        "viettel" => (950.0, 1862.5, 2160.0, 2670.0),
        "vnpt" => (940.0, 1842.5, 2140.0, 2655.0),
        _ => (930.0, 1822.5, 2120.0, 2640.0),
    };
    let retired = ctx.status == "retired";
    let mut out = Vec::new();
    let p2g = if retired {
        0.30
    } else if ctx.rural {
        0.06
    } else {
        0.03
    };
    if rng.gen_bool(p2g) {
        let f = if rng.gen_bool(0.7) {
            f900
        } else {
            f1800 + 10.0
        };
        out.push(("2G", f));
    }
    let p3g = if retired { 0.40 } else { 0.05 };
    if rng.gen_bool(p3g) {
        out.push(("3G", f2100 - 7.5));
    }
    let band_4g = *pick_weighted(
        rng,
        if ctx.rural {
            &[(1800u16, 0.55), (900, 0.35), (2100, 0.10), (2600, 0.0)]
        } else {
            &[(1800, 0.80), (2100, 0.12), (2600, 0.08), (900, 0.0)]
        },
    );
    let f4g = match band_4g {
        900 => f900,
        2100 => f2100,
        2600 => f2600,
        _ => f1800,
    };
    out.push(("4G", f4g));
    let p5g = match (ctx.status, ctx.rural) {
        ("retired", _) => 0.0,
        ("operational", false) => 0.25,
        ("operational", true) => 0.08,
        (_, false) => 0.40,
        (_, true) => 0.15,
    } * if tenant { 0.6 } else { 1.0 };
    if rng.gen_bool(p5g) {
        // Viettel on n78 (3.5 GHz); VNPT and MobiFone on the 2.6 GHz band.
        let f = if op == "viettel" { 3500.0 } else { 2595.0 };
        out.push(("5G", f));
    }
    out
}

/// Appends the sector objects of one operator (owner or tenant): one per
/// technology layer on each antenna face.
fn add_operator_sectors<R: Rng>(
    rng: &mut R,
    ctx: &SiteContext,
    operator: usize,
    tenant: bool,
    sectors: &mut Vec<Value>,
) {
    let faces = faces(rng, ctx.rural, tenant);
    let layers = layers(rng, ctx, operator, tenant);
    // Tenants mount their antennas a few metres below the owner's.
    let (below_lo, below_hi) = if tenant { (3.0, 8.0) } else { (0.5, 3.0) };
    for (azimuth, beamwidth) in faces {
        let h = round1((ctx.tower_height - rng.gen_range(below_lo..below_hi)).max(3.0))
            .min(ctx.tower_height);
        for &(tech, freq) in &layers {
            let tilt = if beamwidth >= 360.0 {
                uniform1(rng, 2.0, 4.0)
            } else {
                uniform1(rng, 2.0, 8.0)
            };
            let eirp = match tech {
                "5G" => uniform1(rng, 63.0, 70.0),
                "4G" => uniform1(rng, 58.0, 63.0),
                _ => uniform1(rng, 55.0, 60.0),
            };
            let range = if rng.gen_bool(0.05) {
                let (lo, hi): (f64, f64) = if ctx.rural {
                    (3_000.0, 8_000.0)
                } else {
                    (800.0, 3_000.0)
                };
                json!(rng.gen_range(lo..=hi).round() as u32)
            } else {
                Value::Null
            };
            sectors.push(json!({
                "operator": OPERATORS[operator].id,
                "technology": tech,
                "frequency_mhz": freq,
                "azimuth_deg": azimuth,
                "beamwidth_deg": beamwidth,
                "tilt_deg": tilt,
                "height_m": h,
                "eirp_dbm": eirp,
                "range_m": range,
            }));
        }
    }
}
