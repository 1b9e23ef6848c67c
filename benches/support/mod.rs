//! Shared set-up for the benchmarks: generated sectors over Đà Nẵng and a
//! bench database on the server of `DATABASE_URL`.

#![allow(dead_code)]

use sqlx::{Connection, PgConnection, PgPool};
use telecom_gis::config::GeneratorArgs;
use telecom_gis::coverage::index::{Area, SectorInput};
use telecom_gis::domain::tower::NewTower;
use telecom_gis::{db, sample};

/// The environment variable `name` as a count, `default` when unset or not
/// a number.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Up to `per_zoom` tiles `(col, row)` of zoom `z` that hold towers: those
/// of every `len / (per_zoom × spread)`-th position (lon/lat) in order.
pub fn tiles_holding(
    positions: &[(f64, f64)],
    z: u32,
    per_zoom: usize,
    spread: usize,
) -> std::collections::BTreeSet<(u32, u32)> {
    use telecom_gis::tiles::{MERCATOR_HALF_M, to_3857};
    let scale = f64::from(1u32 << z);
    let mut tiles = std::collections::BTreeSet::new();
    let step = (positions.len() / (per_zoom * spread)).max(1);
    for (lon, lat) in positions.iter().step_by(step) {
        let (x, y) = to_3857(*lon, *lat);
        let col = ((x + MERCATOR_HALF_M) / (2.0 * MERCATOR_HALF_M) * scale) as u32;
        let row = ((MERCATOR_HALF_M - y) / (2.0 * MERCATOR_HALF_M) * scale) as u32;
        tiles.insert((col, row));
        if tiles.len() == per_zoom {
            break;
        }
    }
    tiles
}

/// Generator arguments (seed 2019) for `towers` towers.
pub fn args(towers: usize) -> GeneratorArgs {
    GeneratorArgs {
        seed: 2019,
        towers,
        fibre_km: 300.0,
        data_centres: 8,
        data_dir: "data".into(),
    }
}

/// Generated towers, validated as the API would.
pub fn towers(n: usize) -> Vec<NewTower> {
    let assets = sample::generate_assets(&args(n)).expect("generator runs");
    assets
        .towers
        .features
        .iter()
        .map(|f| {
            let g = f
                .geometry
                .as_ref()
                .map(|g| serde_json::to_value(g).unwrap());
            NewTower::from_feature(g.as_ref(), f.properties.as_ref().unwrap())
                .expect("generated towers are valid")
        })
        .collect()
}

/// The real districts as analysis areas.
pub fn areas() -> Vec<Area> {
    sample::read_districts(std::path::Path::new("data"))
        .expect("data/ districts")
        .into_iter()
        .map(|d| Area::new(d.code.into(), d.geometry))
        .collect()
}

/// Sectors of operational towers (ids numbered from 1), at most `limit`,
/// keeping only `technology` when given.
pub fn sectors(towers: &[NewTower], limit: usize, technology: Option<&str>) -> Vec<SectorInput> {
    let mut out = Vec::new();
    for (ti, t) in towers.iter().enumerate() {
        if t.status.as_str() != "operational" {
            continue;
        }
        for s in &t.sectors {
            if technology.is_some_and(|x| x != s.technology.as_str()) {
                continue;
            }
            if out.len() == limit {
                return out;
            }
            out.push(SectorInput {
                sector_id: out.len() as i64 + 1,
                tower_id: ti as i64 + 1,
                operator: s.operator.clone(),
                technology: s.technology,
                lon: t.lon,
                lat: t.lat,
                azimuth_deg: s.azimuth_deg,
                beamwidth_deg: s.beamwidth_deg,
                height_m: s.height_m,
                eirp_dbm: s.eirp_dbm,
                frequency_mhz: s.frequency_mhz,
                range_m: s.range_m,
            });
        }
    }
    out
}

/// Seeded uniform points over the city's bounding box
/// ([`CITY_BBOX`](telecom_gis::domain::region::CITY_BBOX)).
pub fn points(n: usize, seed: u64) -> Vec<[f64; 2]> {
    let mut s = seed.max(1);
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let [w, s, e, n] = telecom_gis::domain::region::CITY_BBOX;
            let lon = w + next() * (e - w);
            [lon, s + next() * (n - s)]
        })
        .collect()
}

/// A pool on database `name` of the server in `DATABASE_URL`, created if
/// missing and migrated.
pub async fn bench_db(name: &str) -> PgPool {
    let url = std::env::var("DATABASE_URL").expect("set DATABASE_URL (make bench does)");
    let mut admin = PgConnection::connect(&url)
        .await
        .expect("connect to DATABASE_URL");
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    if !exists {
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let (server, _) = url.rsplit_once('/').expect("DATABASE_URL names a database");
    let pool = db::connect(&format!("{server}/{name}"), 8).await.unwrap();
    db::migrate(&pool).await.unwrap();
    pool
}

/// Makes the bench database hold exactly `n` generated towers (loading them
/// once; later runs reuse them).
pub async fn ensure_towers(pool: &PgPool, n: usize) {
    let have: i64 = sqlx::query_scalar("select count(*) from towers")
        .fetch_one(pool)
        .await
        .unwrap();
    if have == n as i64 {
        return;
    }
    eprintln!("loading {n} generated towers into the bench database (once) …");
    sqlx::query("truncate towers, tower_tenants, sectors, fibre_routes, data_centres cascade")
        .execute(pool)
        .await
        .unwrap();
    sample::load(
        pool,
        &GeneratorArgs {
            towers: 0,
            ..args(0)
        },
    )
    .await
    .unwrap();
    let parsed = towers(n);
    let mut tx = pool.begin().await.unwrap();
    for chunk in parsed.chunks(10_000) {
        db::towers::insert_many(&mut tx, chunk).await.unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("vacuum analyze").execute(pool).await.unwrap();
}

/// Resident set size of this process, MB.
pub fn rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

/// A xorshift stream of uniform numbers in [0, 1) from `seed`.
pub fn xorshift(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed.max(1);
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A synthetic duct network of about `banks_wanted` banks (the route
/// benches'): a jittered street grid over central Đà Nẵng with a structure
/// every 80–200 m, one to four ducts per bank of 32–110 mm, each holding
/// random cables. Returns the structures, the banks and the grid's side.
pub fn duct_grid(
    banks_wanted: usize,
    next: &mut dyn FnMut() -> f64,
) -> (
    Vec<telecom_gis::spatial::duct_route::Structure>,
    Vec<telecom_gis::spatial::duct_route::Bank>,
    usize,
) {
    use telecom_gis::spatial::duct_route::{Bank, Conduit, Structure};
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
                add(i, i + 1, &mut *next);
            }
            if r + 1 < side {
                add(i, i + side, &mut *next);
            }
        }
    }
    (structures, banks, side)
}

/// The duct benches' database, `telecom_gis_bench_ducts`: the Đà Nẵng
/// sample (1,500 towers, seed 2019, with its duct network), loaded once.
pub async fn duct_sample_db() -> PgPool {
    let pool = bench_db("telecom_gis_bench_ducts").await;
    let banks: i64 = sqlx::query_scalar("select count(*) from duct_banks")
        .fetch_one(&pool)
        .await
        .unwrap();
    if banks == 0 {
        eprintln!("loading the sample (once) …");
        sample::load(&pool, &args(1500)).await.unwrap();
    }
    pool
}
