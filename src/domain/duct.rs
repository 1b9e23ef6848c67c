//! Shared underground infrastructure: the capacity rules of ducts and the
//! states of a lease (issue 17). Pure rules, no storage: the application
//! layer applies them to the occupancies it reads in the same transaction.
//!
//! **Fill.** A duct of inner diameter `D` holding cables of outer diameters
//! `d₁ … dₙ` is filled to `Σ dₖ² / D²` (the share of its cross-section the
//! cables take). The limit depends on the number of cables, by default
//! NEC Chapter 9 Table 1: 53 % for one cable, 31 % for two, 40 % for three
//! or more; a city sets its own in [`CapacityPolicy`].

use serde::{Deserialize, Serialize};

/// The fill limits, as shares of the duct's cross-section (0–1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityPolicy {
    /// Limit with one cable (NEC: 0.53).
    pub one_cable: f64,
    /// Limit with two cables (NEC: 0.31).
    pub two_cables: f64,
    /// Limit with three cables or more (NEC: 0.40).
    pub three_or_more: f64,
}

impl Default for CapacityPolicy {
    fn default() -> Self {
        Self {
            one_cable: 0.53,
            two_cables: 0.31,
            three_or_more: 0.40,
        }
    }
}

impl std::str::FromStr for CapacityPolicy {
    type Err = String;

    /// Reads `one,two,more`: the limits for one cable, two, and three or
    /// more, as shares (`0.53,0.31,0.40`) or percentages (`53,31,40`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let [one, two, more] = parts.as_slice() else {
            return Err(format!(
                "'{s}' is not three fill limits: one cable, two, three or more, e.g. 0.53,0.31,0.40"
            ));
        };
        let read = |t: &str| -> Result<f64, String> {
            let x: f64 = t
                .parse()
                .map_err(|_| format!("fill limit '{t}' is not a number"))?;
            let share = if x > 1.0 { x / 100.0 } else { x };
            if share.is_finite() && share > 0.0 && share <= 1.0 {
                Ok(share)
            } else {
                Err(format!(
                    "fill limit '{t}' must lie in (0, 1] (or be a percentage up to 100)"
                ))
            }
        };
        Ok(Self {
            one_cable: read(one)?,
            two_cables: read(two)?,
            three_or_more: read(more)?,
        })
    }
}

/// A cable that does not fit: how full the duct would be, against what.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error(
    "the duct would be filled to {:.1} % with {cables} {}, over its limit of {:.1} % by {:.1} points",
    fill_after * 100.0,
    if *cables == 1 { "cable" } else { "cables" },
    limit * 100.0,
    (fill_after - limit) * 100.0
)]
pub struct Overfill {
    /// Fill with the new cable (0–1, may exceed 1).
    pub fill_after: f64,
    /// The limit for that many cables (0–1).
    pub limit: f64,
    /// Cables with the new one.
    pub cables: usize,
}

/// Why a duct's inputs are not a duct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DuctError {
    /// The inner diameter is not a positive finite number of millimetres.
    #[error("inner diameter must be a positive number of millimetres")]
    InnerDiameter,
    /// A cable diameter is not a positive finite number of millimetres.
    #[error("cable diameter must be a positive number of millimetres")]
    CableDiameter,
}

impl CapacityPolicy {
    /// The limit (0–1) for a duct holding `cables` cables (0 has no cable
    /// and no limit to apply: the one-cable limit is returned).
    pub fn limit(&self, cables: usize) -> f64 {
        match cables {
            0 | 1 => self.one_cable,
            2 => self.two_cables,
            _ => self.three_or_more,
        }
    }

    /// Whether a cable of `cable_mm` fits in a duct of `inner_mm` holding
    /// `cables_mm`: `Err` with the fill it would reach.
    ///
    /// # Errors
    /// [`Overfill`] when it does not fit.
    pub fn admit(&self, inner_mm: f64, cables_mm: &[f64], cable_mm: f64) -> Result<(), Overfill> {
        let n = cables_mm.len() + 1;
        let fill_after = fill(inner_mm, cables_mm) + (cable_mm / inner_mm).powi(2);
        let limit = self.limit(n);
        if fill_after <= limit {
            Ok(())
        } else {
            Err(Overfill {
                fill_after,
                limit,
                cables: n,
            })
        }
    }

    /// The free capacity of a duct of `inner_mm` holding `cables_mm`: the
    /// largest cable diameter (mm) that still fits, 0 when none does.
    pub fn largest_cable_mm(&self, inner_mm: f64, cables_mm: &[f64]) -> f64 {
        let room = self.limit(cables_mm.len() + 1) - fill(inner_mm, cables_mm);
        if room > 0.0 {
            inner_mm * room.sqrt()
        } else {
            0.0
        }
    }
}

/// The largest cable that still fits (mm) from which a bank's free capacity
/// is `low`; below it, `none`.
pub const LOW_FROM_MM: f64 = 6.0;
/// The largest cable that still fits (mm) from which a bank's free capacity
/// is `ample` (a 144-fibre loose-tube cable is about 15 mm across).
pub const AMPLE_FROM_MM: f64 = 16.0;

/// The free-capacity class of a bank, from the largest cable that still
/// fits in any of its conduits.
pub fn capacity_class(largest_cable_mm: f64) -> &'static str {
    if largest_cable_mm >= AMPLE_FROM_MM {
        "ample"
    } else if largest_cable_mm >= LOW_FROM_MM {
        "low"
    } else {
        "none"
    }
}

/// The fill of a duct of `inner_mm` holding `cables_mm` (0–1, may exceed 1):
/// `Σ dₖ² / D²`.
pub fn fill(inner_mm: f64, cables_mm: &[f64]) -> f64 {
    cables_mm.iter().map(|d| d * d).sum::<f64>() / (inner_mm * inner_mm)
}

/// Checks a duct's inner diameter and its cables' diameters.
///
/// # Errors
/// [`DuctError`] for a non-positive or non-finite diameter.
pub fn check_diameters(inner_mm: f64, cables_mm: &[f64]) -> Result<(), DuctError> {
    if !(inner_mm.is_finite() && inner_mm > 0.0) {
        return Err(DuctError::InnerDiameter);
    }
    if cables_mm.iter().any(|d| !(d.is_finite() && *d > 0.0)) {
        return Err(DuctError::CableDiameter);
    }
    Ok(())
}

/// The state of a lease of duct space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseState {
    /// Asked for by the carrier; its room is reserved until decided.
    Requested,
    /// Granted by the owner; the room is held.
    Approved,
    /// The cable is in; the room is taken.
    Active,
    /// The cable is out; the room is free again.
    Released,
    /// Refused by the owner.
    Rejected,
}

impl LeaseState {
    /// Every state, in lifecycle order.
    pub const ALL: [LeaseState; 5] = [
        LeaseState::Requested,
        LeaseState::Approved,
        LeaseState::Active,
        LeaseState::Released,
        LeaseState::Rejected,
    ];

    /// The name used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseState::Requested => "requested",
            LeaseState::Approved => "approved",
            LeaseState::Active => "active",
            LeaseState::Released => "released",
            LeaseState::Rejected => "rejected",
        }
    }

    /// Parses a state name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Whether the lease may go from `self` to `next`: requested →
    /// approved | rejected, approved → active | released, active →
    /// released. Nothing leaves released or rejected.
    pub fn may_become(self, next: LeaseState) -> bool {
        use LeaseState::{Active, Approved, Rejected, Released, Requested};
        matches!(
            (self, next),
            (Requested, Approved | Rejected) | (Approved, Active | Released) | (Active, Released)
        )
    }

    /// Whether a lease in this state counts against the duct's capacity:
    /// a request reserves its room until it is decided (first come, first
    /// served: two requests cannot both be promised the last room), approved
    /// room is held for the cable to come, an active lease's cable is in.
    pub fn holds_room(self) -> bool {
        matches!(
            self,
            LeaseState::Requested | LeaseState::Approved | LeaseState::Active
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::xorshift as rng;

    #[test]
    fn one_cable_of_half_the_diameter_fills_a_quarter() {
        assert!((fill(100.0, &[50.0]) - 0.25).abs() < 1e-12);
        assert!((fill(40.0, &[10.0, 10.0, 20.0]) - 0.375).abs() < 1e-12);
        assert_eq!(fill(40.0, &[]), 0.0);
    }

    #[test]
    fn the_nec_limits_apply_by_the_number_of_cables() {
        let p = CapacityPolicy::default();
        // One cable: 53 % of a 100 mm duct is a cable of 72.8 mm.
        assert!((p.largest_cable_mm(100.0, &[]) - 100.0 * 0.53f64.sqrt()).abs() < 1e-9);
        assert!(p.admit(100.0, &[], 72.8).is_ok());
        assert!(p.admit(100.0, &[], 72.9).is_err());
        // Two cables: 31 %.
        let e = p.admit(100.0, &[40.0], 40.0).unwrap_err();
        assert_eq!((e.cables, e.limit), (2, 0.31));
        assert!((e.fill_after - 0.32).abs() < 1e-12);
        assert!(e.to_string().contains("32.0 %") && e.to_string().contains("1.0 points"));
        // Three or more: 40 %.
        assert!(p.admit(100.0, &[30.0, 30.0], 40.0).is_ok());
        assert_eq!(p.limit(7), 0.40);
    }

    #[test]
    fn a_city_sets_its_limits_as_shares_or_percentages_and_nonsense_is_refused() {
        let p: CapacityPolicy = "0.5, 0.3, 0.35".parse().unwrap();
        assert_eq!(
            (p.one_cable, p.two_cables, p.three_or_more),
            (0.5, 0.3, 0.35)
        );
        let q: CapacityPolicy = "53,31,40".parse().unwrap();
        assert!((q.two_cables - 0.31).abs() < 1e-12);
        for bad in [
            "0.5,0.3",
            "0,0.3,0.4",
            "0.5,x,0.4",
            "0.5,0.3,150",
            "-1,0.3,0.4",
            "NaN,1,1",
        ] {
            assert!(bad.parse::<CapacityPolicy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn free_capacity_is_the_largest_cable_a_scan_of_diameters_admits() {
        let p = CapacityPolicy::default();
        let mut next = rng(17);
        let mut full = 0;
        for _ in 0..2_000 {
            let inner = 20.0 + next() * 130.0;
            let n = (next() * 5.0) as usize;
            let cables: Vec<f64> = (0..n).map(|_| 3.0 + next() * inner * 0.4).collect();
            let largest = p.largest_cable_mm(inner, &cables);
            // The oracle: the largest of 0.01 mm steps that `admit` takes.
            let mut best = 0.0;
            let mut d = 0.01;
            while d <= inner {
                if p.admit(inner, &cables, d).is_ok() {
                    best = d;
                }
                d += 0.01;
            }
            assert!(
                largest + 1e-9 >= best && largest < best + 0.01 + 1e-9,
                "{inner} mm with {cables:?}: {largest} vs scan {best}"
            );
            full += usize::from(best == 0.0);
        }
        // Some ducts are already over their next limit.
        assert!(full > 100 && full < 1_900, "{full} full");
    }

    #[test]
    fn a_lease_moves_only_along_its_lifecycle() {
        use LeaseState::*;
        let allowed = [
            (Requested, Approved),
            (Requested, Rejected),
            (Approved, Active),
            (Approved, Released),
            (Active, Released),
        ];
        for a in LeaseState::ALL {
            for b in LeaseState::ALL {
                assert_eq!(a.may_become(b), allowed.contains(&(a, b)), "{a:?} → {b:?}");
            }
            assert_eq!(LeaseState::parse(a.as_str()), Some(a));
        }
        assert!(Approved.holds_room() && Active.holds_room() && Requested.holds_room());
        assert!(!Released.holds_room() && !Rejected.holds_room());
    }

    #[test]
    fn diameters_must_be_positive_millimetres() {
        assert_eq!(check_diameters(0.0, &[]), Err(DuctError::InnerDiameter));
        assert_eq!(
            check_diameters(f64::NAN, &[]),
            Err(DuctError::InnerDiameter)
        );
        assert_eq!(
            check_diameters(40.0, &[-1.0]),
            Err(DuctError::CableDiameter)
        );
        assert_eq!(check_diameters(40.0, &[10.0]), Ok(()));
    }
}
