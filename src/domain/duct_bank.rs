//! Duct banks (issue 17): a run of ducts between two structures, with the
//! ducts it holds (`properties.ducts`) and the subducts (innerducts,
//! microducts) within each duct.
//!
//! A duct's position is its row letter and column number in the bank's
//! cross-section (`A1`, `B3`); with a `configuration` of `R`x`C` (rows ×
//! columns, e.g. `2x3`) every position must lie within it. A subduct's
//! position is its number within the duct (`1`, `2`, …). Subducts must fit
//! their duct: each one's outer diameter below the duct's inner diameter,
//! and their cross-sections together no more than the duct's.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::props::Props;
use super::structure::{NetworkStatus, Owner, read_owner};
use super::{CollectionId, Invalid, geometry, text_enum};

/// Bounds enforced on input.
pub mod bounds {
    /// Ducts per bank.
    pub const MAX_DUCTS: usize = 64;
    /// Subducts per duct.
    pub const MAX_SUBDUCTS: usize = 24;
    /// Inner diameter of a duct or subduct, mm.
    pub const DIAMETER_MM: (f64, f64) = (1.0, 300.0);
    /// Depth of the bank's top below ground, metres.
    pub const DEPTH_M: (f64, f64) = (0.0, 20.0);
    /// How far a bank's end may lie from its structure, metres (geodesic).
    pub const END_TOLERANCE_M: f64 = 1.0;
}

/// Properties the service computes; ignored on input.
pub const READ_ONLY: &[&str] = &["id", "length_m", "created_at", "updated_at"];

text_enum! {
    /// What surrounds the ducts of a bank.
    Encasement {
        Concrete => "concrete",
        Sand => "sand",
        DirectBuried => "direct_buried",
    }
}

text_enum! {
    /// What a duct is made of.
    DuctMaterial {
        Hdpe => "hdpe",
        Pvc => "pvc",
        Steel => "steel",
        Concrete => "concrete",
    }
}

/// A subduct within a duct.
#[derive(Debug, Clone, PartialEq)]
pub struct Subduct {
    /// Stored id (`None` on input).
    pub id: Option<i64>,
    /// Number within the duct, `1`–`99`.
    pub position: String,
    /// Inner diameter, mm.
    pub inner_diameter_mm: f64,
    /// Outer diameter, mm.
    pub outer_diameter_mm: f64,
    /// Colour code, e.g. `orange`.
    pub colour: Option<String>,
}

/// A duct within a bank.
#[derive(Debug, Clone, PartialEq)]
pub struct Duct {
    /// Stored id (`None` on input).
    pub id: Option<i64>,
    /// Row letter and column number, e.g. `A1`.
    pub position: String,
    /// Inner diameter, mm.
    pub inner_diameter_mm: f64,
    /// Material.
    pub material: Option<DuctMaterial>,
    /// Its subducts.
    pub subducts: Vec<Subduct>,
}

impl Duct {
    /// Outer diameters (mm) of its subducts: what they take of its section.
    pub fn subduct_outer_mm(&self) -> Vec<f64> {
        self.subducts.iter().map(|s| s.outer_diameter_mm).collect()
    }
}

/// A validated duct bank to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDuctBank {
    /// Owner.
    pub owner: Owner,
    /// Structure at the line's first position.
    pub from_structure_id: i64,
    /// Structure at the line's last position.
    pub to_structure_id: i64,
    /// Name or street.
    pub name: Option<String>,
    /// Rows x columns, e.g. `2x3`.
    pub configuration: Option<String>,
    /// Encasement.
    pub encasement: Option<Encasement>,
    /// Depth of the bank's top, metres.
    pub depth_m: Option<f64>,
    /// Status.
    pub status: NetworkStatus,
    /// The owner's identifier, unique per owner.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Lon/lat line from the first structure to the second.
    pub geometry: geo::LineString<f64>,
    /// Its ducts, in position order.
    pub ducts: Vec<Duct>,
}

/// A stored duct bank.
#[derive(Debug, Clone, PartialEq)]
pub struct DuctBank {
    /// Bank id.
    pub id: i64,
    /// Owner.
    pub owner: Owner,
    /// Structure at the first position.
    pub from_structure_id: i64,
    /// Structure at the last position.
    pub to_structure_id: i64,
    /// Name or street.
    pub name: Option<String>,
    /// Rows x columns.
    pub configuration: Option<String>,
    /// Encasement.
    pub encasement: Option<Encasement>,
    /// Depth, metres.
    pub depth_m: Option<f64>,
    /// Status.
    pub status: NetworkStatus,
    /// The owner's identifier.
    pub external_id: Option<String>,
    /// True for generated sample data.
    pub synthetic: bool,
    /// Geodesic length, metres.
    pub length_m: f64,
    /// Lon/lat line.
    pub geometry: geo::LineString<f64>,
    /// Its ducts, in position order, with ids.
    pub ducts: Vec<Duct>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

impl DuctBank {
    /// The duct at `position`.
    pub fn duct(&self, position: &str) -> Option<&Duct> {
        self.ducts.iter().find(|d| d.position == position)
    }
}

/// Reads `2x3` or `2×3` as (rows, columns).
pub fn parse_configuration(s: &str) -> Option<(u32, u32)> {
    let (r, c) = s.split_once(['x', '×', 'X'])?;
    let (r, c) = (r.trim().parse::<u32>().ok()?, c.trim().parse::<u32>().ok()?);
    ((1..=26).contains(&r) && (1..=99).contains(&c)).then_some((r, c))
}

/// Reads `A1` as (row 1, column 1).
fn parse_position(s: &str) -> Option<(u32, u32)> {
    let mut chars = s.chars();
    let row = chars.next().filter(char::is_ascii_uppercase)?;
    let col: u32 = chars.as_str().parse().ok()?;
    let row = u32::from(row) - u32::from('A') + 1;
    (1..=99).contains(&col).then_some((row, col))
}

fn parse_subduct(v: &Value, base: String, duct_inner: Option<f64>) -> Result<Subduct, Invalid> {
    let Some(obj) = v.as_object() else {
        return Err(Invalid::one(base, "a subduct must be an object"));
    };
    let mut p = Props::new(obj, base);
    p.ignore(&["id"]);
    let position = p.req_str("position", 2);
    if let Some(pos) = &position
        && !pos
            .parse::<u32>()
            .is_ok_and(|n| (1..=99).contains(&n) && !pos.starts_with('0'))
    {
        p.fail("position", format!("'{pos}' is not a subduct number 1–99"));
    }
    let (lo, hi) = bounds::DIAMETER_MM;
    let inner = p.req_f64("inner_diameter_mm", lo, hi);
    let outer = p.req_f64("outer_diameter_mm", lo, hi);
    if let (Some(i), Some(o)) = (inner, outer)
        && o <= i
    {
        p.fail(
            "outer_diameter_mm",
            format!("{o} mm must exceed the inner diameter ({i} mm)"),
        );
    }
    if let (Some(o), Some(d)) = (outer, duct_inner)
        && o >= d
    {
        p.fail(
            "outer_diameter_mm",
            format!("{o} mm does not fit in its duct of {d} mm inner diameter"),
        );
    }
    let colour = p.opt_str("colour", 32);
    let errors = p.finish();
    match (position, inner, outer) {
        (Some(position), Some(inner_diameter_mm), Some(outer_diameter_mm)) if errors.is_empty() => {
            Ok(Subduct {
                id: None,
                position,
                inner_diameter_mm,
                outer_diameter_mm,
                colour,
            })
        }
        _ => Err(errors),
    }
}

fn parse_duct(v: &Value, base: String, config: Option<(u32, u32)>) -> Result<Duct, Invalid> {
    let Some(obj) = v.as_object() else {
        return Err(Invalid::one(base, "a duct must be an object"));
    };
    let base_ptr = base.clone();
    let mut p = Props::new(obj, base);
    p.ignore(&["id"]);
    let position = p.req_str("position", 3);
    if let Some(pos) = &position {
        match (parse_position(pos), config) {
            (None, _) => p.fail(
                "position",
                format!("'{pos}' is not a position: a row letter A–Z and a column 1–99, e.g. A1"),
            ),
            (Some((r, c)), Some((rows, cols))) if r > rows || c > cols => p.fail(
                "position",
                format!("'{pos}' lies outside the bank's configuration of {rows}x{cols}"),
            ),
            _ => {}
        }
    }
    let (lo, hi) = bounds::DIAMETER_MM;
    let inner = p.req_f64("inner_diameter_mm", lo, hi);
    let material = p.opt_enum("material");
    let values = p.opt_array("subducts");
    if values.len() > bounds::MAX_SUBDUCTS {
        p.fail(
            "subducts",
            format!("at most {} subducts per duct", bounds::MAX_SUBDUCTS),
        );
    }
    let mut errors = Invalid::default();
    let mut subducts: Vec<Subduct> = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        match parse_subduct(v, format!("{base_ptr}/subducts/{i}"), inner) {
            Ok(s) if subducts.iter().any(|o| o.position == s.position) => errors.push(
                format!("{base_ptr}/subducts/{i}/position"),
                format!("subduct {} appears twice in this duct", s.position),
            ),
            Ok(s) => subducts.push(s),
            Err(e) => errors.extend(e),
        }
    }
    if let Some(d) = inner {
        let taken: f64 = subducts.iter().map(|s| s.outer_diameter_mm.powi(2)).sum();
        if taken > d * d {
            errors.push(
                format!("{base_ptr}/subducts"),
                format!(
                    "the subducts' cross-sections add up to {:.0} % of the duct's: they do not fit",
                    taken / (d * d) * 100.0
                ),
            );
        }
    }
    let mut all = p.finish();
    all.extend(errors);
    match (position, inner) {
        (Some(position), Some(inner_diameter_mm)) if all.is_empty() => {
            subducts.sort_by_key(|s| s.position.parse::<u32>().unwrap_or(0));
            Ok(Duct {
                id: None,
                position,
                inner_diameter_mm,
                material,
                subducts,
            })
        }
        _ => Err(all),
    }
}

impl NewDuctBank {
    /// Validates a duct-bank Feature (a LineString). Whether its ends lie at
    /// its structures is checked where the structures are (the store).
    ///
    /// # Errors
    /// Every problem found, with JSON Pointers into the Feature.
    pub fn from_feature(
        geometry: Option<&Value>,
        properties: &serde_json::Map<String, Value>,
    ) -> Result<Self, Invalid> {
        let mut errors = Invalid::default();
        let line = match geometry::parse_geometry(geometry, CollectionId::DuctBanks, "/geometry") {
            Ok(geo::Geometry::LineString(l)) => Some(l),
            Ok(_) => None,
            Err(e) => {
                errors.extend(e);
                None
            }
        };
        let mut p = Props::new(properties, "/properties");
        p.ignore(READ_ONLY);
        let owner = read_owner(&mut p);
        let from = p.req_i64("from_structure_id", 1, i64::MAX);
        let to = p.req_i64("to_structure_id", 1, i64::MAX);
        if let (Some(a), Some(b)) = (from, to)
            && a == b
        {
            p.fail(
                "to_structure_id",
                "a duct bank joins two different structures",
            );
        }
        let name = p.opt_str("name", 200);
        let configuration = p.opt_str("configuration", 8);
        let config = match &configuration {
            None => None,
            Some(c) => match parse_configuration(c) {
                Some(rc) => Some(rc),
                None => {
                    p.fail(
                        "configuration",
                        format!("'{c}' is not rows x columns, e.g. 2x3 (at most 26x99)"),
                    );
                    None
                }
            },
        };
        let encasement = p.opt_enum("encasement");
        let depth_m = p.opt_f64("depth_m", bounds::DEPTH_M.0, bounds::DEPTH_M.1);
        let status = p.opt_enum("status").unwrap_or(NetworkStatus::Active);
        let external_id = p.opt_str("external_id", 128);
        let synthetic = p.opt_bool("synthetic").unwrap_or(false);
        let values = p.opt_array("ducts");
        if values.len() > bounds::MAX_DUCTS {
            p.fail(
                "ducts",
                format!("at most {} ducts per bank", bounds::MAX_DUCTS),
            );
        }
        if let Some((r, c)) = config
            && values.len() > (r * c) as usize
        {
            p.fail(
                "ducts",
                format!(
                    "{} ducts do not fit a configuration of {r}x{c}",
                    values.len()
                ),
            );
        }
        let mut duct_errors = Invalid::default();
        let mut ducts: Vec<Duct> = Vec::with_capacity(values.len());
        let mut seen: Vec<&str> = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let parsed = parse_duct(v, format!("/properties/ducts/{i}"), config);
            match v.get("position").and_then(Value::as_str) {
                Some(pos) if seen.contains(&pos) => {
                    duct_errors.push(
                        format!("/properties/ducts/{i}/position"),
                        format!("duct {pos} appears twice in this bank"),
                    );
                    continue;
                }
                Some(pos) => seen.push(pos),
                None => {}
            }
            match parsed {
                Ok(d) => ducts.push(d),
                Err(e) => duct_errors.extend(e),
            }
        }
        errors.extend(p.finish());
        errors.extend(duct_errors);
        match (line, owner, from, to) {
            (Some(geometry), Some(owner), Some(from), Some(to)) if errors.is_empty() => {
                ducts.sort_by_key(|d| parse_position(&d.position));
                Ok(Self {
                    owner,
                    from_structure_id: from,
                    to_structure_id: to,
                    name,
                    configuration: config.map(|(r, c)| format!("{r}x{c}")),
                    encasement,
                    depth_m,
                    status,
                    external_id,
                    synthetic,
                    geometry,
                    ducts,
                })
            }
            _ => Err(errors),
        }
    }

    /// True when storing `self` over `stored` would change nothing.
    pub fn same_as(&self, stored: &DuctBank) -> bool {
        let strip = |ducts: &[Duct]| -> Vec<Duct> {
            ducts
                .iter()
                .map(|d| Duct {
                    id: None,
                    subducts: d
                        .subducts
                        .iter()
                        .map(|s| Subduct {
                            id: None,
                            ..s.clone()
                        })
                        .collect(),
                    ..d.clone()
                })
                .collect()
        };
        self.owner == stored.owner
            && self.from_structure_id == stored.from_structure_id
            && self.to_structure_id == stored.to_structure_id
            && self.name == stored.name
            && self.configuration == stored.configuration
            && self.encasement == stored.encasement
            && self.depth_m == stored.depth_m
            && self.status == stored.status
            && self.external_id == stored.external_id
            && self.synthetic == stored.synthetic
            && self.geometry == stored.geometry
            && strip(&self.ducts) == strip(&stored.ducts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(props: Value) -> Result<NewDuctBank, Invalid> {
        let g = json!({"type": "LineString", "coordinates": [[108.2, 16.05], [108.201, 16.05]]});
        let empty = serde_json::Map::new();
        NewDuctBank::from_feature(Some(&g), props.as_object().unwrap_or(&empty))
    }

    #[test]
    fn a_bank_with_ducts_and_subducts_is_read_in_position_order() {
        let b = parse(json!({
            "owner": "city", "from_structure_id": 1, "to_structure_id": 2,
            "configuration": "2×3", "encasement": "concrete", "depth_m": 0.8,
            "ducts": [
                {"position": "B1", "inner_diameter_mm": 100},
                {"position": "A1", "inner_diameter_mm": 110, "material": "hdpe", "subducts": [
                    {"position": "2", "inner_diameter_mm": 27, "outer_diameter_mm": 32, "colour": "blue"},
                    {"position": "1", "inner_diameter_mm": 27, "outer_diameter_mm": 32, "colour": "orange"}
                ]}
            ]
        }))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(b.configuration.as_deref(), Some("2x3"));
        let positions: Vec<&str> = b.ducts.iter().map(|d| d.position.as_str()).collect();
        assert_eq!(positions, ["A1", "B1"]);
        assert_eq!(b.ducts[0].subducts[0].colour.as_deref(), Some("orange"));
    }

    #[test]
    fn every_problem_of_a_bank_is_named_with_its_pointer() {
        let e = parse(json!({
            "owner": "city", "from_structure_id": 3, "to_structure_id": 3,
            "configuration": "1x2",
            "ducts": [
                {"position": "C1", "inner_diameter_mm": 100},
                {"position": "A1", "inner_diameter_mm": 40, "subducts": [
                    {"position": "1", "inner_diameter_mm": 35, "outer_diameter_mm": 40}
                ]},
                {"position": "A1", "inner_diameter_mm": 100}
            ]
        }))
        .unwrap_err();
        let pointers: Vec<&str> = e.errors.iter().map(|x| x.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/properties/to_structure_id",
                "/properties/ducts",
                "/properties/ducts/0/position",
                "/properties/ducts/1/subducts/0/outer_diameter_mm",
                "/properties/ducts/2/position",
            ],
            "{e:?}"
        );
    }

    #[test]
    fn subducts_that_overflow_their_duct_are_refused() {
        let e = parse(json!({
            "owner": "vnpt", "from_structure_id": 1, "to_structure_id": 2,
            "ducts": [{"position": "A1", "inner_diameter_mm": 50, "subducts": [
                {"position": "1", "inner_diameter_mm": 30, "outer_diameter_mm": 36},
                {"position": "2", "inner_diameter_mm": 30, "outer_diameter_mm": 36}
            ]}]
        }))
        .unwrap_err();
        assert_eq!(e.errors[0].pointer, "/properties/ducts/0/subducts");
        assert!(e.errors[0].detail.contains("104 %"), "{e:?}");
    }
}
