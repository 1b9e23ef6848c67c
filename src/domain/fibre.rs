//! Fibre-optic cable routes.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::props::Props;
use super::{FibreRouteId, Invalid, Status, geometry, text_enum};

text_enum! {
    /// How a cable is laid.
    Placement {
        Underground => "underground",
        Aerial => "aerial",
        Submarine => "submarine",
    }
}

/// Bounds enforced on input.
pub mod bounds {
    /// Fibres (strands) in the cable.
    pub const FIBRE_COUNT: (i64, i64) = (1, 10_000);
    /// Design capacity, Gbit/s.
    pub const CAPACITY_GBPS: (f64, f64) = (0.0, 1_000_000.0);
}

/// Properties the service computes; ignored on input.
pub const READ_ONLY: &[&str] = &["id", "length_m", "created_at", "updated_at"];

/// A validated fibre route to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFibreRoute {
    /// Owning operator id.
    pub operator: String,
    /// Display name.
    pub name: Option<String>,
    /// Placement.
    pub placement: Placement,
    /// Number of fibres (strands), > 0.
    pub fibre_count: i32,
    /// Design capacity, Gbit/s.
    pub capacity_gbps: Option<f64>,
    /// Life-cycle status.
    pub status: Status,
    /// The owner's identifier, unique per operator.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// LineString or MultiLineString, lon/lat.
    pub geometry: geo::Geometry<f64>,
}

impl NewFibreRoute {
    /// Submarine or terrestrial, for [`super::region::ServiceRegion::check`].
    pub fn route(&self) -> super::region::Route {
        if self.placement == Placement::Submarine {
            super::region::Route::Submarine
        } else {
            super::region::Route::Terrestrial
        }
    }

    /// True when storing `self` over `stored` would change nothing (same
    /// attributes and exactly the same lon/lat geometry).
    pub fn same_as(&self, stored: &FibreRoute) -> bool {
        self.operator == stored.operator
            && self.name == stored.name
            && self.placement == stored.placement
            && self.fibre_count == stored.fibre_count
            && self.capacity_gbps == stored.capacity_gbps
            && self.status == stored.status
            && self.external_id == stored.external_id
            && self.synthetic == stored.synthetic
            && self.geometry == stored.geometry
    }

    /// Validates a fibre-route Feature.
    ///
    /// # Errors
    /// Every problem found, with JSON Pointers into the Feature.
    pub fn from_feature(
        geometry: Option<&Value>,
        properties: &serde_json::Map<String, Value>,
    ) -> Result<Self, Invalid> {
        let mut errors = Invalid::default();
        let geom =
            geometry::parse_geometry(geometry, super::CollectionId::FibreRoutes, "/geometry")
                .map_err(|e| errors.extend(e))
                .ok();
        let mut p = Props::new(properties, "/properties");
        p.ignore(READ_ONLY);
        let operator = p.req_str("operator", 63);
        let name = p.opt_str("name", 200);
        let placement: Option<Placement> = p.req_enum("placement");
        let fibre_count = p.req_i64("fibre_count", bounds::FIBRE_COUNT.0, bounds::FIBRE_COUNT.1);
        let capacity_gbps = p.opt_f64(
            "capacity_gbps",
            bounds::CAPACITY_GBPS.0,
            bounds::CAPACITY_GBPS.1,
        );
        let status: Status = p.opt_enum("status").unwrap_or(Status::Operational);
        let external_id = p.opt_str("external_id", 128);
        let synthetic = p.opt_bool("synthetic").unwrap_or(false);
        errors.extend(p.finish());
        match (geom, operator, placement, fibre_count) {
            (Some(geometry), Some(operator), Some(placement), Some(fibre_count))
                if errors.is_empty() =>
            {
                Ok(Self {
                    operator,
                    name,
                    placement,
                    fibre_count: fibre_count as i32,
                    capacity_gbps,
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

/// A stored fibre route.
#[derive(Debug, Clone, PartialEq)]
pub struct FibreRoute {
    /// Route id.
    pub id: FibreRouteId,
    /// Owning operator id.
    pub operator: String,
    /// Display name.
    pub name: Option<String>,
    /// Placement.
    pub placement: Placement,
    /// Number of fibres.
    pub fibre_count: i32,
    /// Capacity, Gbit/s.
    pub capacity_gbps: Option<f64>,
    /// Status.
    pub status: Status,
    /// The owner's identifier.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Geodesic length on WGS84, metres.
    pub length_m: f64,
    /// LineString or MultiLineString, lon/lat.
    pub geometry: geo::Geometry<f64>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}
