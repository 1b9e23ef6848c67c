//! The in-memory coverage index: operational sectors as wedges in rstar
//! trees (one per technology and operator), fibre routes and data centres,
//! answering point, batch, footprint and H3 gap queries.
//!
//! **Coverage rule.** A sector covers a point when the geodesic distance from
//! the antenna to the point is at most the sector's range and the geodesic
//! initial bearing lies within `azimuth ± beamwidth/2` (any bearing when the
//! beamwidth is 360°, and the antenna's own position). Distances and
//! bearings come from [`geodesy`](crate::spatial::geodesy): a fast local formula,
//! with decisions within [`EXACT_BAND_M`] of a boundary redone with Karney's
//! geodesic (`geo::Geodesic`).
//!
//! **Index.** Each sector is stored with the bounding box of its wedge in the
//! [`LocalFrame`] of the data's extent, inflated by the frame's distortion
//! bound, so the R-tree prefilter never drops a covering sector.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use geo::{BoundingRect, Contains, MultiPolygon, Point};
use rstar::primitives::{GeomWithData, Line as RLine};
use rstar::{AABB, RTree, RTreeObject};

use super::model::{Clutter, CoverageConfig};
use crate::coverage::link::{self, RadialFootprint, Terrain, Transmitter};
use crate::coverage::settle::{self, CellState, SettleGrid};
use crate::domain::tower::Technology;
use crate::spatial::frame::LocalFrame;
use crate::spatial::geodesy::{
    EXACT_BAND_M, angle_between, geodesic, initial_bearing, offset_m, radii_m,
};

/// Where a sector's range comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RangeSource {
    /// The sector's own `range_m`.
    Explicit,
    /// The link-budget model.
    Model,
}

impl RangeSource {
    /// The serialized name (`explicit` or `model`).
    pub fn as_str(self) -> &'static str {
        match self {
            RangeSource::Explicit => "explicit",
            RangeSource::Model => "model",
        }
    }
}

/// The sectors of `tower` as the index takes them, ordered by id: those
/// of an operational tower at its position (what
/// `db::coverage`'s query reads for it), none for any other status.
pub fn indexed_sectors(tower: &crate::domain::tower::Tower) -> Vec<SectorInput> {
    if tower.status != crate::domain::Status::Operational {
        return Vec::new();
    }
    let mut sectors: Vec<SectorInput> = tower
        .sectors
        .iter()
        .map(|s| SectorInput {
            technology: s.technology,
            sector_id: s.id.get(),
            tower_id: tower.id.get(),
            operator: s.operator.clone(),
            lon: tower.lon,
            lat: tower.lat,
            azimuth_deg: s.azimuth_deg,
            beamwidth_deg: s.beamwidth_deg,
            height_m: s.height_m,
            eirp_dbm: s.eirp_dbm,
            frequency_mhz: s.frequency_mhz,
            range_m: s.range_m,
        })
        .collect();
    sectors.sort_by_key(|s| s.sector_id);
    sectors
}

/// A sector as loaded from the database (operational towers only).
#[derive(Debug, Clone, PartialEq)]
pub struct SectorInput {
    /// Sector id.
    pub sector_id: i64,
    /// Tower id.
    pub tower_id: i64,
    /// Operator id.
    pub operator: String,
    /// Technology.
    pub technology: Technology,
    /// Antenna longitude, degrees.
    pub lon: f64,
    /// Antenna latitude, degrees.
    pub lat: f64,
    /// Azimuth, degrees.
    pub azimuth_deg: f64,
    /// Beamwidth, degrees (360 = omni).
    pub beamwidth_deg: f64,
    /// Antenna height, metres.
    pub height_m: f64,
    /// EIRP, dBm.
    pub eirp_dbm: f64,
    /// Carrier frequency, MHz.
    pub frequency_mhz: f64,
    /// Explicit range, metres.
    pub range_m: Option<f64>,
}

/// Ranges up to this use the precomputed first-order local formula.
const FAST_RANGE_M: f64 = 5_000.0;

/// Offsets within this on both axes (so within 20 km) take a footprint's
/// distance as the tangent-plane length, as the profile measures it
/// ([`crate::coverage::profile::path_length_m`]).
const PLANE_AXIS_M: f64 = 14_000.0;

/// Boxes reaching farther from an antenna than this are decided point by
/// point (`covers_box`).
const FAR_BOX_M: f64 = 100_000.0;

/// Bound on the relative difference between [`offset_m`]'s plane distance
/// and the geodesic's within [`FAR_BOX_M`], with a margin of two (the
/// geodesy tests measure under 10⁻⁴ up to 100 km at latitudes up to 70°).
const PLANE_REL_ERROR: f64 = 2e-4;

/// A sector in the index: its wedge and what the model decided.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverSector {
    /// Sector id.
    pub sector_id: i64,
    /// Tower id.
    pub tower_id: i64,
    /// Operator index into [`CoverageIndex::operators`].
    pub op: u16,
    /// Technology.
    pub technology: Technology,
    /// Antenna longitude, degrees.
    pub lon: f64,
    /// Antenna latitude, degrees.
    pub lat: f64,
    /// Range used, metres.
    pub range_m: f64,
    /// Where the range came from.
    pub range_source: RangeSource,
    /// Azimuth, degrees.
    pub azimuth_deg: f64,
    /// Beamwidth, degrees.
    pub beamwidth_deg: f64,
    // Precomputed at the antenna: N·(π/180), M·(π/180), cos φ, sin φ.
    n_deg: f64,
    m_deg: f64,
    cos_lat: f64,
    sin_lat: f64,
    envelope: AABB<[f64; 2]>,
    // [`Self::reach_m`], held here so that a rejection reads no footprint.
    reach: f64,
    /// The terrain-aware footprint (`[terrain] enabled`, modelled range):
    /// coverage comes from it, not from the wedge of `range_m`.
    pub terrain: Option<Arc<TerrainSector>>,
}

/// Where a `/coverage/profile` answer's `covered` comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CoverageSource {
    /// The sector's terrain-aware footprint.
    Footprint,
    /// The sector's explicit `range_m` (a wedge).
    ExplicitRange,
    /// The flat model's range (a wedge; terrain off).
    FlatModel,
    /// The sector is not in the index (its tower is not operational).
    NotIndexed,
}

/// A sector's profile and budget to a point, and the index's answer there.
#[derive(Debug, Clone)]
pub struct SectorProfile {
    /// The link budget over the terrain profile.
    pub link: link::Link,
    /// Bearing from the antenna, degrees clockwise from north.
    pub bearing_deg: f64,
    /// Within the sector's beam.
    pub in_beam: bool,
    /// In the beam and the budget met at this very point.
    pub budget_met: bool,
    /// What point, batch, gap and footprint answers say here.
    pub covered: bool,
    /// Where `covered` comes from.
    pub source: CoverageSource,
    /// The wedge's range, metres (the modelled range over flat ground for a
    /// footprint sector); `None` when not indexed.
    pub range_m: Option<f64>,
}

/// Persisted footprints as read back: per sector id, the input key they
/// were computed for and the encoded footprint.
pub type FootprintCache = HashMap<i64, ([u8; 32], Vec<u8>)>;

/// A footprint to persist: sector id, input key, encoded footprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FootprintRow {
    /// Sector id.
    pub sector_id: i64,
    /// [`input_key`] of the transmitter and beam.
    pub input_key: [u8; 32],
    /// [`RadialFootprint::encode`]'s bytes.
    pub footprint: Vec<u8>,
}

/// SHA-256 of what a footprint depends on besides the model: the
/// transmitter's position, height, EIRP, frequency, technology, fallback
/// clutter, and the beam.
pub fn input_key(tx: &Transmitter, azimuth_deg: f64, beamwidth_deg: f64) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for v in [
        tx.lon,
        tx.lat,
        tx.height_m,
        tx.eirp_dbm,
        tx.frequency_mhz,
        azimuth_deg,
        beamwidth_deg,
    ] {
        h.update(v.to_le_bytes());
    }
    h.update(tx.technology.as_str());
    h.update(tx.fallback_clutter.as_str());
    h.finalize().into()
}

/// A sector's footprint (if terrain-aware) and whether it was computed
/// rather than read back.
type Footprinted = (Option<Arc<TerrainSector>>, bool);

/// Totals of an index's terrain-aware footprints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FootprintStats {
    /// Sectors with a footprint.
    pub footprints: usize,
    /// Radials over all footprints.
    pub radials: usize,
    /// Bytes the footprints hold.
    pub bytes: usize,
}

/// What a terrain-aware sector needs to answer a point: its transmitter,
/// its radial footprint, and the terrain and model to decide points near a
/// coverage edge exactly.
#[derive(Debug)]
pub struct TerrainSector {
    /// The transmitter's link-budget parameters.
    pub tx: Transmitter,
    /// SHA-256 of the transmitter and beam ([`input_key`]).
    pub input_key: [u8; 32],
    /// The radial footprint.
    pub footprint: RadialFootprint,
    /// The terrain it was computed over.
    pub terrain: Arc<Terrain>,
    /// The model it was computed with.
    pub config: Arc<CoverageConfig>,
    /// The footprint's polygons, made on first use.
    area: std::sync::OnceLock<geo::MultiPolygon<f64>>,
}

impl PartialEq for TerrainSector {
    fn eq(&self, other: &Self) -> bool {
        self.tx == other.tx
            && self.footprint == other.footprint
            && Arc::ptr_eq(&self.terrain, &other.terrain)
    }
}

impl TerrainSector {
    /// The covered area as polygons (lon/lat; holes are shadows), made
    /// once from the footprint ([`RadialFootprint::polygons`]).
    pub fn area(&self) -> &geo::MultiPolygon<f64> {
        self.area
            .get_or_init(|| self.footprint.polygons(self.tx.lon, self.tx.lat))
    }

    /// Whether the sector covers a point `d_m` metres away at
    /// `bearing_deg` (already known to be inside the beam), at
    /// (`lon`, `lat`): from the footprint's nodes, or by the exact link near
    /// an edge.
    pub fn covers(&self, offset_deg: f64, d_m: f64, lon: f64, lat: f64) -> bool {
        match self.footprint.decide(offset_deg, d_m) {
            Some(b) => b,
            None => link::budget_met(&self.config, &self.terrain, &self.tx, lon, lat),
        }
    }
}

impl RTreeObject for CoverSector {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// A covering sector found for a point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit<'a> {
    /// The sector.
    pub sector: &'a CoverSector,
    /// Geodesic distance from the antenna, metres.
    pub distance_m: f64,
    /// Bearing from the antenna, degrees.
    pub bearing_deg: f64,
}

/// A batch point: its tile and cell ([`settle::locate`]), its index in
/// the batch, and its position (lon/lat).
struct Keyed {
    tile: (i64, i64),
    bit: u32,
    index: u32,
    p: [f64; 2],
}

/// Boxes with fewer points test them one by one.
const BOX_MIN_POINTS: usize = 4;
/// Boxes with fewer points are not split further.
const SPLIT_MIN_POINTS: usize = 32;

/// Decides the points `idx` (indices into `points`, lon/lat) against the
/// candidate sectors per operator, with the operators in `base` already
/// covering them all; pushes (index, operator mask) to `res`.
///
/// A box of at least [`BOX_MIN_POINTS`] points first asks each footprint
/// sector, nearest first, for one answer over the points' bounding box
/// ([`CoverSector::covers_box`]): a sector covering the whole box settles
/// its operator, sectors covering none of it are dropped. The sectors left
/// decide point by point — in quadrants of the box, settled the same way,
/// while `depth` allows and the box holds [`SPLIT_MIN_POINTS`] points. The
/// answers are those of [`CoverSector::covers`] point by point.
fn settle_points(
    points: &[[f64; 2]],
    idx: &mut [u32],
    candidates: &[(u16, Vec<&CoverSector>)],
    base: u128,
    depth: u32,
    res: &mut Vec<(u32, u128)>,
) {
    let mut mask = base;
    let mut rest: Vec<(u16, Vec<&CoverSector>)> = Vec::with_capacity(candidates.len());
    let mut bbox = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    if idx.len() >= BOX_MIN_POINTS {
        for &i in idx.iter() {
            let [lon, lat] = points[i as usize];
            bbox = [
                bbox[0].min(lon),
                bbox[1].min(lat),
                bbox[2].max(lon),
                bbox[3].max(lat),
            ];
        }
        let (cx, cy) = (0.5 * (bbox[0] + bbox[2]), 0.5 * (bbox[1] + bbox[3]));
        let far2 = |s: &CoverSector| {
            let dx = (s.lon - cx) * s.cos_lat;
            let dy = s.lat - cy;
            dx * dx + dy * dy
        };
        for (op, list) in candidates {
            let bit = 1u128 << op;
            if mask & bit != 0 {
                continue;
            }
            if list.iter().all(|s| s.terrain.is_none()) {
                // Wedges: tested point by point.
                rest.push((*op, list.clone()));
                continue;
            }
            let mut list = list.clone();
            list.sort_by(|a, b| far2(a).total_cmp(&far2(b)));
            let mut keep = Vec::with_capacity(list.len());
            let mut all = false;
            for s in list {
                match s.covers_box(bbox) {
                    Some(true) => {
                        all = true;
                        break;
                    }
                    Some(false) => {}
                    None => keep.push(s),
                }
            }
            if all {
                mask |= bit;
            } else if !keep.is_empty() {
                rest.push((*op, keep));
            }
        }
    } else {
        rest.extend(
            candidates
                .iter()
                .filter(|(op, _)| mask & (1u128 << op) == 0)
                .cloned(),
        );
    }
    let settling = rest
        .iter()
        .any(|(_, list)| list.iter().any(|s| s.terrain.is_some()));
    if depth > 0 && idx.len() >= SPLIT_MIN_POINTS && settling {
        let (cx, cy) = (0.5 * (bbox[0] + bbox[2]), 0.5 * (bbox[1] + bbox[3]));
        let quadrant = |i: &u32| {
            let [lon, lat] = points[*i as usize];
            u8::from(lon > cx) | (u8::from(lat > cy) << 1)
        };
        idx.sort_unstable_by_key(quadrant);
        let mut start = 0;
        while start < idx.len() {
            let q = quadrant(&idx[start]);
            let len = idx[start..].iter().take_while(|i| quadrant(i) == q).count();
            settle_points(
                points,
                &mut idx[start..start + len],
                &rest,
                mask,
                depth - 1,
                res,
            );
            start += len;
        }
        return;
    }
    for &i in idx.iter() {
        let [lon, lat] = points[i as usize];
        let mut m = mask;
        for (op, list) in &rest {
            let bit = 1u128 << op;
            if m & bit == 0 && list.iter().any(|s| s.covers(lon, lat).is_some()) {
                m |= bit;
            }
        }
        res.push((i, m));
    }
}

/// Bounding box in `frame` of what a footprint at frame position `xy` may
/// cover, inflated by the frame's distortion bound: a point between radials
/// `r` and `r + 1` is covered only if one of the nodes around it is
/// ([`RadialFootprint::decide`], else the exact budget near an edge), so it
/// lies within `(last covered node + 1) × node step` of the antenna on one
/// of the two radials; each such cell's corners (and the antenna) bound it,
/// plus the arc's bulge between the radials.
fn footprint_envelope(fp: &RadialFootprint, xy: [f64; 2], frame: &LocalFrame) -> AABB<[f64; 2]> {
    let [x, y] = xy;
    let radius: Vec<f64> = (0..fp.radials)
        .map(|r| (fp.last_covered(r) + 1) as f64 * fp.node_len_m[r])
        .collect();
    // Radial r bounds the cells on either side of it: the largest of
    // their radii (each the larger of its two radials'); one sin/cos per
    // radial.
    let n = fp.radials;
    let (mut x0, mut y0, mut x1, mut y1) = (x, y, x, y);
    let mut far: f64 = 0.0;
    for r in 0..n {
        let (prev, next) = if fp.omni {
            ((r + n - 1) % n, (r + 1) % n)
        } else {
            (r.saturating_sub(1), (r + 1).min(n - 1))
        };
        let rr = radius[prev].max(radius[r]).max(radius[next]);
        far = far.max(rr);
        let (sn, cs) = (fp.start_deg + r as f64 * fp.step_deg)
            .to_radians()
            .sin_cos();
        x0 = x0.min(x + rr * sn);
        x1 = x1.max(x + rr * sn);
        y0 = y0.min(y + rr * cs);
        y1 = y1.max(y + rr * cs);
    }
    let step = fp.step_deg.to_radians();
    let pad = frame.margin_m(far) + far * step * step / 8.0 + 1.0;
    AABB::from_corners([x0 - pad, y0 - pad], [x1 + pad, y1 + pad])
}

impl CoverSector {
    fn new(
        s: &SectorInput,
        op: u16,
        range_m: f64,
        range_source: RangeSource,
        frame: &LocalFrame,
        terrain: Option<Arc<TerrainSector>>,
    ) -> Self {
        let (n, m) = radii_m(s.lat);
        let rad = std::f64::consts::PI / 180.0;
        let mut c = CoverSector {
            sector_id: s.sector_id,
            tower_id: s.tower_id,
            op,
            technology: s.technology,
            lon: s.lon,
            lat: s.lat,
            range_m,
            range_source,
            azimuth_deg: s.azimuth_deg.rem_euclid(360.0),
            beamwidth_deg: s.beamwidth_deg,
            n_deg: n * rad,
            m_deg: m * rad,
            cos_lat: s.lat.to_radians().cos(),
            sin_lat: s.lat.to_radians().sin(),
            envelope: AABB::from_point([0.0, 0.0]),
            reach: match &terrain {
                Some(t) => t.footprint.reach_m + t.footprint.max_node_len_m,
                None => range_m,
            },
            terrain,
        };
        c.envelope = c.wedge_envelope(frame);
        c
    }

    /// Farthest distance at which the sector may cover a point, metres:
    /// `range_m`, or the footprint's reach plus one node step.
    pub fn reach_m(&self) -> f64 {
        self.reach
    }

    /// True for an omnidirectional sector (beamwidth 360°).
    pub fn is_omni(&self) -> bool {
        self.beamwidth_deg >= 360.0
    }

    /// Bounding box of the wedge in `frame`, inflated by the frame's distortion bound.
    fn wedge_envelope(&self, frame: &LocalFrame) -> AABB<[f64; 2]> {
        if let Some(t) = &self.terrain {
            return footprint_envelope(&t.footprint, frame.fwd(self.lon, self.lat), frame);
        }
        let [x, y] = frame.fwd(self.lon, self.lat);
        let r = self.reach_m();
        let (mut x0, mut y0, mut x1, mut y1) = (x, y, x, y);
        let mut include = |b: f64| {
            let (s, c) = b.to_radians().sin_cos();
            x0 = x0.min(x + r * s);
            x1 = x1.max(x + r * s);
            y0 = y0.min(y + r * c);
            y1 = y1.max(y + r * c);
        };
        if self.is_omni() {
            for b in [0.0, 90.0, 180.0, 270.0] {
                include(b);
            }
        } else {
            let half = self.beamwidth_deg / 2.0;
            include(self.azimuth_deg - half);
            include(self.azimuth_deg + half);
            for b in [0.0, 90.0, 180.0, 270.0] {
                if angle_between(b, self.azimuth_deg) <= half {
                    include(b);
                }
            }
        }
        let pad = frame.margin_m(r);
        AABB::from_corners([x0 - pad, y0 - pad], [x1 + pad, y1 + pad])
    }

    /// Fast east/north offset from the antenna to `(lon, lat)`, metres.
    #[inline]
    fn offset(&self, lon: f64, lat: f64) -> (f64, f64) {
        if self.range_m > FAST_RANGE_M || self.terrain.is_some() {
            return offset_m((self.lon, self.lat), (lon, lat));
        }
        self.offset_expanded(lon, lat)
    }

    /// [`offset_m`] by the first-order expansion of cos(φ_mid) about the
    /// antenna latitude, from this struct's fields: centimetres off within
    /// [`FAST_RANGE_M`].
    #[inline]
    fn offset_expanded(&self, lon: f64, lat: f64) -> (f64, f64) {
        let dlat = lat - self.lat;
        let half = 0.5 * dlat.to_radians();
        let dx = (lon - self.lon) * self.n_deg * (self.cos_lat - self.sin_lat * half);
        (dx, dlat * self.m_deg)
    }

    /// Distance (m) and bearing (°) from the antenna when the sector covers
    /// `(lon, lat)`, else `None`.
    #[inline]
    pub fn covers(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        if let Some(t) = &self.terrain {
            return self.covers_terrain(t, lon, lat);
        }
        let (dx, dy) = self.offset(lon, lat);
        let d2 = dx * dx + dy * dy;
        let reach = self.range_m + EXACT_BAND_M;
        if d2 > reach * reach {
            return None;
        }
        let d = d2.sqrt();
        let bearing = initial_bearing(dx, dy, lon - self.lon, self.sin_lat);
        let near_range = (d - self.range_m).abs() < EXACT_BAND_M;
        let inside_angle = if self.is_omni() || d == 0.0 {
            true
        } else {
            let off = angle_between(bearing, self.azimuth_deg) - self.beamwidth_deg / 2.0;
            if (off.to_radians() * d).abs() < EXACT_BAND_M {
                return self.covers_exact(lon, lat);
            }
            off <= 0.0
        };
        if near_range {
            return self.covers_exact(lon, lat);
        }
        (inside_angle && d <= self.range_m).then_some((d, bearing))
    }

    /// The terrain-aware decision: the beam, then the footprint (distance
    /// as the profile measures it).
    fn covers_terrain(&self, t: &TerrainSector, lon: f64, lat: f64) -> Option<(f64, f64)> {
        let (dx, dy) = offset_m((self.lon, self.lat), (lon, lat));
        // As the profile measures it (the tangent-plane length within
        // 20 km: `profile::path_length_m`).
        let d = if dx.abs() < PLANE_AXIS_M && dy.abs() < PLANE_AXIS_M {
            (dx * dx + dy * dy).sqrt()
        } else {
            crate::coverage::profile::path_length_m((self.lon, self.lat), (lon, lat))
        };
        if d > self.reach_m() {
            return None;
        }
        let bearing = initial_bearing(dx, dy, lon - self.lon, self.sin_lat);
        if d == 0.0 {
            return Some((0.0, bearing));
        }
        let offset = link::beam_offset_deg(&t.footprint, bearing)?;
        t.covers(offset, d, lon, lat).then_some((d, bearing))
    }

    /// One answer of [`covers`](Self::covers) for every point of the
    /// lon/lat box `[west, south, east, north]`, when the footprint's nodes
    /// give one: `Some(false)` when no point can be covered (beyond the
    /// reach, outside the beam, or every node around them uncovered),
    /// `Some(true)` when every point is in the beam and every node around
    /// them covered; `None` when the points must be decided one by one.
    /// A sector without a footprint (a wedge) answers from its range and
    /// beam, and only where no point of the box lies within
    /// [`EXACT_BAND_M`] of the wedge's edges (where `covers` would ask the
    /// exact geodesic).
    ///
    /// The window of distances and bearings the box spans is padded (1 m
    /// plus 10⁻⁴ of the distance, 0.05°), so the nodes it reads include
    /// every node [`covers`](Self::covers) reads for a point of the box;
    /// boxes within 50 m of the antenna are left to the points.
    pub fn covers_box(&self, bbox: [f64; 4]) -> Option<bool> {
        const NEAR_M: f64 = 50.0;
        const PAD_DEG: f64 = 0.05;
        let t = self.terrain.as_ref();
        // Offsets by the antenna's first-order expansion within
        // FAST_RANGE_M (centimetres off, inside the padding), the fields
        // of this struct only: most boxes are rejected without reading
        // the footprint.
        let off = |lon: f64, lat: f64| {
            if self.reach > FAST_RANGE_M {
                offset_m((self.lon, self.lat), (lon, lat))
            } else {
                self.offset_expanded(lon, lat)
            }
        };
        let [w, s, e, n] = bbox;
        let (nx, ny) = off(self.lon.clamp(w, e), self.lat.clamp(s, n));
        let d_min = (nx * nx + ny * ny).sqrt();
        let d0 = d_min * (1.0 - 1e-4) - 1.0;
        // What `covers` may still call covered: the footprint's reach, or
        // the wedge's range and its exact band.
        let beyond = if t.is_some() {
            self.reach
        } else {
            self.range_m + EXACT_BAND_M
        };
        if d0 > beyond {
            return Some(false);
        }
        if d_min < NEAR_M {
            return None;
        }
        let mut d_max: f64 = 0.0;
        let mut corners = [(0.0, 0.0, 0.0); 4];
        for (i, (lon, lat)) in [(w, s), (e, s), (e, n), (w, n)].into_iter().enumerate() {
            let (dx, dy) = off(lon, lat);
            d_max = d_max.max((dx * dx + dy * dy).sqrt());
            corners[i] = (dx, dy, lon - self.lon);
        }
        let mut d1 = d_max * (1.0 + 1e-4) + 1.0;
        if d1 > FAR_BOX_M {
            return None;
        }
        let mut d0 = d0;
        if d1 > PLANE_AXIS_M {
            // A point's distance may be the geodesic's here: within
            // PLANE_REL_ERROR of the plane's.
            d0 *= 1.0 - PLANE_REL_ERROR;
            d1 *= 1.0 + PLANE_REL_ERROR;
        }
        let bearings = corners.map(|(dx, dy, dlon)| initial_bearing(dx, dy, dlon, self.sin_lat));
        // The bearings as angles from the first corner's, in (−180, 180].
        let rel = |b: f64| (b - bearings[0] + 540.0).rem_euclid(360.0) - 180.0;
        let lo = bearings
            .iter()
            .map(|b| rel(*b))
            .fold(f64::INFINITY, f64::min)
            - PAD_DEG;
        let hi = bearings
            .iter()
            .map(|b| rel(*b))
            .fold(f64::NEG_INFINITY, f64::max)
            + PAD_DEG;
        if hi - lo >= 180.0 {
            return None;
        }
        let b_lo = bearings[0] + lo;
        let Some(t) = t else {
            return self.wedge_box(b_lo, hi - lo, d0, d1);
        };
        if self.is_omni() {
            let fp = &t.footprint;
            let o0 = (b_lo - fp.start_deg).rem_euclid(360.0);
            return fp.decide_window(o0, o0 + (hi - lo), d0, d1);
        }
        // The beam from this struct's azimuth and beamwidth (the
        // footprint's radials span it exactly).
        let half = self.beamwidth_deg / 2.0;
        let lo_c = (b_lo - self.azimuth_deg + 540.0).rem_euclid(360.0) - 180.0;
        let hi_c = lo_c + (hi - lo);
        if hi_c > 180.0 {
            return None;
        }
        let (a, b) = (lo_c.max(-half), hi_c.min(half));
        if a > b {
            return Some(false);
        }
        match t.footprint.decide_window(a + half, b + half, d0, d1) {
            Some(true) if a != lo_c || b != hi_c => None,
            v => v,
        }
    }

    /// [`covers_box`](Self::covers_box) for a wedge, over the padded
    /// window of bearings `b_lo_deg..b_lo_deg + span_deg` and distances
    /// `d0_m..d1_m` (`d0_m` ≥ 49 m): a box clear of the wedge's edges by
    /// [`EXACT_BAND_M`] — in distance, and in bearing by that band seen from
    /// the nearest point — is wholly in or out.
    fn wedge_box(&self, b_lo_deg: f64, span_deg: f64, d0_m: f64, d1_m: f64) -> Option<bool> {
        let inside_range = d1_m < self.range_m - EXACT_BAND_M;
        if self.is_omni() {
            return inside_range.then_some(true);
        }
        let half = self.beamwidth_deg / 2.0;
        let clear_deg = (EXACT_BAND_M / d0_m).to_degrees();
        let lo = (b_lo_deg - self.azimuth_deg + 540.0).rem_euclid(360.0) - 180.0;
        let hi = lo + span_deg;
        if hi > 180.0 {
            return None;
        }
        if hi < -half - clear_deg || lo > half + clear_deg {
            return Some(false);
        }
        (inside_range && lo > -half + clear_deg && hi < half - clear_deg).then_some(true)
    }

    /// The decision with Karney's geodesic, for points near a boundary.
    pub fn covers_exact(&self, lon: f64, lat: f64) -> Option<(f64, f64)> {
        if self.terrain.is_some() {
            return self.covers(lon, lat);
        }
        let (d, b) = geodesic((self.lon, self.lat), (lon, lat));
        let inside = d <= self.range_m
            && (self.is_omni()
                || d == 0.0
                || angle_between(b, self.azimuth_deg) <= self.beamwidth_deg / 2.0);
        inside.then_some((d, b))
    }

    /// The wedge as a polygon (lon/lat, counter-clockwise), its arc traced by
    /// destinations ([`crate::spatial::geodesy::destination`], centimetre accuracy) every `step_deg` degrees at most.
    /// What the sector covers as polygons (lon/lat): the terrain-aware
    /// footprint's area, else the wedge of [`footprint`](Self::footprint)
    /// with arcs of `step_deg`.
    pub fn coverage_area(&self, step_deg: f64) -> geo::MultiPolygon<f64> {
        match &self.terrain {
            Some(t) => t.area().clone(),
            None => geo::MultiPolygon::new(vec![self.footprint(step_deg)]),
        }
    }

    /// The wedge of `range_m` (the flat model's coverage) as a polygon.
    pub fn footprint(&self, step_deg: f64) -> geo::Polygon<f64> {
        let apex = Point::new(self.lon, self.lat);
        let (start, span) = if self.is_omni() {
            (0.0, 360.0)
        } else {
            (
                self.azimuth_deg - self.beamwidth_deg / 2.0,
                self.beamwidth_deg,
            )
        };
        let steps = ((span / step_deg).ceil() as usize).max(2);
        let mut arc: Vec<geo::Coord<f64>> = (0..=steps)
            .map(|i| {
                let b = (start + span * i as f64 / steps as f64).rem_euclid(360.0);
                let (x, y) =
                    crate::spatial::geodesy::destination((self.lon, self.lat), b, self.range_m);
                geo::Coord { x, y }
            })
            .collect();
        if self.is_omni() {
            arc.pop();
        } else {
            arc.insert(0, apex.0);
        }
        // Bearings grow clockwise; reverse for a counter-clockwise exterior.
        arc.reverse();
        let mut ring = geo::LineString::new(arc);
        ring.close();
        geo::Polygon::new(ring, vec![])
    }
}

/// An operational fibre route as loaded from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct FibreInput {
    /// Route id.
    pub id: i64,
    /// Placement.
    pub placement: crate::domain::fibre::Placement,
    /// LineString or MultiLineString, lon/lat.
    pub geometry: geo::Geometry<f64>,
}

/// A fibre segment in the frame, keyed by its route id.
pub type FibreSegment = GeomWithData<RLine<[f64; 2]>, i64>;
/// A data centre (its point, or its polygon's interior point) in the frame.
pub type DataCentrePoint = GeomWithData<[f64; 2], i64>;

/// An analysis area for clutter lookup and grids.
#[derive(Debug, Clone)]
pub struct Area {
    /// District code.
    pub code: String,
    /// Polygon, lon/lat.
    pub geometry: MultiPolygon<f64>,
    // Each polygon's bounding box (lon/lat), for lookups.
    boxes: Vec<Option<geo::Rect<f64>>>,
}

impl Area {
    /// The area `code` with `geometry` (lon/lat).
    pub fn new(code: String, geometry: MultiPolygon<f64>) -> Self {
        let boxes = geometry.0.iter().map(BoundingRect::bounding_rect).collect();
        Self {
            code,
            geometry,
            boxes,
        }
    }

    /// Whether the area contains `p` (lon/lat): its polygons' bounding
    /// boxes, computed once, before their rings.
    pub fn contains(&self, p: &Point<f64>) -> bool {
        self.geometry
            .0
            .iter()
            .zip(&self.boxes)
            .any(|(poly, b)| b.is_some_and(|b| b.contains(p)) && poly.contains(p))
    }
}

/// The key of one R-tree: a technology and an operator index.
type TreeKey = (Technology, u16);

/// An immutable snapshot of the coverage index; updates build a new one.
#[derive(Debug, Clone)]
pub struct CoverageIndex {
    /// The metric frame of the index.
    pub frame: LocalFrame,
    /// Operator ids by index (as in [`CoverSector::op`]).
    pub operators: Arc<Vec<String>>,
    trees: BTreeMap<TreeKey, Arc<RTree<CoverSector>>>,
    /// The settle grid of each tree, once made (terrain only; see
    /// [`CoverageIndex::warm_settle_grids`]).
    grids: BTreeMap<TreeKey, Arc<OnceLock<SettleGrid>>>,
    by_tower: TowerMap,
    /// Operational fibre routes as segments.
    pub fibre: Arc<RTree<FibreSegment>>,
    /// Operational fibre routes with their placement and geometry.
    pub fibre_routes: Arc<Vec<FibreInput>>,
    /// Operational data centres.
    pub data_centres: Arc<RTree<DataCentrePoint>>,
    /// Analysis areas (districts).
    pub areas: Arc<Vec<Area>>,
    /// H3 tilings of the areas, computed on first use and shared by every
    /// snapshot with the same areas.
    pub area_grids: Arc<crate::spatial::grid::GridCache>,
    /// The configuration the ranges were computed with.
    pub config: Arc<CoverageConfig>,
    /// The terrain and land use (`[terrain] enabled`), else `None`.
    pub terrain: Option<Arc<Terrain>>,
    /// Incremented on every change.
    pub version: u64,
}

fn load_terrain(config: &CoverageConfig) -> Option<Arc<Terrain>> {
    Terrain::for_config(config).unwrap_or_else(|e| {
        tracing::error!(error = %e, "terrain not loaded; coverage is flat");
        None
    })
}

fn fibre_tree(frame: &LocalFrame, fibre: &[FibreInput]) -> RTree<FibreSegment> {
    let mut segments = Vec::new();
    for FibreInput { id, geometry, .. } in fibre {
        let lines: Vec<&geo::LineString<f64>> = match geometry {
            geo::Geometry::LineString(l) => vec![l],
            geo::Geometry::MultiLineString(m) => m.0.iter().collect(),
            _ => vec![],
        };
        for l in lines {
            for seg in l.lines() {
                let (a, b) = (
                    frame.fwd(seg.start.x, seg.start.y),
                    frame.fwd(seg.end.x, seg.end.y),
                );
                segments.push(GeomWithData::new(RLine::new(a, b), *id));
            }
        }
    }
    RTree::bulk_load(segments)
}

fn data_centre_tree(
    frame: &LocalFrame,
    data_centres: &[(i64, f64, f64)],
) -> RTree<DataCentrePoint> {
    RTree::bulk_load(
        data_centres
            .iter()
            .map(|(id, lon, lat)| GeomWithData::new(frame.fwd(*lon, *lat), *id))
            .collect(),
    )
}

/// Shards of [`TowerMap`].
const TOWER_SHARDS: usize = 64;

/// The indexed sectors of each tower, split in shards by tower id so that
/// patching one tower copies one shard (1/64 of the map), not all of it.
#[derive(Debug, Clone)]
struct TowerMap {
    shards: Vec<Arc<HashMap<i64, Vec<CoverSector>>>>,
}

impl Default for TowerMap {
    fn default() -> Self {
        Self {
            shards: (0..TOWER_SHARDS).map(|_| Arc::default()).collect(),
        }
    }
}

impl From<HashMap<i64, Vec<CoverSector>>> for TowerMap {
    fn from(all: HashMap<i64, Vec<CoverSector>>) -> Self {
        let mut shards: Vec<HashMap<i64, Vec<CoverSector>>> =
            (0..TOWER_SHARDS).map(|_| HashMap::new()).collect();
        for (id, sectors) in all {
            shards[Self::shard(id)].insert(id, sectors);
        }
        Self {
            shards: shards.into_iter().map(Arc::new).collect(),
        }
    }
}

impl TowerMap {
    fn shard(tower_id: i64) -> usize {
        tower_id.rem_euclid(TOWER_SHARDS as i64) as usize
    }

    fn get(&self, tower_id: &i64) -> Option<&Vec<CoverSector>> {
        self.shards[Self::shard(*tower_id)].get(tower_id)
    }

    /// The shard holding `tower_id`, copied first if another snapshot
    /// shares it.
    fn shard_mut(&mut self, tower_id: i64) -> &mut HashMap<i64, Vec<CoverSector>> {
        Arc::make_mut(&mut self.shards[Self::shard(tower_id)])
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.len()).sum()
    }

    fn values(&self) -> impl Iterator<Item = &Vec<CoverSector>> {
        self.shards.iter().flat_map(|s| s.values())
    }
}

/// Most operators a bitmask of covering operators can hold.
pub const MAX_OPERATORS: usize = 128;

/// Errors building or updating the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// More distinct operators than a coverage bitmask holds.
    #[error("more than {MAX_OPERATORS} operators have sectors")]
    TooManyOperators,
    /// A sector lies outside the frame's extent; rebuild the index.
    #[error("a sector lies outside the index frame")]
    OutsideFrame,
}

fn op_index(ops: &mut Vec<String>, id: &str) -> Result<u16, IndexError> {
    if let Some(i) = ops.iter().position(|o| o == id) {
        return Ok(i as u16);
    }
    if ops.len() >= MAX_OPERATORS {
        return Err(IndexError::TooManyOperators);
    }
    ops.push(id.to_owned());
    Ok((ops.len() - 1) as u16)
}

fn clutter_at(areas: &[Area], config: &CoverageConfig, lon: f64, lat: f64) -> Clutter {
    let p = Point::new(lon, lat);
    let code = areas
        .iter()
        .find(|a| a.contains(&p))
        .map(|a| a.code.as_str());
    config.clutter_of(code)
}

impl CoverageIndex {
    /// An empty index, without terrain: the DEM and land use come with the
    /// first [`build`](Self::build) (a start reads them while the rows load
    /// instead of before).
    pub fn empty(config: Arc<CoverageConfig>) -> Self {
        Self {
            frame: LocalFrame::da_nang(),
            operators: Arc::new(Vec::new()),
            trees: BTreeMap::new(),
            grids: BTreeMap::new(),
            by_tower: TowerMap::default(),
            fibre: Arc::new(RTree::new()),
            fibre_routes: Arc::new(Vec::new()),
            data_centres: Arc::new(RTree::new()),
            areas: Arc::new(Vec::new()),
            area_grids: Arc::default(),
            terrain: None,
            config,
            version: 0,
        }
    }

    /// The transmitter of a sector for link budgets.
    fn transmitter(config: &CoverageConfig, areas: &[Area], s: &SectorInput) -> Transmitter {
        Transmitter {
            lon: s.lon,
            lat: s.lat,
            height_m: s.height_m,
            eirp_dbm: s.eirp_dbm,
            frequency_mhz: s.frequency_mhz,
            technology: s.technology,
            fallback_clutter: clutter_at(areas, config, s.lon, s.lat),
        }
    }

    /// The terrain-aware footprint of a modelled sector (`None` without
    /// terrain or with an explicit range): the one `cache` holds for the
    /// same inputs, else computed (and then `true`).
    fn terrain_sector(
        config: &Arc<CoverageConfig>,
        terrain: Option<&Arc<Terrain>>,
        areas: &[Area],
        s: &SectorInput,
        cache: Option<&FootprintCache>,
    ) -> (Option<Arc<TerrainSector>>, bool) {
        let Some(terrain) = terrain else {
            return (None, false);
        };
        if s.range_m.is_some() {
            return (None, false);
        }
        let tx = Self::transmitter(config, areas, s);
        let key = input_key(&tx, s.azimuth_deg, s.beamwidth_deg);
        let cached = cache
            .and_then(|c| c.get(&s.sector_id))
            .filter(|(k, _)| *k == key)
            .and_then(|(_, bytes)| RadialFootprint::decode(bytes));
        let fresh = cached.is_none();
        let footprint = cached.unwrap_or_else(|| {
            link::radial_footprint(config, terrain, &tx, s.azimuth_deg, s.beamwidth_deg)
        });
        let t = Arc::new(TerrainSector {
            tx,
            input_key: key,
            footprint,
            terrain: terrain.clone(),
            config: config.clone(),
            area: std::sync::OnceLock::new(),
        });
        (Some(t), fresh)
    }

    /// The transmitter of `s` as this index models it (for
    /// `/coverage/profile`).
    pub fn transmitter_of(&self, s: &SectorInput) -> Transmitter {
        Self::transmitter(&self.config, &self.areas, s)
    }

    /// The terrain profile and link budget from sector `s` to (`lon`,
    /// `lat`), with what this index answers there: what
    /// `/coverage/profile` reports.
    pub fn sector_profile(&self, s: &SectorInput, lon: f64, lat: f64) -> SectorProfile {
        static NO_TERRAIN: std::sync::OnceLock<Arc<Terrain>> = std::sync::OnceLock::new();
        let terrain = self
            .terrain
            .as_ref()
            .unwrap_or_else(|| NO_TERRAIN.get_or_init(|| Arc::new(Terrain::default_flat())));
        let tx = self.transmitter_of(s);
        let link = link::link(&self.config, terrain, &tx, lon, lat);
        let (dx, dy) = offset_m((s.lon, s.lat), (lon, lat));
        let bearing_deg = if dx == 0.0 && dy == 0.0 {
            0.0
        } else {
            initial_bearing(dx, dy, lon - s.lon, s.lat.to_radians().sin())
        };
        let in_beam = s.beamwidth_deg >= 360.0
            || link.profile.distance_m == 0.0
            || angle_between(bearing_deg, s.azimuth_deg) <= s.beamwidth_deg / 2.0;
        let held = self
            .tower_sectors(s.tower_id)
            .iter()
            .find(|c| c.sector_id == s.sector_id);
        let source = match held {
            None => CoverageSource::NotIndexed,
            Some(c) if c.terrain.is_some() => CoverageSource::Footprint,
            Some(c) if c.range_source == RangeSource::Explicit => CoverageSource::ExplicitRange,
            Some(_) => CoverageSource::FlatModel,
        };
        let covered = held.is_some_and(|c| c.covers(lon, lat).is_some());
        let budget_met = link.covered && in_beam;
        SectorProfile {
            link,
            bearing_deg,
            in_beam,
            budget_met,
            covered,
            source,
            range_m: held.map(|c| c.range_m),
        }
    }

    /// The range (metres) and its source for a sector in `areas`.
    pub fn sector_range(
        config: &CoverageConfig,
        areas: &[Area],
        s: &SectorInput,
    ) -> (f64, RangeSource) {
        match s.range_m {
            Some(r) => (r, RangeSource::Explicit),
            None => {
                let clutter = clutter_at(areas, config, s.lon, s.lat);
                (
                    config
                        .range_m(
                            s.technology,
                            s.eirp_dbm,
                            s.frequency_mhz,
                            s.height_m,
                            clutter,
                        )
                        .0,
                    RangeSource::Model,
                )
            }
        }
    }

    /// Builds an index with `bulk_load`, choosing the frame from the extent
    /// of the sectors, fibre and data centres.
    ///
    /// # Errors
    /// [`IndexError::TooManyOperators`].
    pub fn build(
        config: Arc<CoverageConfig>,
        areas: Vec<Area>,
        sectors: &[SectorInput],
        fibre: &[FibreInput],
        data_centres: &[(i64, f64, f64)],
        version: u64,
    ) -> Result<Self, IndexError> {
        Self::build_cached(config, areas, sectors, fibre, data_centres, version, None)
            .map(|(index, _)| index)
    }

    /// [`build`](Self::build), taking each terrain-aware footprint from
    /// `cache` when it holds one for the same inputs (and the caller checked
    /// the model key), and returning the footprints it had to compute.
    ///
    /// # Errors
    /// [`IndexError::TooManyOperators`].
    pub fn build_cached(
        config: Arc<CoverageConfig>,
        areas: Vec<Area>,
        sectors: &[SectorInput],
        fibre: &[FibreInput],
        data_centres: &[(i64, f64, f64)],
        version: u64,
        cache: Option<&FootprintCache>,
    ) -> Result<(Self, Vec<FootprintRow>), IndexError> {
        let mut computed = Vec::new();
        let mut ext = (
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        );
        let mut grow = |lon: f64, lat: f64| {
            ext = (
                ext.0.min(lon),
                ext.1.min(lat),
                ext.2.max(lon),
                ext.3.max(lat),
            );
        };
        for s in sectors {
            grow(s.lon, s.lat);
        }
        for (_, lon, lat) in data_centres {
            grow(*lon, *lat);
        }
        for f in fibre {
            if let Some(r) = f.geometry.bounding_rect() {
                grow(r.min().x, r.min().y);
                grow(r.max().x, r.max().y);
            }
        }
        // Pad by 0.5° of latitude so sectors added later nearby keep the bound.
        let frame = if ext.0.is_finite() {
            LocalFrame::for_extent(ext.0 - 0.5, ext.1 - 0.5, ext.2 + 0.5, ext.3 + 0.5)
        } else {
            LocalFrame::da_nang()
        };
        let mut operators = Vec::new();
        let mut groups: BTreeMap<(Technology, u16), Vec<CoverSector>> = BTreeMap::new();
        let mut by_tower: HashMap<i64, Vec<CoverSector>> = HashMap::new();
        let terrain = load_terrain(&config);
        let footprints = Self::terrain_sectors(&config, terrain.as_ref(), &areas, sectors, cache);
        let ops = sectors
            .iter()
            .map(|s| op_index(&mut operators, &s.operator))
            .collect::<Result<Vec<u16>, _>>()?;
        for (s, (ts, fresh)) in sectors.iter().zip(&footprints) {
            if let (true, Some(t)) = (fresh, ts) {
                computed.push(FootprintRow {
                    sector_id: s.sector_id,
                    input_key: t.input_key,
                    footprint: t.footprint.encode(),
                });
            }
        }
        // The index entries on the workers: a footprint's envelope reads
        // every radial of it.
        let chunk = sectors.len().div_ceil(crate::cpu::workers()).max(1);
        let entries: Vec<CoverSector> = std::thread::scope(|scope| {
            let handles: Vec<_> = sectors
                .chunks(chunk)
                .zip(footprints.chunks(chunk))
                .zip(ops.chunks(chunk))
                .map(|((part, fps), ops)| {
                    let (config, areas, frame) = (&config, &areas, &frame);
                    scope.spawn(move || {
                        part.iter()
                            .zip(fps)
                            .zip(ops)
                            .map(|((s, (ts, _)), op)| {
                                let (range, source) = Self::sector_range(config, areas, s);
                                CoverSector::new(s, *op, range, source, frame, ts.clone())
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for (s, c) in sectors.iter().zip(entries) {
            by_tower.entry(s.tower_id).or_default().push(c.clone());
            groups.entry((s.technology, c.op)).or_default().push(c);
        }
        let trees: BTreeMap<_, _> = groups
            .into_iter()
            .map(|(k, v)| (k, Arc::new(RTree::bulk_load(v))))
            .collect();
        let grids = trees.keys().map(|k| (*k, Arc::default())).collect();
        let index = Self {
            frame,
            operators: Arc::new(operators),
            trees,
            grids,
            by_tower: TowerMap::from(by_tower),
            fibre: Arc::new(fibre_tree(&frame, fibre)),
            fibre_routes: Arc::new(fibre.to_vec()),
            data_centres: Arc::new(data_centre_tree(&frame, data_centres)),
            areas: Arc::new(areas),
            area_grids: Arc::default(),
            config,
            terrain,
            version,
        };
        Ok((index, computed))
    }

    /// Footprints of many sectors (and whether each was computed), on up
    /// to [`crate::cpu::workers`] threads taking sectors 16 at a time.
    fn terrain_sectors(
        config: &Arc<CoverageConfig>,
        terrain: Option<&Arc<Terrain>>,
        areas: &[Area],
        sectors: &[SectorInput],
        cache: Option<&FootprintCache>,
    ) -> Vec<Footprinted> {
        if terrain.is_none() {
            return vec![(None, false); sectors.len()];
        }
        const BATCH: usize = 16;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = crate::cpu::workers().clamp(1, sectors.len().div_ceil(BATCH).max(1));
        let mut parts: Vec<(usize, Vec<Footprinted>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let next = &next;
                    scope.spawn(move || {
                        let mut done = Vec::new();
                        loop {
                            let at = next.fetch_add(BATCH, std::sync::atomic::Ordering::Relaxed);
                            if at >= sectors.len() {
                                break done;
                            }
                            let part = &sectors[at..(at + BATCH).min(sectors.len())];
                            done.push((
                                at,
                                part.iter()
                                    .map(|s| Self::terrain_sector(config, terrain, areas, s, cache))
                                    .collect::<Vec<_>>(),
                            ));
                        }
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        parts.sort_by_key(|(at, _)| *at);
        parts.into_iter().flat_map(|(_, v)| v).collect()
    }

    /// A new snapshot with the fibre and data-centre trees rebuilt.
    pub fn with_layers(&self, fibre: &[FibreInput], data_centres: &[(i64, f64, f64)]) -> Self {
        let mut next = self.clone();
        next.fibre = Arc::new(fibre_tree(&self.frame, fibre));
        next.fibre_routes = Arc::new(fibre.to_vec());
        next.data_centres = Arc::new(data_centre_tree(&self.frame, data_centres));
        next.version = self.version + 1;
        next
    }

    /// A new snapshot in which the sectors of `tower_id` are replaced by
    /// `sectors` (empty to remove the tower). Only the trees of the affected
    /// (technology, operator) pairs are copied.
    ///
    /// # Errors
    /// [`IndexError::OutsideFrame`] when a sector lies beyond the frame's
    /// extent (rebuild instead), or [`IndexError::TooManyOperators`].
    pub fn with_tower(&self, tower_id: i64, sectors: &[SectorInput]) -> Result<Self, IndexError> {
        self.with_towers(&[(tower_id, sectors)])
    }

    /// A new snapshot in which the sectors of each tower of `towers` are
    /// replaced by its sectors (empty to remove the tower), as
    /// [`with_tower`](Self::with_tower) one after the other would, but
    /// copying each affected (technology, operator) tree once for the whole
    /// batch instead of once per tower.
    ///
    /// # Errors
    /// As [`with_tower`](Self::with_tower); nothing is changed then.
    pub fn with_towers(&self, towers: &[(i64, &[SectorInput])]) -> Result<Self, IndexError> {
        let mut next = self.clone();
        let mut operators = (*self.operators).clone();
        // The old and new envelopes per changed tree, for its grid.
        let mut changed: BTreeMap<(Technology, u16), Vec<AABB<[f64; 2]>>> = BTreeMap::new();
        for (tower_id, sectors) in towers {
            let mut fresh = Vec::with_capacity(sectors.len());
            let held = self.tower_sectors(*tower_id);
            for s in *sectors {
                if !self.frame.contains_lat(s.lat) {
                    return Err(IndexError::OutsideFrame);
                }
                let op = op_index(&mut operators, &s.operator)?;
                let (range, source) = Self::sector_range(&self.config, &self.areas, s);
                // A sector whose transmitter and beam did not change keeps
                // its footprint (and its polygons) as they are.
                let kept = held
                    .iter()
                    .find(|c| c.sector_id == s.sector_id)
                    .and_then(|c| self.footprint_for(c, s));
                let ts = kept.or_else(|| {
                    Self::terrain_sector(&self.config, self.terrain.as_ref(), &self.areas, s, None)
                        .0
                });
                fresh.push(CoverSector::new(s, op, range, source, &self.frame, ts));
            }
            let by_tower = next.by_tower.shard_mut(*tower_id);
            if let Some(old) = by_tower.remove(tower_id) {
                for c in old {
                    if let Some(tree) = next.trees.get_mut(&(c.technology, c.op)) {
                        Arc::make_mut(tree).remove(&c);
                    }
                    changed
                        .entry((c.technology, c.op))
                        .or_default()
                        .push(c.envelope);
                }
            }
            for c in &fresh {
                changed
                    .entry((c.technology, c.op))
                    .or_default()
                    .push(c.envelope);
                let tree = next
                    .trees
                    .entry((c.technology, c.op))
                    .or_insert_with(|| Arc::new(RTree::new()));
                Arc::make_mut(tree).insert(c.clone());
            }
            if !fresh.is_empty() {
                next.by_tower.shard_mut(*tower_id).insert(*tower_id, fresh);
            }
        }
        // A made grid is patched where the changed sectors were or are; an
        // unmade one stays for `warm_settle_grids`.
        for (key, envelopes) in changed {
            let built = self.grids.get(&key).and_then(|g| g.get());
            let fresh = match (built, next.trees.get(&key)) {
                (Some(grid), Some(tree)) => {
                    OnceLock::from(grid.patched(tree, &self.frame, &envelopes))
                }
                _ => OnceLock::new(),
            };
            next.grids.insert(key, Arc::new(fresh));
        }
        next.operators = Arc::new(operators);
        next.version = self.version + 1;
        Ok(next)
    }

    /// True when the index already holds exactly `sectors` for tower
    /// `tower_id` (as [`with_tower`](Self::with_tower) would index them):
    /// patching it again would change nothing.
    pub fn holds_tower_as(&self, tower_id: i64, sectors: &[SectorInput]) -> bool {
        let held = self.tower_sectors(tower_id);
        held.len() == sectors.len()
            && held.iter().zip(sectors).all(|(c, s)| {
                let Some(op) = self.operators.iter().position(|o| *o == s.operator) else {
                    return false;
                };
                if !self.frame.contains_lat(s.lat) {
                    return false;
                }
                let (range, source) = Self::sector_range(&self.config, &self.areas, s);
                let ts = match self.footprint_for(c, s) {
                    Some(t) => Some(t),
                    // A modelled sector over terrain without a footprint
                    // for this transmitter and beam is not held as it is.
                    None if s.range_m.is_none() && self.terrain.is_some() => return false,
                    None => None,
                };
                *c == CoverSector::new(s, op as u16, range, source, &self.frame, ts)
            })
    }

    /// The footprint `held` has, if it was computed for what `s` asks: a
    /// modelled sector with the same transmitter and beam ([`input_key`]).
    fn footprint_for(&self, held: &CoverSector, s: &SectorInput) -> Option<Arc<TerrainSector>> {
        let t = held.terrain.as_ref()?;
        let tx = Self::transmitter(&self.config, &self.areas, s);
        (s.range_m.is_none() && t.input_key == input_key(&tx, s.azimuth_deg, s.beamwidth_deg))
            .then(|| t.clone())
    }

    /// The terrain-aware footprints of tower `tower_id`'s sectors, as rows
    /// to persist.
    pub fn tower_footprints(&self, tower_id: i64) -> Vec<FootprintRow> {
        self.tower_sectors(tower_id)
            .iter()
            .filter_map(|c| {
                let t = c.terrain.as_ref()?;
                Some(FootprintRow {
                    sector_id: c.sector_id,
                    input_key: t.input_key,
                    footprint: t.footprint.encode(),
                })
            })
            .collect()
    }

    /// The model key of the terrain and model the footprints are computed
    /// with (`None`: flat model).
    pub fn model_key(&self) -> Option<[u8; 32]> {
        self.terrain.as_ref().map(|t| t.model_key)
    }

    /// What the terrain-aware footprints hold: their number, radials and
    /// bytes.
    pub fn footprint_stats(&self) -> FootprintStats {
        let mut st = FootprintStats::default();
        for tree in self.trees.values() {
            for c in tree.iter() {
                if let Some(t) = &c.terrain {
                    st.footprints += 1;
                    st.radials += t.footprint.radials;
                    st.bytes += t.footprint.approx_bytes();
                }
            }
        }
        st
    }

    /// Number of indexed sectors.
    pub fn sector_count(&self) -> usize {
        self.trees.values().map(|t| t.size()).sum()
    }

    /// Operator index of `id`, if it has indexed sectors.
    pub fn operator_index(&self, id: &str) -> Option<u16> {
        self.operators
            .iter()
            .position(|o| o == id)
            .map(|i| i as u16)
    }

    fn selected_trees(
        &self,
        technology: Option<Technology>,
        op: Option<u16>,
    ) -> impl Iterator<Item = (&(Technology, u16), &Arc<RTree<CoverSector>>)> {
        self.trees.iter().filter(move |((t, o), _)| {
            technology.is_none_or(|x| x == *t) && op.is_none_or(|x| x == *o)
        })
    }

    /// Every sector covering `(lon, lat)`, optionally of one technology and
    /// operator, ordered by distance.
    pub fn covering(
        &self,
        lon: f64,
        lat: f64,
        technology: Option<Technology>,
        op: Option<u16>,
    ) -> Vec<Hit<'_>> {
        let p = self.frame.fwd(lon, lat);
        let mut hits: Vec<Hit<'_>> = self
            .selected_trees(technology, op)
            .flat_map(|(_, tree)| tree.locate_in_envelope_intersecting(AABB::from_point(p)))
            .filter_map(|s| {
                s.covers(lon, lat).map(|(d, b)| Hit {
                    sector: s,
                    distance_m: d,
                    bearing_deg: b,
                })
            })
            .collect();
        hits.sort_by(|a, b| {
            a.distance_m
                .total_cmp(&b.distance_m)
                .then(a.sector.sector_id.cmp(&b.sector.sector_id))
        });
        hits
    }

    /// Bitmask of operators (bit = operator index) with a sector of
    /// `technology` covering `(lon, lat)`.
    pub fn operators_covering(&self, lon: f64, lat: f64, technology: Option<Technology>) -> u128 {
        let p = AABB::from_point(self.frame.fwd(lon, lat));
        let mut mask = 0u128;
        for ((_, op), tree) in self.selected_trees(technology, None) {
            let bit = 1u128 << op;
            if mask & bit == 0
                && tree
                    .locate_in_envelope_intersecting(p)
                    .any(|s| s.covers(lon, lat).is_some())
            {
                mask |= bit;
            }
        }
        mask
    }

    /// The settle grid of tree `key` if it is made.
    fn built_settle_grid(&self, key: &(Technology, u16)) -> Option<&SettleGrid> {
        self.grids.get(key)?.get()
    }

    /// True when terrain is on and some tree has no settle grid yet.
    pub fn lacks_settle_grids(&self) -> bool {
        self.terrain.is_some() && self.grids.values().any(|g| g.get().is_none())
    }

    /// Makes the settle grids of every tree not made yet, on up to
    /// `threads` threads (one tree per thread at a time); nothing without
    /// terrain. Batches use the grids made and decide the other trees'
    /// points from the R-trees and footprints; a write patches the made
    /// grids of the trees it changes and leaves new trees to be made here.
    pub fn warm_settle_grids(&self, threads: usize) {
        self.warm_settle_grids_until(threads, &|| false);
    }

    /// [`warm_settle_grids`](Self::warm_settle_grids) until `stop` says
    /// so (asked every 64 sectors); true when every grid is made.
    pub fn warm_settle_grids_until(
        &self,
        threads: usize,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> bool {
        if self.terrain.is_none() {
            return true;
        }
        let todo: Vec<(&TreeKey, &Arc<OnceLock<SettleGrid>>)> = self
            .grids
            .iter()
            .filter(|(_, g)| g.get().is_none())
            .collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let run = || {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((key, lock)) = todo.get(i) else {
                    break;
                };
                let Some(tree) = self.trees.get(key) else {
                    continue;
                };
                if let Some(grid) = SettleGrid::build_until(tree, &self.frame, stop) {
                    // Another thread may have made it meanwhile: the same grid.
                    let _ = lock.set(grid);
                }
            }
        };
        let threads = threads.clamp(1, todo.len().max(1));
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(run);
            }
            run();
        });
        !self.lacks_settle_grids()
    }

    /// The sectors a grid tile names (see [`settle::Undecided`]), with the
    /// cells they leave undecided, nearest first from `key`'s tile centre:
    /// the first asked is the most likely to cover. The grid is patched in
    /// the same write as the towers, so every one is found.
    fn resolve_undecided(
        &self,
        undecided: &[settle::Undecided],
        key: (i64, i64),
    ) -> Vec<(&CoverSector, u64)> {
        let env = settle::tile_envelope(key);
        let [cx, cy] = self.frame.inv(rstar::Envelope::center(&env));
        let far2 = |s: &CoverSector| {
            let dx = (s.lon - cx) * s.cos_lat;
            let dy = s.lat - cy;
            dx * dx + dy * dy
        };
        let mut out: Vec<(&CoverSector, u64)> = undecided
            .iter()
            .filter_map(|u| {
                let s = self
                    .tower_sectors(u.tower_id)
                    .iter()
                    .find(|c| c.sector_id == u.sector_id);
                debug_assert!(s.is_some(), "grid names sector {} not held", u.sector_id);
                s.map(|s| (s, u.cells))
            })
            .collect();
        out.sort_by(|a, b| far2(a.0).total_cmp(&far2(b.0)));
        out
    }

    /// Tiles and bytes of the settle grids made so far.
    pub fn settle_grid_stats(&self) -> (usize, usize) {
        self.grids
            .values()
            .filter_map(|g| g.get())
            .fold((0, 0), |(t, b), g| (t + g.tiles(), b + g.approx_bytes()))
    }

    /// [`Self::operators_covering`] for many points (lon/lat), answered tile
    /// by tile (400 m, [`settle::TILE_M`]). With terrain, each tree's
    /// [settle grid](settle) answers first, once made
    /// ([`Self::warm_settle_grids`]): a point whose cell one sector covers
    /// entirely, or no sector covers at all, is settled for that tree
    /// without a footprint read; a point in a mixed cell asks the sectors
    /// the grid lists for the cell, nearest first. Trees without a grid ask
    /// their R-tree once per tile for the sectors whose envelopes reach
    /// it, then settle the tile's points box by box and point by point
    /// against that short list (`settle_points`). Uses up to `threads`
    /// threads.
    pub fn operators_covering_batch(
        &self,
        points: &[[f64; 2]],
        technology: Option<Technology>,
        threads: usize,
    ) -> Vec<u128> {
        // A tile's points split into quadrants this many times at most.
        const SPLIT_DEPTH: u32 = 2;
        let mut out = vec![0u128; points.len()];
        // Group point indices by tile.
        // Point indices with their tile, cell and position, grouped by
        // tile: the tiles then read their points in order (reading them by
        // index was most of the batch's time, in cache misses).
        let mut keyed: Vec<Keyed> = points
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let (tile, bit) = settle::locate(self.frame.fwd(p[0], p[1]));
                Keyed {
                    tile,
                    bit,
                    index: i as u32,
                    p,
                }
            })
            .collect();
        keyed.sort_unstable_by_key(|k| k.tile);
        let mut tiles: Vec<&[Keyed]> = Vec::new();
        let mut start = 0;
        for i in 1..=keyed.len() {
            if i == keyed.len() || keyed[i].tile != keyed[start].tile {
                tiles.push(&keyed[start..i]);
                start = i;
            }
        }
        let threads = threads.max(1);
        // (operator, tree, its grid when made).
        let trees: Vec<(u16, &RTree<CoverSector>, Option<&SettleGrid>)> = self
            .selected_trees(technology, None)
            .map(|(key, t)| (key.1, t.as_ref(), self.built_settle_grid(key)))
            .collect();
        let gridded = trees.iter().any(|(_, _, g)| g.is_some());
        let work = |tiles: &[&[Keyed]]| -> Vec<(u32, u128)> {
            let mut res = Vec::new();
            let mut candidates: Vec<(u16, Vec<&CoverSector>)> = Vec::new();
            // Per tree: its grid's tile here, and the tile's undecided
            // sectors once a point needs them.
            let mut here: Vec<Option<&settle::Tile>> = Vec::with_capacity(trees.len());
            let mut resolved: Vec<Option<Vec<(&CoverSector, u64)>>> = Vec::new();
            let mut all: Vec<u32> = Vec::new();
            let mut local: Vec<[f64; 2]> = Vec::new();
            let mut decided: Vec<(u32, u128)> = Vec::new();
            for tile in tiles {
                let key = tile[0].tile;
                if gridded {
                    here.clear();
                    here.extend(trees.iter().map(|(_, _, g)| g.and_then(|g| g.tile(key))));
                    resolved.clear();
                    resolved.resize_with(trees.len(), || None);
                    for point in tile.iter() {
                        let bit = point.bit;
                        let (mut covered, mut mixed) = (0u128, 0u128);
                        for ((op, _, _), t) in trees.iter().zip(&here) {
                            match t.map_or(CellState::Empty, |t| t.masks.state(bit)) {
                                CellState::Covered => covered |= 1u128 << op,
                                CellState::Mixed => mixed |= 1u128 << op,
                                CellState::Empty => {}
                            }
                        }
                        mixed &= !covered;
                        if mixed != 0 {
                            let [lon, lat] = point.p;
                            for (j, ((op, _, _), t)) in trees.iter().zip(&here).enumerate() {
                                let op_bit = 1u128 << op;
                                let Some(t) = t.filter(|_| mixed & op_bit & !covered != 0) else {
                                    continue;
                                };
                                if t.masks.state(bit) != CellState::Mixed {
                                    continue;
                                }
                                let list = resolved[j].get_or_insert_with(|| {
                                    self.resolve_undecided(&t.undecided, key)
                                });
                                if list.iter().any(|(s, cells)| {
                                    cells >> bit & 1 == 1 && s.covers(lon, lat).is_some()
                                }) {
                                    covered |= op_bit;
                                }
                            }
                        }
                        res.push((point.index, covered));
                    }
                }
                // Trees without a grid: their R-tree's sectors for the
                // tile, settled box by box, then point by point.
                candidates.clear();
                for (op, tree, grid) in &trees {
                    if grid.is_some() {
                        continue;
                    }
                    let list: Vec<&CoverSector> = tree
                        .locate_in_envelope_intersecting(settle::tile_envelope(key))
                        .collect();
                    if list.is_empty() {
                        continue;
                    }
                    match candidates.iter_mut().find(|(o, _)| o == op) {
                        Some((_, l)) => l.extend(list),
                        None => candidates.push((*op, list)),
                    }
                }
                if candidates.is_empty() {
                    continue;
                }
                local.clear();
                local.extend(tile.iter().map(|k| k.p));
                all.clear();
                all.extend(0..tile.len() as u32);
                decided.clear();
                settle_points(&local, &mut all, &candidates, 0, SPLIT_DEPTH, &mut decided);
                res.extend(decided.iter().map(|&(k, m)| (tile[k as usize].index, m)));
            }
            res
        };
        let results: Vec<Vec<(u32, u128)>> = if threads == 1 || tiles.len() < 2 {
            vec![work(&tiles)]
        } else {
            let chunk = tiles.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = tiles
                    .chunks(chunk)
                    .map(|c| scope.spawn(move || work(c)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap_or_default())
                    .collect()
            })
        };
        // A point may have two entries: the grid's and the points' answer.
        for part in results {
            for (i, m) in part {
                out[i as usize] |= m;
            }
        }
        out
    }

    /// Sectors whose wedge bounding box meets the lon/lat box, filtered.
    pub fn sectors_in_bbox(
        &self,
        bbox: Option<[f64; 4]>,
        technology: Option<Technology>,
        op: Option<u16>,
    ) -> Vec<&CoverSector> {
        let mut out: Vec<&CoverSector> = match bbox {
            Some([w, s, e, n]) => {
                let env = AABB::from_corners(self.frame.fwd(w, s), self.frame.fwd(e, n));
                self.selected_trees(technology, op)
                    .flat_map(|(_, t)| t.locate_in_envelope_intersecting(env))
                    .collect()
            }
            None => self
                .selected_trees(technology, op)
                .flat_map(|(_, t)| t.iter())
                .collect(),
        };
        out.sort_by_key(|s| s.sector_id);
        out
    }

    /// The range (metres) and its source for a stored sector: the indexed
    /// value when the tower is operational, else computed the same way.
    pub fn range_of(
        &self,
        tower: &crate::domain::tower::Tower,
        sector: &crate::domain::tower::Sector,
    ) -> (f64, RangeSource) {
        if let Some(c) = self
            .tower_sectors(tower.id.get())
            .iter()
            .find(|c| c.sector_id == sector.id.get())
        {
            return (c.range_m, c.range_source);
        }
        self.model_range(tower, sector)
    }

    /// The range of `sector` on `tower` computed from its own parameters
    /// and position with this index's configuration and clutter areas (not
    /// looked up): for a tower as it was at a past instant, whose sectors
    /// may differ from the indexed ones.
    pub fn model_range(
        &self,
        tower: &crate::domain::tower::Tower,
        sector: &crate::domain::tower::Sector,
    ) -> (f64, RangeSource) {
        Self::model_range_with(&self.config, &self.areas, tower, sector)
    }

    /// [`CoverageIndex::model_range`] with `config` and clutter `areas`
    /// given (the read model renders towers with the index's model without
    /// holding an index).
    pub fn model_range_with(
        config: &CoverageConfig,
        areas: &[Area],
        tower: &crate::domain::tower::Tower,
        sector: &crate::domain::tower::Sector,
    ) -> (f64, RangeSource) {
        let input = SectorInput {
            sector_id: sector.id.get(),
            tower_id: tower.id.get(),
            operator: sector.operator.clone(),
            technology: sector.technology,
            lon: tower.lon,
            lat: tower.lat,
            azimuth_deg: sector.azimuth_deg,
            beamwidth_deg: sector.beamwidth_deg,
            height_m: sector.height_m,
            eirp_dbm: sector.eirp_dbm,
            frequency_mhz: sector.frequency_mhz,
            range_m: sector.range_m,
        };
        Self::sector_range(config, areas, &input)
    }

    /// Operators (indices) with at least one sector of `technology`.
    pub fn operators_with(&self, technology: Option<Technology>) -> Vec<u16> {
        let mut ops: Vec<u16> = self
            .selected_trees(technology, None)
            .filter(|(_, t)| t.size() > 0)
            .map(|((_, o), _)| *o)
            .collect();
        ops.sort_unstable();
        ops.dedup();
        ops
    }

    /// Every indexed sector of a tower.
    pub fn tower_sectors(&self, tower_id: i64) -> &[CoverSector] {
        self.by_tower.get(&tower_id).map_or(&[], Vec::as_slice)
    }

    /// All indexed sectors, for checks and exports.
    pub fn all_sectors(&self) -> impl Iterator<Item = &CoverSector> {
        self.trees.values().flat_map(|t| t.iter())
    }

    /// Number of towers with at least one indexed sector.
    pub fn tower_count(&self) -> usize {
        self.by_tower.len()
    }

    /// A digest of what the index holds, independent of how it was built
    /// (bulk load or patches) and of its version: two indexes with equal
    /// fingerprints answer every query alike.
    pub fn fingerprint(&self) -> IndexFingerprint {
        let mut sectors: Vec<&CoverSector> = self.by_tower.values().flatten().collect();
        sectors.sort_unstable_by_key(|s| (s.tower_id, s.sector_id));
        let mut h = Fnv64::default();
        for s in &sectors {
            h.line(format_args!(
                "s {} {} {} {} {:.3} {:.6} {:.6}",
                s.tower_id,
                s.sector_id,
                self.operators[s.op as usize],
                s.technology.as_str(),
                s.range_m,
                s.azimuth_deg,
                s.beamwidth_deg
            ));
        }
        let mut fibre: Vec<i64> = self.fibre_routes.iter().map(|f| f.id).collect();
        fibre.sort_unstable();
        for id in &fibre {
            h.line(format_args!("f {id}"));
        }
        let mut dcs: Vec<i64> = self.data_centres.iter().map(|d| d.data).collect();
        dcs.sort_unstable();
        for id in &dcs {
            h.line(format_args!("d {id}"));
        }
        let mut areas: Vec<&str> = self.areas.iter().map(|a| a.code.as_str()).collect();
        areas.sort_unstable();
        for code in &areas {
            h.line(format_args!("a {code}"));
        }
        IndexFingerprint {
            towers: self.tower_count(),
            sectors: sectors.len(),
            fibre_routes: fibre.len(),
            data_centres: dcs.len(),
            areas: areas.len(),
            hash: format!("{:016x}", h.0),
        }
    }
}

/// A digest of an index's content, to check that two indexes (a running
/// replica's and one loaded fresh from the database) hold the same data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexFingerprint {
    /// Towers with at least one indexed (operational) sector.
    pub towers: usize,
    /// Indexed sectors.
    pub sectors: usize,
    /// Operational fibre routes.
    pub fibre_routes: usize,
    /// Operational data centres.
    pub data_centres: usize,
    /// Analysis areas (districts).
    pub areas: usize,
    /// 64-bit FNV-1a hash, in hex, of every sector's (tower id, sector id,
    /// operator, technology, range to the millimetre, azimuth, beamwidth) in
    /// id order, then the fibre route ids, data centre ids and area codes.
    pub hash: String,
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike `std`'s
/// `DefaultHasher`), which a fingerprint compared between processes needs.
struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        let text = args.to_string();
        for b in text.bytes().chain(std::iter::once(b'\n')) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::region::CITY_CORE_BBOX;
    use geo::{Destination, Geodesic};

    struct Rng(u64);
    impl Rng {
        fn f(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        /// A uniform lon/lat in the city's core grown by `margin_deg`.
        fn in_core(&mut self, margin_deg: f64) -> (f64, f64) {
            let [w, s, e, n] = CITY_CORE_BBOX;
            let lon = w - margin_deg + self.f() * (e - w + 2.0 * margin_deg);
            let lat = s - margin_deg + self.f() * (n - s + 2.0 * margin_deg);
            (lon, lat)
        }
    }

    fn random_sectors(rng: &mut Rng, n: usize) -> Vec<SectorInput> {
        let ops = ["viettel", "vnpt", "mobifone"];
        (0..n)
            .map(|i| {
                let (lon, lat) = rng.in_core(0.0);
                SectorInput {
                    sector_id: i as i64 + 1,
                    tower_id: i as i64 / 3 + 1,
                    operator: ops[i % 3].to_owned(),
                    technology: if i % 4 == 0 {
                        Technology::G5
                    } else {
                        Technology::G4
                    },
                    lon,
                    lat,
                    azimuth_deg: rng.f() * 360.0,
                    beamwidth_deg: if i % 7 == 0 {
                        360.0
                    } else {
                        30.0 + rng.f() * 90.0
                    },
                    height_m: 30.0,
                    eirp_dbm: 60.0,
                    frequency_mhz: 1842.5,
                    range_m: Some(200.0 + rng.f() * 6_000.0),
                }
            })
            .collect()
    }

    fn index(sectors: &[SectorInput]) -> CoverageIndex {
        CoverageIndex::build(
            Arc::new(CoverageConfig::default()),
            vec![],
            sectors,
            &[],
            &[],
            1,
        )
        .unwrap()
    }

    #[test]
    fn point_queries_agree_with_a_brute_force_geodesic_scan() {
        let mut rng = Rng(0x00c0_ffee_1234_5678);
        let sectors = random_sectors(&mut rng, 600);
        let idx = index(&sectors);
        covering_matches_a_scan(&idx, &mut rng, 0.02);
    }

    /// Asserts that `covering` (through the R-trees) finds exactly the
    /// sectors whose `covers_exact` holds, at 3,000 random points of the
    /// core grown by `margin_deg`; returns the number of hits.
    fn covering_matches_a_scan(idx: &CoverageIndex, rng: &mut Rng, margin_deg: f64) -> usize {
        let all: Vec<&CoverSector> = idx.all_sectors().collect();
        let mut hits = 0;
        for _ in 0..3_000 {
            let (lon, lat) = rng.in_core(margin_deg);
            let mut want: Vec<i64> = all
                .iter()
                .filter(|s| s.covers_exact(lon, lat).is_some())
                .map(|s| s.sector_id)
                .collect();
            want.sort_unstable();
            let mut got: Vec<i64> = idx
                .covering(lon, lat, None, None)
                .iter()
                .map(|h| h.sector.sector_id)
                .collect();
            got.sort_unstable();
            hits += got.len();
            assert_eq!(got, want, "at {lon},{lat}");
        }
        hits
    }

    /// Sectors with modelled ranges over the shipped DEM and land use.
    fn terrain_index(rng: &mut Rng, n: usize) -> CoverageIndex {
        let mut sectors = random_sectors(rng, n);
        for s in &mut sectors {
            s.range_m = None;
        }
        CoverageIndex::build(
            Arc::new(CoverageConfig::shipped()),
            vec![],
            &sectors,
            &[],
            &[],
            2,
        )
        .unwrap()
    }

    #[test]
    fn a_box_settled_by_the_footprint_holds_for_every_point_in_it() {
        let mut rng = Rng(0x0b0c_5e77_1ed0_0001);
        let idx = terrain_index(&mut rng, 120);
        box_answers_hold_for_random_points_in_them(&idx, &mut rng);
    }

    #[test]
    fn a_box_settled_by_a_wedge_holds_for_every_point_in_it() {
        let mut rng = Rng(0x0b0c_5e77_1ed0_0002);
        let idx = index(&random_sectors(&mut rng, 120));
        box_answers_hold_for_random_points_in_them(&idx, &mut rng);
    }

    /// Asserts that every answer of `covers_box` over 1,000 random boxes
    /// holds for 12 random points in the box, and that each kind of answer
    /// is given.
    fn box_answers_hold_for_random_points_in_them(idx: &CoverageIndex, rng: &mut Rng) {
        let (mut settled, mut covered, mut left) = (0, 0, 0);
        for _ in 0..1_000 {
            let (lon, lat) = rng.in_core(0.0);
            let side = 0.0002 + rng.f() * 0.002;
            let bbox = [lon, lat, lon + side, lat + side];
            for s in idx.all_sectors() {
                let Some(v) = s.covers_box(bbox) else {
                    left += 1;
                    continue;
                };
                settled += 1;
                covered += usize::from(v);
                for _ in 0..12 {
                    let (x, y) = (lon + rng.f() * side, lat + rng.f() * side);
                    assert_eq!(
                        s.covers(x, y).is_some(),
                        v,
                        "sector {} at {x},{y} in {bbox:?}",
                        s.sector_id
                    );
                }
            }
        }
        assert!(
            covered > 30 && settled - covered > 100 && left > 100,
            "{settled} settled, {covered} of them covered, {left} left"
        );
    }

    #[test]
    fn footprint_envelopes_hold_every_point_their_sectors_cover() {
        let mut rng = Rng(0x0e2e_1095_f007_0016);
        let idx = terrain_index(&mut rng, 150);
        // A footprint sector's `covers_exact` is its `covers`.
        let hits = covering_matches_a_scan(&idx, &mut rng, 0.01);
        assert!(hits > 500, "{hits} hits");
    }

    #[test]
    fn batch_answers_over_terrain_equal_single_point_answers() {
        let mut rng = Rng(0x5eed_7e22_a1a0_0016);
        let idx = terrain_index(&mut rng, 150);
        let pts: Vec<[f64; 2]> = (0..8_000)
            .map(|_| {
                let (lon, lat) = rng.in_core(0.0);
                [lon, lat]
            })
            .collect();
        // Without the settle grids, then with them.
        for warm in [false, true] {
            if warm {
                idx.warm_settle_grids(2);
            }
            for tech in [None, Some(Technology::G4)] {
                let batch = idx.operators_covering_batch(&pts, tech, 2);
                for (p, m) in pts.iter().zip(&batch) {
                    assert_eq!(*m, idx.operators_covering(p[0], p[1], tech), "at {p:?}");
                }
                assert!(batch.iter().any(|m| *m != 0) && batch.contains(&0));
            }
        }
    }

    #[test]
    fn a_settle_grid_cell_holds_for_every_point_in_it() {
        let mut rng = Rng(0x5e77_1e00_9e1d_0016);
        // Footprints, and a quarter of wedges (explicit ranges).
        let mut sectors = random_sectors(&mut rng, 160);
        for (i, s) in sectors.iter_mut().enumerate() {
            if i % 4 != 0 {
                s.range_m = None;
            }
        }
        let idx = CoverageIndex::build(
            Arc::new(CoverageConfig::shipped()),
            vec![],
            &sectors,
            &[],
            &[],
            2,
        )
        .unwrap();
        idx.warm_settle_grids(2);
        let mut seen = [0usize; 3];
        for _ in 0..4_000 {
            let (lon, lat) = rng.in_core(0.0);
            let (tile, bit) = settle::locate(idx.frame.fwd(lon, lat));
            for (key, tree) in &idx.trees {
                let state = idx
                    .built_settle_grid(key)
                    .unwrap()
                    .tile(tile)
                    .map_or(CellState::Empty, |t| t.masks.state(bit));
                let covering = tree.iter().filter(|s| s.covers(lon, lat).is_some()).count();
                match state {
                    CellState::Covered => assert!(covering > 0, "{key:?} at {lon},{lat}"),
                    CellState::Empty => assert_eq!(covering, 0, "{key:?} at {lon},{lat}"),
                    CellState::Mixed => {}
                }
                seen[state as usize] += 1;
            }
        }
        let [covered, empty, mixed] = seen;
        assert!(
            covered > 300 && empty > 1_000 && mixed > 100,
            "{covered} covered, {empty} empty, {mixed} mixed"
        );
    }

    #[test]
    fn a_write_patches_a_settle_grid_into_the_grid_a_fresh_build_makes() {
        let mut rng = Rng(0x9a7c_4e00_0000_0016);
        let idx = terrain_index(&mut rng, 120);
        idx.warm_settle_grids(2);
        // One tower moved 300 m east, one removed, one added.
        let moved_id = idx.all_sectors().next().unwrap().tower_id;
        let mut moved: Vec<SectorInput> = random_sectors(&mut rng, 3);
        let (lon, lat) = {
            let s = &idx.tower_sectors(moved_id)[0];
            (s.lon + 0.003, s.lat)
        };
        for s in &mut moved {
            (s.tower_id, s.lon, s.lat, s.range_m) = (moved_id, lon, lat, None);
            s.sector_id += 80_000;
        }
        let removed_id = idx.all_sectors().last().unwrap().tower_id;
        let mut added: Vec<SectorInput> = random_sectors(&mut rng, 2);
        for s in &mut added {
            (s.tower_id, s.range_m) = (90_001, None);
            s.sector_id += 90_000;
        }
        let next = idx
            .with_towers(&[(moved_id, &moved), (removed_id, &[]), (90_001, &added)])
            .unwrap();
        let mut patched = 0;
        for (key, tree) in &next.trees {
            if let Some(grid) = next.built_settle_grid(key) {
                assert_eq!(*grid, SettleGrid::build(tree, &next.frame), "{key:?}");
                patched += usize::from(!Arc::ptr_eq(&idx.grids[key], &next.grids[key]));
            }
        }
        assert!(patched >= 2, "{patched} grids patched");
    }

    #[test]
    fn batch_answers_equal_single_point_answers() {
        let mut rng = Rng(0x5eed_0000_0000_0042);
        let sectors = random_sectors(&mut rng, 600);
        let idx = index(&sectors);
        let pts: Vec<[f64; 2]> = (0..2_000)
            .map(|_| {
                let (lon, lat) = rng.in_core(0.02);
                [lon, lat]
            })
            .collect();
        for tech in [None, Some(Technology::G4), Some(Technology::G5)] {
            let batch = idx.operators_covering_batch(&pts, tech, 2);
            for (p, m) in pts.iter().zip(&batch) {
                let mut brute = 0u128;
                for s in idx
                    .all_sectors()
                    .filter(|s| tech.is_none_or(|t| t == s.technology))
                {
                    if s.covers_exact(p[0], p[1]).is_some() {
                        brute |= 1u128 << s.op;
                    }
                }
                assert_eq!(*m, brute, "at {p:?}");
                assert_eq!(idx.operators_covering(p[0], p[1], tech), brute);
            }
        }
    }

    #[test]
    fn patching_a_tower_gives_the_same_index_as_rebuilding() {
        let mut rng = Rng(77);
        let mut sectors = random_sectors(&mut rng, 300);
        let idx = index(&sectors);
        // Move tower 5 and drop tower 9.
        let moved: Vec<SectorInput> = sectors
            .iter()
            .filter(|s| s.tower_id == 5)
            .map(|s| SectorInput {
                lon: s.lon + 0.01,
                ..s.clone()
            })
            .collect();
        let patched = idx
            .with_tower(5, &moved)
            .unwrap()
            .with_tower(9, &[])
            .unwrap();
        sectors.retain(|s| s.tower_id != 5 && s.tower_id != 9);
        sectors.extend(moved);
        let rebuilt = index(&sectors);
        assert_eq!(patched.sector_count(), rebuilt.sector_count());
        for _ in 0..2_000 {
            let (lon, lat) = rng.in_core(0.02);
            let ids = |i: &CoverageIndex| {
                let mut v: Vec<i64> = i
                    .covering(lon, lat, None, None)
                    .iter()
                    .map(|h| h.sector.sector_id)
                    .collect();
                v.sort_unstable();
                v
            };
            assert_eq!(ids(&patched), ids(&rebuilt));
        }
        assert!(patched.version > idx.version);
        assert_eq!(idx.sector_count(), 300, "the old snapshot is untouched");
        assert_eq!(patched.fingerprint(), rebuilt.fingerprint());
        assert_ne!(patched.fingerprint(), idx.fingerprint());
    }

    #[test]
    fn a_fingerprint_changes_when_one_range_changes_by_a_millimetre() {
        let mut rng = Rng(5);
        let mut sectors = random_sectors(&mut rng, 30);
        let before = index(&sectors).fingerprint();
        assert_eq!(before.sectors, 30);
        assert_eq!(before.towers, 10);
        sectors[7].range_m = sectors[7].range_m.map(|r| r + 0.001);
        let after = index(&sectors).fingerprint();
        assert_eq!((after.towers, after.sectors), (10, 30));
        assert_ne!(before.hash, after.hash);
    }

    #[test]
    fn a_footprint_contains_what_the_sector_covers() {
        let mut rng = Rng(99);
        let sectors = random_sectors(&mut rng, 50);
        let idx = index(&sectors);
        for s in idx.all_sectors() {
            let poly = s.footprint(1.0);
            for _ in 0..50 {
                let b = s.azimuth_deg + (rng.f() - 0.5) * s.beamwidth_deg * 0.9;
                let d = rng.f() * s.range_m * 0.95;
                let p = Geodesic.destination(Point::new(s.lon, s.lat), b.rem_euclid(360.0), d);
                assert!(s.covers(p.x(), p.y()).is_some());
                if d > 1.0 {
                    assert!(
                        poly.contains(&p),
                        "sector {} bearing {b} distance {d}",
                        s.sector_id
                    );
                }
            }
        }
    }
}
