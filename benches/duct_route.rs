//! Route finding through shared ducts (issue 17's goal: p50 under 20 ms on
//! a network of 100,000 banks).
//!
//! The network is synthetic, from a seeded generator (`support::duct_grid`): a
//! jittered street grid over central Đà Nẵng with a structure every
//! 80–200 m (`DUCT_BANKS` banks, default 100,000), one to four ducts per
//! bank of 32–110 mm, each filled with random cables (some banks near full).
//! Queries: `DUCT_QUERIES` (default 1,000) random pairs of points in the
//! grid, a random cable of 8–30 mm.
//!
//! Command: `cargo bench --bench duct_route`.

#![allow(clippy::unwrap_used)] // a benchmark aborts on a broken set-up

use std::time::Instant;

use telecom_gis::domain::duct::CapacityPolicy;
use telecom_gis::spatial::duct_route::{DuctNetwork, NoRoute, RouteQuery};

mod support;

fn main() {
    let banks_wanted = support::env_usize("DUCT_BANKS", 100_000);
    let queries = support::env_usize("DUCT_QUERIES", 1_000);
    let mut next = support::xorshift(2019);
    let (structures, banks, side) = support::duct_grid(banks_wanted, &mut next);
    let t = Instant::now();
    let net = DuctNetwork::new(&structures, banks, CapacityPolicy::default());
    eprintln!(
        "duct network: {} structures, {} banks (synthetic), built in {:.0} ms",
        net.structure_count(),
        net.bank_count(),
        t.elapsed().as_secs_f64() * 1e3
    );
    // A lease's patch of the service's snapshot: a copy of the network
    // with one bank's conduits replaced (copy-on-write: the topology is
    // shared, the first patch copies the pointers to each bank's conduits).
    let mut patches: Vec<f64> = (0..20)
        .map(|i| {
            let t = Instant::now();
            let mut copy = net.clone();
            copy.set_conduits(i + 1, Vec::new());
            let ms = t.elapsed().as_secs_f64() * 1e3;
            drop(copy);
            ms
        })
        .collect();
    patches.sort_by(f64::total_cmp);
    eprintln!(
        "a copy of the network with one bank patched: p50 {:.2} ms, max {:.2} ms",
        patches[10], patches[19]
    );
    let (w, s) = (structures[0].lon, structures[0].lat);
    let (e, n) = (
        structures[side * side - 1].lon,
        structures[side * side - 1].lat,
    );
    let mut times = Vec::with_capacity(queries);
    let (mut found, mut blocked, mut legs) = (0, 0, 0);
    for _ in 0..queries {
        let q = RouteQuery {
            from: (w + next() * (e - w), s + next() * (n - s)),
            to: (w + next() * (e - w), s + next() * (n - s)),
            cable_mm: 8.0 + next() * 22.0,
            ..RouteQuery::default()
        };
        let t = Instant::now();
        let r = net.route(&q);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        match r {
            Ok(r) => {
                found += 1;
                legs += r.legs.len();
            }
            Err(NoRoute::Blocked { .. }) => blocked += 1,
            Err(_) => {}
        }
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    eprintln!(
        "{queries} routes: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
         {found} found (mean {:.0} banks), {blocked} blocked",
        pct(0.5),
        pct(0.95),
        pct(0.99),
        times[times.len() - 1],
        legs as f64 / found.max(1) as f64
    );
}
