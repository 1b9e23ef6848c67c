//! Towers (mobile sites) and the antenna sectors mounted on them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::props::Props;
use super::{Invalid, SectorId, Status, TowerId, geometry, text_enum};

text_enum! {
    /// Physical structure of a site.
    StructureType {
        Monopole => "monopole",
        Lattice => "lattice",
        Guyed => "guyed",
        Rooftop => "rooftop",
        Camouflaged => "camouflaged",
        Compact => "compact",
    }
}

text_enum! {
    /// The city's mast classes: bulky masts ("type 1") versus compact or
    /// camouflaged ones ("type 2") that the plan pushes towards.
    MastClass {
        /// Bulky mast: monopole, lattice, guyed or rooftop mast.
        Type1 => "type_1",
        /// Compact or camouflaged mast.
        Type2 => "type_2",
    }
}

impl StructureType {
    /// The mast class of this structure type.
    pub fn mast_class(self) -> MastClass {
        match self {
            StructureType::Camouflaged | StructureType::Compact => MastClass::Type2,
            _ => MastClass::Type1,
        }
    }
}

text_enum! {
    /// Radio access technology of a sector.
    Technology {
        G2 => "2G",
        G3 => "3G",
        G4 => "4G",
        G5 => "5G",
    }
}

impl Technology {
    /// Carrier-frequency ranges accepted for the technology, in MHz (the
    /// 3GPP operating bands used by GSM, UMTS, LTE and NR FR1/FR2).
    pub fn bands_mhz(self) -> &'static [(f64, f64)] {
        match self {
            Technology::G2 => &[(380.0, 1990.0)],
            Technology::G3 => &[(700.0, 2690.0)],
            Technology::G4 => &[(410.0, 5925.0)],
            Technology::G5 => &[(410.0, 7125.0), (24250.0, 52600.0)],
        }
    }
}

/// Bounds enforced on input (units in the names).
pub mod bounds {
    /// Structure and antenna heights above ground, metres.
    pub const HEIGHT_M: (f64, f64) = (0.0, 300.0);
    /// Azimuth clockwise from true north, degrees.
    pub const AZIMUTH_DEG: (f64, f64) = (0.0, 360.0);
    /// Horizontal half-power beamwidth, degrees (360 = omni).
    pub const BEAMWIDTH_DEG: (f64, f64) = (1.0, 360.0);
    /// Down-tilt (positive down), degrees.
    pub const TILT_DEG: (f64, f64) = (-90.0, 90.0);
    /// Effective isotropic radiated power, dBm.
    pub const EIRP_DBM: (f64, f64) = (-30.0, 100.0);
    /// Explicit coverage range, metres.
    pub const RANGE_M: (f64, f64) = (1.0, 100_000.0);
    /// Sectors per tower.
    pub const MAX_SECTORS: usize = 256;
}

/// A validated sector (antenna) to store on a tower.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSector {
    /// Existing sector id to keep (on replace); `None` creates a new sector.
    pub id: Option<SectorId>,
    /// Operator of the sector: the tower's owner or one of its tenants.
    pub operator: String,
    /// Radio technology.
    pub technology: Technology,
    /// Carrier frequency, MHz.
    pub frequency_mhz: f64,
    /// Azimuth clockwise from true north, degrees.
    pub azimuth_deg: f64,
    /// Horizontal beamwidth, degrees; 360 for an omni antenna.
    pub beamwidth_deg: f64,
    /// Down-tilt, degrees.
    pub tilt_deg: f64,
    /// Antenna height above ground, metres.
    pub height_m: f64,
    /// EIRP, dBm.
    pub eirp_dbm: f64,
    /// Explicit coverage range, metres; `None` lets the coverage model derive it.
    pub range_m: Option<f64>,
}

/// A validated tower to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTower {
    /// Owning operator id.
    pub operator: String,
    /// The owner's site code, unique per operator.
    pub site_code: String,
    /// Optional display name.
    pub name: Option<String>,
    /// Structure type.
    pub structure_type: StructureType,
    /// Structure height above ground, metres.
    pub height_m: f64,
    /// Life-cycle status.
    pub status: Status,
    /// Operators sharing the tower (not the owner), distinct, in submitted order.
    pub tenants: Vec<String>,
    /// Index of each tenant in the submitted `tenants` array (for error pointers).
    pub tenant_positions: Vec<usize>,
    /// The owner's own identifier, unique per operator.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Longitude, degrees (EPSG:4326).
    pub lon: f64,
    /// Latitude, degrees (EPSG:4326).
    pub lat: f64,
    /// Sectors mounted on the tower.
    pub sectors: Vec<NewSector>,
}

/// Properties of a tower that the service computes; ignored on input.
pub const READ_ONLY: &[&str] = &["id", "mast_class", "created_at", "updated_at"];
/// Properties of a sector that the service computes; ignored on input.
pub const SECTOR_READ_ONLY: &[&str] = &["created_at", "updated_at", "tower_id"];

fn parse_sector(value: &Value, base: String) -> Result<NewSector, Invalid> {
    let Some(obj) = value.as_object() else {
        return Err(Invalid::one(base, "a sector must be an object"));
    };
    let base_ptr = base.clone();
    let mut p = Props::new(obj, base);
    p.ignore(SECTOR_READ_ONLY);
    let id = p.opt_i64("id", 1, i64::MAX).map(SectorId);
    let operator = p.req_str("operator", 63);
    let technology: Option<Technology> = p.req_enum("technology");
    let frequency_mhz = p.req_f64("frequency_mhz", 1.0, 100_000.0);
    if let (Some(t), Some(f)) = (technology, frequency_mhz)
        && !t.bands_mhz().iter().any(|(lo, hi)| f >= *lo && f <= *hi)
    {
        {
            let bands: Vec<String> = t
                .bands_mhz()
                .iter()
                .map(|(lo, hi)| format!("{lo}–{hi}"))
                .collect();
            p.fail(
                "frequency_mhz",
                format!(
                    "{f} MHz is outside the {t} bands ({} MHz)",
                    bands.join(", ")
                ),
            );
        }
    }
    let azimuth_deg = p.req_f64("azimuth_deg", bounds::AZIMUTH_DEG.0, bounds::AZIMUTH_DEG.1);
    let beamwidth_deg = p.req_f64(
        "beamwidth_deg",
        bounds::BEAMWIDTH_DEG.0,
        bounds::BEAMWIDTH_DEG.1,
    );
    let tilt_deg = p
        .opt_f64("tilt_deg", bounds::TILT_DEG.0, bounds::TILT_DEG.1)
        .unwrap_or(0.0);
    let height_m = p.req_f64("height_m", bounds::HEIGHT_M.0, bounds::HEIGHT_M.1);
    let eirp_dbm = p.req_f64("eirp_dbm", bounds::EIRP_DBM.0, bounds::EIRP_DBM.1);
    // A sector read back from the API carries the modelled range with
    // `range_source: "model"`; only an explicit range is stored.
    let modelled = matches!(
        obj.get("range_source").and_then(Value::as_str),
        Some("model")
    );
    let source = p.opt_str("range_source", 16);
    if let Some(s) = &source
        && s != "model"
        && s != "explicit"
    {
        p.fail("range_source", "must be explicit or model");
    }
    let range_m = if modelled {
        p.ignore(&["range_m"]);
        None
    } else {
        p.opt_f64("range_m", bounds::RANGE_M.0, bounds::RANGE_M.1)
    };
    let errors = p.finish();
    match (
        operator,
        technology,
        frequency_mhz,
        azimuth_deg,
        beamwidth_deg,
        height_m,
        eirp_dbm,
    ) {
        (
            Some(operator),
            Some(technology),
            Some(frequency_mhz),
            Some(azimuth_deg),
            Some(beamwidth_deg),
            Some(height_m),
            Some(eirp_dbm),
        ) if errors.is_empty() => Ok(NewSector {
            id,
            operator,
            technology,
            frequency_mhz,
            azimuth_deg,
            beamwidth_deg,
            tilt_deg,
            height_m,
            eirp_dbm,
            range_m,
        }),
        _ if errors.is_empty() => Err(Invalid::one(base_ptr, "incomplete sector")),
        _ => Err(errors),
    }
}

/// Reads a list of operator ids (`tenants`) with pointers to bad entries;
/// returns each accepted id with its index in the submitted array.
fn parse_tenants(p: &mut Props<'_>, items: &[Value]) -> Vec<(usize, String)> {
    let mut tenants: Vec<(usize, String)> = Vec::new();
    for (i, v) in items.iter().enumerate() {
        match v.as_str().map(str::trim) {
            Some(s) if !s.is_empty() && !s.contains('\0') && s.len() <= 63 => {
                if tenants.iter().any(|(_, t)| t == s) {
                    p.fail_path(
                        &format!("tenants/{i}"),
                        format!("operator '{s}' is listed twice"),
                    );
                } else {
                    tenants.push((i, s.to_owned()));
                }
            }
            _ => p.fail_path(&format!("tenants/{i}"), "must be an operator id (string)"),
        }
    }
    tenants
}

impl NewTower {
    /// Validates a tower Feature (geometry and properties objects).
    ///
    /// # Errors
    /// Every problem found, with JSON Pointers into the Feature.
    pub fn from_feature(
        geometry: Option<&Value>,
        properties: &serde_json::Map<String, Value>,
    ) -> Result<Self, Invalid> {
        let mut errors = Invalid::default();
        let point =
            match geometry::parse_geometry(geometry, super::CollectionId::Towers, "/geometry") {
                Ok(geo::Geometry::Point(p)) => Some(p),
                Ok(_) => None,
                Err(e) => {
                    errors.extend(e);
                    None
                }
            };
        let mut p = Props::new(properties, "/properties");
        p.ignore(READ_ONLY);
        let operator = p.req_str("operator", 63);
        let site_code = p.req_str("site_code", 64);
        let name = p.opt_str("name", 200);
        let structure_type: Option<StructureType> = p.req_enum("structure_type");
        let height_m = p.req_f64("height_m", bounds::HEIGHT_M.0, bounds::HEIGHT_M.1);
        let status: Status = p.opt_enum("status").unwrap_or(Status::Operational);
        let tenant_values = p.opt_array("tenants");
        let parsed_tenants = parse_tenants(&mut p, tenant_values);
        if let Some((i, _)) = parsed_tenants
            .iter()
            .find(|(_, t)| Some(t) == operator.as_ref())
        {
            p.fail_path(
                &format!("tenants/{i}"),
                "the owner cannot also be a tenant of its own tower",
            );
        }
        let (tenant_positions, tenants): (Vec<usize>, Vec<String>) =
            parsed_tenants.into_iter().unzip();
        let external_id = p.opt_str("external_id", 128);
        let synthetic = p.opt_bool("synthetic").unwrap_or(false);
        let sector_values = p.opt_array("sectors");
        if sector_values.len() > bounds::MAX_SECTORS {
            p.fail(
                "sectors",
                format!("at most {} sectors per tower", bounds::MAX_SECTORS),
            );
        }
        let mut sectors = Vec::with_capacity(sector_values.len());
        let mut sector_errors = Invalid::default();
        for (i, v) in sector_values.iter().enumerate() {
            match parse_sector(v, format!("/properties/sectors/{i}")) {
                Ok(s) => {
                    if let Some(owner) = &operator
                        && &s.operator != owner
                        && !tenants.contains(&s.operator)
                    {
                        sector_errors.push(
                                format!("/properties/sectors/{i}/operator"),
                                format!(
                                    "operator '{}' is neither the tower's owner '{owner}' nor one of its tenants; add it to tenants first",
                                    s.operator
                                ),
                            );
                    }
                    if let Some(id) = s.id
                        && sectors.iter().any(|o: &NewSector| o.id == Some(id))
                    {
                        sector_errors.push(
                            format!("/properties/sectors/{i}/id"),
                            format!("sector id {id} is listed twice"),
                        );
                    }
                    sectors.push(s);
                }
                Err(e) => sector_errors.extend(e),
            }
        }
        errors.extend(p.finish());
        errors.extend(sector_errors);
        match (point, operator, site_code, structure_type, height_m) {
            (Some(pt), Some(operator), Some(site_code), Some(structure_type), Some(height_m))
                if errors.is_empty() =>
            {
                Ok(NewTower {
                    operator,
                    site_code,
                    name,
                    structure_type,
                    height_m,
                    status,
                    tenants,
                    tenant_positions,
                    external_id,
                    synthetic,
                    lon: pt.x(),
                    lat: pt.y(),
                    sectors,
                })
            }
            _ => Err(errors),
        }
    }

    /// True when storing `self` over `stored` would change nothing: the same
    /// attributes, location (exact lon/lat), tenants (in any order) and
    /// sectors (in any order, sector ids ignored). Used by bulk import to
    /// report `unchanged`.
    pub fn same_as(&self, stored: &Tower) -> bool {
        let mut mine: Vec<SectorKey> = self.sectors.iter().map(|s| s.key(None)).collect();
        let mut theirs: Vec<SectorKey> = stored.sectors.iter().map(|s| s.key(false)).collect();
        mine.sort();
        theirs.sort();
        self.same_site(stored) && mine == theirs
    }

    /// True when the tower itself (attributes, exact location, tenants in
    /// any order; not its sectors) is the same as `stored`.
    fn same_site(&self, stored: &Tower) -> bool {
        let mut tenants = self.tenants.clone();
        tenants.sort();
        let mut stored_tenants = stored.tenants.clone();
        stored_tenants.sort();
        self.operator == stored.operator
            && self.site_code == stored.site_code
            && self.name == stored.name
            && self.structure_type == stored.structure_type
            && self.height_m == stored.height_m
            && self.status == stored.status
            && tenants == stored_tenants
            && self.external_id == stored.external_id
            && self.synthetic == stored.synthetic
            && self.lon == stored.lon
            && self.lat == stored.lat
    }

    /// What storing `self` over `stored` would change that is not
    /// `operator`'s own (for the permission rules of shared towers): other
    /// operators' sectors, and, unless `operator` owns the tower, the tower
    /// itself (attributes, location, tenants). Empty when every change is
    /// `operator`'s to make.
    pub fn foreign_changes(&self, stored: &Tower, operator: &str) -> Vec<String> {
        let mut mine: Vec<SectorKey> = self
            .sectors
            .iter()
            .filter(|s| s.operator != operator)
            .map(|s| s.key(Some(s.id)))
            .collect();
        let mut theirs: Vec<SectorKey> = stored
            .sectors
            .iter()
            .filter(|s| s.operator != operator)
            .map(|s| s.key(true))
            .collect();
        mine.sort();
        theirs.sort();
        let mut out = Vec::new();
        if mine != theirs {
            let mut ops: Vec<&str> = mine.iter().chain(&theirs).map(|k| k.1.as_str()).collect();
            ops.sort_unstable();
            ops.dedup();
            out.push(format!("the sectors of {}", ops.join(", ")));
        }
        if stored.operator != operator && !self.same_site(stored) {
            out.push(format!("the tower itself (owned by {})", stored.operator));
        }
        out
    }

    /// Every operator id this tower references (owner, tenants, sector operators).
    pub fn referenced_operators(&self) -> Vec<(String, String)> {
        let mut refs = vec![("/properties/operator".to_owned(), self.operator.clone())];
        for (i, t) in self.tenant_positions.iter().zip(&self.tenants) {
            refs.push((format!("/properties/tenants/{i}"), t.clone()));
        }
        refs
    }
}

/// A sector compared by value: id (when compared), operator, technology,
/// then frequency, azimuth, beamwidth, tilt, height and EIRP and the stored
/// range as exact bits.
type SectorKey = (Option<SectorId>, String, Technology, [u64; 6], Option<u64>);

impl NewSector {
    /// The comparison key of this sector with `id` (None: ids ignored).
    fn key(&self, id: Option<Option<SectorId>>) -> SectorKey {
        let radio = [
            self.frequency_mhz,
            self.azimuth_deg,
            self.beamwidth_deg,
            self.tilt_deg,
            self.height_m,
            self.eirp_dbm,
        ];
        (
            id.flatten(),
            self.operator.clone(),
            self.technology,
            radio.map(f64::to_bits),
            self.range_m.map(f64::to_bits),
        )
    }
}

impl Sector {
    /// The comparison key of this sector, with its id when `with_id`.
    fn key(&self, with_id: bool) -> SectorKey {
        let radio = [
            self.frequency_mhz,
            self.azimuth_deg,
            self.beamwidth_deg,
            self.tilt_deg,
            self.height_m,
            self.eirp_dbm,
        ];
        (
            with_id.then_some(self.id),
            self.operator.clone(),
            self.technology,
            radio.map(f64::to_bits),
            self.range_m.map(f64::to_bits),
        )
    }
}

/// A stored sector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sector {
    /// Sector id (unique across all towers).
    pub id: SectorId,
    /// Id of the tower the sector is mounted on.
    pub tower_id: TowerId,
    /// Operator of the sector.
    pub operator: String,
    /// Radio technology.
    pub technology: Technology,
    /// Carrier frequency, MHz.
    pub frequency_mhz: f64,
    /// Azimuth clockwise from true north, degrees.
    pub azimuth_deg: f64,
    /// Horizontal beamwidth, degrees (360 = omni).
    pub beamwidth_deg: f64,
    /// Down-tilt, degrees.
    pub tilt_deg: f64,
    /// Antenna height above ground, metres.
    pub height_m: f64,
    /// EIRP, dBm.
    pub eirp_dbm: f64,
    /// Explicit coverage range, metres, when set.
    pub range_m: Option<f64>,
}

/// A stored tower with its tenants and sectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Tower {
    /// Tower id.
    pub id: TowerId,
    /// Owning operator id.
    pub operator: String,
    /// Site code.
    pub site_code: String,
    /// Display name.
    pub name: Option<String>,
    /// Structure type.
    pub structure_type: StructureType,
    /// Structure height, metres.
    pub height_m: f64,
    /// Status.
    pub status: Status,
    /// Tenant operator ids, sorted.
    pub tenants: Vec<String>,
    /// The owner's identifier.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Sectors, ordered by id.
    pub sectors: Vec<Sector>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl Tower {
    /// Mast class derived from the structure type.
    pub fn mast_class(&self) -> MastClass {
        self.structure_type.mast_class()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tower(props: Value) -> Result<NewTower, Invalid> {
        let g = json!({"type": "Point", "coordinates": [108.22, 16.06]});
        NewTower::from_feature(Some(&g), props.as_object().unwrap())
    }

    fn valid_props() -> Value {
        json!({
            "operator": "viettel", "site_code": "DNG-1", "structure_type": "monopole", "height_m": 30,
            "tenants": ["vnpt"],
            "sectors": [{"operator": "vnpt", "technology": "4G", "frequency_mhz": 1800, "azimuth_deg": 120,
                         "beamwidth_deg": 65, "height_m": 28, "eirp_dbm": 60}]
        })
    }

    #[test]
    fn a_complete_tower_validates() {
        let t = tower(valid_props()).unwrap();
        assert_eq!(t.status, Status::Operational);
        assert_eq!(t.sectors.len(), 1);
        assert_eq!((t.lon, t.lat), (108.22, 16.06));
    }

    #[test]
    fn a_sector_of_a_stranger_operator_is_rejected() {
        let mut p = valid_props();
        p["sectors"][0]["operator"] = json!("mobifone");
        let e = tower(p).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/properties/sectors/0/operator");
    }

    #[test]
    fn out_of_band_frequency_is_rejected() {
        let mut p = valid_props();
        p["sectors"][0]["technology"] = json!("2G");
        p["sectors"][0]["frequency_mhz"] = json!(3500);
        let e = tower(p).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/properties/sectors/0/frequency_mhz");
    }

    #[test]
    fn unknown_properties_are_named() {
        let mut p = valid_props();
        p["azimuth"] = json!(10);
        let e = tower(p).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/properties/azimuth");
    }

    #[test]
    fn every_missing_required_property_is_reported() {
        let e = tower(json!({})).unwrap_err();
        let ptrs: Vec<&str> = e.errors.iter().map(|e| e.pointer.as_str()).collect();
        for k in ["operator", "site_code", "structure_type", "height_m"] {
            assert!(
                ptrs.contains(&format!("/properties/{k}").as_str()),
                "{ptrs:?}"
            );
        }
    }
}
