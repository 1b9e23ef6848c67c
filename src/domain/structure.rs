//! Structures of the underground network (issue 17): manholes, handholes,
//! cabinets, poles, vaults and building entrances, where duct banks begin
//! and end. Also the owner of a duct-network asset ([`Owner`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::props::Props;
use super::{CollectionId, Invalid, geometry, text_enum};

/// Properties the service computes; ignored on input.
pub const READ_ONLY: &[&str] = &["id", "created_at", "updated_at"];

/// The owner of a structure or a duct bank: the city (the Department) or an
/// operator. In documents: `"city"` or the operator's id; stored as a null
/// or the operator id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The city.
    City,
    /// An operator (its id).
    Operator(String),
}

impl Owner {
    /// The text of a city-owned asset's `owner`.
    pub const CITY: &'static str = "city";

    /// From a document's text (`"city"` or an operator id).
    pub fn from_text(s: &str) -> Self {
        if s == Self::CITY {
            Owner::City
        } else {
            Owner::Operator(s.to_owned())
        }
    }

    /// From the stored column (null: the city).
    pub fn from_column(operator_id: Option<String>) -> Self {
        operator_id.map_or(Owner::City, Owner::Operator)
    }

    /// The stored column (null for the city).
    pub fn column(&self) -> Option<&str> {
        match self {
            Owner::City => None,
            Owner::Operator(o) => Some(o),
        }
    }

    /// The text in documents.
    pub fn as_str(&self) -> &str {
        self.column().unwrap_or(Self::CITY)
    }

    /// True for the city.
    pub fn is_city(&self) -> bool {
        *self == Owner::City
    }
}

text_enum! {
    /// What kind of structure.
    StructureKind {
        Manhole => "manhole",
        Handhole => "handhole",
        Cabinet => "cabinet",
        Pole => "pole",
        Vault => "vault",
        BuildingEntrance => "building_entrance",
    }
}

text_enum! {
    /// Life-cycle status of a structure or a duct bank.
    NetworkStatus {
        Planned => "planned",
        Construction => "construction",
        Active => "active",
        Retired => "retired",
    }
}

/// Reads the `owner` member (required): `"city"` or an operator id.
pub(crate) fn read_owner(p: &mut Props<'_>) -> Option<Owner> {
    p.req_str("owner", 63).map(|s| Owner::from_text(&s))
}

/// A validated structure to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStructure {
    /// Owner.
    pub owner: Owner,
    /// Kind.
    pub kind: StructureKind,
    /// Name or label.
    pub name: Option<String>,
    /// Life-cycle status.
    pub status: NetworkStatus,
    /// The owner's identifier, unique per owner.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
}

impl NewStructure {
    /// Validates a structure Feature (a Point).
    ///
    /// # Errors
    /// Every problem found, with JSON Pointers into the Feature.
    pub fn from_feature(
        geometry: Option<&Value>,
        properties: &serde_json::Map<String, Value>,
    ) -> Result<Self, Invalid> {
        let mut errors = Invalid::default();
        let point = match geometry::parse_geometry(geometry, CollectionId::Structures, "/geometry")
        {
            Ok(geo::Geometry::Point(p)) => Some(p),
            Ok(_) => None,
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        let mut p = Props::new(properties, "/properties");
        p.ignore(READ_ONLY);
        let owner = read_owner(&mut p);
        let kind: Option<StructureKind> = p.req_enum("kind");
        let name = p.opt_str("name", 200);
        let status = p.opt_enum("status").unwrap_or(NetworkStatus::Active);
        let external_id = p.opt_str("external_id", 128);
        let synthetic = p.opt_bool("synthetic").unwrap_or(false);
        errors.extend(p.finish());
        match (point, owner, kind) {
            (Some(pt), Some(owner), Some(kind)) if errors.is_empty() => Ok(Self {
                owner,
                kind,
                name,
                status,
                external_id,
                synthetic,
                lon: pt.x(),
                lat: pt.y(),
            }),
            _ => Err(errors),
        }
    }
}

/// A stored structure.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    /// Structure id.
    pub id: i64,
    /// Owner.
    pub owner: Owner,
    /// Kind.
    pub kind: StructureKind,
    /// Name or label.
    pub name: Option<String>,
    /// Status.
    pub status: NetworkStatus,
    /// The owner's identifier.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl NewStructure {
    /// True when storing `self` over `stored` would change nothing.
    pub fn same_as(&self, stored: &Structure) -> bool {
        self.owner == stored.owner
            && self.kind == stored.kind
            && self.name == stored.name
            && self.status == stored.status
            && self.external_id == stored.external_id
            && self.synthetic == stored.synthetic
            && self.lon == stored.lon
            && self.lat == stored.lat
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<NewStructure, Invalid> {
        let geometry = v.get("geometry");
        let empty = serde_json::Map::new();
        let props = v["properties"].as_object().unwrap_or(&empty);
        NewStructure::from_feature(geometry, props)
    }

    #[test]
    fn a_city_manhole_is_read_with_the_defaults() {
        let s = parse(json!({
            "geometry": {"type": "Point", "coordinates": [108.2, 16.05]},
            "properties": {"owner": "city", "kind": "manhole"}
        }))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(s.owner, Owner::City);
        assert_eq!(s.kind, StructureKind::Manhole);
        assert_eq!(s.status, NetworkStatus::Active);
        assert_eq!((s.lon, s.lat), (108.2, 16.05));
    }

    #[test]
    fn a_structure_of_an_unknown_kind_is_refused_with_the_accepted_kinds() {
        let e = parse(json!({
            "geometry": {"type": "Point", "coordinates": [108.2, 16.05]},
            "properties": {"owner": "vnpt", "kind": "tunnel", "status": "operational"}
        }))
        .unwrap_err();
        let pointers: Vec<&str> = e.errors.iter().map(|x| x.pointer.as_str()).collect();
        assert_eq!(pointers, ["/properties/kind", "/properties/status"]);
        assert!(e.errors[0].detail.contains("building_entrance"), "{e:?}");
    }
}
