//! Synthetic shared ducts (issue 17) along the generated underground fibre
//! routes: structures every 80–200 m (shared where routes meet, within
//! [`SNAP_M`]), duct banks between consecutive structures, and the leases
//! that put each underground route's cable in a duct along its path, chosen
//! as the smallest conduit with room under the default fill limits. A few
//! banks are filled near their limit by extra cables; a tenth of the leases
//! are still pending. Then banks along the main streets of the urban
//! districts, the city's empty corridors where no route runs yet (sharing
//! the routes' structures where they meet). Everything is marked synthetic.
//!
//! Pure and seeded like the rest of the generator: the same seed and routes
//! give the same network.

use std::collections::HashMap;

use geo::{Coord, Distance, Haversine, Point};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::domain::duct::CapacityPolicy;

use super::OPERATORS;

/// Structures closer than this (metres) are one structure.
pub const SNAP_M: f64 = 30.0;
/// Spacing of structures along a route, metres.
pub const SPACING_M: (f64, f64) = (80.0, 200.0);
/// Banks one generated lease runs through at most (the API allows 500).
pub const MAX_LEASE_BANKS: usize = 400;

/// A structure to create.
#[derive(Debug, Clone, PartialEq)]
pub struct StructureSeed {
    /// Lon/lat, rounded to 6 decimals.
    pub at: [f64; 2],
    /// `manhole` or `handhole`.
    pub kind: &'static str,
    /// Owner's identifier, e.g. `DN-MH-00012`.
    pub external_id: String,
}

/// A subduct to create: (position, inner mm, outer mm, colour).
pub type SubductSeed = (&'static str, f64, f64, &'static str);

/// A duct to create.
#[derive(Debug, Clone, PartialEq)]
pub struct DuctSeed {
    /// Position, e.g. `A1`.
    pub position: &'static str,
    /// Inner diameter, mm.
    pub inner_mm: f64,
    /// Material.
    pub material: &'static str,
    /// Its subducts.
    pub subducts: Vec<SubductSeed>,
}

/// A duct bank to create.
#[derive(Debug, Clone, PartialEq)]
pub struct BankSeed {
    /// Index of its first structure.
    pub from: usize,
    /// Index of its last structure.
    pub to: usize,
    /// Owner: `None` for the city, else an operator id.
    pub owner: Option<&'static str>,
    /// Line from the first structure to the last, lon/lat.
    pub coords: Vec<[f64; 2]>,
    /// Rows x columns.
    pub configuration: &'static str,
    /// Its ducts.
    pub ducts: Vec<DuctSeed>,
    /// Owner's identifier.
    pub external_id: String,
}

/// A lease to create.
#[derive(Debug, Clone, PartialEq)]
pub struct LeaseSeed {
    /// The lessee.
    pub operator: &'static str,
    /// Cable outer diameter, mm.
    pub cable_mm: f64,
    /// Fibres.
    pub fibre_count: i32,
    /// The carried fibre route's (operator, external id), when it carries one.
    pub fibre_route: Option<(String, String)>,
    /// `requested`, `approved` or `active`.
    pub state: &'static str,
    /// (bank index, duct position, subduct position), in order.
    pub segments: Vec<(usize, &'static str, Option<&'static str>)>,
}

/// The generated duct network.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DuctSample {
    /// Structures.
    pub structures: Vec<StructureSeed>,
    /// Banks.
    pub banks: Vec<BankSeed>,
    /// Leases.
    pub leases: Vec<LeaseSeed>,
}

/// Outer diameter (mm) of a loose-tube cable of `fibres` fibres.
pub fn cable_mm(fibres: i64) -> f64 {
    match fibres {
        ..=48 => 9.5,
        49..=96 => 11.5,
        97..=144 => 13.5,
        145..=288 => 17.0,
        _ => 22.0,
    }
}

fn ducts_of<R: Rng>(rng: &mut R) -> (&'static str, Vec<DuctSeed>) {
    let subducts = vec![
        ("1", 27.0, 32.0, "orange"),
        ("2", 27.0, 32.0, "blue"),
        ("3", 27.0, 32.0, "green"),
    ];
    let duct = |position, inner_mm, material, subducts| DuctSeed {
        position,
        inner_mm,
        material,
        subducts,
    };
    if rng.gen_bool(0.35) {
        (
            "1x2",
            vec![
                duct("A1", 100.0, "hdpe", subducts),
                duct("A2", 50.0, "pvc", vec![]),
            ],
        )
    } else {
        (
            "2x2",
            vec![
                duct("A1", 100.0, "hdpe", subducts),
                duct("A2", 100.0, "hdpe", vec![]),
                duct("B1", 100.0, "pvc", vec![]),
                duct("B2", 50.0, "pvc", vec![]),
            ],
        )
    }
}

/// Local metres per degree at `lat`.
fn metres(a: Coord<f64>, b: Coord<f64>) -> f64 {
    Haversine.distance(Point(a), Point(b))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// What a conduit of the generator holds.
#[derive(Debug, Clone)]
struct Load {
    inner_mm: f64,
    held: Vec<f64>,
    subduct: bool,
}

struct Builder {
    sample: DuctSample,
    grid: HashMap<(i64, i64), Vec<usize>>,
    banks: HashMap<(usize, usize), usize>,
    /// Per bank, per conduit: (duct, subduct, load).
    loads: Vec<Vec<(&'static str, Option<&'static str>, Load)>>,
    policy: CapacityPolicy,
}

impl Builder {
    fn cell(c: [f64; 2]) -> (i64, i64) {
        // ~0.0003° ≈ 33 m at 16° N: neighbours hold every structure within SNAP_M.
        (
            (c[0] / 0.0003).floor() as i64,
            (c[1] / 0.0003).floor() as i64,
        )
    }

    /// The structure within [`SNAP_M`] of `c`, or a new one there.
    fn structure(&mut self, c: Coord<f64>) -> usize {
        let at = [round6(c.x), round6(c.y)];
        if let Some(i) = self.near(Coord { x: at[0], y: at[1] }) {
            return i;
        }
        let (cx, cy) = Self::cell(at);
        let i = self.sample.structures.len();
        self.sample.structures.push(StructureSeed {
            at,
            kind: if i % 5 == 4 { "handhole" } else { "manhole" },
            external_id: format!("DN-MH-{:05}", i + 1),
        });
        self.grid.entry((cx, cy)).or_default().push(i);
        i
    }

    fn bank<R: Rng>(&mut self, rng: &mut R, from: usize, to: usize, inner: &[Coord<f64>]) -> usize {
        let key = (from.min(to), from.max(to));
        if let Some(&b) = self.banks.get(&key) {
            return b;
        }
        let (configuration, ducts) = ducts_of(rng);
        let owner = if rng.gen_bool(0.85) {
            None
        } else {
            Some(OPERATORS[rng.gen_range(0..OPERATORS.len())].id)
        };
        let mut coords = vec![self.sample.structures[from].at];
        coords.extend(inner.iter().map(|c| [round6(c.x), round6(c.y)]));
        coords.push(self.sample.structures[to].at);
        coords.dedup();
        let i = self.sample.banks.len();
        let mut loads = Vec::new();
        for d in &ducts {
            loads.push((
                d.position,
                None,
                Load {
                    inner_mm: d.inner_mm,
                    held: d.subducts.iter().map(|s| s.2).collect(),
                    subduct: false,
                },
            ));
            for s in &d.subducts {
                loads.push((
                    d.position,
                    Some(s.0),
                    Load {
                        inner_mm: s.1,
                        held: vec![],
                        subduct: true,
                    },
                ));
            }
        }
        self.loads.push(loads);
        self.sample.banks.push(BankSeed {
            from,
            to,
            owner,
            coords,
            configuration,
            ducts,
            external_id: format!("DN-DB-{:05}", i + 1),
        });
        self.banks.insert(key, i);
        i
    }

    /// Takes the smallest conduit of bank `b` with room for `cable_mm`.
    fn take(&mut self, b: usize, cable_mm: f64) -> Option<(&'static str, Option<&'static str>)> {
        let policy = self.policy;
        let best = self.loads[b]
            .iter()
            .enumerate()
            .filter(|(_, (_, _, l))| {
                if l.subduct {
                    l.held.is_empty() && policy.admit(l.inner_mm, &[], cable_mm).is_ok()
                } else {
                    policy.admit(l.inner_mm, &l.held, cable_mm).is_ok()
                }
            })
            .min_by(|a, b| a.1.2.inner_mm.total_cmp(&b.1.2.inner_mm))
            .map(|(i, _)| i)?;
        let (duct, subduct, load) = &mut self.loads[b][best];
        load.held.push(cable_mm);
        if let Some(sub) = subduct {
            // The subduct's cable does not add to its duct's section.
            return Some((duct, Some(sub)));
        }
        Some((duct, None))
    }
}

/// Step of the walk along a route, metres.
const STEP_M: f64 = 10.0;

impl Builder {
    /// An existing structure within [`SNAP_M`] of `c`.
    fn near(&self, c: Coord<f64>) -> Option<usize> {
        let (cx, cy) = Self::cell([c.x, c.y]);
        let mut best: Option<(f64, usize)> = None;
        for dx in -1..=1 {
            for dy in -1..=1 {
                for &i in self.grid.get(&(cx + dx, cy + dy)).into_iter().flatten() {
                    let s = self.sample.structures[i].at;
                    let d = metres(Coord { x: s[0], y: s[1] }, c);
                    if d <= SNAP_M && best.is_none_or(|(bd, _)| d < bd) {
                        best = Some((d, i));
                    }
                }
            }
        }
        best.map(|(_, i)| i)
    }
}

/// The banks a route runs through. The walk goes along its line in steps
/// of [`STEP_M`]; it cuts at an existing structure it passes once 60 m from
/// the last cut (so routes along one street share structures and banks),
/// else at a new structure 80–200 m from the last.
fn path<R: Rng>(b: &mut Builder, rng: &mut R, line: &[Coord<f64>]) -> Vec<usize> {
    let mut out = Vec::new();
    let Some(&first) = line.first() else {
        return out;
    };
    let mut at = b.structure(first);
    let mut inner: Vec<Coord<f64>> = Vec::new();
    let mut next_cut = rng.gen_range(SPACING_M.0..SPACING_M.1);
    let mut walked = 0.0;
    for w in line.windows(2) {
        let (p, q) = (w[0], w[1]);
        let seg = metres(p, q);
        let steps = (seg / STEP_M).ceil().max(1.0) as usize;
        for k in 1..=steps {
            let t = k as f64 / steps as f64;
            let c = Coord {
                x: p.x + (q.x - p.x) * t,
                y: p.y + (q.y - p.y) * t,
            };
            walked += seg / steps as f64;
            let cut = match b.near(c) {
                Some(s) if s != at && walked >= 60.0 => Some(s),
                _ if walked >= next_cut => Some(b.structure(c)),
                _ => None,
            };
            if let Some(s) = cut
                && s != at
            {
                out.push(b.bank(rng, at, s, &inner));
                at = s;
                inner.clear();
                walked = 0.0;
                next_cut = rng.gen_range(SPACING_M.0..SPACING_M.1);
            }
        }
        inner.push(q);
    }
    inner.pop();
    if let Some(&last) = line.last() {
        let s = b.structure(last);
        if s != at {
            out.push(b.bank(rng, at, s, &inner));
        }
    }
    out.dedup();
    out
}

/// Generates the duct network of the underground routes of `fibre_routes`
/// (a FeatureCollection as the generator writes it) and along `streets`
/// (lon/lat lines: the main streets of the urban districts) with `seed`.
/// The streets draw from their own random stream, so the routes' network
/// is the same with or without them.
pub fn generate(
    seed: u64,
    fibre_routes: &geojson::FeatureCollection,
    streets: &[geo::LineString<f64>],
) -> DuctSample {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(4);
    let mut b = Builder {
        sample: DuctSample::default(),
        grid: HashMap::new(),
        banks: HashMap::new(),
        loads: Vec::new(),
        policy: CapacityPolicy::default(),
    };
    for f in &fibre_routes.features {
        let Some(p) = &f.properties else { continue };
        if p.get("placement").and_then(Value::as_str) != Some("underground") {
            continue;
        }
        let Some(op) = p
            .get("operator")
            .and_then(Value::as_str)
            .and_then(|o| OPERATORS.iter().find(|x| x.id == o))
        else {
            continue;
        };
        let Some(geojson::Value::LineString(coords)) = f.geometry.as_ref().map(|g| &g.value) else {
            continue;
        };
        let line: Vec<Coord<f64>> = coords
            .iter()
            .filter_map(|c| {
                Some(Coord {
                    x: *c.first()?,
                    y: *c.get(1)?,
                })
            })
            .collect();
        let fibres = p.get("fibre_count").and_then(Value::as_i64).unwrap_or(48);
        let cable = cable_mm(fibres);
        let route = p
            .get("external_id")
            .and_then(Value::as_str)
            .map(|e| (op.id.to_owned(), e.to_owned()));
        let banks = path(&mut b, &mut rng, &line);
        let state = match rng.gen_range(0..20) {
            0 | 1 => "requested",
            2 => "approved",
            _ => "active",
        };
        let mut run: Vec<(usize, &'static str, Option<&'static str>)> = Vec::new();
        let flush = |run: &mut Vec<_>, out: &mut Vec<LeaseSeed>| {
            if !run.is_empty() {
                out.push(LeaseSeed {
                    operator: op.id,
                    cable_mm: cable,
                    fibre_count: i32::try_from(fibres).unwrap_or(48),
                    fibre_route: route.clone(),
                    state,
                    segments: std::mem::take(run),
                });
            }
        };
        for bank in banks {
            // A route that comes back through a bank: a new lease (one
            // lease names a bank once).
            if run.iter().any(|x| x.0 == bank) {
                flush(&mut run, &mut b.sample.leases);
            }
            match b.take(bank, cable) {
                Some((duct, sub)) => {
                    run.push((bank, duct, sub));
                    if run.len() == MAX_LEASE_BANKS {
                        flush(&mut run, &mut b.sample.leases);
                    }
                }
                None => flush(&mut run, &mut b.sample.leases),
            }
        }
        flush(&mut run, &mut b.sample.leases);
    }
    // A few banks filled near their limit by other operators' cables.
    for bank in 0..b.sample.banks.len() {
        if !rng.gen_bool(0.05) {
            continue;
        }
        while let Some((duct, sub)) = b.take(bank, 17.0) {
            let op = OPERATORS[rng.gen_range(0..OPERATORS.len())].id;
            b.sample.leases.push(LeaseSeed {
                operator: op,
                cable_mm: 17.0,
                fibre_count: 288,
                fibre_route: None,
                state: "active",
                segments: vec![(bank, duct, sub)],
            });
        }
    }
    // Banks along the main streets, empty: where a carrier could lease.
    let mut street_rng = ChaCha8Rng::seed_from_u64(seed);
    street_rng.set_stream(5);
    for line in streets {
        path(&mut b, &mut street_rng, &line.0);
    }
    b.sample
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> geojson::FeatureCollection {
        let line = |coords: Vec<[f64; 2]>, op: &str, id: &str| {
            let mut f = geojson::Feature::from(geojson::Geometry::new(geojson::Value::LineString(
                coords.iter().map(|c| c.to_vec()).collect(),
            )));
            let mut p = serde_json::Map::new();
            p.insert("operator".into(), op.into());
            p.insert("placement".into(), "underground".into());
            p.insert("fibre_count".into(), 96.into());
            p.insert("external_id".into(), id.into());
            f.properties = Some(p);
            f
        };
        geojson::FeatureCollection {
            bbox: None,
            features: vec![
                line(
                    vec![[108.20, 16.05], [108.21, 16.05], [108.21, 16.06]],
                    "viettel",
                    "VTL-FIB-0001",
                ),
                line(
                    vec![[108.20, 16.05], [108.21, 16.05]],
                    "vnpt",
                    "VNP-FIB-0001",
                ),
            ],
            foreign_members: None,
        }
    }

    #[test]
    fn structures_are_80_to_200_m_apart_and_banks_end_at_them() {
        let s = generate(7, &routes(), &[]);
        assert!(s.banks.len() >= 10, "{}", s.banks.len());
        for bank in &s.banks {
            let (a, z) = (s.structures[bank.from].at, s.structures[bank.to].at);
            assert_eq!(bank.coords.first(), Some(&a));
            assert_eq!(bank.coords.last(), Some(&z));
            let d = metres(Coord { x: a[0], y: a[1] }, Coord { x: z[0], y: z[1] });
            // The last bank of a route may be short; snapping moves ends by
            // at most SNAP_M.
            assert!(d <= SPACING_M.1 + 2.0 * SNAP_M, "{d}");
        }
    }

    #[test]
    fn routes_on_the_same_street_share_structures_and_banks_and_respect_the_fill_limits() {
        let s = generate(7, &routes(), &[]);
        let vnpt: Vec<usize> = s
            .leases
            .iter()
            .filter(|l| l.operator == "vnpt")
            .flat_map(|l| l.segments.iter().map(|x| x.0))
            .collect();
        let viettel: Vec<usize> = s
            .leases
            .iter()
            .filter(|l| l.operator == "viettel" && l.fibre_route.is_some())
            .flat_map(|l| l.segments.iter().map(|x| x.0))
            .collect();
        let shared = vnpt.iter().filter(|b| viettel.contains(b)).count();
        assert!(
            shared * 2 >= vnpt.len(),
            "{shared} of {} banks shared",
            vnpt.len()
        );
        // Brute force: every duct's fill under its limit.
        let policy = CapacityPolicy::default();
        for (i, bank) in s.banks.iter().enumerate() {
            for d in &bank.ducts {
                let mut held: Vec<f64> = d.subducts.iter().map(|x| x.2).collect();
                held.extend(s.leases.iter().flat_map(|l| {
                    l.segments
                        .iter()
                        .filter(|x| x.0 == i && x.1 == d.position && x.2.is_none())
                        .map(|_| l.cable_mm)
                }));
                let fill = crate::domain::duct::fill(d.inner_mm, &held);
                assert!(
                    fill <= policy.limit(held.len()) + 1e-12,
                    "bank {i} duct {}",
                    d.position
                );
            }
        }
    }

    #[test]
    fn a_lease_names_each_bank_once_even_when_its_route_comes_back() {
        let mut fc = routes();
        // Out along the street and back again.
        fc.features[1].geometry = Some(geojson::Geometry::new(geojson::Value::LineString(vec![
            vec![108.20, 16.05],
            vec![108.21, 16.05],
            vec![108.20, 16.05],
        ])));
        let s = generate(11, &fc, &[]);
        for l in &s.leases {
            let mut banks: Vec<usize> = l.segments.iter().map(|x| x.0).collect();
            banks.sort_unstable();
            let n = banks.len();
            banks.dedup();
            assert_eq!(banks.len(), n, "{l:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_network() {
        assert_eq!(generate(3, &routes(), &[]), generate(3, &routes(), &[]));
    }

    #[test]
    fn streets_add_empty_banks_and_leave_the_routes_network_as_it_was() {
        let alone = generate(7, &routes(), &[]);
        // 0.01° of longitude at 16.06° N: about 1.07 km.
        let street = geo::LineString::from(vec![(108.20, 16.06), (108.21, 16.06)]);
        let with = generate(7, &routes(), &[street]);
        assert_eq!(with.leases, alone.leases, "no cable in the street's banks");
        assert_eq!(
            with.structures[..alone.structures.len()],
            alone.structures[..]
        );
        assert_eq!(with.banks[..alone.banks.len()], alone.banks[..]);
        let added = with.banks.len() - alone.banks.len();
        assert!((5..=15).contains(&added), "{added} banks along 1.07 km");
    }
}
