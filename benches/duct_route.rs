//! Route finding through shared ducts (issue 17's goal: p50 under 20 ms on
//! a network of 100,000 banks).
//!
//! The network is synthetic, from a seeded generator in this file: a
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
use telecom_gis::spatial::duct_route::{
    Bank, Conduit, DuctNetwork, NoRoute, RouteQuery, Structure,
};

mod support;

fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed.max(1);
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn main() {
    let banks_wanted = support::env_usize("DUCT_BANKS", 100_000);
    let queries = support::env_usize("DUCT_QUERIES", 1_000);
    let mut next = rng(2019);
    // A side × side grid has about 2 × side² banks.
    let side = ((banks_wanted as f64 / 2.0).sqrt().ceil() as usize).max(2);
    let (m_lon, m_lat) = (107_034.4, 110_658.7);
    let mut structures = Vec::with_capacity(side * side);
    let (mut xs, mut ys) = (vec![0.0; side], vec![0.0; side]);
    for i in 1..side {
        xs[i] = xs[i - 1] + 80.0 + next() * 120.0;
        ys[i] = ys[i - 1] + 80.0 + next() * 120.0;
    }
    for (r, y) in ys.iter().enumerate() {
        for (c, x) in xs.iter().enumerate() {
            structures.push(Structure {
                id: (r * side + c) as i64 + 1,
                lon: 108.05 + (x + (next() - 0.5) * 20.0) / m_lon,
                lat: 15.95 + (y + (next() - 0.5) * 20.0) / m_lat,
            });
        }
    }
    let mut banks = Vec::with_capacity(2 * side * side);
    let mut add = |a: usize, b: usize, next: &mut dyn FnMut() -> f64| {
        let (sa, sb): (&Structure, &Structure) = (&structures[a], &structures[b]);
        let d = ((sa.lon - sb.lon) * m_lon).hypot((sa.lat - sb.lat) * m_lat);
        let id = banks.len() as i64 + 1;
        let conduits = (0..1 + (next() * 4.0) as usize)
            .map(|k| {
                let inner = 32.0 + next() * 78.0;
                let held = (0..(next() * 4.0) as usize)
                    .map(|_| 6.0 + next() * inner * 0.3)
                    .collect();
                Conduit {
                    duct_id: id * 10 + k as i64,
                    subduct_id: None,
                    inner_mm: inner,
                    held_mm: held,
                }
            })
            .collect();
        banks.push(Bank {
            id,
            from: sa.id,
            to: sb.id,
            length_m: d * (1.0 + next() * 0.05),
            city_owned: next() < 0.6,
            conduits,
        });
    };
    for r in 0..side {
        for c in 0..side {
            let i = r * side + c;
            if c + 1 < side {
                add(i, i + 1, &mut next);
            }
            if r + 1 < side {
                add(i, i + side, &mut next);
            }
        }
    }
    let t = Instant::now();
    let net = DuctNetwork::new(&structures, banks, CapacityPolicy::default());
    eprintln!(
        "duct network: {} structures, {} banks (synthetic), built in {:.0} ms",
        net.structure_count(),
        net.bank_count(),
        t.elapsed().as_secs_f64() * 1e3
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
