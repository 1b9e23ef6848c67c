//! GeoJSON (RFC 7946) representations of stored assets: lon/lat order, no
//! `crs` member, exterior rings counter-clockwise and holes clockwise.
//!
//! Each feature has two forms:
//! - the **stored form** ([`TowerFeature`] without a coverage index): what the
//!   database holds and the client sent, nothing derived from configuration.
//!   The audit history records it and the ETag is its hash, so editing
//!   `config/coverage.toml` changes neither.
//! - the **served form** (with the index): the stored form plus derived
//!   values, today each modelled sector's `range_m` with
//!   `range_source: "model"`. An explicit `range_m` is echoed exactly as
//!   stored, with `range_source: "explicit"`.

use chrono::{DateTime, SecondsFormat, Utc};
use geo::orient::{Direction, Orient};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::coverage::index::{Area, CoverageIndex, RangeSource};
use crate::coverage::model::CoverageConfig;
use crate::domain::data_centre::DataCentre;
use crate::domain::district::District;
use crate::domain::duct_bank::DuctBank;
use crate::domain::fibre::FibreRoute;
use crate::domain::structure::Structure;
use crate::domain::tower::{Sector, Tower};
use crate::spatial::generalise::{Generalised, generalise};

/// A hypermedia link (OGC API – Common).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Link {
    /// Absolute URL.
    pub href: String,
    /// Relation type (`self`, `next`, `items`, …).
    pub rel: String,
    /// Media type of the target.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Human-readable title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// True when `href` is a URI template (OGC API – Common).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub templated: bool,
}

impl Link {
    /// A link with a media type and no title.
    pub fn new(href: impl Into<String>, rel: &str, type_: &str) -> Self {
        Self {
            href: href.into(),
            rel: rel.into(),
            type_: Some(type_.into()),
            title: None,
            templated: false,
        }
    }

    /// Marks `href` as a URI template.
    pub fn templated(mut self) -> Self {
        self.templated = true;
        self
    }

    /// Sets the title.
    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
}

/// GeoJSON geometry of `g`, with polygon rings oriented per RFC 7946.
pub fn geojson_geometry(g: &geo::Geometry<f64>) -> geojson::Geometry {
    let oriented = match g {
        geo::Geometry::Polygon(p) => geo::Geometry::Polygon(p.orient(Direction::Default)),
        geo::Geometry::MultiPolygon(mp) => {
            geo::Geometry::MultiPolygon(mp.orient(Direction::Default))
        }
        other => other.clone(),
    };
    geojson::Geometry::new(geojson::Value::from(&oriented))
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Writes the common Feature envelope: `type`, `id`, `geometry`, then the
/// properties produced by `props`, then optional `links`.
fn feature<S: Serializer, I: Serialize, G: Serialize, P: Serialize>(
    s: S,
    id: I,
    geometry: G,
    props: P,
    links: Option<&[Link]>,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    m.serialize_entry("type", "Feature")?;
    m.serialize_entry("id", &id)?;
    m.serialize_entry("geometry", &geometry)?;
    m.serialize_entry("properties", &props)?;
    if let Some(l) = links {
        m.serialize_entry("links", l)?;
    }
    m.end()
}

#[derive(Serialize)]
struct PointGeometry {
    #[serde(rename = "type")]
    type_: &'static str,
    coordinates: [f64; 2],
}

#[derive(Serialize)]
struct SectorProps<'a> {
    id: i64,
    operator: &'a str,
    technology: &'a str,
    frequency_mhz: f64,
    azimuth_deg: f64,
    beamwidth_deg: f64,
    tilt_deg: f64,
    height_m: f64,
    eirp_dbm: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_m: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_source: Option<RangeSource>,
}

impl<'a> SectorProps<'a> {
    /// The sector's properties; the modelled range (rounded to 0.1 m) only
    /// when `ranges` are given, an explicit range always and exactly.
    fn new(t: &Tower, s: &'a Sector, ranges: Option<Ranges<'_>>) -> Self {
        let (range_m, range_source) = match (s.range_m, ranges) {
            (Some(r), _) => (Some(r), Some(RangeSource::Explicit)),
            (None, Some(ranges)) => {
                let (r, source) = match ranges {
                    Ranges::Current(index) => index.range_of(t, s),
                    Ranges::Past(index) => index.model_range(t, s),
                    Ranges::Model(config, areas) => {
                        CoverageIndex::model_range_with(config, areas, t, s)
                    }
                };
                (Some((r * 10.0).round() / 10.0), Some(source))
            }
            (None, None) => (None, None),
        };
        SectorProps {
            id: s.id.get(),
            operator: &s.operator,
            technology: s.technology.as_str(),
            frequency_mhz: s.frequency_mhz,
            azimuth_deg: s.azimuth_deg,
            beamwidth_deg: s.beamwidth_deg,
            tilt_deg: s.tilt_deg,
            height_m: s.height_m,
            eirp_dbm: s.eirp_dbm,
            range_m,
            range_source,
        }
    }
}

#[derive(Serialize)]
struct TowerProps<'a> {
    operator: &'a str,
    site_code: &'a str,
    name: Option<&'a str>,
    structure_type: &'a str,
    mast_class: &'static str,
    height_m: f64,
    status: &'a str,
    tenants: &'a [String],
    external_id: Option<&'a str>,
    synthetic: bool,
    sectors: Vec<SectorProps<'a>>,
    created_at: String,
    updated_at: String,
}

/// Where the modelled sector ranges of the served form come from.
#[derive(Debug, Clone, Copy)]
pub enum Ranges<'a> {
    /// The index's own entries (a live tower: the ranges coverage uses).
    Current(&'a CoverageIndex),
    /// Computed from the sector's parameters with the index's model (a
    /// tower as it was, whose sectors may differ from the indexed ones).
    Past(&'a CoverageIndex),
    /// Computed with this model configuration and these clutter areas (the
    /// read model: the same numbers as the index's, which computed its
    /// entries the same way from the same districts).
    Model(&'a CoverageConfig, &'a [Area]),
}

/// A tower as a GeoJSON Feature; its sectors are the array `sectors`. With
/// ranges (the served form) each sector carries the range the coverage
/// model gives it and its source; without (the stored form) only an
/// explicit range.
pub struct TowerFeature<'a>(
    pub &'a Tower,
    pub Option<&'a [Link]>,
    pub Option<Ranges<'a>>,
);

impl Serialize for TowerFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let props = TowerProps {
            operator: &t.operator,
            site_code: &t.site_code,
            name: t.name.as_deref(),
            structure_type: t.structure_type.as_str(),
            mast_class: t.mast_class().as_str(),
            height_m: t.height_m,
            status: t.status.as_str(),
            tenants: &t.tenants,
            external_id: t.external_id.as_deref(),
            synthetic: t.synthetic,
            sectors: t
                .sectors
                .iter()
                .map(|s| SectorProps::new(t, s, self.2))
                .collect(),
            created_at: ts(&t.created_at),
            updated_at: ts(&t.updated_at),
        };
        feature(
            s,
            t.id,
            PointGeometry {
                type_: "Point",
                coordinates: [t.lon, t.lat],
            },
            props,
            self.1,
        )
    }
}

#[derive(Serialize)]
struct FibreProps<'a> {
    operator: &'a str,
    name: Option<&'a str>,
    placement: &'a str,
    fibre_count: i32,
    capacity_gbps: Option<f64>,
    status: &'a str,
    length_m: f64,
    external_id: Option<&'a str>,
    synthetic: bool,
    created_at: String,
    updated_at: String,
}

/// A fibre route as a GeoJSON Feature.
pub struct FibreFeature<'a>(pub &'a FibreRoute, pub Option<&'a [Link]>);

impl Serialize for FibreFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let props = FibreProps {
            operator: &f.operator,
            name: f.name.as_deref(),
            placement: f.placement.as_str(),
            fibre_count: f.fibre_count,
            capacity_gbps: f.capacity_gbps,
            status: f.status.as_str(),
            length_m: (f.length_m * 10.0).round() / 10.0,
            external_id: f.external_id.as_deref(),
            synthetic: f.synthetic,
            created_at: ts(&f.created_at),
            updated_at: ts(&f.updated_at),
        };
        feature(s, f.id, geojson_geometry(&f.geometry), props, self.1)
    }
}

#[derive(Serialize)]
struct GeneralisedFibreProps<'a> {
    operator: &'a str,
    placement: &'a str,
    status: &'a str,
    synthetic: bool,
    generalised: bool,
    h3_resolution: u8,
    h3_cells: Vec<String>,
    created_at: String,
    updated_at: String,
}

/// A fibre route generalised for viewers who may not see its exact path: a
/// GeoJSON Feature with the route's `id` whose geometry is the outline
/// (MultiPolygon, lon/lat) of the H3 cells at [`FIBRE_H3_RESOLUTION`](crate::spatial::generalise::FIBRE_H3_RESOLUTION) (coarser for a route longer than about 5,000 km: [`route_resolution`](crate::spatial::generalise::route_resolution)) that
/// the route passes through ([`fibre_cells`](crate::spatial::generalise::fibre_cells), [`cells_outline`](crate::spatial::generalise::cells_outline)).
///
/// Properties: `operator`, `placement`, `status`, `synthetic`,
/// `generalised: true`, `h3_resolution` (8 but for very long routes), `h3_cells` (sorted cell
/// indexes as lowercase hex strings, the H3 convention), `created_at`,
/// `updated_at`. Name, fibre count, capacity, length and external id are
/// left out: they describe the route itself.
pub struct GeneralisedFibreFeature<'a>(pub &'a FibreRoute, pub Option<&'a [Link]>);

/// [`GeneralisedFibreFeature`] with the route's generalisation already
/// computed (on the CPU pool): serialising it does no geometry work.
pub struct GeneralisedWith<'a>(
    pub &'a FibreRoute,
    pub Option<&'a [Link]>,
    pub &'a Generalised,
);

impl Serialize for GeneralisedFibreFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        GeneralisedWith(self.0, self.1, &generalise(&self.0.geometry)).serialize(s)
    }
}

impl Serialize for GeneralisedWith<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (f, g) = (self.0, self.2);
        let (cells, outline) = (&g.cells, g.outline.clone());
        let props = GeneralisedFibreProps {
            operator: &f.operator,
            placement: f.placement.as_str(),
            status: f.status.as_str(),
            synthetic: f.synthetic,
            generalised: true,
            h3_resolution: u8::from(g.resolution),
            h3_cells: cells.iter().map(ToString::to_string).collect(),
            created_at: ts(&f.created_at),
            updated_at: ts(&f.updated_at),
        };
        let geom = geojson_geometry(&geo::Geometry::MultiPolygon(outline));
        feature(s, f.id, geom, props, self.1)
    }
}

#[derive(Serialize)]
struct DataCentreProps<'a> {
    operator: &'a str,
    name: &'a str,
    tier: Option<i16>,
    power_mw: Option<f64>,
    racks: Option<i32>,
    status: &'a str,
    external_id: Option<&'a str>,
    synthetic: bool,
    created_at: String,
    updated_at: String,
}

/// A data centre as a GeoJSON Feature.
pub struct DataCentreFeature<'a>(pub &'a DataCentre, pub Option<&'a [Link]>);

impl Serialize for DataCentreFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let props = DataCentreProps {
            operator: &d.operator,
            name: &d.name,
            tier: d.tier,
            power_mw: d.power_mw,
            racks: d.racks,
            status: d.status.as_str(),
            external_id: d.external_id.as_deref(),
            synthetic: d.synthetic,
            created_at: ts(&d.created_at),
            updated_at: ts(&d.updated_at),
        };
        feature(s, d.id, geojson_geometry(&d.geometry), props, self.1)
    }
}

#[derive(Serialize)]
struct DistrictProps<'a> {
    code: &'a str,
    name: &'a str,
    name_ascii: &'a str,
    population: i64,
    area_km2: f64,
    created_at: String,
    updated_at: String,
}

/// A district as a GeoJSON Feature; its id is its code.
pub struct DistrictFeature<'a>(pub &'a District, pub Option<&'a [Link]>);

impl Serialize for DistrictFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let props = DistrictProps {
            code: d.code.as_str(),
            name: &d.name,
            name_ascii: &d.name_ascii,
            population: d.population,
            area_km2: (d.area_km2 * 1000.0).round() / 1000.0,
            created_at: ts(&d.created_at),
            updated_at: ts(&d.updated_at),
        };
        let geom = geojson_geometry(&geo::Geometry::MultiPolygon(d.geometry.clone()));
        feature(s, &d.code, geom, props, self.1)
    }
}

/// A page of features (OGC API – Features `items` response).
#[derive(Serialize)]
pub struct FeatureCollection<F: Serialize> {
    /// Always `FeatureCollection`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// The features of this page.
    pub features: Vec<F>,
    /// Features matching the query, over all pages.
    #[serde(rename = "numberMatched")]
    pub number_matched: i64,
    /// Features in this page.
    #[serde(rename = "numberReturned")]
    pub number_returned: usize,
    /// When the response was produced (RFC 3339).
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    /// `self`, `next`, `prev` and `collection` links.
    pub links: Vec<Link>,
}

/// Now as RFC 3339 (UTC, seconds).
pub fn now_stamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spatial::generalise::{cells_outline, fibre_cells};
    use chrono::TimeZone;
    use geo::line_string;
    use serde_json::json;

    fn route() -> FibreRoute {
        FibreRoute {
            id: crate::domain::FibreRouteId(42),
            operator: "viettel".into(),
            name: Some("Secret ring".into()),
            placement: crate::domain::fibre::Placement::Underground,
            fibre_count: 96,
            capacity_gbps: Some(400.0),
            status: crate::domain::Status::Operational,
            external_id: Some("VT-RING-7".into()),
            synthetic: true,
            length_m: 1234.5,
            // lon/lat: along Bạch Đằng, about 1.2 km.
            geometry: geo::Geometry::LineString(line_string![
                (x: 108.2240, y: 16.0600),
                (x: 108.2245, y: 16.0710),
            ]),
            created_at: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
            updated_at: Utc.with_ymd_and_hms(2025, 6, 7, 8, 9, 10).unwrap(),
        }
    }

    #[test]
    fn a_generalised_fibre_feature_shows_cells_and_hides_the_route() {
        let r = route();
        let links = [Link::new(
            "http://x/fibre-routes/items/42",
            "self",
            "application/geo+json",
        )];
        let got = serde_json::to_value(GeneralisedFibreFeature(&r, Some(&links))).unwrap();
        let cells = fibre_cells(&r.geometry);
        assert!(cells.len() >= 2, "{cells:?}");
        let hex: Vec<String> = cells
            .iter()
            .map(|c| format!("{:x}", u64::from(*c)))
            .collect();
        let geometry = serde_json::to_value(geojson_geometry(&geo::Geometry::MultiPolygon(
            cells_outline(&cells),
        )))
        .unwrap();
        assert_eq!(
            got,
            json!({
                "type": "Feature",
                "id": 42,
                "geometry": geometry,
                "properties": {
                    "operator": "viettel",
                    "placement": "underground",
                    "status": "operational",
                    "synthetic": true,
                    "generalised": true,
                    "h3_resolution": 8,
                    "h3_cells": hex,
                    "created_at": "2025-01-02T03:04:05.000Z",
                    "updated_at": "2025-06-07T08:09:10.000Z"
                },
                "links": [{"href": "http://x/fibre-routes/items/42", "rel": "self", "type": "application/geo+json"}]
            })
        );
        assert_eq!(got["geometry"]["type"], "MultiPolygon");
        // No vertex of the route appears in the output.
        let text = got.to_string();
        for c in ["108.224,", "108.2245", "16.06,", "16.071"] {
            assert!(!text.contains(c), "{c} leaked");
        }
    }
}

#[derive(Serialize)]
struct StructureProps<'a> {
    owner: &'a str,
    kind: &'a str,
    name: Option<&'a str>,
    status: &'a str,
    external_id: Option<&'a str>,
    synthetic: bool,
    created_at: String,
    updated_at: String,
}

/// A structure of the duct network as a GeoJSON Feature (a Point).
pub struct StructureFeature<'a>(pub &'a Structure, pub Option<&'a [Link]>);

impl Serialize for StructureFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let x = self.0;
        let props = StructureProps {
            owner: x.owner.as_str(),
            kind: x.kind.as_str(),
            name: x.name.as_deref(),
            status: x.status.as_str(),
            external_id: x.external_id.as_deref(),
            synthetic: x.synthetic,
            created_at: ts(&x.created_at),
            updated_at: ts(&x.updated_at),
        };
        let geom = PointGeometry {
            type_: "Point",
            coordinates: [x.lon, x.lat],
        };
        feature(s, x.id, geom, props, self.1)
    }
}

#[derive(Serialize)]
struct SubductDoc<'a> {
    id: Option<i64>,
    position: &'a str,
    inner_diameter_mm: f64,
    outer_diameter_mm: f64,
    colour: Option<&'a str>,
}

#[derive(Serialize)]
struct DuctDoc<'a> {
    id: Option<i64>,
    position: &'a str,
    inner_diameter_mm: f64,
    material: Option<&'a str>,
    subducts: Vec<SubductDoc<'a>>,
}

#[derive(Serialize)]
struct DuctBankProps<'a> {
    owner: &'a str,
    from_structure_id: i64,
    to_structure_id: i64,
    name: Option<&'a str>,
    configuration: Option<&'a str>,
    encasement: Option<&'a str>,
    depth_m: Option<f64>,
    status: &'a str,
    external_id: Option<&'a str>,
    synthetic: bool,
    length_m: f64,
    ducts: Vec<DuctDoc<'a>>,
    created_at: String,
    updated_at: String,
}

/// A duct bank as a GeoJSON Feature (a LineString) with its ducts and
/// their subducts in `properties.ducts`.
pub struct DuctBankFeature<'a>(pub &'a DuctBank, pub Option<&'a [Link]>);

impl Serialize for DuctBankFeature<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let b = self.0;
        let props = DuctBankProps {
            owner: b.owner.as_str(),
            from_structure_id: b.from_structure_id,
            to_structure_id: b.to_structure_id,
            name: b.name.as_deref(),
            configuration: b.configuration.as_deref(),
            encasement: b
                .encasement
                .map(crate::domain::duct_bank::Encasement::as_str),
            depth_m: b.depth_m,
            status: b.status.as_str(),
            external_id: b.external_id.as_deref(),
            synthetic: b.synthetic,
            length_m: b.length_m,
            ducts: b
                .ducts
                .iter()
                .map(|d| DuctDoc {
                    id: d.id,
                    position: &d.position,
                    inner_diameter_mm: d.inner_diameter_mm,
                    material: d
                        .material
                        .map(crate::domain::duct_bank::DuctMaterial::as_str),
                    subducts: d
                        .subducts
                        .iter()
                        .map(|x| SubductDoc {
                            id: x.id,
                            position: &x.position,
                            inner_diameter_mm: x.inner_diameter_mm,
                            outer_diameter_mm: x.outer_diameter_mm,
                            colour: x.colour.as_deref(),
                        })
                        .collect(),
                })
                .collect(),
            created_at: ts(&b.created_at),
            updated_at: ts(&b.updated_at),
        };
        let geom = geojson_geometry(&geo::Geometry::LineString(b.geometry.clone()));
        feature(s, b.id, geom, props, self.1)
    }
}
