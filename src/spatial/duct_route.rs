//! Routes through shared ducts (issue 17): the duct graph of structures
//! (nodes) and duct banks (edges), and the shortest path, in metres, that
//! uses only banks with room for a given cable.
//!
//! **Room.** A bank has room when one of its ducts admits the cable under
//! the [`CapacityPolicy`] (its fill with the cable within the limit for its
//! number of cables), or one of its free subducts does (the subduct alone,
//! one cable). The smallest such duct or subduct is chosen, keeping the
//! large ducts for large cables.
//!
//! **Search.** A* over the banks with room (petgraph's `astar`), from the
//! structure nearest each end. A bank's cost is its length, or, for a bank
//! the city does not own when the city's are preferred, its length times
//! `1 + penalty`; the reported length is always the banks' own. The
//! heuristic is 0.999 of the straight distance to the goal (local plane,
//! within 10⁻⁴ of the geodesic up to 100 km), and a bank's cost is at least
//! the distance between its structures, so the heuristic never
//! overestimates and the path is a shortest one.
//!
//! **Copies.** The topology (graph, indexes) is shared by every copy of a
//! network; what each bank holds is behind its own pointer, so a copy
//! patched after a lease ([`DuctNetwork::set_conduits`]) costs a vector of
//! pointers, not the network.
//!
//! **No room.** When no path has room, the answer names the first bank
//! without room along the shortest path that ignores capacity (the one a
//! planner would have to enlarge first), or says the ends are not
//! connected at all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use petgraph::graph::{EdgeIndex, NodeIndex, UnGraph};
use petgraph::visit::{EdgeFiltered, EdgeRef};
use rstar::{RTree, primitives::GeomWithData};

use crate::domain::duct::CapacityPolicy;
use crate::spatial::frame::LocalFrame;
use crate::spatial::geodesy::offset_m;

/// A structure (manhole, handhole, cabinet, …): a node of the graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Structure {
    /// Structure id.
    pub id: i64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Latitude, degrees.
    pub lat: f64,
}

/// Where a cable can go in a bank: a duct, or a subduct within one.
#[derive(Debug, Clone, PartialEq)]
pub struct Conduit {
    /// Duct id.
    pub duct_id: i64,
    /// Subduct id, for a subduct.
    pub subduct_id: Option<i64>,
    /// Inner diameter, mm.
    pub inner_mm: f64,
    /// Outer diameters of what it holds (cables, and the subducts of a
    /// duct), mm. A subduct holds at most one cable.
    pub held_mm: Vec<f64>,
}

/// A duct bank: an edge of the graph between two structures.
#[derive(Debug, Clone, PartialEq)]
pub struct Bank {
    /// Bank id.
    pub id: i64,
    /// Structure id at its start.
    pub from: i64,
    /// Structure id at its end.
    pub to: i64,
    /// Geodesic length of its line, metres.
    pub length_m: f64,
    /// Whether the city owns it.
    pub city_owned: bool,
    /// Its ducts and subducts.
    pub conduits: Vec<Conduit>,
}

impl Bank {
    /// The smallest conduit with room for a cable of `cable_mm` under
    /// `policy` (a subduct only when empty).
    pub fn room_for(&self, cable_mm: f64, policy: &CapacityPolicy) -> Option<&Conduit> {
        room_in(&self.conduits, cable_mm, policy)
    }
}

/// The smallest of `conduits` with room for a cable of `cable_mm` (see
/// [`Bank::room_for`]).
fn room_in<'a>(
    conduits: &'a [Conduit],
    cable_mm: f64,
    policy: &CapacityPolicy,
) -> Option<&'a Conduit> {
    conduits
        .iter()
        .filter(|c| {
            if c.subduct_id.is_some() {
                c.held_mm.is_empty() && policy.admit(c.inner_mm, &[], cable_mm).is_ok()
            } else {
                policy.admit(c.inner_mm, &c.held_mm, cable_mm).is_ok()
            }
        })
        .min_by(|a, b| {
            a.inner_mm
                .total_cmp(&b.inner_mm)
                .then(a.duct_id.cmp(&b.duct_id))
                .then(a.subduct_id.cmp(&b.subduct_id))
        })
}

/// What a route search asks.
#[derive(Debug, Clone, Default)]
pub struct RouteQuery {
    /// Start, lon/lat degrees.
    pub from: (f64, f64),
    /// End, lon/lat degrees.
    pub to: (f64, f64),
    /// Outer diameter of the cable to pull, mm.
    pub cable_mm: f64,
    /// Structures the route must not pass through (ids).
    pub avoid: HashSet<i64>,
    /// Extra cost of a bank the city does not own, as a share of its length
    /// (0: no preference).
    pub non_city_penalty: f64,
}

/// One bank of a route with the conduit chosen in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Leg {
    /// The bank.
    pub bank_id: i64,
    /// Structure ids at its start and end, in the route's direction.
    pub from: i64,
    /// See `from`.
    pub to: i64,
    /// Its length, metres.
    pub length_m: f64,
    /// The duct chosen.
    pub duct_id: i64,
    /// The subduct chosen, if any.
    pub subduct_id: Option<i64>,
}

/// A route found.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Its banks, in order.
    pub legs: Vec<Leg>,
    /// Total length, metres.
    pub length_m: f64,
    /// The structures passed, in order (the ends included).
    pub structures: Vec<i64>,
}

/// Why there is no route.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoRoute {
    /// The network has no structure.
    #[error("the duct network has no structure")]
    Empty,
    /// Every path between the ends crosses a bank without room; `bank_id`
    /// is the first such bank along the shortest path ignoring room.
    #[error("no route has room for the cable: duct bank {bank_id} is the first without room")]
    Blocked {
        /// The blocking bank.
        bank_id: i64,
    },
    /// No path at all joins the ends (avoided structures included).
    #[error("the two ends are not connected by duct banks")]
    Disconnected,
}

/// The duct graph, built once per snapshot of the duct layers (and
/// cloned and patched bank by bank after a lease: [`DuctNetwork::set_conduits`]).
#[derive(Debug, Clone)]
pub struct DuctNetwork {
    topology: Arc<Topology>,
    /// What each bank holds, by edge index (the graph's banks carry none).
    conduits: Arc<Vec<Arc<[Conduit]>>>,
    /// The capacity rules.
    pub policy: CapacityPolicy,
}

/// What does not change between a network and its patched copies.
#[derive(Debug)]
struct Topology {
    graph: UnGraph<Structure, Bank>,
    nodes: HashMap<i64, NodeIndex>,
    edges: HashMap<i64, EdgeIndex>,
    tree: RTree<GeomWithData<[f64; 2], NodeIndex>>,
    frame: LocalFrame,
}

/// The plane distance between two structures, metres.
fn distance_m(a: &Structure, b: &Structure) -> f64 {
    let (dx, dy) = offset_m((a.lon, a.lat), (b.lon, b.lat));
    dx.hypot(dy)
}

impl DuctNetwork {
    /// The graph of `structures` and `banks`; banks whose ends are not
    /// among the structures are left out (the store validates them).
    pub fn new(structures: &[Structure], banks: Vec<Bank>, policy: CapacityPolicy) -> Self {
        let mut graph = UnGraph::with_capacity(structures.len(), banks.len());
        let mut nodes = HashMap::with_capacity(structures.len());
        let (mut w, mut s, mut e, mut n) = (180.0f64, 90.0f64, -180.0f64, -90.0f64);
        for st in structures {
            nodes.insert(st.id, graph.add_node(*st));
            (w, s, e, n) = (w.min(st.lon), s.min(st.lat), e.max(st.lon), n.max(st.lat));
        }
        let frame = if structures.is_empty() {
            LocalFrame::da_nang()
        } else {
            LocalFrame::for_extent(w, s, e, n)
        };
        let mut edges = HashMap::with_capacity(banks.len());
        let mut conduits: Vec<Arc<[Conduit]>> = Vec::with_capacity(banks.len());
        for mut b in banks {
            if let (Some(&a), Some(&z)) = (nodes.get(&b.from), nodes.get(&b.to)) {
                let id = b.id;
                // Edge indices count up from 0 in insertion order.
                conduits.push(std::mem::take(&mut b.conduits).into());
                edges.insert(id, graph.add_edge(a, z, b));
            }
        }
        let tree = RTree::bulk_load(
            graph
                .node_indices()
                .map(|i| GeomWithData::new(frame.fwd(graph[i].lon, graph[i].lat), i))
                .collect(),
        );
        Self {
            topology: Arc::new(Topology {
                graph,
                nodes,
                edges,
                tree,
                frame,
            }),
            conduits: Arc::new(conduits),
            policy,
        }
    }

    /// Replaces the conduits of bank `bank_id` (what its ducts hold
    /// changed); false when the network has no such bank. A copy of the
    /// network shares the rest: the first patch of a copy copies the
    /// pointers to each bank's conduits, O(banks) pointers.
    pub fn set_conduits(&mut self, bank_id: i64, conduits: Vec<Conduit>) -> bool {
        match self.topology.edges.get(&bank_id) {
            Some(&e) => {
                Arc::make_mut(&mut self.conduits)[e.index()] = conduits.into();
                true
            }
            None => false,
        }
    }

    /// The conduit of bank `e` with room for `cable_mm`, if any.
    fn room(&self, e: EdgeIndex, cable_mm: f64) -> Option<&Conduit> {
        room_in(self.conduits.get(e.index())?, cable_mm, &self.policy)
    }

    /// Structures held.
    pub fn structure_count(&self) -> usize {
        self.topology.graph.node_count()
    }

    /// Banks held.
    pub fn bank_count(&self) -> usize {
        self.topology.graph.edge_count()
    }

    /// The structure nearest (`lon`, `lat`), not among `avoid`.
    pub fn nearest(&self, lon: f64, lat: f64, avoid: &HashSet<i64>) -> Option<&Structure> {
        let t = &*self.topology;
        t.tree
            .nearest_neighbor_iter(t.frame.fwd(lon, lat))
            .map(|g| &t.graph[g.data])
            .find(|s| !avoid.contains(&s.id))
    }

    /// A bank's search cost: its length (at least its structures'
    /// distance, so the heuristic stays a lower bound), raised for a bank
    /// the city does not own.
    fn cost(&self, e: EdgeIndex, penalty: f64) -> f64 {
        let graph = &self.topology.graph;
        let b = &graph[e];
        let Some((a, z)) = graph.edge_endpoints(e) else {
            return f64::INFINITY;
        };
        let base = b.length_m.max(distance_m(&graph[a], &graph[z]));
        if b.city_owned {
            base
        } else {
            base * (1.0 + penalty.max(0.0))
        }
    }

    /// The shortest route with room for the cable (see the module
    /// documentation).
    ///
    /// # Errors
    /// [`NoRoute`] when there is none, naming the first bank that blocks.
    pub fn route(&self, q: &RouteQuery) -> Result<Route, NoRoute> {
        let start = self
            .nearest(q.from.0, q.from.1, &q.avoid)
            .ok_or(NoRoute::Empty)?;
        let goal = self
            .nearest(q.to.0, q.to.1, &q.avoid)
            .ok_or(NoRoute::Empty)?;
        let graph = &self.topology.graph;
        let (s, g) = (
            self.topology.nodes[&start.id],
            self.topology.nodes[&goal.id],
        );
        let open = |e: EdgeIndex| {
            let Some((a, z)) = graph.edge_endpoints(e) else {
                return false;
            };
            !q.avoid.contains(&graph[a].id) && !q.avoid.contains(&graph[z].id)
        };
        let with_room = |e: EdgeIndex| open(e) && self.room(e, q.cable_mm).is_some();
        if let Some(nodes) = self.search(s, g, &with_room, q.non_city_penalty) {
            return Ok(self.route_of(&nodes, &with_room, q).0);
        }
        let Some(nodes) = self.search(s, g, &open, q.non_city_penalty) else {
            return Err(NoRoute::Disconnected);
        };
        let (_, edges) = self.route_of(&nodes, &open, q);
        match edges.into_iter().find(|e| !with_room(*e)) {
            Some(e) => Err(NoRoute::Blocked {
                bank_id: graph[e].id,
            }),
            None => Err(NoRoute::Disconnected),
        }
    }

    /// The node path of the cheapest route from `s` to `g` over the banks
    /// `usable` admits.
    fn search(
        &self,
        s: NodeIndex,
        g: NodeIndex,
        usable: &dyn Fn(EdgeIndex) -> bool,
        penalty: f64,
    ) -> Option<Vec<NodeIndex>> {
        let graph = &self.topology.graph;
        let filtered = EdgeFiltered::from_fn(graph, |e| usable(e.id()));
        let goal = graph[g];
        petgraph::algo::astar(
            &filtered,
            s,
            |n| n == g,
            |e| self.cost(e.id(), penalty),
            |n| 0.999 * distance_m(&graph[n], &goal),
        )
        .map(|(_, nodes)| nodes)
    }

    /// The route along `nodes`, and its banks' edges: between each two
    /// nodes, the cheapest usable bank (parallel banks join the same
    /// structures).
    fn route_of(
        &self,
        nodes: &[NodeIndex],
        usable: &dyn Fn(EdgeIndex) -> bool,
        q: &RouteQuery,
    ) -> (Route, Vec<EdgeIndex>) {
        let graph = &self.topology.graph;
        let mut legs = Vec::with_capacity(nodes.len().saturating_sub(1));
        let mut edges = Vec::with_capacity(legs.capacity());
        for w in nodes.windows(2) {
            let best = graph
                .edges_connecting(w[0], w[1])
                .filter(|e| usable(e.id()))
                .min_by(|a, b| {
                    self.cost(a.id(), q.non_city_penalty)
                        .total_cmp(&self.cost(b.id(), q.non_city_penalty))
                        .then(a.weight().id.cmp(&b.weight().id))
                });
            if let Some(e) = best {
                edges.push(e.id());
                let b = e.weight();
                let conduit = self.room(e.id(), q.cable_mm);
                legs.push(Leg {
                    bank_id: b.id,
                    from: graph[w[0]].id,
                    to: graph[w[1]].id,
                    length_m: b.length_m,
                    duct_id: conduit.map_or(0, |c| c.duct_id),
                    subduct_id: conduit.and_then(|c| c.subduct_id),
                });
            }
        }
        let route = Route {
            length_m: legs.iter().map(|l| l.length_m).sum(),
            structures: nodes.iter().map(|n| graph[*n].id).collect(),
            legs,
        };
        (route, edges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::xorshift as rng;

    /// A random network: structures in a box of about 3 × 3 km, banks
    /// between near neighbours (some parallel), random ducts and fills.
    fn network(seed: u64, n: usize) -> (Vec<Structure>, Vec<Bank>) {
        let mut next = rng(seed);
        let structures: Vec<Structure> = (0..n)
            .map(|i| Structure {
                id: i as i64 + 1,
                lon: 108.20 + next() * 0.03,
                lat: 16.04 + next() * 0.03,
            })
            .collect();
        let mut banks = Vec::new();
        for (i, a) in structures.iter().enumerate() {
            for (j, b) in structures.iter().enumerate().skip(i + 1) {
                let d = distance_m(a, b);
                if d < 700.0 && next() < 0.35 {
                    let copies = if next() < 0.1 { 2 } else { 1 };
                    for _ in 0..copies {
                        let conduits = (0..1 + (next() * 3.0) as usize)
                            .map(|k| {
                                let inner = 25.0 + next() * 75.0;
                                let held = (0..(next() * 4.0) as usize)
                                    .map(|_| 5.0 + next() * inner * 0.35)
                                    .collect();
                                Conduit {
                                    duct_id: banks.len() as i64 * 10 + k as i64,
                                    subduct_id: None,
                                    inner_mm: inner,
                                    held_mm: held,
                                }
                            })
                            .collect();
                        banks.push(Bank {
                            id: banks.len() as i64 + 1,
                            from: structures[i].id,
                            to: structures[j].id,
                            length_m: d * (1.0 + next() * 0.3),
                            city_owned: next() < 0.5,
                            conduits,
                        });
                    }
                }
            }
        }
        (structures, banks)
    }

    /// Shortest distances from `s` by Bellman-Ford over the banks `usable`
    /// admits: the brute-force oracle.
    fn brute(
        structures: &[Structure],
        banks: &[Bank],
        s: i64,
        usable: impl Fn(&Bank) -> bool,
        cost: impl Fn(&Bank) -> f64,
    ) -> HashMap<i64, f64> {
        let mut dist: HashMap<i64, f64> =
            structures.iter().map(|x| (x.id, f64::INFINITY)).collect();
        dist.insert(s, 0.0);
        for _ in 0..structures.len() {
            let mut changed = false;
            for b in banks.iter().filter(|b| usable(b)) {
                let c = cost(b);
                for (u, v) in [(b.from, b.to), (b.to, b.from)] {
                    if dist[&u] + c < dist[&v] {
                        dist.insert(v, dist[&u] + c);
                        changed = true;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        dist
    }

    #[test]
    fn routes_are_as_short_as_a_brute_force_search_over_the_banks_with_room() {
        let policy = CapacityPolicy::default();
        let (mut found, mut blocked, mut disconnected) = (0, 0, 0);
        for seed in 1..=12u64 {
            let (structures, banks) = network(seed * 7919, 120);
            let net = DuctNetwork::new(&structures, banks.clone(), policy);
            let mut next = rng(seed);
            for _ in 0..25 {
                let a = structures[(next() * structures.len() as f64) as usize];
                let z = structures[(next() * structures.len() as f64) as usize];
                let cable = 8.0 + next() * 25.0;
                let q = RouteQuery {
                    from: (a.lon, a.lat),
                    to: (z.lon, z.lat),
                    cable_mm: cable,
                    ..RouteQuery::default()
                };
                let room = |b: &Bank| b.room_for(cable, &policy).is_some();
                // The network's own cost: at least the structures' distance.
                let by_id: HashMap<i64, Structure> =
                    structures.iter().map(|s| (s.id, *s)).collect();
                let cost = |b: &Bank| b.length_m.max(distance_m(&by_id[&b.from], &by_id[&b.to]));
                let want = brute(&structures, &banks, a.id, room, cost)[&z.id];
                match net.route(&q) {
                    Ok(r) => {
                        let got: f64 = r
                            .legs
                            .iter()
                            .map(|l| cost(banks.iter().find(|b| b.id == l.bank_id).unwrap()))
                            .sum();
                        assert!((got - want).abs() < 1e-6, "{got} vs brute {want}");
                        // Every leg has room, and joins the structures in order.
                        for (k, l) in r.legs.iter().enumerate() {
                            let b = banks.iter().find(|b| b.id == l.bank_id).unwrap();
                            assert!(room(b));
                            assert_eq!((l.from, l.to), (r.structures[k], r.structures[k + 1]));
                            let c = b.room_for(cable, &policy).unwrap();
                            assert_eq!(l.duct_id, c.duct_id);
                        }
                        found += 1;
                    }
                    Err(NoRoute::Blocked { bank_id }) => {
                        assert!(want.is_infinite());
                        let b = banks.iter().find(|b| b.id == bank_id).unwrap();
                        assert!(!room(b), "bank {bank_id} named as blocking has room");
                        blocked += 1;
                    }
                    Err(e) => {
                        assert!(want.is_infinite(), "{e}");
                        let any = brute(&structures, &banks, a.id, |_| true, cost)[&z.id];
                        assert!(any.is_infinite(), "{e} but connected");
                        disconnected += 1;
                    }
                }
            }
        }
        assert!(
            found > 100 && blocked > 5,
            "{found} found, {blocked} blocked, {disconnected} disconnected"
        );
    }

    #[test]
    fn avoided_structures_are_not_passed_and_the_city_s_banks_are_preferred() {
        // A square: 1 → 2 → 4 (the operator's, 1,000 m) and 1 → 3 → 4
        // (the city's, 1,100 m).
        let s = |id, lon, lat| Structure { id, lon, lat };
        let structures = [
            s(1, 108.20, 16.05),
            s(2, 108.205, 16.05),
            s(3, 108.20, 16.055),
            s(4, 108.205, 16.055),
        ];
        let duct = |id| {
            vec![Conduit {
                duct_id: id,
                subduct_id: None,
                inner_mm: 50.0,
                held_mm: vec![],
            }]
        };
        let bank = |id, from, to, length_m, city_owned| Bank {
            id,
            from,
            to,
            length_m,
            city_owned,
            conduits: duct(id * 10),
        };
        let banks = vec![
            bank(1, 1, 2, 600.0, false),
            bank(2, 2, 4, 600.0, false),
            bank(3, 1, 3, 650.0, true),
            bank(4, 3, 4, 650.0, true),
        ];
        let net = DuctNetwork::new(&structures, banks, CapacityPolicy::default());
        let mut q = RouteQuery {
            from: (108.20, 16.05),
            to: (108.205, 16.055),
            cable_mm: 20.0,
            ..RouteQuery::default()
        };
        assert_eq!(net.route(&q).unwrap().structures, vec![1, 2, 4]);
        q.non_city_penalty = 0.2;
        let r = net.route(&q).unwrap();
        assert_eq!(r.structures, vec![1, 3, 4]);
        assert!((r.length_m - 1300.0).abs() < 1e-9);
        q.non_city_penalty = 0.0;
        q.avoid.insert(3);
        assert_eq!(net.route(&q).unwrap().structures, vec![1, 2, 4]);
        q.avoid.insert(2);
        assert_eq!(net.route(&q), Err(NoRoute::Disconnected));
    }

    #[test]
    fn a_free_subduct_takes_a_cable_and_an_occupied_one_does_not() {
        let policy = CapacityPolicy::default();
        let sub = |id, held: Vec<f64>| Conduit {
            duct_id: 7,
            subduct_id: Some(id),
            inner_mm: 12.0,
            held_mm: held,
        };
        let b = Bank {
            id: 1,
            from: 1,
            to: 2,
            length_m: 100.0,
            city_owned: true,
            conduits: vec![
                // The duct itself is full of its subducts.
                Conduit {
                    duct_id: 7,
                    subduct_id: None,
                    inner_mm: 40.0,
                    held_mm: vec![16.0, 16.0, 16.0],
                },
                sub(1, vec![8.0]),
                sub(2, vec![]),
            ],
        };
        assert_eq!(b.room_for(8.0, &policy).and_then(|c| c.subduct_id), Some(2));
        // 8.8 mm is the largest cable a 12 mm subduct takes (53 %).
        assert!(b.room_for(8.8, &policy).is_none());
    }
}
