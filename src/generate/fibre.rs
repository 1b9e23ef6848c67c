//! Fibre routes: one backbone ring per operator through the urban district
//! centres, feeders from the ring to tower clusters, and the two submarine
//! cables that land in Đà Nẵng, drawn schematically.
//!
//! The land routes (rings and feeders) add up to the requested length: rings
//! take at most [`BACKBONE_SHARE`] of it (they are cut short when the budget
//! is smaller than a ring), feeders take the rest, the last feeder of each
//! operator being cut to the exact remaining length.

use geo::{Centroid, Coord, Distance, Geodesic, Point};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::json;

use super::spatial::{
    LandMask, LocalProjection, PointGrid, PreparedArea, RoadNetwork, densify, dist, lerp, thin,
};
use super::towers::Site;
use super::util::{
    brand, code_prefix, feature, gaussian, object, pick_index, pick_weighted, position, round_coord,
};
use super::{GenerateError, OPERATORS};

/// Largest share of the land length given to the backbone rings.
const BACKBONE_SHARE: f64 = 0.75;
/// Share of the feeder length per operator (indexes into [`OPERATORS`]).
const FEEDER_SHARE: [f64; 4] = [0.35, 0.25, 0.20, 0.20];
/// Shorter leftovers of a feeder budget are not drawn, metres.
const MIN_FEEDER_M: f64 = 5.0;
/// How far a ring or feeder vertex may be pulled onto a road, metres.
const RING_SNAP_M: f64 = 700.0;
const FEEDER_SNAP_M: f64 = 400.0;

/// Weight of a metre over water (the bay, the sea) when choosing routes.
const WATER_PENALTY: f64 = 5.0;

/// A route in lon/lat (rounded, no consecutive duplicates) and its length.
struct Route {
    coords: Vec<Coord<f64>>,
    length_m: f64,
}

impl Route {
    /// Rounds `lonlat` to 6 decimals, drops repeated positions and measures
    /// the result; `None` when fewer than two distinct positions remain.
    fn new(lonlat: impl IntoIterator<Item = Coord<f64>>) -> Option<Self> {
        let mut coords: Vec<Coord<f64>> = Vec::new();
        for c in lonlat {
            let c = round_coord(c);
            if coords.last() != Some(&c) {
                coords.push(c);
            }
        }
        (coords.len() >= 2).then(|| Self {
            length_m: geodesic_length(&coords),
            coords,
        })
    }

    /// The first `max_m` metres of the route.
    fn truncated(self, max_m: f64) -> Option<Self> {
        if self.length_m <= max_m {
            return Some(self);
        }
        let mut out = vec![self.coords[0]];
        let mut acc = 0.0;
        for w in self.coords.windows(2) {
            let seg = Geodesic.distance(Point(w[0]), Point(w[1]));
            if acc + seg >= max_m {
                let t = if seg > 0.0 { (max_m - acc) / seg } else { 0.0 };
                out.push(lerp(w[0], w[1], t));
                break;
            }
            out.push(w[1]);
            acc += seg;
        }
        Self::new(out)
    }
}

/// Geodesic (WGS84) length of a lon/lat polyline, metres.
fn geodesic_length(coords: &[Coord<f64>]) -> f64 {
    coords
        .windows(2)
        .map(|w| Geodesic.distance(Point(w[0]), Point(w[1])))
        .sum()
}

/// Assigns external ids `XXX-FIB-0001`, … per operator in emission order.
struct Emitter {
    numbers: [usize; 4],
    features: Vec<geojson::Feature>,
}

struct FibreProps<'a> {
    operator: usize,
    name: String,
    placement: &'a str,
    fibre_count: u32,
    capacity_gbps: u32,
    status: &'a str,
}

impl Emitter {
    fn emit(&mut self, route: &Route, p: FibreProps<'_>) {
        self.numbers[p.operator] += 1;
        let op = OPERATORS[p.operator].id;
        let external_id = format!("{}-FIB-{:04}", code_prefix(op), self.numbers[p.operator]);
        let coords: Vec<Vec<f64>> = route.coords.iter().map(|&c| position(c)).collect();
        self.features.push(feature(
            geojson::Value::LineString(coords),
            object(json!({
                "operator": op,
                "name": p.name,
                "external_id": external_id,
                "placement": p.placement,
                "fibre_count": p.fibre_count,
                "capacity_gbps": p.capacity_gbps,
                "status": p.status,
                "synthetic": true,
            })),
        ));
    }
}

/// Generates the fibre routes with about `target_m` metres of land fibre.
pub(super) fn generate<R: Rng>(
    rng: &mut R,
    target_m: f64,
    areas: &[PreparedArea<'_>],
    proj: &LocalProjection,
    transport_lines: &[geo::LineString<f64>],
    sites: &[Site],
) -> Result<Vec<geojson::Feature>, GenerateError> {
    let roads = RoadNetwork::new(transport_lines, proj);
    let land = LandMask::new(areas, proj);
    let anchors = ring_anchors(rng, areas, proj, &land)?;
    let mut out = Emitter {
        numbers: [0; 4],
        features: Vec::new(),
    };

    // Backbone rings.
    let ring_cap = BACKBONE_SHARE * target_m / OPERATORS.len() as f64;
    let mut backbones: Vec<Vec<Coord<f64>>> = Vec::with_capacity(OPERATORS.len());
    let mut backbone_total = 0.0;
    for (op, operator) in OPERATORS.iter().enumerate() {
        let ring = ring_route(rng, &anchors, areas, proj, &roads);
        let complete = ring.as_ref().is_some_and(|r| r.length_m <= ring_cap);
        let Some(route) = ring.and_then(|r| r.truncated(ring_cap)) else {
            backbones.push(Vec::new());
            continue;
        };
        backbone_total += route.length_m;
        backbones.push(route.coords.iter().map(|&c| proj.to_m(c)).collect());
        let name = if complete {
            format!("{} backbone ring", brand(operator.id))
        } else {
            format!("{} backbone (partial ring)", brand(operator.id))
        };
        out.emit(
            &route,
            FibreProps {
                operator: op,
                name,
                placement: "underground",
                fibre_count: *pick_weighted(rng, &[(96, 0.3), (144, 0.4), (288, 0.3)]),
                capacity_gbps: *pick_weighted(rng, &[(100, 0.4), (200, 0.35), (400, 0.25)]),
                status: "operational",
            },
        );
    }

    // Feeders from each ring to tower clusters.
    let feeder_total = (target_m - backbone_total).max(0.0);
    let mut site_grid = PointGrid::new(500.0);
    for (i, s) in sites.iter().enumerate() {
        site_grid.insert(s.m, i);
    }
    let ctx = FeederContext {
        areas,
        proj,
        land: &land,
        roads: &roads,
        sites,
        site_grid: &site_grid,
    };
    for op in 0..OPERATORS.len() {
        let budget = feeder_total * FEEDER_SHARE[op];
        feeders(rng, &ctx, op, &backbones[op], &anchors, budget, &mut out);
    }

    submarine_cables(areas, &mut out);
    Ok(out.features)
}

/// Centres of the urban districts (local metres, with their area index), in
/// ring order: the shortest closed tour, where metres over water (the bay)
/// count [`WATER_PENALTY`] times (by angle around their mean for large
/// rings). Each centre is a point inside the district, moved 30 % of the way
/// from the district's centroid towards the population-weighted city centre
/// (which keeps Sơn Trà's centre out of the peninsula's hills).
fn ring_anchors<R: Rng>(
    rng: &mut R,
    areas: &[PreparedArea<'_>],
    proj: &LocalProjection,
    land: &LandMask,
) -> Result<Vec<(Coord<f64>, usize)>, GenerateError> {
    let mut chosen: Vec<usize> = (0..areas.len()).filter(|&i| !areas[i].area.rural).collect();
    if chosen.is_empty() {
        chosen = (0..areas.len()).collect();
    }
    let centroid = |i: usize| {
        areas[i]
            .area
            .geom
            .centroid()
            .map_or(areas[i].bbox.center(), |p| p.0)
    };
    let weight = |i: usize| (areas[i].area.population as f64).max(1.0);
    let total_w: f64 = chosen.iter().map(|&i| weight(i)).sum();
    let city = chosen.iter().fold(Coord { x: 0.0, y: 0.0 }, |acc, &i| {
        let m = proj.to_m(centroid(i));
        let w = weight(i) / total_w;
        Coord {
            x: acc.x + m.x * w,
            y: acc.y + m.y * w,
        }
    });
    let mut anchors = Vec::new();
    for &i in &chosen {
        let target = lerp(proj.to_m(centroid(i)), city, 0.3);
        let inside = areas[i].contains(proj.to_lonlat(target));
        let anchor = if inside {
            target
        } else {
            // Nearest of a few hundred random interior points.
            let mut best: Option<Coord<f64>> = None;
            for _ in 0..300 {
                if let Some(c) = areas[i].sample_uniform(rng, 1_000) {
                    let m = proj.to_m(c);
                    if best.is_none_or(|b| dist(m, target) < dist(b, target)) {
                        best = Some(m);
                    }
                }
            }
            best.ok_or_else(|| GenerateError::PlacementFailed {
                code: areas[i].area.code.clone(),
                what: "a backbone node",
            })?
        };
        anchors.push((anchor, i));
    }
    // A ring needs at least three nodes: add random points of the largest area.
    let largest = (0..areas.len())
        .max_by(|&a, &b| areas[a].area_km2.total_cmp(&areas[b].area_km2))
        .unwrap_or(0);
    let mut tries = 0;
    while anchors.len() < 3 && tries < 1_000 {
        tries += 1;
        if let Some(c) = areas[largest].sample_uniform(rng, 1_000) {
            let m = proj.to_m(c);
            if anchors.iter().all(|(a, _)| dist(*a, m) > 500.0) {
                anchors.push((m, largest));
            }
        }
    }
    let n = anchors.len() as f64;
    let mean = anchors
        .iter()
        .fold(Coord { x: 0.0, y: 0.0 }, |acc, (a, _)| Coord {
            x: acc.x + a.x / n,
            y: acc.y + a.y / n,
        });
    anchors.sort_by(|(a, _), (b, _)| {
        let angle = |p: &Coord<f64>| (p.y - mean.y).atan2(p.x - mean.x);
        angle(a).total_cmp(&angle(b))
    });
    if anchors.len() <= MAX_EXACT_RING {
        let cost: Vec<Vec<f64>> = anchors
            .iter()
            .map(|(a, _)| {
                anchors
                    .iter()
                    .map(|(b, _)| dist(*a, *b) + WATER_PENALTY * land.water_m(*a, *b, proj))
                    .collect()
            })
            .collect();
        let order = shortest_tour(&cost);
        anchors = order.into_iter().map(|i| anchors[i]).collect();
    }
    Ok(anchors)
}

/// Rings with at most this many nodes are ordered by an exact search.
const MAX_EXACT_RING: usize = 9;

/// The cheapest closed tour through all nodes starting at node 0 (exact
/// depth-first search with pruning; for small `cost` matrices only). Ties
/// keep the first tour found, so the result is deterministic.
fn shortest_tour(cost: &[Vec<f64>]) -> Vec<usize> {
    struct Search<'a> {
        cost: &'a [Vec<f64>],
        path: Vec<usize>,
        used: Vec<bool>,
        best: f64,
        best_path: Vec<usize>,
    }
    impl Search<'_> {
        fn visit(&mut self, acc: f64) {
            if acc >= self.best {
                return;
            }
            let n = self.cost.len();
            let last = self.path[self.path.len() - 1];
            if self.path.len() == n {
                let total = acc + self.cost[last][0];
                if total < self.best {
                    self.best = total;
                    self.best_path = self.path.clone();
                }
                return;
            }
            for next in 1..n {
                if !self.used[next] {
                    self.used[next] = true;
                    self.path.push(next);
                    self.visit(acc + self.cost[last][next]);
                    self.path.pop();
                    self.used[next] = false;
                }
            }
        }
    }
    let n = cost.len();
    if n <= 3 {
        return (0..n).collect();
    }
    let mut used = vec![false; n];
    used[0] = true;
    let mut search = Search {
        cost,
        path: vec![0],
        used,
        best: f64::INFINITY,
        best_path: (0..n).collect(),
    };
    search.visit(0.0);
    search.best_path
}

/// One operator's ring (`None` if it collapses to a point): the anchors, each moved a little (each operator has
/// its own exchange buildings), closed, densified and pulled onto nearby roads.
fn ring_route<R: Rng>(
    rng: &mut R,
    anchors: &[(Coord<f64>, usize)],
    areas: &[PreparedArea<'_>],
    proj: &LocalProjection,
    roads: &RoadNetwork,
) -> Option<Route> {
    let mut nodes: Vec<Coord<f64>> = anchors
        .iter()
        .map(|&(a, i)| {
            for _ in 0..50 {
                let m = Coord {
                    x: a.x + gaussian(rng) * 250.0,
                    y: a.y + gaussian(rng) * 250.0,
                };
                if areas[i].contains(proj.to_lonlat(m)) {
                    return m;
                }
            }
            a
        })
        .collect();
    nodes.push(nodes[0]);
    let snapped = roads.snap(&densify(&nodes, 250.0), RING_SNAP_M);
    let line = thin(&snapped, 40.0);
    Route::new(line.into_iter().map(|m| proj.to_lonlat(m)))
}

struct FeederContext<'a, 'b> {
    areas: &'a [PreparedArea<'b>],
    proj: &'a LocalProjection,
    land: &'a LandMask,
    roads: &'a RoadNetwork,
    sites: &'a [Site],
    site_grid: &'a PointGrid,
}

/// Draws feeders for operator `op` until `budget` metres are used.
fn feeders<R: Rng>(
    rng: &mut R,
    ctx: &FeederContext<'_, '_>,
    op: usize,
    backbone: &[Coord<f64>],
    anchors: &[(Coord<f64>, usize)],
    budget: f64,
    out: &mut Emitter,
) {
    // Feeders start on the operator's backbone (or at a ring node if the
    // budget left no backbone at all).
    let starts: Vec<Coord<f64>> = if backbone.is_empty() {
        anchors.iter().map(|(a, _)| *a).collect()
    } else {
        backbone.to_vec()
    };
    // Target towers: the operator's own; FPT (no towers) backhauls any tower.
    let owns_towers = ctx.sites.iter().any(|s| s.operator == op);
    let in_pool = |i: usize| !owns_towers || ctx.sites[i].operator == op;
    let pool: Vec<usize> = (0..ctx.sites.len()).filter(|&i| in_pool(i)).collect();
    let area_weights: Vec<f64> = ctx
        .areas
        .iter()
        .map(|a| (a.area.population as f64).max(1.0))
        .collect();
    let mut numbers = vec![0usize; ctx.areas.len()];
    let mut left = budget;
    let mut failures = 0;
    while left >= MIN_FEEDER_M && failures < 1_000 {
        // The cluster of towers (local metres) and its district.
        let (mut cluster, area) = if pool.is_empty() {
            let ai = pick_index(rng, &area_weights);
            match ctx.areas[ai].sample_uniform(rng, 10_000) {
                Some(c) => (vec![ctx.proj.to_m(c)], ai),
                None => {
                    failures += 1;
                    continue;
                }
            }
        } else {
            let t = pool[rng.gen_range(0..pool.len())];
            let site = ctx.sites[t];
            let mut near: Vec<usize> = ctx
                .site_grid
                .ids_within(site.m, 1_200.0)
                .into_iter()
                .filter(|&i| i != t && in_pool(i))
                .collect();
            near.shuffle(rng);
            let extra = rng.gen_range(0..=3);
            let mut cluster = vec![site.m];
            cluster.extend(near.into_iter().take(extra).map(|i| ctx.sites[i].m));
            (cluster, site.area)
        };
        let start = *starts
            .iter()
            .min_by(|a, b| dist(**a, cluster[0]).total_cmp(&dist(**b, cluster[0])))
            .unwrap_or(&cluster[0]);
        order_greedily(start, &mut cluster);
        let first = cluster[0];
        // Street-like route: along one axis, then the other, then on to the
        // rest of the cluster; of the two corners, the one that keeps the
        // route on land (random when both do).
        let corners = [
            Coord {
                x: start.x,
                y: first.y,
            },
            Coord {
                x: first.x,
                y: start.y,
            },
        ];
        let water = corners
            .map(|c| ctx.land.water_m(start, c, ctx.proj) + ctx.land.water_m(c, first, ctx.proj));
        let elbow = if (water[0] - water[1]).abs() > 1.0 {
            corners[usize::from(water[1] < water[0])]
        } else {
            corners[usize::from(rng.gen_bool(0.5))]
        };
        let mut path = vec![start, elbow];
        path.extend(cluster);
        let snapped = ctx.roads.snap(&densify(&path, 300.0), FEEDER_SNAP_M);
        let line = thin(&snapped, 15.0);
        let Some(route) = Route::new(line.into_iter().map(|m| ctx.proj.to_lonlat(m))) else {
            failures += 1;
            continue;
        };
        let Some(route) = route.truncated(left) else {
            failures += 1;
            continue;
        };
        failures = 0;
        left -= route.length_m;
        numbers[area] += 1;
        let rural = ctx.areas[area].area.rural;
        // Mostly aerial on rural poles, mostly underground in the city.
        let usual = rng.gen_bool(0.85);
        let placement = match (rural, usual) {
            (true, true) | (false, false) => "aerial",
            _ => "underground",
        };
        const STATUSES: &[(&str, f64)] = &[
            ("operational", 0.92),
            ("planned", 0.05),
            ("under_construction", 0.03),
        ];
        let status = *pick_weighted(rng, STATUSES);
        out.emit(
            &route,
            FibreProps {
                operator: op,
                name: format!(
                    "{} feeder {} {:02}",
                    brand(OPERATORS[op].id),
                    ctx.areas[area].area.name,
                    numbers[area]
                ),
                placement,
                fibre_count: *pick_weighted(rng, &[(24, 0.55), (48, 0.45)]),
                capacity_gbps: *pick_weighted(rng, &[(10, 0.5), (20, 0.2), (40, 0.3)]),
                status,
            },
        );
    }
}

/// Reorders `points` as a nearest-neighbour walk starting from `start`.
fn order_greedily(start: Coord<f64>, points: &mut [Coord<f64>]) {
    let mut at = start;
    for i in 0..points.len() {
        let next = (i..points.len())
            .min_by(|&a, &b| dist(points[a], at).total_cmp(&dist(points[b], at)))
            .unwrap_or(i);
        points.swap(i, next);
        at = points[i];
    }
}

/// Longitude of the coast at latitude `lat`: the easternmost crossing of the
/// areas' outer boundaries between lon 108.15 and 108.35 (Mỹ Khê and Non
/// Nước beaches), or 108.25 when the areas do not reach the coast there.
fn coast_lon(areas: &[PreparedArea<'_>], lat: f64) -> f64 {
    let mut best: Option<f64> = None;
    for a in areas {
        for polygon in &a.area.geom.0 {
            for w in polygon.exterior().0.windows(2) {
                let (p, q) = (w[0], w[1]);
                if (p.y <= lat) != (q.y <= lat) {
                    let x = p.x + (lat - p.y) / (q.y - p.y) * (q.x - p.x);
                    if (108.15..=108.35).contains(&x) && best.is_none_or(|b| x > b) {
                        best = Some(x);
                    }
                }
            }
        }
    }
    best.unwrap_or(108.25)
}

/// A submarine cable drawn schematically from the beach out to sea.
struct Cable {
    /// Index of the landing party in [`OPERATORS`].
    operator: usize,
    name: &'static str,
    /// Latitude of the landing point on the beach.
    landing_lat: f64,
    /// Waypoint just off the beach: (lon offset from the landing, lat).
    offshore: (f64, f64),
    /// Further waypoints (lon, lat), out to about lon 108.9.
    out_to_sea: [(f64, f64); 2],
    capacity_gbps: u32,
}

/// APG (north-east, towards Hong Kong and Japan) and SeaMeWe-3 (south-east).
const CABLES: [Cable; 2] = [
    Cable {
        operator: 0,
        name: "APG submarine cable (schematic)",
        landing_lat: 16.055,
        offshore: (0.04, 16.070),
        out_to_sea: [(108.55, 16.16), (108.90, 16.26)],
        capacity_gbps: 54_000,
    },
    Cable {
        operator: 1,
        name: "SeaMeWe-3 submarine cable (schematic)",
        landing_lat: 16.045,
        offshore: (0.04, 16.030),
        out_to_sea: [(108.55, 15.98), (108.90, 15.92)],
        capacity_gbps: 20_000,
    },
];

/// The APG and SeaMeWe-3 cables from the beach east out to sea (schematic).
fn submarine_cables(areas: &[PreparedArea<'_>], out: &mut Emitter) {
    for cable in &CABLES {
        let coast = coast_lon(areas, cable.landing_lat);
        let mut coords = vec![
            Coord {
                x: coast,
                y: cable.landing_lat,
            },
            Coord {
                x: coast + cable.offshore.0,
                y: cable.offshore.1,
            },
        ];
        coords.extend(cable.out_to_sea.iter().map(|&(x, y)| Coord { x, y }));
        if let Some(route) = Route::new(coords) {
            out.emit(
                &route,
                FibreProps {
                    operator: cable.operator,
                    name: cable.name.to_owned(),
                    placement: "submarine",
                    fibre_count: 16,
                    capacity_gbps: cable.capacity_gbps,
                    status: "operational",
                },
            );
        }
    }
}
