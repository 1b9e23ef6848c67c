//! Route finding through shared ducts beside pgRouting on the same network
//! with the same answers: the route benches' synthetic grid
//! (`support::duct_grid`, `DUCT_BANKS` banks, default 100,000) in memory
//! for the service's route finder, and written to PostGIS as an edge table
//! for `pgr_dijkstra` (undirected, cost = bank length), each bank with the
//! largest cable that still fits one of its ducts under the default fill
//! limits. Each query (`DUCT_QUERIES`, default 200) joins two random
//! structures for a random cable (8–30 mm, or one time in five 50–75 mm,
//! which few ducts take, so that some have no route): the route finder searches
//! banks with room for it; pgRouting gets the edges whose largest cable is
//! at least as large. The lengths must agree (or both find no route); the
//! bench stops at the first disagreement.
//!
//! pgRouting builds its graph from the edge query on every call (that is
//! its interface); the route finder keeps its graph. Both are timed per
//! query, pgRouting including its edge query.
//!
//! Run: `DATABASE_URL=… cargo bench --bench duct_route_vs_pgrouting`
//! (database `telecom_gis_bench_pgr` on that server; needs the pgRouting
//! extension: Debian `postgresql-15-pgrouting`).

#![allow(clippy::unwrap_used)] // a benchmark aborts on a broken set-up

use std::time::Instant;

use telecom_gis::domain::duct::CapacityPolicy;
use telecom_gis::spatial::duct_route::{DuctNetwork, NoRoute, RouteQuery};

mod support;

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let banks_wanted = support::env_usize("DUCT_BANKS", 100_000);
    let queries = support::env_usize("DUCT_QUERIES", 200);
    let mut next = support::xorshift(2019);
    let (structures, banks, _) = support::duct_grid(banks_wanted, &mut next);
    let policy = CapacityPolicy::default();
    let pool = support::bench_db("telecom_gis_bench_pgr").await;
    if let Err(e) = sqlx::query("create extension if not exists pgrouting")
        .execute(&pool)
        .await
    {
        eprintln!(
            "pgRouting is not available on this server ({e}): install it \
             (Debian: apt-get install postgresql-15-pgrouting) and run again"
        );
        std::process::exit(2);
    }
    // The edges, written once per network size.
    let largest: Vec<f64> = banks
        .iter()
        .map(|b| {
            b.conduits
                .iter()
                .map(|c| policy.largest_cable_mm(c.inner_mm, &c.held_mm))
                .fold(0.0, f64::max)
        })
        .collect();
    let exists: bool = sqlx::query_scalar("select to_regclass('duct_edges') is not null")
        .fetch_one(&pool)
        .await
        .unwrap();
    let have: i64 = if exists {
        sqlx::query_scalar("select count(*) from duct_edges")
            .fetch_one(&pool)
            .await
            .unwrap()
    } else {
        0
    };
    if have != banks.len() as i64 {
        sqlx::query("drop table if exists duct_edges")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(
            "create table duct_edges (id bigint primary key, source bigint not null,
             target bigint not null, cost float8 not null, reverse_cost float8 not null,
             largest_mm float8 not null)",
        )
        .execute(&pool)
        .await
        .unwrap();
        for (chunk, sizes) in banks.chunks(20_000).zip(largest.chunks(20_000)) {
            let ids: Vec<i64> = chunk.iter().map(|b| b.id).collect();
            let from: Vec<i64> = chunk.iter().map(|b| b.from).collect();
            let to: Vec<i64> = chunk.iter().map(|b| b.to).collect();
            let len: Vec<f64> = chunk.iter().map(|b| b.length_m).collect();
            sqlx::query(
                "insert into duct_edges
                 select i, s, t, l, l, m from unnest($1::bigint[], $2::bigint[], $3::bigint[],
                                                     $4::float8[], $5::float8[]) u(i, s, t, l, m)",
            )
            .bind(&ids)
            .bind(&from)
            .bind(&to)
            .bind(&len)
            .bind(sizes)
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query("analyze duct_edges")
            .execute(&pool)
            .await
            .unwrap();
    }
    let t = Instant::now();
    let net = DuctNetwork::new(&structures, banks, policy);
    eprintln!(
        "duct network: {} structures, {} banks (synthetic, seed 2019), built in {:.0} ms",
        net.structure_count(),
        net.bank_count(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut found, mut none) = (0usize, 0usize);
    for q in 0..queries {
        let a = &structures[(next() * structures.len() as f64) as usize];
        let b = &structures[(next() * structures.len() as f64) as usize];
        // Mostly common cables; one query in five a large one that few
        // ducts take, so that some pairs have no route with room.
        let cable = if next() < 0.8 {
            8.0 + next() * 22.0
        } else {
            50.0 + next() * 25.0
        };
        let query = RouteQuery {
            from: (a.lon, a.lat),
            to: (b.lon, b.lat),
            cable_mm: cable,
            ..RouteQuery::default()
        };
        let t = Instant::now();
        let mine = match net.route(&query) {
            Ok(r) => Some(r.length_m),
            Err(NoRoute::Blocked { .. } | NoRoute::Disconnected) => None,
            Err(e) => panic!("query {q}: {e:?}"),
        };
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        let pg: Option<f64> = sqlx::query_scalar(
            "select max(d.agg_cost + d.cost) from pgr_dijkstra(
                format('select id, source, target, cost, reverse_cost from duct_edges
                        where largest_mm >= %s', $3::float8),
                $1, $2, directed => false) d",
        )
        .bind(a.id)
        .bind(b.id)
        .bind(cable)
        .fetch_one(&pool)
        .await
        .unwrap();
        theirs.push(t.elapsed().as_secs_f64() * 1e3);
        let pg = if a.id == b.id { Some(0.0) } else { pg };
        match (mine, pg) {
            (Some(x), Some(y)) if (x - y).abs() <= 1e-6 * x.max(1.0) => found += 1,
            (None, None) => none += 1,
            other => {
                eprintln!(
                    "query {q}: structures {} → {}, cable {cable:.3} mm: route finder {:?}, pgRouting {:?}",
                    a.id, b.id, other.0, other.1
                );
                std::process::exit(1);
            }
        }
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    println!(
        "{queries} queries, same answers: {found} routes of equal length, {none} with no route in either"
    );
    println!("| engine | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|");
    println!(
        "| route finder (in memory, petgraph Dijkstra) | {:.2} | {:.2} | {:.2} |",
        pct(&ours, 0.5),
        pct(&ours, 0.95),
        ours[ours.len() - 1]
    );
    println!(
        "| PostGIS + pgRouting `pgr_dijkstra` (edges filtered by cable) | {:.2} | {:.2} | {:.2} |",
        pct(&theirs, 0.5),
        pct(&theirs, 0.95),
        theirs[theirs.len() - 1]
    );
}
