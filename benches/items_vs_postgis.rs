//! Benchmark: `GET /collections/towers/items` with a bbox over the whole city
//! and `limit=10000` on a generated 100,000-tower dataset, beside PostGIS
//! producing the same FeatureCollection itself (`json_build_object` /
//! `ST_AsGeoJSON`) over the same rows. Both answers are checked to hold the
//! same features (ids, coordinates, attributes and sectors) before timing.
//!
//! Run: `make bench` (or `DATABASE_URL=… cargo bench --bench items_vs_postgis`).
//! It creates (once) a database `telecom_gis_bench` on the same server.
//! Environment: `BENCH_TOWERS` (default 100000), `BENCH_RUNS` (default 30).

#![allow(clippy::unwrap_used)] // a benchmark or example aborts on a broken set-up

use std::time::{Duration, Instant};

use serde_json::Value;
use telecom_gis::domain::region::CITY_BBOX;
use telecom_gis::{AppState, app};

mod support;

/// The city's bounding box, as a `bbox` parameter.
fn bbox() -> String {
    let [w, s, e, n] = CITY_BBOX;
    format!("{w},{s},{e},{n}")
}

/// The same FeatureCollection, produced entirely by PostgreSQL/PostGIS.
const POSTGIS_FC: &str = r#"
with page as (
    select t.* from towers t
    where ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))
    order by t.id limit 10000
)
select json_build_object(
    'type', 'FeatureCollection',
    'numberMatched', (select count(*) from towers t
                      where ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))),
    'numberReturned', (select count(*) from page),
    'features', coalesce(json_agg(json_build_object(
        'type', 'Feature',
        'id', p.id,
        'geometry', ST_AsGeoJSON(p.geom)::json,
        'properties', json_build_object(
            'operator', p.operator_id, 'site_code', p.site_code, 'name', p.name,
            'structure_type', p.structure_type, 'height_m', p.height_m, 'status', p.status,
            'tenants', array(select operator_id from tower_tenants tt where tt.tower_id = p.id order by operator_id),
            'external_id', p.external_id, 'synthetic', p.synthetic,
            'sectors', coalesce((select json_agg(json_build_object(
                    'id', s.id, 'operator', s.operator_id, 'technology', s.technology,
                    'frequency_mhz', s.frequency_mhz, 'azimuth_deg', s.azimuth_deg,
                    'beamwidth_deg', s.beamwidth_deg, 'tilt_deg', s.tilt_deg, 'height_m', s.height_m,
                    'eirp_dbm', s.eirp_dbm, 'range_m', s.range_m) order by s.id)
                from sectors s where s.tower_id = p.id), '[]'::json),
            'created_at', p.created_at, 'updated_at', p.updated_at)
    ) order by p.id), '[]'::json)
)::text
from page p
"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The value with every number as f64, so 11 and 11.0 compare equal.
fn norm(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
        other => other.clone(),
    }
}

fn same_features(ours: &Value, theirs: &Value) {
    assert_eq!(
        ours["numberMatched"], theirs["numberMatched"],
        "numberMatched differs"
    );
    let (a, b) = (
        ours["features"].as_array().unwrap(),
        theirs["features"].as_array().unwrap(),
    );
    assert_eq!(a.len(), b.len(), "feature counts differ");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x["id"], y["id"]);
        assert_eq!(
            norm(&x["geometry"]["coordinates"]),
            norm(&y["geometry"]["coordinates"]),
            "coordinates of {}",
            x["id"]
        );
        // range_m/range_source come from the coverage model, which SQL lacks:
        // compare the stored explicit range instead.
        let strip = |v: &Value| {
            let mut v = norm(v);
            for s in v.as_array_mut().into_iter().flatten() {
                if s["range_source"] == "model" {
                    s["range_m"] = Value::Null;
                }
                if let Some(o) = s.as_object_mut() {
                    o.remove("range_source");
                }
            }
            v
        };
        assert_eq!(
            strip(&x["properties"]["sectors"]),
            strip(&y["properties"]["sectors"]),
            "sectors of feature {}",
            x["id"]
        );
        for k in [
            "operator",
            "site_code",
            "name",
            "structure_type",
            "height_m",
            "status",
            "tenants",
            "external_id",
            "synthetic",
        ] {
            assert_eq!(
                norm(&x["properties"][k]),
                norm(&y["properties"][k]),
                "{k} of feature {}",
                x["id"]
            );
        }
    }
}

fn report(label: &str, mut times: Vec<Duration>, bytes: usize) {
    times.sort();
    let p50 = percentile(&times, 0.5);
    let p90 = percentile(&times, 0.9);
    let mb_s = bytes as f64 / p50.as_secs_f64() / 1e6;
    println!(
        "{label:<44} p50 {:>8.1} ms   p90 {:>8.1} ms   {:>6.2} MB/response   {:>7.1} MB/s at p50",
        p50.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        bytes as f64 / 1e6,
        mb_s
    );
}

fn main() {
    let towers = support::env_usize("BENCH_TOWERS", 100_000);
    let runs = support::env_usize("BENCH_RUNS", 30);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let pool = support::bench_db("telecom_gis_bench").await;
        support::ensure_towers(&pool, towers).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(AppState::loaded(pool.clone()).await.unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let client = reqwest::Client::new();
        let bbox = bbox();
        let uri = format!("http://{addr}/collections/towers/items?bbox={bbox}&limit=10000");
        let [w, s, e, n] = CITY_BBOX;
        let postgis_fc = || sqlx::query_scalar(POSTGIS_FC).bind(w).bind(s).bind(e).bind(n);

        let ours: Value = serde_json::from_slice(&client.get(&uri).send().await.unwrap().bytes().await.unwrap()).unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let theirs_text: String = postgis_fc().fetch_one(&mut *conn).await.unwrap();
        let theirs: Value = serde_json::from_str(&theirs_text).unwrap();
        same_features(&ours, &theirs);
        println!("same answer: {} features of {} matched, identical ids, coordinates, attributes and sectors", ours["numberReturned"], ours["numberMatched"]);

        let (mut t_ours, mut t_pg) = (Vec::new(), Vec::new());
        let (mut b_ours, mut b_pg) = (0, 0);
        for _ in 0..runs {
            let t = Instant::now();
            let body = client.get(&uri).send().await.unwrap().bytes().await.unwrap();
            t_ours.push(t.elapsed());
            b_ours = body.len();
            let t = Instant::now();
            let s: String = postgis_fc().fetch_one(&mut *conn).await.unwrap();
            t_pg.push(t.elapsed());
            b_pg = s.len();
        }
        println!("towers in database: {towers}; runs: {runs}; bbox {bbox}; limit 10000");
        report("telecom-gis HTTP (axum, GeoJSON serialised in Rust)", t_ours.clone(), b_ours);
        report("PostGIS json_build_object/ST_AsGeoJSON (SQL)", t_pg.clone(), b_pg);
        let (mut a, mut b) = (t_ours, t_pg);
        a.sort();
        b.sort();
        println!("ratio PostGIS p50 / telecom-gis p50 = {:.2}", percentile(&b, 0.5).as_secs_f64() / percentile(&a, 0.5).as_secs_f64());
    });
}
