//! The feature collections the service publishes.

use serde::Serialize;

/// A published feature collection (OGC API – Features collection id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub enum CollectionId {
    /// Mobile sites (Point) with their antenna sectors.
    #[serde(rename = "towers")]
    Towers,
    /// Fibre-optic cable routes (LineString or MultiLineString).
    #[serde(rename = "fibre-routes")]
    FibreRoutes,
    /// Data-centre sites (Point or Polygon).
    #[serde(rename = "data-centres")]
    DataCentres,
    /// Analysis areas: the city's districts (MultiPolygon).
    #[serde(rename = "districts")]
    Districts,
    /// Structures of the underground network (Point): manholes, cabinets, …
    #[serde(rename = "structures")]
    Structures,
    /// Duct banks between two structures (LineString) with their ducts.
    #[serde(rename = "duct-banks")]
    DuctBanks,
}

impl CollectionId {
    /// Every collection, in the order the service lists them.
    pub const ALL: [CollectionId; 6] = [
        CollectionId::Towers,
        CollectionId::FibreRoutes,
        CollectionId::DataCentres,
        CollectionId::Districts,
        CollectionId::Structures,
        CollectionId::DuctBanks,
    ];

    /// The collection id used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            CollectionId::Towers => "towers",
            CollectionId::FibreRoutes => "fibre-routes",
            CollectionId::DataCentres => "data-centres",
            CollectionId::Districts => "districts",
            CollectionId::Structures => "structures",
            CollectionId::DuctBanks => "duct-banks",
        }
    }

    /// Parses a collection id from a URL segment.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Human-readable title.
    pub fn title(self) -> &'static str {
        match self {
            CollectionId::Towers => "Towers and antenna sectors",
            CollectionId::FibreRoutes => "Fibre routes",
            CollectionId::DataCentres => "Data centres",
            CollectionId::Districts => "Districts (analysis areas)",
            CollectionId::Structures => "Structures (manholes, handholes, cabinets, …)",
            CollectionId::DuctBanks => "Duct banks and their ducts",
        }
    }

    /// One-paragraph description.
    pub fn description(self) -> &'static str {
        match self {
            CollectionId::Towers => {
                "Mobile sites of every carrier: structure, height, status, co-located tenant \
                 operators, and the antenna sectors mounted on each (property `sectors`)."
            }
            CollectionId::FibreRoutes => {
                "Fibre-optic cable routes with placement (underground, aerial, submarine), fibre \
                 count, capacity and geodesic length in metres."
            }
            CollectionId::DataCentres => {
                "Data-centre sites (point or footprint polygon) with Uptime tier, power and racks."
            }
            CollectionId::Districts => {
                "Analysis areas: Đà Nẵng's districts with 2019 census population and geodesic area."
            }
            CollectionId::Structures => {
                "Structures of the shared underground network where duct banks begin and end: \
                 manholes, handholes, cabinets, poles, vaults and building entrances, owned by the \
                 city or an operator."
            }
            CollectionId::DuctBanks => {
                "Duct banks between two structures with their ducts (property `ducts`, positions \
                 like A1) and the subducts within each duct; geodesic length in metres. Occupancy \
                 and free capacity: /ducts/capacity and /ducts/leases."
            }
        }
    }

    /// Geometry types a feature of this collection may have (GeoJSON names).
    pub fn geometry_types(self) -> &'static [&'static str] {
        match self {
            CollectionId::Towers => &["Point"],
            CollectionId::FibreRoutes => &["LineString", "MultiLineString"],
            CollectionId::DataCentres => &["Point", "Polygon"],
            CollectionId::Districts => &["Polygon", "MultiPolygon"],
            CollectionId::Structures => &["Point"],
            CollectionId::DuctBanks => &["LineString"],
        }
    }

    /// Whether feature ids of this collection are integers (else text codes).
    pub fn numeric_ids(self) -> bool {
        !matches!(self, CollectionId::Districts)
    }

    /// True for the layers the in-memory read model holds; the others
    /// (the duct network's) are read from PostGIS on every request.
    pub fn in_read_model(self) -> bool {
        !matches!(self, CollectionId::Structures | CollectionId::DuctBanks)
    }

    /// True for the layers of the shared underground network (issue 17).
    pub fn is_duct_network(self) -> bool {
        matches!(self, CollectionId::Structures | CollectionId::DuctBanks)
    }
}

impl std::fmt::Display for CollectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
