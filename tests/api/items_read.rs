//! Reading features: paging, bbox filtering against PostGIS as the oracle,
//! property filters, single features and RFC 7946 output.

use std::collections::BTreeSet;

use geo::{Winding, orient::Direction};
use serde_json::Value;
use sqlx::PgPool;

use crate::common;
use crate::common::{get, load_sample};

/// Strips scheme and host from an absolute link, for the in-process router.
fn path_of(href: &str) -> String {
    let rest = href
        .strip_prefix("http://test.local")
        .unwrap_or_else(|| panic!("link is not absolute on the request host: {href}"));
    rest.to_owned()
}

fn next_link(fc: &Value) -> Option<String> {
    fc["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .map(|l| l["href"].as_str().unwrap().to_owned())
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn following_next_links_returns_every_tower_exactly_once(pool: PgPool) {
    load_sample(&pool, 237).await;
    let mut seen = BTreeSet::new();
    let mut url = "/collections/towers/items?limit=50".to_owned();
    let mut pages = 0;
    loop {
        let r = get(&pool, &url).await;
        assert_eq!(r.status, 200);
        let fc = r.json();
        assert_eq!(fc["numberMatched"], 237);
        let feats = fc["features"].as_array().unwrap();
        assert_eq!(fc["numberReturned"].as_u64().unwrap() as usize, feats.len());
        for f in feats {
            assert!(
                seen.insert(f["id"].as_i64().unwrap()),
                "feature {} returned twice",
                f["id"]
            );
        }
        pages += 1;
        match next_link(&fc) {
            Some(href) => url = path_of(&href),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let all: Vec<i64> = sqlx::query_scalar("select id from towers order by id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), all);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn paging_keeps_filters_and_offers_a_prev_link(pool: PgPool) {
    load_sample(&pool, 150).await;
    let fc = get(
        &pool,
        "/collections/towers/items?operator=viettel&limit=10&offset=10",
    )
    .await
    .json();
    let n: i64 = sqlx::query_scalar("select count(*) from towers where operator_id = 'viettel'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(fc["numberMatched"], n);
    let next = next_link(&fc).unwrap();
    assert!(
        next.contains("operator=viettel") && next.contains("offset=20"),
        "{next}"
    );
    let prev = fc["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "prev")
        .unwrap();
    assert!(
        !prev["href"].as_str().unwrap().contains("offset="),
        "prev of offset 10 is the first page: {prev}"
    );
}

/// Seeded xorshift for reproducible random boxes.
struct Rng(u64);
impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn bbox_filtering_matches_postgis_st_intersects_for_random_boxes(pool: PgPool) {
    load_sample(&pool, 400).await;
    let mut rng = Rng(0x5eed_1234_abcd);
    for collection in ["towers", "fibre-routes", "data-centres", "districts"] {
        let (table, key) = match collection {
            "towers" => ("towers", "id::text"),
            "fibre-routes" => ("fibre_routes", "id::text"),
            "data-centres" => ("data_centres", "id::text"),
            _ => ("districts", "code"),
        };
        for _ in 0..8 {
            let w = 107.8 + rng.next_f64() * 0.5;
            let s = 15.9 + rng.next_f64() * 0.3;
            let (e, n) = (
                w + 0.02 + rng.next_f64() * 0.2,
                s + 0.02 + rng.next_f64() * 0.15,
            );
            // An analyst sees exact routes (the public's fibre bbox filter
            // applies to the generalised cells: see the next test).
            let fc = common::get_as(
                &pool,
                "analyst",
                &format!("/collections/{collection}/items?bbox={w},{s},{e},{n}&limit=10000"),
            )
            .await
            .json();
            let got: BTreeSet<String> = fc["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| match &f["id"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let want: BTreeSet<String> = sqlx::query_scalar(&format!(
                "select {key} from {table} where ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))"
            ))
            .bind(w)
            .bind(s)
            .bind(e)
            .bind(n)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
            assert_eq!(got, want, "{collection} bbox {w},{s},{e},{n}");
            assert_eq!(fc["numberMatched"].as_u64().unwrap() as usize, want.len());
        }
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_publics_fibre_bbox_filter_matches_the_generalised_cells_not_the_routes(pool: PgPool) {
    use geo::Intersects;
    load_sample(&pool, 50).await;
    let routes: Vec<(i64, String)> =
        sqlx::query_as("select id, ST_AsGeoJSON(geom) from fibre_routes order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut vertices: Vec<geo::Coord<f64>> = Vec::new();
    let outlines: Vec<(String, geo::MultiPolygon<f64>)> = routes
        .iter()
        .map(|(id, g)| {
            use geo::CoordsIter;
            let g: geojson::Geometry = g.parse().unwrap();
            let g = geo::Geometry::<f64>::try_from(g).unwrap();
            vertices.extend(g.coords_iter());
            let cells = telecom_gis::spatial::generalise::fibre_cells(&g);
            (
                id.to_string(),
                telecom_gis::spatial::generalise::cells_outline(&cells),
            )
        })
        .collect();
    let mut rng = Rng(0xf1b4e);
    let mut differs = 0;
    for _ in 0..24 {
        // Small boxes (about 100 m) up to 600 m from a route's vertex: some
        // on the route, some off it but inside its cells, some outside.
        let v = vertices[(rng.next_f64() * vertices.len() as f64) as usize];
        let w = v.x + (rng.next_f64() - 0.5) * 0.012;
        let s = v.y + (rng.next_f64() - 0.5) * 0.012;
        let (e, n) = (w + 0.001, s + 0.001);
        let fc = get(
            &pool,
            &format!("/collections/fibre-routes/items?bbox={w},{s},{e},{n}&limit=10000"),
        )
        .await
        .json();
        let got: BTreeSet<String> = fc["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].to_string())
            .collect();
        let rect = geo::Rect::new(geo::coord! {x: w, y: s}, geo::coord! {x: e, y: n});
        let want: BTreeSet<String> = outlines
            .iter()
            .filter(|(_, o)| o.intersects(&rect))
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(got, want, "bbox {w},{s},{e},{n}");
        assert_eq!(fc["numberMatched"].as_u64().unwrap() as usize, want.len());
        let exact: BTreeSet<String> = sqlx::query_scalar::<_, i64>(
            "select id from fibre_routes where ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326))",
        )
        .bind(w)
        .bind(s)
        .bind(e)
        .bind(n)
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.to_string())
        .collect();
        assert!(
            exact.is_subset(&want),
            "every route in the box has a cell in it"
        );
        differs += usize::from(exact != want);
    }
    assert!(
        differs > 0,
        "some box near a route but off it shows the difference"
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn property_filters_select_the_same_rows_as_sql(pool: PgPool) {
    load_sample(&pool, 300).await;
    let cases = [
        (
            "towers?operator=vnpt",
            "select count(*) from towers where operator_id = 'vnpt'",
        ),
        (
            "towers?status=operational",
            "select count(*) from towers where status = 'operational'",
        ),
        (
            "towers?structure_type=rooftop",
            "select count(*) from towers where structure_type = 'rooftop'",
        ),
        (
            "towers?technology=5G",
            "select count(distinct tower_id) from sectors where technology = '5G'",
        ),
        (
            "towers?tenant=mobifone",
            "select count(*) from tower_tenants where operator_id = 'mobifone'",
        ),
        (
            "fibre-routes?placement=underground",
            "select count(*) from fibre_routes where placement = 'underground'",
        ),
        (
            "data-centres?tier=3",
            "select count(*) from data_centres where tier = 3",
        ),
        (
            "districts?code=497",
            "select count(*) from districts where code = '497'",
        ),
    ];
    for (q, sql) in cases {
        let (c, params) = q.split_once('?').unwrap();
        let fc = get(
            &pool,
            &format!("/collections/{c}/items?{params}&limit=10000"),
        )
        .await
        .json();
        let want: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        assert_eq!(fc["numberMatched"], want, "{q}");
        assert_eq!(fc["features"].as_array().unwrap().len() as i64, want, "{q}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn malformed_list_parameters_answer_400_naming_the_parameter(pool: PgPool) {
    load_sample(&pool, 20).await;
    for (q, param) in [
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=108.3,16,108.0,16.1", "bbox"),
        ("bbox=108,16,108.3,95", "bbox"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("status=broken", "status"),
        ("technology=6G", "technology"),
        ("colour=red", "colour"),
        ("crs=http://www.opengis.net/def/crs/EPSG/0/3857", "crs"),
        ("bbox-crs=EPSG:3857", "bbox-crs"),
        ("f=html", "f"),
        ("limit=5&limit=6", "limit"),
    ] {
        let p = get(&pool, &format!("/collections/towers/items?{q}"))
            .await
            .problem(400);
        assert_eq!(p["errors"][0]["parameter"], param, "{q}: {p}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_limit_above_the_maximum_is_clamped_not_refused(pool: PgPool) {
    load_sample(&pool, 30).await;
    let fc = get(&pool, "/collections/towers/items?limit=50000")
        .await
        .json();
    assert_eq!(fc["numberReturned"], 30);
    let self_link = fc["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "self")
        .unwrap();
    assert!(self_link["href"].as_str().unwrap().contains("limit=10000"));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn output_is_rfc_7946_geojson_with_counter_clockwise_shells(pool: PgPool) {
    load_sample(&pool, 20).await;
    let r = get(&pool, "/collections/districts/items").await;
    assert_eq!(r.content_type, "application/geo+json");
    let fc = r.json();
    assert_eq!(fc["features"].as_array().unwrap().len(), 7);
    for f in fc["features"].as_array().unwrap() {
        assert!(f.get("crs").is_none());
        let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
        let mp: geo::MultiPolygon<f64> = g.value.try_into().unwrap();
        for p in &mp {
            assert!(
                p.exterior().is_ccw(),
                "district {} has a clockwise shell",
                f["id"]
            );
            for hole in p.interiors() {
                assert!(hole.is_cw());
            }
        }
        let c = mp.0[0].exterior().0[0];
        assert!(
            (107.0..109.0).contains(&c.x) && (15.0..17.0).contains(&c.y),
            "lon/lat order"
        );
    }
    let _ = Direction::Default;
    assert!(fc.get("crs").is_none());
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_tower_carries_its_sectors_with_ids_operators_and_angles(pool: PgPool) {
    load_sample(&pool, 40).await;
    let id: i64 = sqlx::query_scalar(
        "select tower_id from sectors group by tower_id order by count(*) desc, tower_id limit 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let r = get(&pool, &format!("/collections/towers/items/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.content_type, "application/geo+json");
    let f = r.json();
    assert_eq!(f["id"], id);
    let sectors = f["properties"]["sectors"].as_array().unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from sectors where tower_id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(sectors.len() as i64, n);
    for s in sectors {
        for k in [
            "id",
            "operator",
            "technology",
            "frequency_mhz",
            "azimuth_deg",
            "beamwidth_deg",
            "tilt_deg",
            "height_m",
            "eirp_dbm",
        ] {
            assert!(!s[k].is_null(), "sector lacks {k}: {s}");
        }
    }
    let links = f["links"].as_array().unwrap();
    assert!(links.iter().any(|l| l["rel"] == "self"
        && l["href"] == format!("http://test.local/collections/towers/items/{id}")));
    let (lon, lat): (f64, f64) =
        sqlx::query_as("select ST_X(geom), ST_Y(geom) from towers where id = $1")
            .bind(id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(f["geometry"]["coordinates"], serde_json::json!([lon, lat]));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn missing_features_and_collections_answer_404_problems(pool: PgPool) {
    load_sample(&pool, 5).await;
    for uri in [
        "/collections/towers/items/999999",
        "/collections/towers/items/abc",
        "/collections/towers/items/-3",
        "/collections/districts/items/000",
        "/collections/antennas/items",
        "/collections/antennas",
        "/no/such/path",
    ] {
        get(&pool, uri).await.problem(404);
    }
}
