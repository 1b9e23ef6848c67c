//! Layers cut from the read model ([`Inventory`]) and encoded here, with
//! the same features, attributes and value types as the PostGIS queries of
//! [`db::tiles`](crate::db::tiles) (`ST_AsMVTGeom` + `ST_AsMVT`):
//!
//! - positions are projected to EPSG:3857, mapped to tile units (y down) and
//!   snapped to the integer grid with ties to even (`rint`, as PostGIS's
//!   grid snap); what lies outside the tile plus its buffer is clipped;
//! - lines and polygon rings lose repeated points after snapping, and parts
//!   that collapse (a line under 2 points, a ring under 3) are dropped;
//!   polygon exteriors have a positive area in tile units (MVT 2.1);
//! - integers are `uint` values when non-negative (`sint` below zero),
//!   floats `double`, text `string`; a null attribute is left out.
//!
//! `towers` ([`towers_tile`], cut by [`super::towers`]) is thinned exactly as `tile_towers.sql`: above
//! [`THIN_ABOVE`](crate::db::tiles::THIN_ABOVE) towers in the tile plus its buffer, one tower per operator
//! per [`THIN_CELL`](crate::db::tiles::THIN_CELL) cell (the lowest id) stands for the others, with
//! `point_count` saying how many.

#[cfg(test)]
use geo::Polygon;
use geo::{BooleanOps, Coord, Geometry, LineString, MultiLineString, MultiPolygon};
use geozero::mvt::{TagsBuilder, TileValue, tile};

use super::fibre::PresenceRoute;
use super::grid::{BUFFER, EXTENT, TileCoord, to_3857};
use super::mvt::{layer, tag};
use crate::domain::CollectionId;
use crate::service::Record;
use crate::service::read_model::Inventory;
use crate::spatial::generalise::generalise;

/// Maps lon/lat to the tile units of one tile.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    x0: f64,
    y1: f64,
    scale: f64,
}

impl Frame {
    pub(super) fn new(t: TileCoord) -> Self {
        let [x0, _, _, y1] = t.bounds_3857();
        Self {
            x0,
            y1,
            scale: f64::from(EXTENT) / t.size_m(),
        }
    }

    /// Tile units of EPSG:3857 metres `(mx, my)`, not snapped.
    pub(super) fn units_3857(&self, mx: f64, my: f64) -> Coord<f64> {
        Coord {
            x: (mx - self.x0) * self.scale,
            y: (self.y1 - my) * self.scale,
        }
    }

    /// Tile units of lon/lat, not snapped.
    fn units(&self, lon: f64, lat: f64) -> Coord<f64> {
        let (mx, my) = to_3857(lon, lat);
        Coord {
            x: (mx - self.x0) * self.scale,
            y: (self.y1 - my) * self.scale,
        }
    }
}

/// The largest `f32` at or below `v`, and the smallest at or above: PostGIS
/// compares boxes in single precision, rounded outward (`BOX2DF`), so `&&`
/// keeps what lies a few micro-degrees outside the box asked for.
fn f32_around(v: f64) -> (f64, f64) {
    let f = v as f32;
    let f = f64::from(f);
    let down = if f > v {
        f64::from((v as f32).next_down())
    } else {
        f
    };
    let up = if f < v {
        f64::from((v as f32).next_up())
    } else {
        f
    };
    (down.min(v), up.max(v))
}

/// `&&` of PostGIS between the box `[w, s, e, n]` and the box of a feature
/// (`min` and `max` corners, lon/lat), both rounded outward to `f32`.
pub(super) fn overlaps_as_postgis(b: [f64; 4], min: Coord<f64>, max: Coord<f64>) -> bool {
    let (w, _) = f32_around(b[0]);
    let (s, _) = f32_around(b[1]);
    let (_, e) = f32_around(b[2]);
    let (_, n) = f32_around(b[3]);
    let (min_x, _) = f32_around(min.x);
    let (min_y, _) = f32_around(min.y);
    let (_, max_x) = f32_around(max.x);
    let (_, max_y) = f32_around(max.y);
    min_x <= e && max_x >= w && min_y <= n && max_y >= s
}

/// Entries of layer `c` that PostGIS's `geom && box` would select.
fn candidates(
    inv: &Inventory,
    c: CollectionId,
    b: [f64; 4],
) -> Vec<&std::sync::Arc<crate::service::read_model::Entry>> {
    use geo::BoundingRect;
    // A margin beyond any f32 rounding of city coordinates, then the exact
    // test on each feature's own box.
    let pad = 1e-4;
    let mut hits: Vec<_> = inv
        .layer(c)
        .in_box([b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad])
        .filter(|e| {
            let rect = match &*e.record {
                Record::Tower(t) => Some(geo::Rect::new(
                    Coord { x: t.lon, y: t.lat },
                    Coord { x: t.lon, y: t.lat },
                )),
                Record::Fibre(f) => f.geometry.bounding_rect(),
                Record::DataCentre(d) => d.geometry.bounding_rect(),
                Record::District(d) => d.geometry.bounding_rect(),
                Record::Structure(s) => Some(geo::Rect::new(
                    Coord { x: s.lon, y: s.lat },
                    Coord { x: s.lon, y: s.lat },
                )),
                Record::DuctBank(b) => b.geometry.bounding_rect(),
            };
            rect.is_some_and(|r| overlaps_as_postgis(b, r.min(), r.max()))
        })
        .collect();
    hits.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    hits
}

/// The tile plus its buffer, tile units.
fn clip_rect() -> geo::Rect<f64> {
    let b = f64::from(BUFFER);
    let e = f64::from(EXTENT);
    geo::Rect::new(Coord { x: -b, y: -b }, Coord { x: e + b, y: e + b })
}

fn inside(c: Coord<f64>) -> bool {
    let (lo, hi) = (-f64::from(BUFFER), f64::from(EXTENT + BUFFER));
    c.x >= lo && c.x <= hi && c.y >= lo && c.y <= hi
}

fn snap(c: Coord<f64>) -> (i32, i32) {
    (c.x.round_ties_even() as i32, c.y.round_ties_even() as i32)
}

/// [`snap`] for the towers store.
pub(super) fn snap_units(c: Coord<f64>) -> (i32, i32) {
    snap(c)
}

/// True when snapped tile units `p` lie within the tile plus its buffer.
pub(super) fn inside_units(p: (i32, i32)) -> bool {
    inside(Coord {
        x: f64::from(p.0),
        y: f64::from(p.1),
    })
}

pub(super) fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

pub(super) fn command(id: u32, count: u32) -> u32 {
    (id & 0x7) | (count << 3)
}

/// Encodes MVT geometry commands from snapped positions.
#[derive(Debug, Default)]
struct Pen {
    cmds: Vec<u32>,
    at: (i32, i32),
}

impl Pen {
    fn move_to(&mut self, p: (i32, i32)) {
        self.cmds.push(command(1, 1));
        self.delta(p);
    }

    fn line_to(&mut self, ps: &[(i32, i32)]) {
        self.cmds.push(command(2, ps.len() as u32));
        for p in ps {
            self.delta(*p);
        }
    }

    fn close(&mut self) {
        self.cmds.push(command(7, 1));
    }

    fn delta(&mut self, p: (i32, i32)) {
        self.cmds.push(zigzag(p.0 - self.at.0));
        self.cmds.push(zigzag(p.1 - self.at.1));
        self.at = p;
    }
}

/// Snapped positions of `line` with repeated points removed, and points
/// on the segment between their neighbours (PostGIS simplifies with a
/// tolerance of zero after snapping; it sometimes also drops the tip of a
/// zero-width spike, which is kept here).
fn snapped(line: &LineString<f64>) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::with_capacity(line.0.len());
    for c in &line.0 {
        let p = snap(*c);
        if out.last() == Some(&p) {
            continue;
        }
        while out.len() >= 2 {
            let (a, m) = (out[out.len() - 2], out[out.len() - 1]);
            let (ux, uy) = (i64::from(m.0 - a.0), i64::from(m.1 - a.1));
            let (vx, vy) = (i64::from(p.0 - m.0), i64::from(p.1 - m.1));
            if ux * vy - uy * vx == 0 && ux * vx + uy * vy >= 0 {
                out.pop();
            } else {
                break;
            }
        }
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

/// Twice the signed area of a snapped closed ring (tile units, y down).
fn ring_area2(ring: &[(i32, i32)]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1)
        })
        .sum()
}

/// A point feature at `c` (tile units) when it lies in the tile plus its
/// buffer.
fn point_feature(c: Coord<f64>) -> Option<tile::Feature> {
    let p = snap(c);
    if !inside(Coord {
        x: f64::from(p.0),
        y: f64::from(p.1),
    }) {
        return None;
    }
    let mut pen = Pen::default();
    pen.move_to(p);
    Some(tile::Feature {
        r#type: Some(tile::GeomType::Point as i32),
        geometry: pen.cmds,
        ..Default::default()
    })
}

/// Lines (tile units, snapped) clipped to the tile plus its buffer, the
/// cut points snapped.
fn line_feature(lines: MultiLineString<f64>) -> Option<tile::Feature> {
    let clip = clip_rect();
    let all_inside = lines.0.iter().flat_map(|l| l.0.iter()).all(|c| inside(*c));
    let lines = if all_inside {
        lines
    } else {
        MultiLineString(lines.0.iter().flat_map(|l| clip_line(l, &clip)).collect())
    };
    let mut pen = Pen::default();
    for l in &lines.0 {
        let pts = snapped(l);
        if pts.len() < 2 {
            continue;
        }
        pen.move_to(pts[0]);
        pen.line_to(&pts[1..]);
    }
    (!pen.cmds.is_empty()).then(|| tile::Feature {
        r#type: Some(tile::GeomType::Linestring as i32),
        geometry: pen.cmds,
        ..Default::default()
    })
}

/// `line` cut to `rect` (Liang–Barsky per segment), in order: a part ends
/// where the line leaves the rectangle.
fn clip_line(line: &LineString<f64>, rect: &geo::Rect<f64>) -> Vec<LineString<f64>> {
    let (lo, hi) = (rect.min(), rect.max());
    let mut parts: Vec<Vec<Coord<f64>>> = Vec::new();
    let mut open = false;
    for w in line.0.windows(2) {
        let (a, b) = (w[0], w[1]);
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
        let mut keep = true;
        for (p, q) in [
            (-dx, a.x - lo.x),
            (dx, hi.x - a.x),
            (-dy, a.y - lo.y),
            (dy, hi.y - a.y),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    keep = false;
                    break;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
                if t0 > t1 {
                    keep = false;
                    break;
                }
            }
        }
        if !keep {
            open = false;
            continue;
        }
        let at = |t: f64| Coord {
            x: a.x + t * dx,
            y: a.y + t * dy,
        };
        let (start, end) = (at(t0), at(t1));
        if !open || t0 > 0.0 {
            parts.push(vec![start]);
        }
        if let Some(part) = parts.last_mut() {
            part.push(end);
        }
        open = t1 >= 1.0;
    }
    parts.into_iter().map(LineString::new).collect()
}

/// Polygons (tile units, snapped) clipped to the tile plus its buffer, the
/// cut points snapped,
/// exteriors positive and holes negative in area.
fn polygon_feature(polys: MultiPolygon<f64>) -> Option<tile::Feature> {
    let all_inside = polys
        .0
        .iter()
        .flat_map(|p| p.exterior().0.iter())
        .all(|c| inside(*c));
    let polys = if all_inside {
        polys
    } else {
        crate::spatial::overlay::clip(&polys, &clip_rect().to_polygon())
    };
    let mut pen = Pen::default();
    for p in &polys.0 {
        let mut ring = |r: &LineString<f64>, exterior: bool| -> bool {
            let mut pts = snapped(r);
            if pts.len() > 1 && pts.first() == pts.last() {
                pts.pop();
            }
            if pts.len() < 3 {
                return false;
            }
            let area = ring_area2(&pts);
            if area == 0 {
                return false;
            }
            if (area > 0) != exterior {
                pts.reverse();
            }
            pen.move_to(pts[0]);
            pen.line_to(&pts[1..]);
            pen.close();
            true
        };
        if !ring(p.exterior(), true) {
            continue;
        }
        for hole in p.interiors() {
            ring(hole, false);
        }
    }
    (!pen.cmds.is_empty()).then(|| tile::Feature {
        r#type: Some(tile::GeomType::Polygon as i32),
        geometry: pen.cmds,
        ..Default::default()
    })
}

/// `g` (lon/lat) in tile units, snapped to the integer grid (as PostGIS
/// snaps before it clips; clipping then snaps the cut points).
fn project(frame: &Frame, g: &Geometry<f64>) -> Geometry<f64> {
    use geo::MapCoords;
    g.map_coords(|c| {
        let (x, y) = snap(frame.units(c.x, c.y));
        Coord {
            x: f64::from(x),
            y: f64::from(y),
        }
    })
}

/// The feature of geometry `g` (lon/lat) in tile `frame`.
fn feature_of(frame: &Frame, g: &Geometry<f64>) -> Option<tile::Feature> {
    match project(frame, g) {
        Geometry::Point(p) => point_feature(p.0),
        Geometry::LineString(l) => line_feature(MultiLineString(vec![l])),
        Geometry::MultiLineString(m) => line_feature(m),
        Geometry::Polygon(p) => polygon_feature(MultiPolygon(vec![p])),
        Geometry::MultiPolygon(m) => polygon_feature(m),
        _ => None,
    }
}

/// An integer attribute as `ST_AsMVT` writes it.
fn int(v: i64) -> TileValue {
    if v >= 0 {
        TileValue::Uint(v as u64)
    } else {
        TileValue::Sint(v)
    }
}

fn text(v: &str) -> TileValue {
    TileValue::Str(v.to_owned())
}

/// Tags of `props`, null ones left out.
fn tag_some(tags: &mut TagsBuilder, f: &mut tile::Feature, props: Vec<(&str, Option<TileValue>)>) {
    for (k, v) in props {
        if let Some(v) = v {
            tag(tags, f, [(k, v)]);
        }
    }
}

/// A value of the towers layer, borrowed for lookup (no allocation unless
/// the value is new to the layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Val<'a> {
    Str(&'a str),
    Uint(u64),
    Sint(i64),
    Double(u64),
    Bool(bool),
}

impl Val<'_> {
    pub(super) fn int(v: i64) -> Self {
        if v >= 0 {
            Val::Uint(v as u64)
        } else {
            Val::Sint(v)
        }
    }

    /// Appends the MVT `Value` message of `self` to `m`.
    pub(super) fn encode(self, m: &mut Vec<u8>) {
        match self {
            Val::Str(s) => field_bytes(m, 1, s.as_bytes()),
            Val::Double(bits) => {
                m.push(3 << 3 | 1);
                m.extend_from_slice(&bits.to_le_bytes());
            }
            Val::Uint(u) => {
                m.push(5 << 3);
                varint(m, u);
            }
            Val::Sint(i) => {
                m.push(6 << 3);
                varint(m, ((i << 1) ^ (i >> 63)) as u64);
            }
            Val::Bool(b) => {
                m.push(7 << 3);
                m.push(u8::from(b));
            }
        }
    }
}

/// Appends `v` as a protobuf varint.
pub(super) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a length-delimited field `field` holding `bytes`.
pub(super) fn field_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, u64::from(field << 3 | 2));
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The `towers` layer of tile `t` (see the module documentation), as an
/// encoded Mapbox Vector Tile (empty: no tower in the tile), cut from the
/// layer's [`TowerPoints`](super::towers::TowerPoints) store (built on first
/// use per layer version).
///
/// The cost is the towers in the tile plus its buffer (at low zoom, most of
/// the city): each is selected from the store's R-tree, mapped from its
/// stored EPSG:3857 position and snapped; no sort (the tower that stands for
/// a thinned cell is the lowest id of the cell).
pub fn towers_tile(inv: &Inventory, t: TileCoord) -> Vec<u8> {
    inv.layer(CollectionId::Towers).tower_points().tile(t)
}

/// The `data_centres` layer of tile `t`.
pub fn data_centres_layer(inv: &Inventory, t: TileCoord) -> Option<tile::Layer> {
    let frame = Frame::new(t);
    let hits = candidates(inv, CollectionId::DataCentres, t.bounds_lonlat(BUFFER));
    let mut tags = TagsBuilder::new();
    let mut features = Vec::new();
    for e in hits {
        let Record::DataCentre(d) = &*e.record else {
            continue;
        };
        let Some(mut f) = feature_of(&frame, &d.geometry) else {
            continue;
        };
        f.id = u64::try_from(d.id.get()).ok();
        tag_some(
            &mut tags,
            &mut f,
            vec![
                ("id", Some(int(d.id.get()))),
                ("operator_id", Some(text(&d.operator))),
                ("name", Some(text(&d.name))),
                ("tier", d.tier.map(|v| int(i64::from(v)))),
                ("power_mw", d.power_mw.map(TileValue::Double)),
                ("racks", d.racks.map(|v| int(i64::from(v)))),
                ("status", Some(text(d.status.as_str()))),
                ("synthetic", Some(TileValue::Bool(d.synthetic))),
            ],
        );
        features.push(f);
    }
    layer("data_centres", features, tags)
}

/// The exact `fibre_routes` layer of tile `t`, only `only_operator`'s
/// routes when given.
pub fn fibre_routes_layer(
    inv: &Inventory,
    t: TileCoord,
    only_operator: Option<&str>,
) -> Option<tile::Layer> {
    let frame = Frame::new(t);
    let bbox = t.bounds_lonlat(BUFFER);
    let hits = candidates(inv, CollectionId::FibreRoutes, bbox);
    let mut tags = TagsBuilder::new();
    let mut features = Vec::new();
    for e in hits {
        let Record::Fibre(r) = &*e.record else {
            continue;
        };
        if only_operator.is_some_and(|op| op != r.operator) {
            continue;
        }
        let Some(mut f) = feature_of(&frame, &r.geometry) else {
            continue;
        };
        f.id = u64::try_from(r.id.get()).ok();
        tag_some(
            &mut tags,
            &mut f,
            vec![
                ("id", Some(int(r.id.get()))),
                ("operator_id", Some(text(&r.operator))),
                ("name", r.name.as_deref().map(text)),
                ("placement", Some(text(r.placement.as_str()))),
                ("status", Some(text(r.status.as_str()))),
                ("fibre_count", Some(int(i64::from(r.fibre_count)))),
                ("capacity_gbps", r.capacity_gbps.map(TileValue::Double)),
                (
                    "length_m",
                    Some(TileValue::Double((r.length_m * 10.0).round() / 10.0)),
                ),
                ("synthetic", Some(TileValue::Bool(r.synthetic))),
            ],
        );
        features.push(f);
    }
    layer("fibre_routes", features, tags)
}

/// The routes whose cells may meet tile `t`, as [`super::fibre`] reads them
/// from PostGIS: those whose box meets `presence_box`, clipped to it (as
/// `ST_ClipByBox2D`), generalised; `exclude_operator`'s left out.
pub fn presence_routes(
    inv: &Inventory,
    presence_box: [f64; 4],
    exclude_operator: Option<&str>,
) -> Vec<PresenceRoute> {
    let [w, s, e, n] = presence_box;
    let rect = geo::Rect::new(Coord { x: w, y: s }, Coord { x: e, y: n }).to_polygon();
    candidates(inv, CollectionId::FibreRoutes, presence_box)
        .into_iter()
        .filter_map(|e| {
            let Record::Fibre(r) = &*e.record else {
                return None;
            };
            if exclude_operator == Some(r.operator.as_str()) {
                return None;
            }
            let lines = match &r.geometry {
                Geometry::LineString(l) => MultiLineString(vec![l.clone()]),
                Geometry::MultiLineString(m) => m.clone(),
                _ => return None,
            };
            let clipped = rect.clip(&lines, false);
            let geometry = match clipped.0.len() {
                0 => return None,
                1 => Geometry::LineString(clipped.0.into_iter().next()?),
                _ => Geometry::MultiLineString(clipped),
            };
            Some(PresenceRoute {
                cells: generalise(&geometry).cells.clone(),
                id: r.id.get(),
                operator: r.operator.clone(),
                status: r.status.as_str().to_owned(),
                placement: r.placement.as_str().to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_zigzag_deltas_with_counts() {
        let mut pen = Pen::default();
        pen.move_to((3, 6));
        pen.line_to(&[(8, 12), (20, 34)]);
        assert_eq!(pen.cmds, [9, 6, 12, 18, 10, 12, 24, 44]);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(-64), 127);
    }

    #[test]
    fn rings_are_oriented_exterior_positive_and_collapsed_parts_dropped() {
        // Counter-clockwise in y-down tile units is negative: reversed.
        let square = Polygon::new(
            LineString::from(vec![
                (10.0, 10.0),
                (10.0, 20.0),
                (20.0, 20.0),
                (20.0, 10.0),
                (10.0, 10.0),
            ]),
            vec![],
        );
        let f = polygon_feature(MultiPolygon(vec![square])).unwrap();
        assert_eq!(f.geometry.last(), Some(&command(7, 1)));
        let tiny = Polygon::new(
            LineString::from(vec![(1.1, 1.1), (1.2, 1.3), (1.3, 1.1), (1.1, 1.1)]),
            vec![],
        );
        assert!(polygon_feature(MultiPolygon(vec![tiny])).is_none());
        let line = MultiLineString(vec![LineString::from(vec![(0.1, 0.1), (0.2, 0.2)])]);
        assert!(line_feature(line).is_none());
    }

    #[test]
    fn points_outside_the_buffer_are_clipped_and_ties_snap_to_even() {
        // Snapped first, then clipped: -64.5 snaps to -64 (kept), -64.6 to
        // -65 (outside the buffer).
        assert!(point_feature(Coord { x: -64.5, y: 0.0 }).is_some());
        assert!(point_feature(Coord { x: -64.6, y: 0.0 }).is_none());
        assert_eq!(snap(Coord { x: 2.5, y: 3.5 }), (2, 4));
    }
}
