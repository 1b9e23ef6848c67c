//! Terrain-aware link budgets and the radial footprints built from them.
//!
//! With `[terrain] enabled = true` a sector without an explicit `range_m`
//! covers a point when, within its beam and `max_range_m`,
//!
//! ```text
//! rx_dbm = eirp_dbm − L_emp(d, clutter_rx) − L_diff(profile) − clutter_margin_db(clutter_rx)
//!        ≥ threshold_dbm(technology)
//! ```
//!
//! (or the point is within `min_range_m`), where `L_emp` is the empirical
//! model of [`crate::coverage::model`] for the receiver's clutter class,
//! `L_diff` the delta-Bullington diffraction loss of the terrain profile
//! ([`crate::coverage::profile`], zero over smooth ground) and `clutter_rx` the class of the land-use
//! cell at the receiver ([`crate::coverage::landuse`]), or the class of the
//! sector's district where the land use has no polygon. Sectors with an
//! explicit `range_m` keep it: that is the planner's measured answer.
//!
//! **Footprints.** Each such sector's coverage is computed once, along
//! radials every ≤ 1° across its beam (360 for an omni), at nodes one DEM
//! pixel apart along the dominant axis (≈ 31 m), out to the farthest
//! distance any clutter class could reach without terrain. A node is
//! covered exactly when [`link`] says the point is: the profile of the path
//! to node `j` has the same samples as nodes `0..=j` of the radial. A point
//! between nodes is answered from the four nodes around it when they
//! agree, and by [`link`] itself when they do not (near a coverage edge),
//! so a point query agrees with `/coverage/profile` except where coverage
//! changes and changes back between two neighbouring radials.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::coverage::landuse::{ClutterGrid, LandUse, LandUseError};
use crate::coverage::model::{Clutter, CoverageConfig, Model, path_loss_db};
use crate::coverage::profile::{
    self, Path, Profile, bullington_actual, diffraction_with, horizon_bound_m, path_length_m,
    sample_cell_deg,
};
use crate::coverage::terrain::{Dem, DemError};
use crate::domain::tower::Technology;
use crate::spatial::geodesy::{angle_between, metres_per_degree};

/// Errors loading the terrain and land use.
#[derive(Debug, thiserror::Error)]
pub enum TerrainError {
    /// The DEM could not be read.
    #[error(transparent)]
    Dem(#[from] DemError),
    /// The land use could not be read.
    #[error(transparent)]
    LandUse(#[from] LandUseError),
}

/// The loaded terrain and land use of a configuration.
#[derive(Debug, Default)]
pub struct Terrain {
    /// The elevation model (possibly empty).
    pub dem: Dem,
    /// The land use rasterised, if configured.
    pub clutter: Option<ClutterGrid>,
    /// Classed land-use polygons read.
    pub landuse_polygons: usize,
    /// Effective earth-radius factor.
    pub k_factor: f64,
    /// SHA-256 of the footprint format, the model configuration, the DEM
    /// and the clutter grid: persisted footprints are used only under the
    /// same key.
    pub model_key: [u8; 32],
}

type Cache = Mutex<HashMap<String, Arc<Terrain>>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// A configured path: as given when it exists (or is absolute), else
/// relative to the source tree (where `data/` ships the sample's DEM).
pub fn resolve(path: &FsPath) -> PathBuf {
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    let in_tree = FsPath::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if in_tree.exists() {
        in_tree
    } else {
        path.to_path_buf()
    }
}

impl Terrain {
    /// The terrain of `config`, read once per process and shared (`None`
    /// when `[terrain] enabled` is false).
    ///
    /// # Errors
    /// When the DEM or the land use cannot be read.
    pub fn for_config(config: &CoverageConfig) -> Result<Option<Arc<Terrain>>, TerrainError> {
        if !config.terrain.enabled {
            return Ok(None);
        }
        let key = format!("{:?}|{:?}", config.terrain, config.landuse);
        if let Some(t) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(Some(t));
        }
        // One load at a time: a caller arriving during a load (a start's
        // preload, then the index) waits for it and finds it cached.
        static LOADING: Mutex<()> = Mutex::new(());
        let _loading = LOADING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = cache().lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(Some(t));
        }
        let dem = match &config.terrain.dem {
            Some(p) => Dem::load(&resolve(p))?,
            None => Dem::default(),
        };
        let (clutter, landuse_polygons) = match &config.landuse {
            Some(lu) => {
                let layer = LandUse::load(&resolve(&lu.file), &lu.attributes, &lu.classes)?;
                (ClutterGrid::from_landuse(&layer), layer.len())
            }
            None => (None, 0),
        };
        let model_key = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(FOOTPRINT_FORMAT.to_le_bytes());
            h.update(serde_json::to_vec(config).unwrap_or_default());
            for r in dem.rasters() {
                r.digest_into(&mut h);
            }
            if let Some(c) = &clutter {
                c.digest_into(&mut h);
            }
            h.finalize().into()
        };
        let t = Arc::new(Terrain {
            dem,
            clutter,
            landuse_polygons,
            k_factor: config.terrain.k_factor,
            model_key,
        });
        if let Ok(mut c) = cache().lock() {
            c.insert(key, t.clone());
        }
        Ok(Some(t))
    }

    /// Starts reading the DEM and the land use of `config` on a thread of
    /// its own, so that a start reads them while it connects to the
    /// database; [`for_config`](Self::for_config) then waits for that read
    /// instead of reading them again. Errors are reported by the later
    /// call.
    pub fn preload(config: &CoverageConfig) {
        if !config.terrain.enabled {
            return;
        }
        let config = config.clone();
        let _ = std::thread::Builder::new()
            .name("terrain-preload".into())
            .spawn(move || Self::for_config(&config));
    }

    /// No DEM and no land use (profiles of the flat model: `terrain:
    /// "none"`, the district's clutter).
    pub fn default_flat() -> Self {
        Self {
            k_factor: 4.0 / 3.0,
            ..Self::default()
        }
    }

    /// The land-use class at (`lon`, `lat`), if the land use has one.
    #[inline]
    pub fn landuse_at(&self, lon: f64, lat: f64) -> Option<Clutter> {
        self.clutter.as_ref()?.clutter_at(lon, lat)
    }

    /// Bytes held by the DEM and the clutter grid.
    pub fn approx_bytes(&self) -> usize {
        self.dem.approx_bytes() + self.clutter.as_ref().map_or(0, ClutterGrid::approx_bytes)
    }
}

/// What a link budget needs of a transmitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transmitter {
    /// Antenna (lon, lat), degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Antenna height above ground, metres.
    pub height_m: f64,
    /// EIRP, dBm.
    pub eirp_dbm: f64,
    /// Carrier frequency, MHz.
    pub frequency_mhz: f64,
    /// Technology (its threshold).
    pub technology: Technology,
    /// Clutter where the land use has none: the sector's district class.
    pub fallback_clutter: Clutter,
}

/// Where a receiver's clutter class came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClutterSource {
    /// A land-use polygon.
    Landuse,
    /// The sector's district (no land-use polygon there).
    District,
}

/// A link budget from a transmitter to a point.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Link {
    /// The terrain profile.
    pub profile: Profile,
    /// The receiver's clutter class.
    pub clutter: Clutter,
    /// Where that class came from.
    pub clutter_source: ClutterSource,
    /// Empirical model used.
    pub model: Model,
    /// Empirical path loss, dB.
    pub empirical_loss_db: f64,
    /// Clutter margin of the receiver's class, dB.
    pub clutter_loss_db: f64,
    /// Total path loss (empirical + diffraction + clutter), dB.
    pub path_loss_db: f64,
    /// Received power, dBm.
    pub rx_dbm: f64,
    /// The technology's threshold, dBm.
    pub threshold_dbm: f64,
    /// The budget is met (beam not considered).
    pub covered: bool,
}

fn receiver_clutter(
    terrain: &Terrain,
    tx: &Transmitter,
    lon: f64,
    lat: f64,
) -> (Clutter, ClutterSource) {
    match terrain.landuse_at(lon, lat) {
        Some(c) => (c, ClutterSource::Landuse),
        None => (tx.fallback_clutter, ClutterSource::District),
    }
}

/// Whether the budget is met at `d_m` with diffraction `diff_db` and
/// clutter `clutter`, and the budget's parts.
fn budget(
    config: &CoverageConfig,
    tx: &Transmitter,
    d_m: f64,
    diff_db: f64,
    clutter: Clutter,
) -> (bool, f64, f64, Model, f64) {
    let (emp, model) = path_loss_db(
        tx.frequency_mhz,
        tx.height_m,
        config.receiver_height_m,
        d_m.max(1.0),
        clutter,
    );
    let margin = config
        .clutter_margin_db
        .get(&clutter)
        .copied()
        .unwrap_or(0.0);
    let rx = tx.eirp_dbm - emp - diff_db - margin;
    let covered = d_m <= config.min_range_m
        || (d_m <= config.max_range_m && rx >= config.threshold(tx.technology));
    (covered, rx, emp, model, margin)
}

/// The link budget from `tx` to (`lon`, `lat`) over `terrain`.
pub fn link(
    config: &CoverageConfig,
    terrain: &Terrain,
    tx: &Transmitter,
    lon: f64,
    lat: f64,
) -> Link {
    let path = Path {
        tx: (tx.lon, tx.lat),
        tx_height_m: tx.height_m,
        rx: (lon, lat),
        rx_height_m: config.receiver_height_m,
        frequency_mhz: tx.frequency_mhz,
    };
    let profile = profile::profile(&terrain.dem, &path, terrain.k_factor);
    let (clutter, clutter_source) = receiver_clutter(terrain, tx, lon, lat);
    let (covered, rx, emp, model, margin) = budget(
        config,
        tx,
        profile.distance_m,
        profile.diffraction_loss_db,
        clutter,
    );
    Link {
        clutter,
        clutter_source,
        model,
        empirical_loss_db: emp,
        clutter_loss_db: margin,
        path_loss_db: emp + profile.diffraction_loss_db + margin,
        rx_dbm: rx,
        threshold_dbm: config.threshold(tx.technology),
        covered,
        profile,
    }
}

/// Version of the footprint algorithm and encoding; part of the model key,
/// so a change of either invalidates persisted footprints. 2: the covered
/// nodes stored as runs (about a third of the bytes of format 1's bits).
pub const FOOTPRINT_FORMAT: u32 = 2;

/// Whether the budget from `tx` to (`lon`, `lat`) is met: the decision of
/// [`link`]`(…).covered` (the beam not considered) without building the
/// profile's samples, and without the profile at all where the receiver's
/// class decides over flat ground — the index's answer near a footprint's
/// edge.
pub fn budget_met(
    config: &CoverageConfig,
    terrain: &Terrain,
    tx: &Transmitter,
    lon: f64,
    lat: f64,
) -> bool {
    thread_local! {
        static GROUND: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let d = path_length_m((tx.lon, tx.lat), (lon, lat));
    if d <= config.min_range_m {
        return true;
    }
    let (clutter, _) = receiver_clutter(terrain, tx, lon, lat);
    let (flat, room_db) = budget_room(config, tx, d, clutter);
    if !flat {
        return false;
    }
    let (dlon, dlat) = (lon - tx.lon, lat - tx.lat);
    let n = profile::intervals_for(dlon, dlat, sample_cell_deg(&terrain.dem));
    GROUND.with_borrow_mut(|ground| {
        ground.clear();
        for i in 0..=n {
            let t = i as f64 / n as f64;
            match terrain
                .dem
                .elevation_m(tx.lon + dlon * t, tx.lat + dlat * t)
            {
                Some(g) => ground.push(g),
                // No terrain on the path: the empirical model alone.
                None => return true,
            }
        }
        diffraction_fits(config, terrain, tx, ground, d, room_db)
    })
}

/// Whether the diffraction over `ground` (the known profile of a path of
/// `d_m` metres, transmitter first) fits in the `room_db` the flat budget
/// leaves. Bullington's loss over the actual profile bounds the excess
/// inside the smooth-earth horizon, so the smooth-earth part is computed
/// only where that bound does not fit.
fn diffraction_fits(
    config: &CoverageConfig,
    terrain: &Terrain,
    tx: &Transmitter,
    ground: &[f64],
    d_m: f64,
    room_db: f64,
) -> bool {
    let (rx_h, f, k) = (config.receiver_height_m, tx.frequency_mhz, terrain.k_factor);
    let actual = bullington_actual(ground, d_m, tx.height_m, rx_h, f, k);
    (d_m < horizon_bound_m(tx.height_m, rx_h, k) && actual.0 <= room_db)
        || diffraction_with(ground, d_m, tx.height_m, rx_h, f, k, actual).loss_db <= room_db
}

/// One node step along `bearing_deg` from latitude `lat`, (lon, lat)
/// degrees: one DEM cell `cell` along the dominant axis, so that a path to
/// node `j` is sampled at nodes `0..=j` ([`profile::intervals_for`]).
fn node_step_deg(bearing_deg: f64, lat: f64, cell: (f64, f64)) -> (f64, f64) {
    let (m_lon, m_lat) = metres_per_degree(lat);
    let (s, c) = bearing_deg.rem_euclid(360.0).to_radians().sin_cos();
    let (ulon, ulat) = (s / m_lon, c / m_lat);
    let scale = (ulon.abs() / cell.0).max(ulat.abs() / cell.1);
    (ulon / scale, ulat / scale)
}

/// Most radials of one footprint.
pub const MAX_RADIALS: usize = 360;

/// A sector's coverage along radials: for each radial, which nodes
/// (every pixel along the dominant axis) are covered.
#[derive(Debug, Clone, PartialEq)]
pub struct RadialFootprint {
    /// Bearing of radial 0, degrees clockwise from north.
    pub start_deg: f64,
    /// Angle between radials, degrees.
    pub step_deg: f64,
    /// Number of radials.
    pub radials: usize,
    /// True for an omni (radials wrap around).
    pub omni: bool,
    /// Nodes per radial (node 0 is the antenna).
    pub nodes: usize,
    /// Length of one node step on each radial, metres.
    pub node_len_m: Vec<f64>,
    /// Covered bits, `words × radials` u64s, word-major (word `w` of
    /// every radial side by side: a window over neighbouring radials reads
    /// a few cache lines, not one per radial). Encoded radial-major.
    bits: Vec<u64>,
    words: usize,
    /// Farthest covered node, metres.
    pub reach_m: f64,
    /// Longest node step over the radials, metres.
    pub max_node_len_m: f64,
    /// Share of nodes whose profile had terrain (0–1).
    pub terrain_share: f64,
}

impl RadialFootprint {
    /// The footprint as bytes (little-endian; what PostGIS stores): the
    /// header, each radial's node step, then per radial its covered runs
    /// of nodes (a u16 count, then first and last node of each as u16s).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.node_len_m.len() * 16);
        for v in [
            self.start_deg,
            self.step_deg,
            self.reach_m,
            self.max_node_len_m,
            self.terrain_share,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [self.radials, self.nodes, self.words] {
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        out.push(u8::from(self.omni));
        for v in &self.node_len_m {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for r in 0..self.radials {
            let runs = self.runs(r);
            out.extend_from_slice(&(runs.len() as u16).to_le_bytes());
            for (first, last) in runs {
                out.extend_from_slice(&(first as u16).to_le_bytes());
                out.extend_from_slice(&(last as u16).to_le_bytes());
            }
        }
        out
    }

    /// A footprint from [`encode`](Self::encode)'s bytes; `None` when they
    /// are not one (wrong length or sizes).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let mut at = 0usize;
        let mut take = |n: usize| {
            let s = bytes.get(at..at + n)?;
            at += n;
            Some(s)
        };
        let mut f = [0.0f64; 5];
        for v in &mut f {
            *v = f64::from_le_bytes(take(8)?.try_into().ok()?);
        }
        let mut u = [0usize; 3];
        for v in &mut u {
            *v = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        }
        let omni = take(1)?[0] == 1;
        let [radials, nodes, words] = u;
        if radials == 0
            || radials > MAX_RADIALS
            || nodes > profile::MAX_SAMPLES
            || words != nodes.div_ceil(64)
        {
            return None;
        }
        let mut node_len_m = Vec::with_capacity(radials);
        for _ in 0..radials {
            node_len_m.push(f64::from_le_bytes(take(8)?.try_into().ok()?));
        }
        let mut bits = vec![0u64; radials * words];
        let mut u16_at = || Some(usize::from(u16::from_le_bytes(take(2)?.try_into().ok()?)));
        for r in 0..radials {
            let runs = u16_at()?;
            // Runs in order, apart, within the nodes.
            let mut next = 0;
            for _ in 0..runs {
                let (first, last) = (u16_at()?, u16_at()?);
                if first < next || last < first || last >= nodes {
                    return None;
                }
                // Word by word: the bits first..=last of radial r.
                let mut j = first;
                while j <= last {
                    let w = j / 64;
                    let end = last.min(w * 64 + 63);
                    let n = end - j + 1;
                    let mask = if n == 64 {
                        u64::MAX
                    } else {
                        ((1u64 << n) - 1) << (j % 64)
                    };
                    bits[w * radials + r] |= mask;
                    j = end + 1;
                }
                next = last + 2;
            }
        }
        if at != bytes.len() || !f.iter().chain(&node_len_m).all(|v| v.is_finite()) {
            return None;
        }
        let [start_deg, step_deg, reach_m, max_node_len_m, terrain_share] = f;
        Some(Self {
            start_deg,
            step_deg,
            radials,
            omni,
            nodes,
            node_len_m,
            bits,
            words,
            reach_m,
            max_node_len_m,
            terrain_share,
        })
    }

    /// The covered area around the antenna at (`lon`, `lat`) as polygons
    /// (lon/lat): per radial, each covered run of nodes widened by half a
    /// node step along the radial and half the radial spacing across it —
    /// a convex quadrilateral (a triangle from the antenna). Neighbouring
    /// parts share edges and are not dissolved: geo's polygon union
    /// (i_overlay 4.5) panicked on such inputs, and a clip to a tile or a
    /// point-in-polygon test needs no union. Shadows are where no part is.
    pub fn polygons(&self, lon: f64, lat: f64) -> geo::MultiPolygon<f64> {
        use geo::{Coord, LineString, Polygon};
        let span = if self.omni {
            360.0
        } else {
            self.step_deg * (self.radials - 1) as f64
        };
        // The angle of boundary k between radials k − 1 and k, clamped to
        // the beam: one value per boundary, so neighbours share it exactly.
        let boundary = |k: usize| {
            let a = self.start_deg + (k as f64 - 0.5) * self.step_deg;
            if self.omni {
                a
            } else {
                a.clamp(self.start_deg, self.start_deg + span)
            }
        };
        let at = |a: f64, d: f64| {
            let (x, y) = crate::spatial::geodesy::destination((lon, lat), a.rem_euclid(360.0), d);
            Coord { x, y }
        };
        // A run of nodes `j0..=j1` covered on radials `r0..r1`: one convex
        // part from boundary r0 to boundary r1 (a chord, not an arc: over
        // at most MERGE_RADIALS radials of ≤ 1° the chord is within 0.25 %
        // of the radius).
        let part = |r0: usize, r1: usize, (j0, j1): (usize, usize)| {
            let (a0, a1) = (boundary(r0), boundary(r1));
            let (l0, l1) = (self.node_len_m[r0], self.node_len_m[r1 - 1]);
            let inner = |len: f64| (j0 as f64 * len - len / 2.0).max(0.0);
            let outer = |len: f64| j1 as f64 * len + len / 2.0;
            let mut ring = if j0 == 0 {
                vec![
                    Coord { x: lon, y: lat },
                    at(a1, outer(l1)),
                    at(a0, outer(l0)),
                ]
            } else {
                vec![
                    at(a0, inner(l0)),
                    at(a1, inner(l1)),
                    at(a1, outer(l1)),
                    at(a0, outer(l0)),
                ]
            };
            // Clockwise bearings: reverse for a counter-clockwise ring.
            ring.reverse();
            Polygon::new(LineString::new(ring), vec![])
        };
        const MERGE_RADIALS: usize = 8;
        let mut quads: Vec<Polygon<f64>> = Vec::new();
        // Runs open since a radial: (j0, j1) → first radial.
        let mut open: Vec<((usize, usize), usize)> = Vec::new();
        for r in 0..self.radials {
            let runs = self.runs(r);
            let mut still = Vec::with_capacity(runs.len());
            for (key, r0) in open.drain(..) {
                if runs.contains(&key) && r - r0 < MERGE_RADIALS {
                    still.push((key, r0));
                } else {
                    quads.push(part(r0, r, key));
                }
            }
            for key in runs {
                if !still.iter().any(|(k, _)| *k == key) {
                    still.push((key, r));
                }
            }
            open = still;
        }
        for (key, r0) in open {
            quads.push(part(r0, self.radials, key));
        }
        geo::MultiPolygon::new(quads)
    }

    /// The decision over a polar window: offsets `o0_deg..=o1_deg`
    /// clockwise from radial 0 (`o0_deg ≥ 0`; past 360 wraps for an omni
    /// footprint) and distances `d0_m..=d1_m`. `Some(covered)` when every
    /// node [`decide`](Self::decide) may read for a point in the window
    /// agrees, so that it answers `Some(covered)` for each of them;
    /// `None` when they do not.
    pub fn decide_window(&self, o0_deg: f64, o1_deg: f64, d0_m: f64, d1_m: f64) -> Option<bool> {
        let ra = (o0_deg / self.step_deg).floor().max(0.0) as usize;
        let rb = (o1_deg / self.step_deg).floor().max(0.0) as usize + 1;
        let (first, count) = if self.omni {
            (ra, (rb - ra + 1).min(self.radials))
        } else {
            let last = self.radials - 1;
            (ra.min(last), rb.min(last) - ra.min(last) + 1)
        };
        let (mut on, mut off) = (false, false);
        for k in first..first + count {
            let r = k % self.radials;
            let len = self.node_len_m[r];
            let ja = (d0_m.max(0.0) / len).floor() as usize;
            let jb = (d1_m.max(0.0) / len).floor() as usize + 1;
            let (a, b) = self.range_state(r, ja, jb);
            on |= a;
            off |= b;
            if on && off {
                return None;
            }
        }
        Some(on)
    }

    /// Whether any node `ja..=jb` of radial `r` is covered, and whether
    /// any is not (nodes past the last are not).
    fn range_state(&self, r: usize, ja: usize, jb: usize) -> (bool, bool) {
        let mut off = jb >= self.nodes;
        let mut on = false;
        let hi = jb.min(self.nodes.saturating_sub(1));
        let mut j = ja;
        while self.nodes > 0 && j <= hi {
            let w = j / 64;
            let end = hi.min(w * 64 + 63);
            let n = end - j + 1;
            let mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            let v = (self.bits[w * self.radials + r] >> (j % 64)) & mask;
            on |= v != 0;
            off |= v != mask;
            j = end + 1;
        }
        (on, off)
    }

    /// The last covered node of radial `r` (node 0, the antenna, always is).
    pub fn last_covered(&self, r: usize) -> usize {
        for w in (0..self.words).rev() {
            let v = self.bits[w * self.radials + r];
            if v != 0 {
                return w * 64 + 63 - v.leading_zeros() as usize;
            }
        }
        0
    }

    fn bit(&self, r: usize, j: usize) -> bool {
        j < self.nodes && (self.bits[(j / 64) * self.radials + r] >> (j % 64)) & 1 == 1
    }

    /// Bytes held.
    pub fn approx_bytes(&self) -> usize {
        self.bits.len() * 8 + self.node_len_m.len() * 8 + std::mem::size_of::<Self>()
    }

    /// The covered runs of radial `r` as (first, last) node indices.
    fn runs(&self, r: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        for j in 0..=self.nodes {
            let on = j < self.nodes && self.bit(r, j);
            match (on, start) {
                (true, None) => start = Some(j),
                (false, Some(s)) => {
                    out.push((s, j - 1));
                    start = None;
                }
                _ => {}
            }
        }
        out
    }

    /// The covered intervals of radial `r` as (from, to) node distances,
    /// metres.
    pub fn intervals(&self, r: usize) -> Vec<(f64, f64)> {
        let len = self.node_len_m[r];
        self.runs(r)
            .into_iter()
            .map(|(first, last)| (first as f64 * len, last as f64 * len))
            .collect()
    }

    /// The decision from the nodes around a point at `offset_deg`
    /// clockwise from radial 0 and `d_m` metres: `Some(covered)` when the
    /// (up to) four nodes around it agree, `None` when they do not.
    pub fn decide(&self, offset_deg: f64, d_m: f64) -> Option<bool> {
        let fr = offset_deg / self.step_deg;
        let r0 = fr.floor().max(0.0) as usize;
        let (r0, r1) = if self.omni {
            (r0 % self.radials, (r0 + 1) % self.radials)
        } else {
            let r0 = r0.min(self.radials - 1);
            (r0, (r0 + 1).min(self.radials - 1))
        };
        let mut seen: Option<bool> = None;
        for r in [r0, r1] {
            let fj = d_m / self.node_len_m[r];
            let j0 = fj.floor() as usize;
            for j in [j0, j0 + 1] {
                let b = self.bit(r, j);
                match seen {
                    None => seen = Some(b),
                    Some(s) if s != b => return None,
                    _ => {}
                }
            }
        }
        seen
    }
}

/// Every clutter class, in declaration order (`class as usize` indexes it).
const CLUTTERS: [Clutter; 5] = [
    Clutter::Urban,
    Clutter::Suburban,
    Clutter::Rural,
    Clutter::Forest,
    Clutter::Water,
];

/// The budget's room for diffraction at `d_m` with clutter `clutter`:
/// (the flat budget is met, dB left before the threshold).
fn budget_room(
    config: &CoverageConfig,
    tx: &Transmitter,
    d_m: f64,
    clutter: Clutter,
) -> (bool, f64) {
    let (met, rx, ..) = budget(config, tx, d_m, 0.0, clutter);
    (met, rx - config.threshold(tx.technology))
}

/// Farthest distance, metres, any clutter class could reach from `tx`
/// without terrain (diffraction only ever adds loss).
fn reach_bound_m(config: &CoverageConfig, tx: &Transmitter) -> f64 {
    CLUTTERS
        .into_iter()
        .map(|c| {
            config
                .range_m(tx.technology, tx.eirp_dbm, tx.frequency_mhz, tx.height_m, c)
                .0
        })
        .fold(config.min_range_m, f64::max)
        .min(config.max_range_m)
}

/// Computes the radial footprint of a sector at `tx` with `azimuth_deg` and
/// `beamwidth_deg` (≥ 360: omni).
pub fn radial_footprint(
    config: &CoverageConfig,
    terrain: &Terrain,
    tx: &Transmitter,
    azimuth_deg: f64,
    beamwidth_deg: f64,
) -> RadialFootprint {
    let omni = beamwidth_deg >= 360.0;
    let (start_deg, step_deg, radials) = if omni {
        (0.0, 1.0, 360)
    } else {
        let bw = beamwidth_deg.max(0.0);
        let n = ((bw / 1.0).ceil() as usize + 1).clamp(2, MAX_RADIALS);
        (azimuth_deg - bw / 2.0, bw / (n - 1) as f64, n)
    };
    let flat_range_m = CLUTTERS.map(|c| {
        config
            .range_m(tx.technology, tx.eirp_dbm, tx.frequency_mhz, tx.height_m, c)
            .0
    });
    let bound = reach_bound_m(config, tx);
    let cell = sample_cell_deg(&terrain.dem);
    let (m_lon, m_lat) = metres_per_degree(tx.lat);
    // Nodes along the radial with the shortest step (cardinal) bound all.
    let min_step = (cell.0 * m_lon).min(cell.1 * m_lat);
    let nodes = ((bound / min_step).ceil() as usize + 2).min(profile::MAX_SAMPLES);
    let words = nodes.div_ceil(64);
    let mut bits = vec![0u64; radials * words];
    let mut node_len_m = Vec::with_capacity(radials);
    let mut reach_m: f64 = 0.0;
    let (mut with_terrain, mut total) = (0usize, 0usize);
    let mut known: Vec<f64> = Vec::with_capacity(nodes);
    for r in 0..radials {
        let (ulon, ulat) = node_step_deg(start_deg + step_deg * r as f64, tx.lat, cell);
        let node = |j: usize| (tx.lon + ulon * j as f64, tx.lat + ulat * j as f64);
        let len = path_length_m((tx.lon, tx.lat), node(1));
        node_len_m.push(len);
        known.clear();
        let mut all_known = true;
        for j in 0..nodes {
            let (lon, lat) = node(j);
            let g = terrain.dem.elevation_m(lon, lat);
            all_known &= g.is_some();
            if all_known {
                known.push(g.unwrap_or(0.0));
            }
            if j == 0 {
                bits[r] |= 1;
                continue;
            }
            let d = path_length_m((tx.lon, tx.lat), (lon, lat));
            if d > bound + len {
                break;
            }
            total += 1;
            with_terrain += usize::from(all_known);
            let (clutter, _) = receiver_clutter(terrain, tx, lon, lat);
            // Diffraction only ever adds loss: where the budget fails
            // without it (beyond the class's flat range), or the point is
            // within `min_range_m`, the decision needs no profile.
            let covered = if d <= config.min_range_m {
                true
            } else if d > flat_range_m[clutter as usize] || !all_known {
                d <= flat_range_m[clutter as usize]
            } else {
                let (_, room_db) = budget_room(config, tx, d, clutter);
                diffraction_fits(config, terrain, tx, &known[..=j], d, room_db)
            };
            if covered {
                bits[(j / 64) * radials + r] |= 1 << (j % 64);
                reach_m = reach_m.max(d);
            }
        }
    }
    let max_node_len_m = node_len_m.iter().copied().fold(0.0, f64::max);
    RadialFootprint {
        start_deg,
        step_deg,
        radials,
        omni,
        nodes,
        node_len_m,
        bits,
        words,
        reach_m,
        max_node_len_m,
        terrain_share: if total == 0 {
            0.0
        } else {
            with_terrain as f64 / total as f64
        },
    }
}

/// The offset of `bearing_deg` clockwise from a footprint's radial 0, or
/// `None` outside the beam.
pub fn beam_offset_deg(fp: &RadialFootprint, bearing_deg: f64) -> Option<f64> {
    if fp.omni {
        return Some((bearing_deg - fp.start_deg).rem_euclid(360.0));
    }
    let span = fp.step_deg * (fp.radials - 1) as f64;
    let centre = fp.start_deg + span / 2.0;
    if angle_between(bearing_deg, centre) > span / 2.0 + 1e-9 {
        return None;
    }
    Some((bearing_deg - fp.start_deg).rem_euclid(360.0).min(span))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> (CoverageConfig, Arc<Terrain>) {
        let config = CoverageConfig::shipped();
        let terrain = Terrain::for_config(&config)
            .expect("the shipped DEM and land use load")
            .expect("terrain is on in the shipped model");
        (config, terrain)
    }

    fn tx(lon: f64, lat: f64, height_m: f64) -> Transmitter {
        Transmitter {
            lon,
            lat,
            height_m,
            eirp_dbm: 60.0,
            frequency_mhz: 1842.5,
            technology: Technology::G4,
            fallback_clutter: Clutter::Urban,
        }
    }

    use crate::testing::xorshift as rng;

    #[test]
    fn the_fast_budget_decision_is_the_links_on_random_paths_over_the_shipped_dem() {
        let (config, terrain) = shipped();
        let mut next = rng(2019);
        for _ in 0..400 {
            let t = tx(
                108.1 + next() * 0.2,
                15.9 + next() * 0.2,
                15.0 + next() * 30.0,
            );
            let (lon, lat) = (t.lon + (next() - 0.5) * 0.1, t.lat + (next() - 0.5) * 0.1);
            assert_eq!(
                budget_met(&config, &terrain, &t, lon, lat),
                link(&config, &terrain, &t, lon, lat).covered,
                "{t:?} to ({lon}, {lat})"
            );
        }
    }

    #[test]
    fn a_footprint_node_is_covered_exactly_when_the_link_to_it_is() {
        let (config, terrain) = shipped();
        // West of Sơn Trà, looking east across it.
        let t = tx(108.236, 16.085, 30.0);
        let fp = radial_footprint(&config, &terrain, &t, 60.0, 90.0);
        assert!(fp.terrain_share > 0.5, "{}", fp.terrain_share);
        let (mut covered, mut shadowed) = (0, 0);
        let cell = sample_cell_deg(&terrain.dem);
        for r in (0..fp.radials).step_by(7) {
            let (ulon, ulat) = node_step_deg(fp.start_deg + fp.step_deg * r as f64, t.lat, cell);
            for j in (1..fp.nodes).step_by(5) {
                let (lon, lat) = (t.lon + ulon * j as f64, t.lat + ulat * j as f64);
                let want = link(&config, &terrain, &t, lon, lat).covered;
                assert_eq!(fp.bit(r, j), want, "radial {r} node {j}");
                if want {
                    covered += 1;
                } else if path_length_m((t.lon, t.lat), (lon, lat)) < 3000.0 {
                    shadowed += 1;
                }
            }
        }
        assert!(
            covered > 0 && shadowed > 0,
            "{covered} covered, {shadowed} shadowed within 3 km"
        );
    }

    #[test]
    fn a_footprints_polygons_hold_its_covered_nodes_and_not_its_shadowed_ones() {
        use geo::Contains;
        let (config, terrain) = shipped();
        let t = tx(108.236, 16.085, 30.0);
        let fp = radial_footprint(&config, &terrain, &t, 60.0, 90.0);
        let started = std::time::Instant::now();
        let area = fp.polygons(t.lon, t.lat);
        eprintln!(
            "{} polygons from {} radials in {:?}",
            area.0.len(),
            fp.radials,
            started.elapsed()
        );
        let cell = sample_cell_deg(&terrain.dem);
        let (mut inside, mut outside) = (0, 0);
        for r in (1..fp.radials - 1).step_by(5) {
            let (ulon, ulat) = node_step_deg(fp.start_deg + fp.step_deg * r as f64, t.lat, cell);
            for j in 1..fp.nodes.min(300) {
                // Nodes whose neighbours along the radial agree (away from
                // the polygon's edges).
                if fp.bit(r, j - 1) != fp.bit(r, j) || fp.bit(r, j) != fp.bit(r, j + 1) {
                    continue;
                }
                let p = geo::Point::new(t.lon + ulon * j as f64, t.lat + ulat * j as f64);
                if fp.bit(r, j) {
                    assert!(area.contains(&p), "radial {r} node {j} covered, outside");
                    inside += 1;
                } else {
                    assert!(!area.contains(&p), "radial {r} node {j} shadowed, inside");
                    outside += 1;
                }
            }
        }
        assert!(
            inside > 50 && outside > 10,
            "{inside} inside, {outside} outside"
        );
    }

    #[test]
    fn a_footprint_survives_its_encoding_and_garbage_is_refused() {
        let (config, terrain) = shipped();
        let fp = radial_footprint(&config, &terrain, &tx(108.22, 16.06, 30.0), 0.0, 360.0);
        let bytes = fp.encode();
        assert_eq!(RadialFootprint::decode(&bytes).as_ref(), Some(&fp));
        // Across Sơn Trà's shadows: radials of several runs.
        let shadowed = radial_footprint(&config, &terrain, &tx(108.236, 16.085, 30.0), 60.0, 90.0);
        assert!((0..shadowed.radials).any(|r| shadowed.runs(r).len() >= 3));
        let encoded = shadowed.encode();
        assert_eq!(RadialFootprint::decode(&encoded).as_ref(), Some(&shadowed));
        // Runs take far fewer bytes than the bits would.
        assert!(
            encoded.len() * 2 < shadowed.approx_bytes(),
            "{} bytes",
            encoded.len()
        );
        // Runs out of order are refused: the first run of the radial with
        // several written again after the last.
        let r = (0..shadowed.radials)
            .find(|r| shadowed.runs(*r).len() >= 2)
            .unwrap();
        let header = 5 * 8 + 3 * 4 + 1 + shadowed.radials * 8;
        let mut at = header;
        for k in 0..r {
            at += 2 + 4 * shadowed.runs(k).len();
        }
        let mut swapped = encoded.clone();
        let (first, second) = (at + 2, at + 6);
        let run0: Vec<u8> = encoded[first..first + 4].to_vec();
        swapped[first..first + 4].copy_from_slice(&encoded[second..second + 4]);
        swapped[second..second + 4].copy_from_slice(&run0);
        assert_eq!(RadialFootprint::decode(&swapped), None);
        assert_eq!(RadialFootprint::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(RadialFootprint::decode(&[]), None);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(RadialFootprint::decode(&longer), None);
    }
}
