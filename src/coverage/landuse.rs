//! Land use as clutter: which [`Clutter`] class a location has, from a
//! polygon layer with a class attribute (OpenStreetMap `landuse=*` and
//! `natural=water` polygons by default).
//!
//! Each polygon's class is the first of the configured attributes
//! (`landuse`, then `natural`, …) whose value the configured mapping knows
//! (`residential → urban`, `forest → forest`, …); polygons whose values are
//! not mapped are ignored. Where polygons overlap, the smallest one that
//! contains the point decides (a pond inside a park is water). A location
//! in no mapped polygon has no land-use class: OSM's coverage of land use
//! is incomplete, so a missing polygon is unknown, not open ground, and the
//! caller falls back to the district's class.

use std::collections::BTreeMap;
use std::path::Path;

use geo::{Area, BoundingRect, Contains, MultiPolygon, Point};
use rstar::{AABB, RTree, RTreeObject};

use crate::coverage::model::Clutter;

/// Errors reading a land-use layer.
#[derive(Debug, thiserror::Error)]
pub enum LandUseError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a GeoJSON FeatureCollection of polygons.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Largest land-use file read, bytes.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug)]
struct ClassPolygon {
    geometry: MultiPolygon<f64>,
    clutter: Clutter,
    /// Planar area in square degrees (only to order overlaps).
    area: f64,
    envelope: AABB<[f64; 2]>,
}

impl RTreeObject for ClassPolygon {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// A land-use layer indexed for point lookups.
#[derive(Debug, Default)]
pub struct LandUse {
    tree: RTree<ClassPolygon>,
    /// Where it was read from.
    pub source: String,
}

impl LandUse {
    /// Builds the layer from `(geometry, attributes)` pairs.
    pub fn from_polygons<'a>(
        source: &str,
        features: impl IntoIterator<Item = (MultiPolygon<f64>, BTreeMap<String, String>)>,
        attributes: &'a [String],
        classes: &'a BTreeMap<String, Clutter>,
    ) -> Self {
        let polygons: Vec<ClassPolygon> = features
            .into_iter()
            .filter_map(|(geometry, props)| {
                let clutter = attributes
                    .iter()
                    .filter_map(|a| props.get(a))
                    .find_map(|v| classes.get(v).copied())?;
                let r = geometry.bounding_rect()?;
                Some(ClassPolygon {
                    area: geometry.unsigned_area(),
                    envelope: AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    geometry,
                    clutter,
                })
            })
            .collect();
        Self {
            tree: RTree::bulk_load(polygons),
            source: source.to_owned(),
        }
    }

    /// Reads a GeoJSON FeatureCollection of Polygon / MultiPolygon features
    /// (lon/lat), classing each by `attributes` through `classes`.
    ///
    /// # Errors
    /// [`LandUseError`] when the file cannot be read, is larger than
    /// [`MAX_FILE_BYTES`] or is not a FeatureCollection.
    pub fn load(
        path: &Path,
        attributes: &[String],
        classes: &BTreeMap<String, Clutter>,
    ) -> Result<Self, LandUseError> {
        let name = path.display().to_string();
        let io = |source| LandUseError::Io {
            path: name.clone(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_FILE_BYTES {
            return Err(LandUseError::Invalid {
                path: name,
                reason: format!("{len} bytes is more than the {MAX_FILE_BYTES} read"),
            });
        }
        let text = std::fs::read(path).map_err(io)?;
        let fc: lean::Collection =
            serde_json::from_slice(&text).map_err(|e| LandUseError::Invalid {
                path: name.clone(),
                reason: format!("not a GeoJSON FeatureCollection: {e}"),
            })?;
        if fc.kind != "FeatureCollection" {
            return Err(LandUseError::Invalid {
                path: name,
                reason: format!("not a GeoJSON FeatureCollection: its type is {:?}", fc.kind),
            });
        }
        let features = fc.features.into_iter().filter_map(|f| {
            let mp = f.geometry?.0?;
            Some((
                mp,
                lean::string_properties(f.properties.unwrap_or_default()),
            ))
        });
        Ok(Self::from_polygons(&name, features, attributes, classes))
    }

    /// Number of classed polygons.
    pub fn len(&self) -> usize {
        self.tree.size()
    }

    /// True without polygons.
    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// The class at (`lon`, `lat`) degrees: the smallest classed polygon
    /// containing it, or `None`.
    pub fn clutter_at(&self, lon: f64, lat: f64) -> Option<Clutter> {
        let p = Point::new(lon, lat);
        self.tree
            .locate_in_envelope_intersecting(AABB::from_point([lon, lat]))
            .filter(|c| c.geometry.contains(&p))
            .min_by(|a, b| a.area.total_cmp(&b.area))
            .map(|c| c.clutter)
    }
}

/// Cell size of a [`ClutterGrid`], degrees (1 arc-second, ≈ 31 m, the
/// resolution of SRTM GL1).
pub const GRID_STEP_DEG: f64 = 1.0 / 3600.0;

/// Most cells of a [`ClutterGrid`] (one byte each).
pub const MAX_GRID_CELLS: usize = 64 * 1024 * 1024;

/// The land use rasterised to a lon/lat grid of [`GRID_STEP_DEG`]: one
/// byte per cell, so that a profile or a footprint looks up the clutter of
/// each sample in constant time. A cell takes the class of the smallest
/// classed polygon containing its centre (polygons are burnt largest first,
/// by scanline at the cell-centre latitude), so at cell centres the grid
/// equals [`LandUse::clutter_at`].
#[derive(Debug, Clone, Default)]
pub struct ClutterGrid {
    west: f64,
    north: f64,
    width: usize,
    height: usize,
    /// 0: unknown; else `1 + ` the class's index in [`CLASSES`].
    cells: Vec<u8>,
}

const CLASSES: [Clutter; 5] = [
    Clutter::Urban,
    Clutter::Suburban,
    Clutter::Rural,
    Clutter::Forest,
    Clutter::Water,
];

impl ClutterGrid {
    /// Feeds the grid's extent and cells to `h` (for the model key of
    /// persisted footprints).
    pub fn digest_into(&self, h: &mut sha2::Sha256) {
        use sha2::Digest;
        h.update(self.west.to_le_bytes());
        h.update(self.north.to_le_bytes());
        h.update((self.width as u64).to_le_bytes());
        h.update((self.height as u64).to_le_bytes());
        h.update(&self.cells);
    }

    /// Rasterises `landuse`; `None` when it is empty or its extent would
    /// need more than [`MAX_GRID_CELLS`] cells.
    pub fn from_landuse(landuse: &LandUse) -> Option<Self> {
        let env = landuse.tree.root().envelope();
        if landuse.is_empty() {
            return None;
        }
        let (lo, hi) = (env.lower(), env.upper());
        let step = GRID_STEP_DEG;
        let west = (lo[0] / step).floor() * step;
        let north = (hi[1] / step).ceil() * step;
        let width = ((hi[0] - west) / step).ceil() as usize + 1;
        let height = ((north - lo[1]) / step).ceil() as usize + 1;
        if width.saturating_mul(height) > MAX_GRID_CELLS {
            return None;
        }
        let mut grid = Self {
            west,
            north,
            width,
            height,
            cells: vec![0; width * height],
        };
        let mut polys: Vec<&ClassPolygon> = landuse.tree.iter().collect();
        polys.sort_by(|a, b| b.area.total_cmp(&a.area));
        // Each polygon's crossings (row, x) of its edges with the rows'
        // centre lines, from an edge table: each edge visits only the rows
        // it spans (scanning every edge per row was most of a start's
        // land-use time).
        let mut crossings: Vec<(usize, f64)> = Vec::new();
        for p in polys {
            let code = 1 + CLASSES.iter().position(|c| *c == p.clutter).unwrap_or(0) as u8;
            let (lo, hi) = (p.envelope.lower(), p.envelope.upper());
            let r0 = ((grid.north - hi[1]) / step - 0.5).floor().max(0.0) as usize;
            let r1 = (((grid.north - lo[1]) / step - 0.5).ceil() as usize).min(height - 1);
            crossings.clear();
            for poly in &p.geometry.0 {
                for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                    for seg in ring.lines() {
                        let (a, b) = (seg.start, seg.end);
                        let (y_lo, y_hi) = (a.y.min(b.y), a.y.max(b.y));
                        // The rows whose centre y may lie in [y_lo, y_hi),
                        // one row of slack each way; the test below is
                        // exact.
                        let first = ((grid.north - y_hi) / step - 0.5).floor() - 1.0;
                        let last = ((grid.north - y_lo) / step - 0.5).floor() + 1.0;
                        let first = (first.max(r0 as f64) as usize).max(r0);
                        let last = if last < 0.0 {
                            continue;
                        } else {
                            (last as usize).min(r1)
                        };
                        for row in first..=last {
                            let y = grid.north - (row as f64 + 0.5) * step;
                            if (a.y > y) != (b.y > y) {
                                crossings.push((row, a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y)));
                            }
                        }
                    }
                }
            }
            crossings.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            for run in crossings.chunk_by(|a, b| a.0 == b.0) {
                let row = run[0].0;
                for pair in run.chunks_exact(2) {
                    // Cells whose centre x lies in [pair[0], pair[1]).
                    let c0 = ((pair[0].1 - grid.west) / step - 0.5).ceil().max(0.0) as usize;
                    let c1 = ((pair[1].1 - grid.west) / step - 0.5).ceil();
                    if c1 <= 0.0 {
                        continue;
                    }
                    let c1 = (c1 as usize).min(width);
                    for c in c0..c1 {
                        grid.cells[row * width + c] = code;
                    }
                }
            }
        }
        Some(grid)
    }

    /// The class of the cell containing (`lon`, `lat`) degrees.
    #[inline]
    pub fn clutter_at(&self, lon: f64, lat: f64) -> Option<Clutter> {
        let c = ((lon - self.west) / GRID_STEP_DEG).floor();
        let r = ((self.north - lat) / GRID_STEP_DEG).floor();
        if c < 0.0 || r < 0.0 || c >= self.width as f64 || r >= self.height as f64 {
            return None;
        }
        match self.cells[r as usize * self.width + c as usize] {
            0 => None,
            k => Some(CLASSES[usize::from(k - 1)]),
        }
    }

    /// Centre of cell (`col`, `row`), lon/lat degrees.
    pub fn cell_centre(&self, col: usize, row: usize) -> (f64, f64) {
        (
            self.west + (col as f64 + 0.5) * GRID_STEP_DEG,
            self.north - (row as f64 + 0.5) * GRID_STEP_DEG,
        )
    }

    /// Width and height, cells.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// Bytes held.
    pub fn approx_bytes(&self) -> usize {
        self.cells.len()
    }
}

/// A GeoJSON FeatureCollection read for its polygons only, straight into
/// `geo` types (the `geojson` crate's reader builds a JSON tree and then
/// position vectors first: three times slower on the OSM layer, which is
/// most of a terrain-aware restart).
mod lean {
    use std::collections::BTreeMap;
    use std::fmt;

    use geo::{Coord, LineString, MultiPolygon, Polygon};
    use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    /// The collection: its `type` and features.
    #[derive(serde::Deserialize)]
    pub struct Collection {
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(default)]
        pub features: Vec<Feature>,
    }

    /// A feature: its (multi)polygon, if it has one, and its properties.
    #[derive(serde::Deserialize)]
    pub struct Feature {
        #[serde(default)]
        pub geometry: Option<Geometry>,
        #[serde(default)]
        pub properties: Option<BTreeMap<String, serde_json::Value>>,
    }

    /// A Polygon or MultiPolygon as a multipolygon; `None` for other types.
    pub struct Geometry(pub Option<MultiPolygon<f64>>);

    /// A position: longitude and latitude (further members ignored).
    struct Position(Coord<f64>);

    impl<'de> serde::Deserialize<'de> for Position {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Position;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a position [lon, lat, …]")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Position, A::Error> {
                    let x: f64 = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                    let y: f64 = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    Ok(Position(Coord { x, y }))
                }
            }
            d.deserialize_seq(V)
        }
    }

    fn polygon(rings: Vec<Vec<Position>>) -> Option<Polygon<f64>> {
        let mut rings = rings
            .into_iter()
            .map(|r| LineString::new(r.into_iter().map(|p| p.0).collect()));
        let exterior = rings.next()?;
        Some(Polygon::new(exterior, rings.collect()))
    }

    /// The `coordinates` of a geometry of type `.0`: a multipolygon for a
    /// Polygon or a MultiPolygon, `None` (the value skipped) for others.
    struct Coordinates<'a>(&'a str);

    impl<'de> de::DeserializeSeed<'de> for Coordinates<'_> {
        type Value = Option<MultiPolygon<f64>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            use serde::Deserialize;
            Ok(match self.0 {
                "Polygon" => polygon(Vec::<Vec<Position>>::deserialize(d)?)
                    .map(|p| MultiPolygon::new(vec![p])),
                "MultiPolygon" => Some(MultiPolygon::new(
                    Vec::<Vec<Vec<Position>>>::deserialize(d)?
                        .into_iter()
                        .filter_map(polygon)
                        .collect(),
                )),
                _ => {
                    IgnoredAny::deserialize(d)?;
                    None
                }
            })
        }
    }

    impl<'de> serde::Deserialize<'de> for Geometry {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Geometry;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a GeoJSON geometry")
                }
                fn visit_unit<E>(self) -> Result<Geometry, E> {
                    Ok(Geometry(None))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Geometry, A::Error> {
                    let mut kind: Option<String> = None;
                    let mut out: Option<MultiPolygon<f64>> = None;
                    // Coordinates met before the type: kept as JSON.
                    let mut early: Option<serde_json::Value> = None;
                    while let Some(key) = map.next_key::<String>()? {
                        match (key.as_str(), kind.as_deref()) {
                            ("type", _) => kind = Some(map.next_value()?),
                            ("coordinates", Some(k)) => {
                                out = map.next_value_seed(Coordinates(k))?;
                            }
                            ("coordinates", None) => early = Some(map.next_value()?),
                            _ => {
                                map.next_value::<IgnoredAny>()?;
                            }
                        }
                    }
                    if let (Some(value), Some(k)) = (early, kind.as_deref()) {
                        out = de::DeserializeSeed::deserialize(Coordinates(k), value)
                            .map_err(|e| de::Error::custom(e.to_string()))?;
                    }
                    Ok(Geometry(out))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// The string-valued members of a feature's properties (others
    /// cannot name a class).
    pub fn string_properties(
        properties: impl IntoIterator<Item = (String, serde_json::Value)>,
    ) -> BTreeMap<String, String> {
        properties
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn square(x0: f64, y0: f64, s: f64) -> MultiPolygon<f64> {
        MultiPolygon::new(vec![polygon![
            (x: x0, y: y0), (x: x0 + s, y: y0), (x: x0 + s, y: y0 + s), (x: x0, y: y0 + s)
        ]])
    }

    #[test]
    fn the_shipped_land_use_reads_as_the_geojson_crate_reads_it() {
        let config = crate::coverage::model::CoverageConfig::shipped();
        let lu = config.landuse.expect("the shipped model has land use");
        let lean = LandUse::load(&lu.file, &lu.attributes, &lu.classes).unwrap();
        let text = std::fs::read_to_string(&lu.file).unwrap();
        let fc: geojson::FeatureCollection = text.parse().unwrap();
        let features = fc.features.into_iter().filter_map(|f| {
            let mp = match geo::Geometry::<f64>::try_from(f.geometry?).ok()? {
                geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
                geo::Geometry::MultiPolygon(m) => m,
                _ => return None,
            };
            Some((
                mp,
                lean::string_properties(f.properties.unwrap_or_default()),
            ))
        });
        let reference = LandUse::from_polygons("ref", features, &lu.attributes, &lu.classes);
        assert!(lean.len() > 3_000);
        assert_eq!(lean.len(), reference.len());
        let (a, b) = (
            ClutterGrid::from_landuse(&lean).unwrap(),
            ClutterGrid::from_landuse(&reference).unwrap(),
        );
        assert_eq!((a.size(), &a.cells), (b.size(), &b.cells));
    }

    #[test]
    fn the_shipped_land_use_rasterises_as_a_scan_of_every_edge_per_row() {
        let config = crate::coverage::model::CoverageConfig::shipped();
        let lu = config.landuse.expect("the shipped model has land use");
        let layer = LandUse::load(&lu.file, &lu.attributes, &lu.classes).unwrap();
        let grid = ClutterGrid::from_landuse(&layer).unwrap();
        // The scan of every edge of a polygon for each of its rows (the
        // first implementation, slower), over the same cells.
        let (step, width) = (GRID_STEP_DEG, grid.width);
        let mut cells = vec![0u8; grid.cells.len()];
        let mut polys: Vec<&ClassPolygon> = layer.tree.iter().collect();
        polys.sort_by(|a, b| b.area.total_cmp(&a.area));
        for p in polys {
            let code = 1 + CLASSES.iter().position(|c| *c == p.clutter).unwrap_or(0) as u8;
            let (lo, hi) = (p.envelope.lower(), p.envelope.upper());
            let r0 = ((grid.north - hi[1]) / step - 0.5).floor().max(0.0) as usize;
            let r1 = (((grid.north - lo[1]) / step - 0.5).ceil() as usize).min(grid.height - 1);
            for row in r0..=r1 {
                let y = grid.north - (row as f64 + 0.5) * step;
                let mut xs: Vec<f64> = Vec::new();
                for poly in &p.geometry.0 {
                    for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                        for seg in ring.lines() {
                            let (a, b) = (seg.start, seg.end);
                            if (a.y > y) != (b.y > y) {
                                xs.push(a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y));
                            }
                        }
                    }
                }
                xs.sort_by(f64::total_cmp);
                for pair in xs.chunks_exact(2) {
                    let c0 = ((pair[0] - grid.west) / step - 0.5).ceil().max(0.0) as usize;
                    let c1 = ((pair[1] - grid.west) / step - 0.5).ceil();
                    if c1 > 0.0 {
                        for c in c0..(c1 as usize).min(width) {
                            cells[row * width + c] = code;
                        }
                    }
                }
            }
        }
        let differ = cells
            .iter()
            .zip(&grid.cells)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differ, 0, "{differ} of {} cells differ", cells.len());
        let classed = cells.iter().filter(|c| **c != 0).count();
        assert!(classed > 100_000, "{classed} cells classed");
    }

    #[test]
    fn a_geometry_whose_coordinates_come_before_its_type_is_read() {
        let dir = std::env::temp_dir().join(format!("tgis-lu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lu.geojson");
        std::fs::write(
            &path,
            r#"{"features":[{"properties":{"landuse":"forest"},"geometry":{"coordinates":[[[0,0,5],[1,0,5],[1,1,5],[0,1,5],[0,0,5]]],"type":"Polygon"}},
                {"properties":{"landuse":"forest"},"geometry":null},
                {"properties":{"landuse":"forest"},"geometry":{"type":"Point","coordinates":[0.5,0.5]}}],
               "type":"FeatureCollection"}"#,
        )
        .unwrap();
        let classes = BTreeMap::from([("forest".to_owned(), Clutter::Forest)]);
        let lu = LandUse::load(&path, &["landuse".to_owned()], &classes).unwrap();
        assert_eq!(lu.len(), 1);
        assert_eq!(lu.clutter_at(0.5, 0.5), Some(Clutter::Forest));
        std::fs::write(&path, r#"{"type":"Feature","features":[]}"#).unwrap();
        assert!(matches!(
            LandUse::load(&path, &["landuse".to_owned()], &classes),
            Err(LandUseError::Invalid { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn props(k: &str, v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(k.to_owned(), v.to_owned())])
    }

    #[test]
    fn the_smallest_containing_polygon_decides_and_unmapped_values_are_ignored() {
        let classes = BTreeMap::from([
            ("residential".to_owned(), Clutter::Urban),
            ("water".to_owned(), Clutter::Water),
        ]);
        let attrs = vec!["landuse".to_owned(), "natural".to_owned()];
        let lu = LandUse::from_polygons(
            "t",
            vec![
                (square(0.0, 0.0, 10.0), props("landuse", "residential")),
                (square(2.0, 2.0, 1.0), props("natural", "water")),
                (square(20.0, 0.0, 5.0), props("landuse", "spaceport")),
            ],
            &attrs,
            &classes,
        );
        assert_eq!(lu.len(), 2);
        assert_eq!(lu.clutter_at(5.0, 5.0), Some(Clutter::Urban));
        assert_eq!(lu.clutter_at(2.5, 2.5), Some(Clutter::Water));
        assert_eq!(lu.clutter_at(21.0, 1.0), None);
        assert_eq!(lu.clutter_at(-1.0, 1.0), None);
    }

    #[test]
    fn the_clutter_grid_equals_the_polygons_at_cell_centres() {
        let classes = BTreeMap::from([
            ("residential".to_owned(), Clutter::Urban),
            ("forest".to_owned(), Clutter::Forest),
            ("water".to_owned(), Clutter::Water),
        ]);
        let attrs = vec!["landuse".to_owned(), "natural".to_owned()];
        let tri = MultiPolygon::new(vec![polygon![
            (x: 108.0, y: 16.0), (x: 108.01, y: 16.0), (x: 108.003, y: 16.012)
        ]]);
        let lu = LandUse::from_polygons(
            "t",
            vec![
                (square(108.0, 16.0, 0.01), props("landuse", "residential")),
                (tri, props("landuse", "forest")),
                (square(108.004, 16.004, 0.002), props("natural", "water")),
            ],
            &attrs,
            &classes,
        );
        let grid = ClutterGrid::from_landuse(&lu).expect("grid");
        let (w, h) = grid.size();
        let mut checked = 0;
        for row in 0..h {
            for col in 0..w {
                let (lon, lat) = grid.cell_centre(col, row);
                assert_eq!(
                    grid.clutter_at(lon, lat),
                    lu.clutter_at(lon, lat),
                    "cell {col},{row} at {lon},{lat}"
                );
                checked += 1;
            }
        }
        assert!(checked > 1000);
    }
}
