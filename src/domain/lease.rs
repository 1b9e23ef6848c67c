//! Leases of duct space (issue 17): a cable of an operator in a duct or a
//! subduct along one or more duct banks, with its life cycle
//! ([`LeaseState`]). A lease is the occupancy record: while it holds room
//! (requested, approved, active) its cable counts in the fill of every duct
//! it names, and a subduct it names is occupied.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Invalid;
use super::duct::{CapacityPolicy, LeaseState, Overfill};
use super::props::Props;

/// Bounds enforced on input.
pub mod bounds {
    /// Outer diameter of a cable, mm.
    pub const CABLE_MM: (f64, f64) = (0.5, 200.0);
    /// Fibres in a cable.
    pub const FIBRES: (i64, i64) = (1, 10_000);
    /// Banks one lease runs through.
    pub const MAX_SEGMENTS: usize = 500;
}

/// Where the cable runs in one bank: a duct (by position) and optionally a
/// subduct of it (by number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRequest {
    /// The bank.
    pub bank_id: i64,
    /// The duct's position in the bank, e.g. `A1`.
    pub duct: String,
    /// The subduct's number in the duct, e.g. `2`.
    pub subduct: Option<String>,
}

/// A validated lease request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLease {
    /// The lessee; `None`: the caller's own operator.
    pub operator: Option<String>,
    /// Outer diameter of the cable, mm.
    pub cable_diameter_mm: f64,
    /// Fibres in the cable.
    pub fibre_count: Option<i32>,
    /// The fibre route the cable carries, when registered.
    pub fibre_route_id: Option<i64>,
    /// The parties' reference (contract, permit).
    pub reference: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// The banks, in order along the cable.
    pub segments: Vec<SegmentRequest>,
}

impl NewLease {
    /// Validates a lease request body.
    ///
    /// # Errors
    /// Every problem found, with JSON Pointers into the body.
    pub fn from_json(v: &Value) -> Result<Self, Invalid> {
        let Some(obj) = v.as_object() else {
            return Err(Invalid::one("", "a lease request must be a JSON object"));
        };
        let mut p = Props::new(obj, "");
        let operator = p.opt_str("operator", 63);
        let cable = p.req_f64("cable_diameter_mm", bounds::CABLE_MM.0, bounds::CABLE_MM.1);
        let fibre_count = p.opt_i64("fibre_count", bounds::FIBRES.0, bounds::FIBRES.1);
        let fibre_route_id = p.opt_i64("fibre_route_id", 1, i64::MAX);
        let reference = p.opt_str("reference", 128);
        let note = p.opt_str("note", 2000);
        let present = obj.get("segments").is_some_and(|s| !s.is_null());
        let values = p.opt_array("segments");
        if !present {
            p.fail(
                "segments",
                "is required: the banks the cable runs through, in order",
            );
        } else if values.is_empty() {
            p.fail("segments", "must name at least one duct bank");
        } else if values.len() > bounds::MAX_SEGMENTS {
            p.fail(
                "segments",
                format!("at most {} banks per lease", bounds::MAX_SEGMENTS),
            );
        }
        let mut errors = Invalid::default();
        let mut segments: Vec<SegmentRequest> = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate().take(bounds::MAX_SEGMENTS) {
            let base = format!("/segments/{i}");
            let Some(o) = v.as_object() else {
                errors.push(base, "a segment must be an object {bank_id, duct, subduct}");
                continue;
            };
            let mut s = Props::new(o, base.clone());
            let bank_id = s.req_i64("bank_id", 1, i64::MAX);
            let duct = s.req_str("duct", 3);
            let subduct = s.opt_i64("subduct", 1, 99).map(|n| n.to_string());
            errors.extend(s.finish());
            if let (Some(bank_id), Some(duct)) = (bank_id, duct) {
                if segments.iter().any(|x| x.bank_id == bank_id) {
                    errors.push(
                        format!("{base}/bank_id"),
                        format!("duct bank {bank_id} appears twice in this lease"),
                    );
                }
                segments.push(SegmentRequest {
                    bank_id,
                    duct,
                    subduct,
                });
            }
        }
        let mut all = p.finish();
        all.extend(errors);
        match cable {
            Some(cable_diameter_mm) if all.is_empty() => Ok(Self {
                operator,
                cable_diameter_mm,
                fibre_count: fibre_count.map(|n| n as i32),
                fibre_route_id,
                reference,
                note,
                segments,
            }),
            _ => Err(all),
        }
    }
}

/// A change of a lease's state (`PATCH /ducts/leases/{id}`).
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseChange {
    /// The new state.
    pub state: LeaseState,
    /// A new note (the reason for a rejection, say); `None` keeps it.
    pub note: Option<String>,
    /// A new reference (a contract number at approval); `None` keeps it.
    pub reference: Option<String>,
}

impl LeaseChange {
    /// Validates a state-change body.
    ///
    /// # Errors
    /// Every problem found, with JSON Pointers into the body.
    pub fn from_json(v: &Value) -> Result<Self, Invalid> {
        let Some(obj) = v.as_object() else {
            return Err(Invalid::one("", "a lease change must be a JSON object"));
        };
        let mut p = Props::new(obj, "");
        let state = match p.req_str("state", 16) {
            None => None,
            Some(s) => match LeaseState::parse(&s) {
                Some(st) => Some(st),
                None => {
                    let names: Vec<&str> = LeaseState::ALL.iter().map(|s| s.as_str()).collect();
                    p.fail(
                        "state",
                        format!("'{s}' is not a lease state: {}", names.join(", ")),
                    );
                    None
                }
            },
        };
        let note = p.opt_str("note", 2000);
        let reference = p.opt_str("reference", 128);
        let errors = p.finish();
        match state {
            Some(state) if errors.is_empty() => Ok(Self {
                state,
                note,
                reference,
            }),
            _ => Err(errors),
        }
    }
}

/// One bank of a stored lease, with the duct (and subduct) it occupies.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The bank.
    pub bank_id: i64,
    /// The duct's id.
    pub duct_id: i64,
    /// The duct's position, e.g. `A1` (as when the lease was made).
    pub duct: String,
    /// The subduct's id.
    pub subduct_id: Option<i64>,
    /// The subduct's number.
    pub subduct: Option<String>,
}

/// A stored lease.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// Lease id.
    pub id: i64,
    /// The lessee.
    pub operator: String,
    /// State.
    pub state: LeaseState,
    /// Outer diameter of the cable, mm.
    pub cable_diameter_mm: f64,
    /// Fibres in the cable.
    pub fibre_count: Option<i32>,
    /// The fibre route the cable carries.
    pub fibre_route_id: Option<i64>,
    /// Reference.
    pub reference: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// When requested.
    pub requested_at: DateTime<Utc>,
    /// When approved or rejected.
    pub decided_at: Option<DateTime<Utc>>,
    /// When the cable went in.
    pub activated_at: Option<DateTime<Utc>>,
    /// When released.
    pub released_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The banks, in order.
    pub segments: Vec<Segment>,
    /// The banks' lines, lon/lat (empty for banks since deleted).
    pub geometry: geo::MultiLineString<f64>,
}

/// A subduct of a duct and what occupies it.
#[derive(Debug, Clone, PartialEq)]
pub struct SubductLoad {
    /// Subduct id.
    pub id: i64,
    /// Its number in the duct.
    pub position: String,
    /// Inner diameter, mm.
    pub inner_mm: f64,
    /// Outer diameter, mm.
    pub outer_mm: f64,
    /// The lease holding room in it, if any.
    pub occupied_by: Option<i64>,
}

/// A duct and what it holds, as read in the transaction that admits a
/// cable.
#[derive(Debug, Clone, PartialEq)]
pub struct DuctLoad {
    /// Duct id.
    pub id: i64,
    /// Its bank.
    pub bank_id: i64,
    /// Its position in the bank.
    pub position: String,
    /// Inner diameter, mm.
    pub inner_mm: f64,
    /// Outer diameters of the cables of holding leases laid directly in
    /// the duct (not in a subduct), mm.
    pub cables_mm: Vec<f64>,
    /// Its subducts.
    pub subducts: Vec<SubductLoad>,
}

/// Why a cable is not admitted where a lease asks.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    /// The duct would be over its fill limit.
    #[error("duct {duct} of duct bank {bank_id}: {overfill}")]
    Overfill {
        /// The bank.
        bank_id: i64,
        /// The duct's position.
        duct: String,
        /// How full, against what.
        overfill: Overfill,
    },
    /// The subduct is taken by another lease.
    #[error("subduct {subduct} of duct {duct} in duct bank {bank_id} is occupied by another lease")]
    Occupied {
        /// The bank.
        bank_id: i64,
        /// The duct's position.
        duct: String,
        /// The subduct's number.
        subduct: String,
    },
    /// The cable is wider than the subduct allows.
    #[error("subduct {subduct} of duct {duct} in duct bank {bank_id}: {overfill}")]
    SubductOverfill {
        /// The bank.
        bank_id: i64,
        /// The duct's position.
        duct: String,
        /// The subduct's number.
        subduct: String,
        /// How full, against what.
        overfill: Overfill,
    },
}

impl DuctLoad {
    /// What the duct's section holds: its direct cables and its subducts.
    pub fn held_mm(&self) -> Vec<f64> {
        let mut v = self.cables_mm.clone();
        v.extend(self.subducts.iter().map(|s| s.outer_mm));
        v
    }

    /// The fill of the duct (0–1): its direct cables and its subducts.
    pub fn fill(&self) -> f64 {
        super::duct::fill(self.inner_mm, &self.held_mm())
    }

    /// Admits a cable of `cable_mm` in the duct, or in its subduct number
    /// `subduct`, under `policy`. A subduct holds one cable.
    ///
    /// # Errors
    /// [`Refused`] naming the duct and by how much.
    pub fn admit(
        &self,
        policy: &CapacityPolicy,
        subduct: Option<&SubductLoad>,
        cable_mm: f64,
    ) -> Result<(), Refused> {
        match subduct {
            Some(s) if s.occupied_by.is_some() => Err(Refused::Occupied {
                bank_id: self.bank_id,
                duct: self.position.clone(),
                subduct: s.position.clone(),
            }),
            Some(s) => policy.admit(s.inner_mm, &[], cable_mm).map_err(|overfill| {
                Refused::SubductOverfill {
                    bank_id: self.bank_id,
                    duct: self.position.clone(),
                    subduct: s.position.clone(),
                    overfill,
                }
            }),
            None => policy
                .admit(self.inner_mm, &self.held_mm(), cable_mm)
                .map_err(|overfill| Refused::Overfill {
                    bank_id: self.bank_id,
                    duct: self.position.clone(),
                    overfill,
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lease_request_names_every_problem_with_its_pointer() {
        let e = NewLease::from_json(&json!({
            "cable_diameter_mm": 0,
            "segments": [{"bank_id": 1, "duct": "A1"}, {"bank_id": 1, "duct": "A2"}, 7],
            "colour": "red"
        }))
        .unwrap_err();
        let pointers: Vec<&str> = e.errors.iter().map(|x| x.pointer.as_str()).collect();
        assert_eq!(
            pointers,
            [
                "/cable_diameter_mm",
                "/colour",
                "/segments/1/bank_id",
                "/segments/2"
            ],
            "{e:?}"
        );
    }

    #[test]
    fn a_lease_without_segments_is_refused() {
        let e = NewLease::from_json(&json!({"cable_diameter_mm": 10})).unwrap_err();
        assert_eq!(e.errors[0].pointer, "/segments");
    }

    fn load(cables: &[f64], subducts: &[(f64, Option<i64>)]) -> DuctLoad {
        DuctLoad {
            id: 1,
            bank_id: 9,
            position: "A1".into(),
            inner_mm: 100.0,
            cables_mm: cables.to_vec(),
            subducts: subducts
                .iter()
                .enumerate()
                .map(|(i, (outer, by))| SubductLoad {
                    id: i as i64 + 10,
                    position: (i + 1).to_string(),
                    inner_mm: outer - 5.0,
                    outer_mm: *outer,
                    occupied_by: *by,
                })
                .collect(),
        }
    }

    #[test]
    fn subducts_count_in_their_ducts_fill() {
        let p = CapacityPolicy::default();
        // Three 32 mm subducts take 30.7 %; a fourth cable of 20 mm makes
        // 34.7 % with four items, under 40 %.
        let d = load(&[], &[(32.0, None), (32.0, None), (32.0, None)]);
        assert!((d.fill() - 0.3072).abs() < 1e-9);
        assert!(d.admit(&p, None, 20.0).is_ok());
        let e = d.admit(&p, None, 35.0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "duct A1 of duct bank 9: the duct would be filled to 43.0 % with 4 cables, over its limit of 40.0 % by 3.0 points"
        );
    }

    #[test]
    fn an_occupied_subduct_refuses_a_second_cable() {
        let p = CapacityPolicy::default();
        let d = load(&[], &[(32.0, Some(4)), (32.0, None)]);
        let e = d.admit(&p, Some(&d.subducts[0]), 5.0).unwrap_err();
        assert!(matches!(e, Refused::Occupied { .. }), "{e}");
        assert!(d.admit(&p, Some(&d.subducts[1]), 15.0).is_ok());
        // 27 mm inside: a 20 mm cable fills 54.9 % > 53 %.
        assert!(matches!(
            d.admit(&p, Some(&d.subducts[1]), 20.0),
            Err(Refused::SubductOverfill { .. })
        ));
    }
}
