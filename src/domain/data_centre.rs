//! Data-centre sites.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::props::Props;
use super::{DataCentreId, Invalid, Status, geometry};

/// Bounds enforced on input.
pub mod bounds {
    /// Uptime Institute tier.
    pub const TIER: (i64, i64) = (1, 4);
    /// IT power capacity, MW.
    pub const POWER_MW: (f64, f64) = (0.0, 1000.0);
    /// Rack positions.
    pub const RACKS: (i64, i64) = (0, 1_000_000);
}

/// Properties the service computes; ignored on input.
pub const READ_ONLY: &[&str] = &["id", "created_at", "updated_at"];

/// A validated data centre to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDataCentre {
    /// Operating company id.
    pub operator: String,
    /// Name.
    pub name: String,
    /// Uptime tier 1–4.
    pub tier: Option<i16>,
    /// IT power, MW.
    pub power_mw: Option<f64>,
    /// Rack positions.
    pub racks: Option<i32>,
    /// Life-cycle status.
    pub status: Status,
    /// The owner's identifier, unique per operator.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Point or Polygon footprint, lon/lat.
    pub geometry: geo::Geometry<f64>,
}

impl NewDataCentre {
    /// True when storing `self` over `stored` would change nothing (same
    /// attributes and exactly the same lon/lat geometry; a polygon is
    /// compared after orienting its exterior ring counter-clockwise, as
    /// stored).
    pub fn same_as(&self, stored: &DataCentre) -> bool {
        use geo::orient::{Direction, Orient};
        let mine = match &self.geometry {
            geo::Geometry::Polygon(p) => geo::Geometry::Polygon(p.orient(Direction::Default)),
            g => g.clone(),
        };
        self.operator == stored.operator
            && self.name == stored.name
            && self.tier == stored.tier
            && self.power_mw == stored.power_mw
            && self.racks == stored.racks
            && self.status == stored.status
            && self.external_id == stored.external_id
            && self.synthetic == stored.synthetic
            && mine == stored.geometry
    }

    /// Validates a data-centre Feature.
    ///
    /// # Errors
    /// Every problem found, with JSON Pointers into the Feature.
    pub fn from_feature(
        geometry: Option<&Value>,
        properties: &serde_json::Map<String, Value>,
    ) -> Result<Self, Invalid> {
        let mut errors = Invalid::default();
        let geom =
            geometry::parse_geometry(geometry, super::CollectionId::DataCentres, "/geometry")
                .map_err(|e| errors.extend(e))
                .ok();
        let mut p = Props::new(properties, "/properties");
        p.ignore(READ_ONLY);
        let operator = p.req_str("operator", 63);
        let name = p.req_str("name", 200);
        let tier = p.req_i64("tier", bounds::TIER.0, bounds::TIER.1);
        let power_mw = p.opt_f64("power_mw", bounds::POWER_MW.0, bounds::POWER_MW.1);
        let racks = p.opt_i64("racks", bounds::RACKS.0, bounds::RACKS.1);
        let status = p.opt_enum("status").unwrap_or(Status::Operational);
        let external_id = p.opt_str("external_id", 128);
        let synthetic = p.opt_bool("synthetic").unwrap_or(false);
        errors.extend(p.finish());
        match (geom, operator, name, tier) {
            (Some(geometry), Some(operator), Some(name), Some(tier)) if errors.is_empty() => {
                Ok(Self {
                    operator,
                    name,
                    tier: Some(tier as i16),
                    power_mw,
                    racks: racks.map(|r| r as i32),
                    status,
                    external_id,
                    synthetic,
                    geometry,
                })
            }
            _ => Err(errors),
        }
    }
}

/// A stored data centre.
#[derive(Debug, Clone, PartialEq)]
pub struct DataCentre {
    /// Data-centre id.
    pub id: DataCentreId,
    /// Operating company id.
    pub operator: String,
    /// Name.
    pub name: String,
    /// Uptime tier.
    pub tier: Option<i16>,
    /// IT power, MW.
    pub power_mw: Option<f64>,
    /// Rack positions.
    pub racks: Option<i32>,
    /// Status.
    pub status: Status,
    /// The owner's identifier.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Point or Polygon, lon/lat.
    pub geometry: geo::Geometry<f64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}
