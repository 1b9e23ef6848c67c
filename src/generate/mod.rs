//! Deterministic, seeded generator of plausible **synthetic** telecom assets
//! for Đà Nẵng: mobile towers with sectors, fibre routes and data centres.
//!
//! The generator is pure: no I/O, no database, no clock. The same
//! [`GenerateParams`] and inputs always give byte-identical output, because all
//! randomness comes from [`rand_chacha::ChaCha8Rng`] seeded with
//! [`GenerateParams::seed`] (one independent stream per asset layer, so that
//! e.g. changing `data_centres` does not move the towers), and everything is
//! iterated in a fixed order.
//!
//! The output is three GeoJSON FeatureCollections (RFC 7946, lon/lat,
//! coordinates rounded to 6 decimals, no feature ids) in the property schema
//! accepted by the API, with `"synthetic": true` on every feature.
//!
//! The names, codes, capacities and positions are invented. Only the district
//! polygons and populations, the transport lines and the facts that APG and
//! SeaMeWe-3 land in Đà Nẵng are real; the submarine cables are drawn
//! schematically and say so in their names.

mod data_centres;
pub mod ducts;
mod fibre;
pub mod opencellid;
mod spatial;
mod towers;
mod util;

#[cfg(test)]
mod tests;

use geo::{LineString, MultiLineString, MultiPolygon};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use spatial::{LocalProjection, PreparedArea};

/// Largest accepted [`GenerateParams::towers`].
pub const MAX_TOWERS: usize = 2_000_000;
/// Largest accepted [`GenerateParams::fibre_km`], kilometres.
pub const MAX_FIBRE_KM: f64 = 1_000_000.0;
/// Largest accepted [`GenerateParams::data_centres`].
pub const MAX_DATA_CENTRES: usize = 1_000;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateParams {
    /// Seed of the random generator; equal seeds (and inputs) give identical output.
    pub seed: u64,
    /// Number of towers, 0 ..= [`MAX_TOWERS`].
    pub towers: usize,
    /// Target total length of the land fibre routes (backbone rings and
    /// feeders, not the submarine cables), kilometres, measured geodesically
    /// on WGS84. Must be finite, > 0 and ≤ [`MAX_FIBRE_KM`]. The rings take
    /// at most 75 % of it; for Đà Nẵng a ring is about 42 km, so below
    /// roughly 225 km the rings are cut short ("backbone (partial ring)").
    pub fibre_km: f64,
    /// Number of data centres, 0 ..= [`MAX_DATA_CENTRES`].
    pub data_centres: usize,
}

impl Default for GenerateParams {
    /// Seed 2019, 1 500 towers, 300 km of land fibre, 8 data centres.
    fn default() -> Self {
        Self {
            seed: 2019,
            towers: 1500,
            fibre_km: 300.0,
            data_centres: 8,
        }
    }
}

impl GenerateParams {
    /// Checks that the parameters are within the accepted ranges.
    ///
    /// # Errors
    /// [`GenerateError::InvalidParam`] naming the first parameter out of range.
    pub fn validate(&self) -> Result<(), GenerateError> {
        if self.towers > MAX_TOWERS {
            return Err(GenerateError::InvalidParam {
                name: "towers",
                reason: format!("must be at most {MAX_TOWERS}, got {}", self.towers),
            });
        }
        if !self.fibre_km.is_finite() || self.fibre_km <= 0.0 || self.fibre_km > MAX_FIBRE_KM {
            return Err(GenerateError::InvalidParam {
                name: "fibre_km",
                reason: format!(
                    "must be a finite number greater than 0 and at most {MAX_FIBRE_KM}, got {}",
                    self.fibre_km
                ),
            });
        }
        if self.data_centres > MAX_DATA_CENTRES {
            return Err(GenerateError::InvalidParam {
                name: "data_centres",
                reason: format!(
                    "must be at most {MAX_DATA_CENTRES}, got {}",
                    self.data_centres
                ),
            });
        }
        Ok(())
    }
}

/// An administrative area (district) that assets are placed in.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    /// Administrative code, e.g. `"492"` (GSO district code).
    pub code: String,
    /// Display name with diacritics, e.g. `"Hải Châu"`; used in asset names.
    pub name: String,
    /// Resident population; towers are distributed in proportion to it.
    pub population: u64,
    /// Boundary, lon/lat (EPSG:4326).
    pub geom: MultiPolygon<f64>,
    /// True for rural districts (sparser, taller structures, aerial fibre).
    pub rural: bool,
}

/// A carrier known to the generator (the operators table's seed rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorSeed {
    /// Operator slug, e.g. `"viettel"`.
    pub id: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Mobile country code (452 for Vietnam); `None` for fixed-line carriers.
    pub mcc: Option<i16>,
    /// Mobile network code; `None` for fixed-line carriers.
    pub mnc: Option<i16>,
}

/// The carriers of the sample data. The first three run mobile networks and
/// own towers; FPT Telecom only owns fibre and data centres.
pub const OPERATORS: &[OperatorSeed] = &[
    OperatorSeed {
        id: "viettel",
        name: "Viettel",
        mcc: Some(452),
        mnc: Some(4),
    },
    OperatorSeed {
        id: "vnpt",
        name: "VNPT (VinaPhone)",
        mcc: Some(452),
        mnc: Some(2),
    },
    OperatorSeed {
        id: "mobifone",
        name: "MobiFone",
        mcc: Some(452),
        mnc: Some(1),
    },
    OperatorSeed {
        id: "fpt",
        name: "FPT Telecom",
        mcc: None,
        mnc: None,
    },
];

/// The generated assets, one FeatureCollection per layer.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleAssets {
    /// Towers: Point features with sectors and tenants.
    pub towers: geojson::FeatureCollection,
    /// Fibre routes: LineString features (backbone rings, feeders, and two
    /// schematic submarine cables).
    pub fibre_routes: geojson::FeatureCollection,
    /// Data centres: Point or small Polygon footprint features.
    pub data_centres: geojson::FeatureCollection,
}

/// Why generation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateError {
    /// No areas were given.
    #[error("no areas given: at least one district polygon is needed")]
    NoAreas,
    /// A parameter is out of range.
    #[error("parameter {name} {reason}")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An area cannot be used (empty or degenerate geometry, bad coordinates).
    #[error("area {code} cannot be used: {reason}")]
    InvalidArea {
        /// The area's code.
        code: String,
        /// What is wrong.
        reason: String,
    },
    /// Assets could not be placed in an area (e.g. it is far too small).
    #[error("could not place {what} in area {code}")]
    PlacementFailed {
        /// The area's code.
        code: String,
        /// What could not be placed.
        what: &'static str,
    },
    /// Input GeoJSON could not be read into areas or lines.
    #[error("invalid input GeoJSON: {0}")]
    InvalidInput(String),
}

/// Generates the sample assets.
///
/// * `areas`: the districts to place assets in (at least one); towers are
///   spread in proportion to [`Area::population`] (to the polygon area when
///   every population is 0).
/// * `transport_lines`: main roads and railways, lon/lat; backbone rings and
///   feeders roughly follow them where they are close. May be empty.
///
/// # Errors
/// [`GenerateError::InvalidParam`] for out-of-range parameters,
/// [`GenerateError::NoAreas`] / [`GenerateError::InvalidArea`] for unusable
/// areas, and [`GenerateError::PlacementFailed`] when an area is too small to
/// hold its share of assets.
pub fn generate(
    params: &GenerateParams,
    areas: &[Area],
    transport_lines: &[LineString<f64>],
) -> Result<SampleAssets, GenerateError> {
    params.validate()?;
    if areas.is_empty() {
        return Err(GenerateError::NoAreas);
    }
    let prepared = areas
        .iter()
        .map(PreparedArea::new)
        .collect::<Result<Vec<_>, _>>()?;
    let projection = LocalProjection::for_areas(&prepared);

    // One independent stream per layer.
    let layer_rng = |stream: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        rng.set_stream(stream);
        rng
    };

    let towers = towers::generate(
        &mut layer_rng(1),
        params.towers,
        &prepared,
        &projection,
        transport_lines,
    )?;
    let fibre_routes = fibre::generate(
        &mut layer_rng(2),
        params.fibre_km * 1000.0,
        &prepared,
        &projection,
        transport_lines,
        &towers.sites,
    )?;
    let data_centres = data_centres::generate(
        &mut layer_rng(3),
        params.data_centres,
        &prepared,
        &projection,
    )?;

    Ok(SampleAssets {
        towers: util::collection(towers.features),
        fibre_routes: util::collection(fibre_routes),
        data_centres: util::collection(data_centres),
    })
}

/// Reads areas from a districts FeatureCollection such as
/// `data/danang_districts.geojson`: properties `district_code`, `name`,
/// `pop_2019` (or `population`) and `unit_type_en` (`"rural district"` marks
/// a rural area); geometry Polygon or MultiPolygon, lon/lat.
///
/// # Errors
/// [`GenerateError::InvalidInput`] naming the feature and the missing or
/// malformed member.
pub fn areas_from_geojson(fc: &geojson::FeatureCollection) -> Result<Vec<Area>, GenerateError> {
    fc.features
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let bad = |what: &str| GenerateError::InvalidInput(format!("feature {i}: {what}"));
            let props = f.properties.as_ref().ok_or_else(|| bad("no properties"))?;
            let text = |key: &str| props.get(key).and_then(|v| v.as_str()).map(str::to_owned);
            let code = text("district_code")
                .or_else(|| text("code"))
                .ok_or_else(|| bad("no district_code"))?;
            let name = text("name").ok_or_else(|| bad("no name"))?;
            let population = ["pop_2019", "population"]
                .iter()
                .find_map(|k| props.get(*k).and_then(serde_json::Value::as_u64))
                .ok_or_else(|| bad("no pop_2019"))?;
            let rural = text("unit_type_en").is_some_and(|t| t.to_lowercase().contains("rural"));
            let geometry = f.geometry.as_ref().ok_or_else(|| bad("no geometry"))?;
            let geom: geo::Geometry<f64> = geometry
                .clone()
                .try_into()
                .map_err(|e| bad(&format!("geometry: {e}")))?;
            let geom = match geom {
                geo::Geometry::Polygon(p) => MultiPolygon::new(vec![p]),
                geo::Geometry::MultiPolygon(mp) => mp,
                _ => return Err(bad("geometry must be a Polygon or MultiPolygon")),
            };
            Ok(Area {
                code,
                name,
                population,
                geom,
                rural,
            })
        })
        .collect()
}

/// Reads the line strings of a FeatureCollection such as
/// `data/danang_major_transport_lines.geojson` (LineString and
/// MultiLineString features; other geometry types are skipped).
///
/// # Errors
/// [`GenerateError::InvalidInput`] when a geometry cannot be converted.
pub fn lines_from_geojson(
    fc: &geojson::FeatureCollection,
) -> Result<Vec<LineString<f64>>, GenerateError> {
    let mut lines = Vec::new();
    for (i, f) in fc.features.iter().enumerate() {
        let Some(geometry) = &f.geometry else {
            continue;
        };
        let geom: geo::Geometry<f64> = geometry
            .clone()
            .try_into()
            .map_err(|e| GenerateError::InvalidInput(format!("feature {i}: geometry: {e}")))?;
        match geom {
            geo::Geometry::LineString(l) => lines.push(l),
            geo::Geometry::MultiLineString(MultiLineString(ls)) => lines.extend(ls),
            _ => {}
        }
    }
    Ok(lines)
}
