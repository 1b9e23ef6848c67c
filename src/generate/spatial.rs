//! Geometry helpers: prepared areas for fast point sampling, the local metric
//! frame in `Coord`s, a spatial hash grid for spacing checks, and polyline tools.

use std::collections::HashMap;

use geo::orient::{Direction, Orient};
use geo::{Area as _, BoundingRect, Contains, Coord, GeodesicArea, Point, Polygon, Rect};
use rand::Rng;

use super::{Area, GenerateError};
use crate::spatial::frame::LocalFrame;

/// The generator's local metric frame: the crate's [`LocalFrame`]
/// (equirectangular, WGS84 scales at the centre latitude) centred on the
/// areas' bounding box, taking and giving `Coord`s. Good enough for
/// distances up to a few tens of kilometres (spacing checks and shaping
/// lines); lengths reported to users are measured geodesically.
#[derive(Debug, Clone, Copy)]
pub(super) struct LocalProjection(LocalFrame);

impl LocalProjection {
    /// Projection centred on the bounding box of all areas.
    pub(super) fn for_areas(areas: &[PreparedArea<'_>]) -> Self {
        let mut min = Coord {
            x: f64::INFINITY,
            y: f64::INFINITY,
        };
        let mut max = Coord {
            x: f64::NEG_INFINITY,
            y: f64::NEG_INFINITY,
        };
        for a in areas {
            min.x = min.x.min(a.bbox.min().x);
            min.y = min.y.min(a.bbox.min().y);
            max.x = max.x.max(a.bbox.max().x);
            max.y = max.y.max(a.bbox.max().y);
        }
        Self(LocalFrame::for_extent(min.x, min.y, max.x, max.y))
    }

    /// Metres per degree of longitude and of latitude.
    fn metres_per_degree(self) -> (f64, f64) {
        self.0.metres_per_degree()
    }

    /// Lon/lat to local metres (x east, y north).
    pub(super) fn to_m(self, c: Coord<f64>) -> Coord<f64> {
        let [x, y] = self.0.fwd(c.x, c.y);
        Coord { x, y }
    }

    /// Local metres to lon/lat.
    pub(super) fn to_lonlat(self, m: Coord<f64>) -> Coord<f64> {
        let [x, y] = self.0.inv([m.x, m.y]);
        Coord { x, y }
    }
}

/// A raster of the areas' union (cells of about 200 m), for quick "is this
/// on land?" tests while shaping fibre routes (the sea and the Đà Nẵng bay
/// lie outside every district).
pub(super) struct LandMask {
    min: Coord<f64>,
    cell: Coord<f64>,
    nx: usize,
    ny: usize,
    land: Vec<bool>,
}

impl LandMask {
    /// Target cell size, metres.
    const CELL_M: f64 = 200.0;
    /// Largest number of cells along either axis.
    const MAX_CELLS: usize = 1_000;

    /// Rasterises `areas` by scanlines (even-odd rule per polygon, so holes
    /// stay out).
    pub(super) fn new(areas: &[PreparedArea<'_>], proj: &LocalProjection) -> Self {
        let mut min = Coord {
            x: f64::INFINITY,
            y: f64::INFINITY,
        };
        let mut max = Coord {
            x: f64::NEG_INFINITY,
            y: f64::NEG_INFINITY,
        };
        for a in areas {
            min.x = min.x.min(a.bbox.min().x);
            min.y = min.y.min(a.bbox.min().y);
            max.x = max.x.max(a.bbox.max().x);
            max.y = max.y.max(a.bbox.max().y);
        }
        let (w, h) = (max.x - min.x, max.y - min.y);
        let (kx, ky) = proj.metres_per_degree();
        let cell = Coord {
            x: (Self::CELL_M / kx).max(w / Self::MAX_CELLS as f64),
            y: (Self::CELL_M / ky).max(h / Self::MAX_CELLS as f64),
        };
        let nx = ((w / cell.x).ceil() as usize).max(1);
        let ny = ((h / cell.y).ceil() as usize).max(1);
        let mut land = vec![false; nx * ny];
        let mut xs: Vec<f64> = Vec::new();
        for a in areas {
            for part in &a.parts {
                for j in 0..ny {
                    let y = min.y + (j as f64 + 0.5) * cell.y;
                    if y < part.bbox.min().y || y > part.bbox.max().y {
                        continue;
                    }
                    xs.clear();
                    let rings =
                        std::iter::once(part.polygon.exterior()).chain(part.polygon.interiors());
                    for ring in rings {
                        for s in ring.0.windows(2) {
                            let (p, q) = (s[0], s[1]);
                            if (p.y <= y) != (q.y <= y) {
                                xs.push(p.x + (y - p.y) / (q.y - p.y) * (q.x - p.x));
                            }
                        }
                    }
                    xs.sort_by(f64::total_cmp);
                    for pair in xs.chunks_exact(2) {
                        // Cells whose centre lies in [pair[0], pair[1]).
                        let first = ((pair[0] - min.x) / cell.x - 0.5).ceil().max(0.0) as usize;
                        let end = ((pair[1] - min.x) / cell.x - 0.5).ceil().max(0.0) as usize;
                        for i in first..end.min(nx) {
                            land[j * nx + i] = true;
                        }
                    }
                }
            }
        }
        Self {
            min,
            cell,
            nx,
            ny,
            land,
        }
    }

    /// True when `c` (lon/lat) is in a land cell.
    pub(super) fn is_land(&self, c: Coord<f64>) -> bool {
        let i = ((c.x - self.min.x) / self.cell.x).floor();
        let j = ((c.y - self.min.y) / self.cell.y).floor();
        if i < 0.0 || j < 0.0 || i >= self.nx as f64 || j >= self.ny as f64 {
            return false;
        }
        self.land[j as usize * self.nx + i as usize]
    }

    /// Length (metres) of the straight line `a`–`b` (local metres) that is
    /// not over land, sampled every 100 m or so.
    pub(super) fn water_m(&self, a: Coord<f64>, b: Coord<f64>, proj: &LocalProjection) -> f64 {
        let len = dist(a, b);
        let n = (len / 100.0).ceil().clamp(1.0, 2_000.0) as usize;
        let step = len / n as f64;
        (0..n)
            .filter(|&k| !self.is_land(proj.to_lonlat(lerp(a, b, (k as f64 + 0.5) / n as f64))))
            .count() as f64
            * step
    }
}

/// Euclidean distance between two points in metres.
pub(super) fn dist(a: Coord<f64>, b: Coord<f64>) -> f64 {
    (a.x - b.x).hypot(a.y - b.y)
}

struct Part<'a> {
    polygon: &'a Polygon<f64>,
    bbox: Rect<f64>,
}

/// An [`Area`] prepared for point-in-polygon tests and uniform sampling:
/// polygon parts with bounding boxes (a cheap prefilter) and area weights.
pub(super) struct PreparedArea<'a> {
    /// The input area.
    pub(super) area: &'a Area,
    /// Bounding box of the whole area.
    pub(super) bbox: Rect<f64>,
    /// Geodesic area, km².
    pub(super) area_km2: f64,
    parts: Vec<Part<'a>>,
    /// Planar (degree²) areas of the parts, used to choose a part to sample.
    part_weights: Vec<f64>,
}

impl<'a> PreparedArea<'a> {
    /// Prepares `area`.
    ///
    /// # Errors
    /// [`GenerateError::InvalidArea`] when the geometry is empty, has
    /// non-finite or out-of-range coordinates, or encloses no area.
    pub(super) fn new(area: &'a Area) -> Result<Self, GenerateError> {
        let invalid = |reason: &str| GenerateError::InvalidArea {
            code: area.code.clone(),
            reason: reason.to_owned(),
        };
        let coords_ok = area.geom.0.iter().all(|p| {
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .flat_map(|r| r.0.iter())
                .all(|c| {
                    c.x.is_finite()
                        && c.y.is_finite()
                        && (-180.0..=180.0).contains(&c.x)
                        && (-90.0..=90.0).contains(&c.y)
                })
        });
        if !coords_ok {
            return Err(invalid(
                "coordinates must be finite lon/lat (lon −180…180, lat −90…90)",
            ));
        }
        let mut parts = Vec::new();
        let mut part_weights = Vec::new();
        for polygon in &area.geom.0 {
            let w = polygon.unsigned_area();
            if let Some(bbox) = polygon.bounding_rect()
                && w > 0.0
            {
                parts.push(Part { polygon, bbox });
                part_weights.push(w);
            }
        }
        let Some(first) = parts.first() else {
            return Err(invalid("the geometry encloses no area"));
        };
        let mut bbox = first.bbox;
        for p in &parts[1..] {
            bbox = Rect::new(
                Coord {
                    x: bbox.min().x.min(p.bbox.min().x),
                    y: bbox.min().y.min(p.bbox.min().y),
                },
                Coord {
                    x: bbox.max().x.max(p.bbox.max().x),
                    y: bbox.max().y.max(p.bbox.max().y),
                },
            );
        }
        // Geodesic area needs counter-clockwise shells (a clockwise shell
        // would measure the rest of the globe).
        let area_km2 = parts
            .iter()
            .map(|p| {
                p.polygon
                    .orient(Direction::Default)
                    .geodesic_area_unsigned()
            })
            .sum::<f64>()
            / 1e6;
        Ok(Self {
            area,
            bbox,
            area_km2,
            parts,
            part_weights,
        })
    }

    /// True when `c` (lon/lat) lies strictly inside the area.
    pub(super) fn contains(&self, c: Coord<f64>) -> bool {
        if !in_rect(&self.bbox, c) {
            return false;
        }
        let p = Point(c);
        self.parts
            .iter()
            .any(|part| in_rect(&part.bbox, c) && part.polygon.contains(&p))
    }

    /// A uniformly distributed point inside the area (rejection sampling in
    /// the bounding box of a part chosen by area), or `None` after
    /// `max_tries` misses.
    pub(super) fn sample_uniform<R: Rng>(
        &self,
        rng: &mut R,
        max_tries: usize,
    ) -> Option<Coord<f64>> {
        for _ in 0..max_tries {
            let i = super::util::pick_index(rng, &self.part_weights);
            let part = &self.parts[i];
            let (min, max) = (part.bbox.min(), part.bbox.max());
            let c = Coord {
                x: rng.gen_range(min.x..=max.x),
                y: rng.gen_range(min.y..=max.y),
            };
            if part.polygon.contains(&Point(c)) {
                return Some(c);
            }
        }
        None
    }
}

fn in_rect(r: &Rect<f64>, c: Coord<f64>) -> bool {
    c.x >= r.min().x && c.x <= r.max().x && c.y >= r.min().y && c.y <= r.max().y
}

/// A spatial hash grid of points in local metres, for "anything within d?"
/// and "what is within r?" queries. The map is only used for look-ups, never
/// iterated, so it does not affect the output order.
pub(super) struct PointGrid {
    cell: f64,
    cells: HashMap<(i64, i64), Vec<GridEntry>>,
}

/// A point in local metres and its payload.
type GridEntry = (Coord<f64>, usize);

impl PointGrid {
    /// An empty grid with square cells of `cell` metres.
    pub(super) fn new(cell: f64) -> Self {
        Self {
            cell,
            cells: HashMap::new(),
        }
    }

    fn key(&self, p: Coord<f64>) -> (i64, i64) {
        (
            (p.x / self.cell).floor() as i64,
            (p.y / self.cell).floor() as i64,
        )
    }

    /// Adds point `p` (metres) with payload `id`.
    pub(super) fn insert(&mut self, p: Coord<f64>, id: usize) {
        let k = self.key(p);
        self.cells.entry(k).or_default().push((p, id));
    }

    /// Calls `f` for every stored point within `r` metres of `p`, in a
    /// deterministic order (cells row by row, then insertion order); stops
    /// early when `f` returns `false`.
    fn visit_within(&self, p: Coord<f64>, r: f64, mut f: impl FnMut(Coord<f64>, usize) -> bool) {
        let (kx, ky) = self.key(p);
        let n = (r / self.cell).ceil() as i64;
        for dy in -n..=n {
            for dx in -n..=n {
                if let Some(points) = self.cells.get(&(kx + dx, ky + dy)) {
                    for &(q, id) in points {
                        if dist(p, q) < r && !f(q, id) {
                            return;
                        }
                    }
                }
            }
        }
    }

    /// True when some stored point is closer than `r` metres to `p`.
    pub(super) fn any_within(&self, p: Coord<f64>, r: f64) -> bool {
        let mut found = false;
        self.visit_within(p, r, |_, _| {
            found = true;
            false
        });
        found
    }

    /// Payloads of the stored points within `r` metres of `p`, deterministic order.
    pub(super) fn ids_within(&self, p: Coord<f64>, r: f64) -> Vec<usize> {
        let mut ids = Vec::new();
        self.visit_within(p, r, |_, id| {
            ids.push(id);
            true
        });
        ids
    }
}

/// Transport lines as segments in local metres, for snapping.
pub(super) struct RoadNetwork {
    segments: Vec<(Coord<f64>, Coord<f64>)>,
}

impl RoadNetwork {
    /// Projects `lines` (lon/lat); invalid coordinates are skipped.
    pub(super) fn new(lines: &[geo::LineString<f64>], proj: &LocalProjection) -> Self {
        let mut segments = Vec::new();
        for line in lines {
            for w in line.0.windows(2) {
                let ok = |c: &Coord<f64>| c.x.is_finite() && c.y.is_finite();
                if ok(&w[0]) && ok(&w[1]) && w[0] != w[1] {
                    segments.push((proj.to_m(w[0]), proj.to_m(w[1])));
                }
            }
        }
        Self { segments }
    }

    /// The nearest point on any road to `p` and its distance, if any road.
    pub(super) fn nearest(&self, p: Coord<f64>) -> Option<(Coord<f64>, f64)> {
        let mut best: Option<(Coord<f64>, f64)> = None;
        for &(a, b) in &self.segments {
            let q = closest_on_segment(p, a, b);
            let d = dist(p, q);
            if best.is_none_or(|(_, bd)| d < bd) {
                best = Some((q, d));
            }
        }
        best
    }

    /// Points every `step` metres along all roads (local metres).
    pub(super) fn points_along(&self, step: f64) -> Vec<Coord<f64>> {
        let mut pts = Vec::new();
        for &(a, b) in &self.segments {
            let len = dist(a, b);
            let n = (len / step).floor() as usize;
            for i in 0..=n {
                let t = if len > 0.0 {
                    (i as f64 * step) / len
                } else {
                    0.0
                };
                pts.push(lerp(a, b, t.min(1.0)));
            }
        }
        pts
    }

    /// Moves the interior vertices of `line` (metres) that lie within
    /// `radius` of a road onto that road, so that the line roughly follows
    /// the road network. A vertex is only moved when a neighbour can be
    /// moved too, which avoids isolated spikes. The end points stay put.
    pub(super) fn snap(&self, line: &[Coord<f64>], radius: f64) -> Vec<Coord<f64>> {
        if self.segments.is_empty() || line.len() < 3 {
            return line.to_vec();
        }
        let near: Vec<Option<Coord<f64>>> = line
            .iter()
            .map(|&p| {
                self.nearest(p)
                    .filter(|(_, d)| *d <= radius)
                    .map(|(q, _)| q)
            })
            .collect();
        let last = line.len() - 1;
        (0..line.len())
            .map(|i| {
                let movable = i != 0
                    && i != last
                    && near[i].is_some()
                    && (near[i - 1].is_some() || near[i + 1].is_some());
                if movable {
                    near[i].unwrap_or(line[i])
                } else {
                    line[i]
                }
            })
            .collect()
    }
}

/// Linear interpolation between `a` and `b`.
pub(super) fn lerp(a: Coord<f64>, b: Coord<f64>, t: f64) -> Coord<f64> {
    Coord {
        x: a.x + (b.x - a.x) * t,
        y: a.y + (b.y - a.y) * t,
    }
}

fn closest_on_segment(p: Coord<f64>, a: Coord<f64>, b: Coord<f64>) -> Coord<f64> {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let len2 = dx * dx + dy * dy;
    if len2 == 0.0 {
        return a;
    }
    let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0);
    lerp(a, b, t)
}

/// Inserts vertices so that no segment of `line` is longer than `step` metres.
pub(super) fn densify(line: &[Coord<f64>], step: f64) -> Vec<Coord<f64>> {
    let mut out = Vec::with_capacity(line.len());
    for w in line.windows(2) {
        let n = (dist(w[0], w[1]) / step).ceil().max(1.0) as usize;
        for i in 0..n {
            out.push(lerp(w[0], w[1], i as f64 / n as f64));
        }
    }
    if let Some(&last) = line.last() {
        out.push(last);
    }
    out
}

/// Drops vertices closer than `min_gap` metres to the previously kept one
/// (the last vertex is always kept).
pub(super) fn thin(line: &[Coord<f64>], min_gap: f64) -> Vec<Coord<f64>> {
    let mut out: Vec<Coord<f64>> = Vec::with_capacity(line.len());
    for (i, &p) in line.iter().enumerate() {
        let is_last = i + 1 == line.len();
        match out.last() {
            Some(&q) if dist(p, q) < min_gap => {
                if is_last && out.len() > 1 {
                    out.pop();
                    out.push(p);
                } else if is_last {
                    out.push(p);
                }
            }
            _ => out.push(p),
        }
    }
    out
}
