//! Vector tiles (OGC API – Tiles) checked against oracles: PostGIS for the
//! stored layers, a brute-force scan of every indexed wedge for sectors.
//! Tiles are decoded with geozero's MVT reader, not with our own code.

use std::collections::BTreeSet;

use axum::http::Method;
use geo::{Coord, Intersects, Polygon, Rect};
use geozero::ToJson;
use geozero::mvt::{Message, Tile, tile};
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::tiles::{BUFFER, EXTENT, TileCoord, sectors::arc_step_deg, to_3857, to_lonlat};

use crate::common;
use crate::common::{Reply, load_sample, send_to, send_with_headers};

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The tile of zoom `z` that contains lon/lat.
fn tile_of(lon: f64, lat: f64, z: u8) -> TileCoord {
    let n = f64::from(1u32 << z);
    let (x, y) = to_3857(lon, lat);
    let half = telecom_gis::tiles::MERCATOR_HALF_M;
    let col = ((x + half) / (2.0 * half) * n).floor() as u32;
    let row = ((half - y) / (2.0 * half) * n).floor() as u32;
    TileCoord::new(u32::from(z), col, row).unwrap()
}

fn tile_uri(set: &str, t: TileCoord) -> String {
    format!(
        "/collections/{set}/tiles/WebMercatorQuad/{}/{}/{}",
        t.z, t.y, t.x
    )
}

/// A tile as an analyst sees it (exact fibre routes; every other tileset is
/// the same for everyone).
async fn fetch(state: &AppState, set: &str, t: TileCoord) -> Reply {
    let analyst = format!(
        "Bearer {}",
        common::token(&state.pool, "analyst", None).await
    );
    send_with_headers(
        state,
        Method::GET,
        &tile_uri(set, t),
        None,
        &[("authorization", &analyst)],
    )
    .await
}

/// The one layer of a tile (an empty layer for 204).
fn decode(reply: &Reply, name: &str) -> tile::Layer {
    if reply.status.as_u16() == 204 {
        return tile::Layer::default();
    }
    assert_eq!(
        reply.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.content_type, "application/vnd.mapbox-vector-tile");
    let tile = Tile::decode(reply.body.as_slice()).expect("a valid MVT");
    assert_eq!(tile.layers.len(), 1);
    let layer = tile.layers.into_iter().next().unwrap();
    assert_eq!(layer.name, name);
    assert_eq!(layer.extent, Some(EXTENT));
    layer
}

/// A feature's properties by name.
fn props(layer: &tile::Layer, f: &tile::Feature) -> serde_json::Map<String, Value> {
    f.tags
        .chunks(2)
        .map(|kv| {
            let v = &layer.values[kv[1] as usize];
            let value = if let Some(s) = &v.string_value {
                json!(s)
            } else if let Some(d) = v.double_value {
                json!(d)
            } else if let Some(b) = v.bool_value {
                json!(b)
            } else if let Some(i) = v.int_value.or(v.sint_value) {
                json!(i)
            } else if let Some(u) = v.uint_value {
                json!(u)
            } else {
                json!(v.float_value)
            };
            (layer.keys[kv[0] as usize].clone(), value)
        })
        .collect()
}

fn ids(layer: &tile::Layer) -> BTreeSet<i64> {
    layer
        .features
        .iter()
        .map(|f| f.id.unwrap() as i64)
        .collect()
}

/// The tile grown by its buffer, EPSG:3857 metres.
fn buffered(t: TileCoord) -> [f64; 4] {
    let [x0, y0, x1, y1] = t.bounds_3857();
    let pad = t.size_m() * f64::from(BUFFER) / f64::from(EXTENT);
    [x0 - pad, y0 - pad, x1 + pad, y1 + pad]
}

/// PostGIS oracle: ids of `table` rows meeting the buffered tile grown by
/// `grow_units` tile units (negative: shrunk).
async fn postgis_ids_within(
    pool: &PgPool,
    table: &str,
    t: TileCoord,
    grow_units: f64,
) -> BTreeSet<i64> {
    let [a, b, c, d] = buffered(t);
    let g = grow_units * t.size_m() / f64::from(EXTENT);
    let (a, b, c, d) = (a - g, b - g, c + g, d + g);
    let sql = format!(
        "select id from {table} where ST_Intersects(ST_Transform(geom, 3857), ST_MakeEnvelope($1, $2, $3, $4, 3857))"
    );
    sqlx::query_scalar::<_, i64>(&sql)
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Asserts that a tile holds exactly the rows PostGIS finds in its buffered
/// bounds, up to those within half a tile unit of the edge (which
/// `ST_AsMVTGeom` keeps or drops after snapping to the tile grid).
async fn assert_same_ids(got: &BTreeSet<i64>, pool: &PgPool, table: &str, t: TileCoord) {
    let inner = postgis_ids_within(pool, table, t, -0.5).await;
    let outer = postgis_ids_within(pool, table, t, 0.5).await;
    let missing: Vec<_> = inner.difference(got).collect();
    let extra: Vec<_> = got.difference(&outer).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{table} {t:?}: missing {missing:?}, extra {extra:?}"
    );
}

#[sqlx::test]
async fn tilejson_points_at_versioned_tile_urls_and_lists_the_layer(pool: PgPool) {
    load_sample(&pool, 120).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    for (set, layer) in [
        ("towers", "towers"),
        ("sectors", "sectors"),
        ("fibre-routes", "fibre_routes"),
        ("data-centres", "data_centres"),
        ("districts", "districts"),
    ] {
        let r = send_to(
            &state,
            Method::GET,
            &format!("/collections/{set}/tiles/WebMercatorQuad/tilejson.json"),
            None,
        )
        .await;
        assert_eq!(r.status.as_u16(), 200);
        let tj = r.json();
        assert_eq!(tj["tilejson"], "3.0.0");
        let url = tj["tiles"][0].as_str().unwrap();
        assert!(
            url.starts_with(&format!(
                "http://test.local/collections/{set}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?v="
            )),
            "{url}"
        );
        assert_eq!(tj["vector_layers"][0]["id"], layer);
        let b = tj["bounds"].as_array().unwrap();
        assert!(b[0].as_f64().unwrap() > 107.0 && b[2].as_f64().unwrap() < 109.0);
    }
}

#[sqlx::test]
async fn towers_tiles_hold_exactly_the_towers_postgis_finds_in_them(pool: PgPool) {
    load_sample(&pool, 300).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let towers: Vec<(i64, f64, f64, String)> =
        sqlx::query_as("select id, ST_X(geom), ST_Y(geom), operator_id from towers order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut rng = Rng(0x5eed_7117);
    for _ in 0..12 {
        let (id, lon, lat, operator) = &towers[rng.below(towers.len() as u64) as usize];
        let z = 10 + rng.below(7) as u8;
        let t = tile_of(*lon, *lat, z);
        let layer = decode(&fetch(&state, "towers", t).await, "towers");
        assert_same_ids(&ids(&layer), &pool, "towers", t).await;

        // The chosen tower: attributes, and its position within one tile unit.
        let f = layer
            .features
            .iter()
            .find(|f| f.id == Some(*id as u64))
            .expect("the tower is in its own tile");
        let p = props(&layer, f);
        assert_eq!(p["operator_id"], json!(operator));
        assert_eq!(p["id"], json!(id));
        let geom: Value = serde_json::from_str(&f.to_json().unwrap()).unwrap();
        let [px, py] = [
            geom["coordinates"][0].as_f64().unwrap(),
            geom["coordinates"][1].as_f64().unwrap(),
        ];
        let [x0, _, _, y1] = t.bounds_3857();
        let unit = t.size_m() / f64::from(EXTENT);
        let (mx, my) = to_3857(*lon, *lat);
        assert!((x0 + px * unit - mx).abs() <= unit, "x of tower {id}");
        assert!((y1 - py * unit - my).abs() <= unit, "y of tower {id}");
    }
}

#[sqlx::test]
async fn line_and_area_tiles_match_postgis(pool: PgPool) {
    load_sample(&pool, 60).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let mut checked = 0;
    for z in [9u8, 11, 13] {
        // Tiles over the city centre and towards Hòa Vang (lon/lat).
        for (lon, lat) in [(108.2208, 16.0471), (108.05, 16.03), (108.15, 16.12)] {
            let t = tile_of(lon, lat, z);
            let fibre = decode(&fetch(&state, "fibre-routes", t).await, "fibre_routes");
            assert_same_ids(&ids(&fibre), &pool, "fibre_routes", t).await;
            let dcs = decode(&fetch(&state, "data-centres", t).await, "data_centres");
            assert_same_ids(&ids(&dcs), &pool, "data_centres", t).await;
            let districts = decode(&fetch(&state, "districts", t).await, "districts");
            let [a, b, c, d] = buffered(t);
            let expected: BTreeSet<String> = sqlx::query_scalar(
                "select code from districts where ST_Intersects(ST_Transform(geom, 3857), ST_MakeEnvelope($1, $2, $3, $4, 3857))",
            )
            .bind(a).bind(b).bind(c).bind(d)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
            let got: BTreeSet<String> = districts
                .features
                .iter()
                .map(|f| props(&districts, f)["code"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(got, expected, "{t:?}");
            checked += fibre.features.len() + got.len();
        }
    }
    assert!(checked > 10, "the tiles were not all empty");
}

#[sqlx::test]
async fn sectors_tiles_hold_every_wedge_that_meets_them(pool: PgPool) {
    load_sample(&pool, 200).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let index = state.coverage.snapshot();
    let sectors: Vec<_> = index.all_sectors().cloned().collect();
    assert!(sectors.len() > 300);
    let mut rng = Rng(0xdead_beef);
    for _ in 0..8 {
        let s = &sectors[rng.below(sectors.len() as u64) as usize];
        let z = 13 + rng.below(4) as u8;
        let t = tile_of(s.lon, s.lat, z);
        let layer = decode(&fetch(&state, "sectors", t).await, "sectors");
        // Brute force: every wedge, projected, tested against the tile.
        let [a, b, c, d] = buffered(t);
        let rect = Rect::new(Coord { x: a, y: b }, Coord { x: c, y: d });
        // The same arc step as the tiles (chords within half a pixel).
        let (_, lat) = to_lonlat((a + c) / 2.0, (b + d) / 2.0);
        let unit_m = t.size_m() / f64::from(EXTENT) * lat.to_radians().cos();
        let expected: BTreeSet<i64> = sectors
            .iter()
            .filter(|w| {
                let wedge = w.footprint(arc_step_deg(w.range_m / unit_m));
                let projected = Polygon::new(
                    wedge
                        .exterior()
                        .coords()
                        .map(|p| Coord::from(to_3857(p.x, p.y)))
                        .collect(),
                    vec![],
                );
                projected.intersects(&rect)
            })
            .map(|w| w.sector_id)
            .collect();
        assert_eq!(ids(&layer), expected, "tile {t:?}");
        let f = layer
            .features
            .iter()
            .find(|f| f.id == Some(s.sector_id as u64))
            .unwrap();
        let p = props(&layer, f);
        assert_eq!(p["tower_id"], json!(s.tower_id));
        assert_eq!(p["technology"], json!(s.technology.as_str()));
        assert_eq!(p["range_m"], json!(s.range_m.round()));
    }
    // Below zoom 13 the layer is empty.
    let (lon, lat) = (sectors[0].lon, sectors[0].lat);
    assert_eq!(
        fetch(&state, "sectors", tile_of(lon, lat, 12))
            .await
            .status
            .as_u16(),
        204
    );
}

#[sqlx::test]
async fn a_tile_revalidates_by_etag_until_its_layer_changes(pool: PgPool) {
    load_sample(&pool, 50).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let (lon, lat) = (108.2208, 16.0471); // where common::tower_feature stands
    let t = tile_of(lon, lat, 14);
    let uri = tile_uri("towers", t);
    let first = fetch(&state, "towers", t).await;
    let etag = first.headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.headers["cache-control"], "no-cache");
    let again =
        send_with_headers(&state, Method::GET, &uri, None, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status.as_u16(), 304);
    assert!(again.body.is_empty());
    let tj = |s: AppState| async move {
        send_to(
            &s,
            Method::GET,
            "/collections/towers/tiles/WebMercatorQuad/tilejson.json",
            None,
        )
        .await
        .json()["tiles"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let url_before = tj(state.clone()).await;
    let sector_tile = tile_uri("sectors", t);
    let sector_etag = send_to(&state, Method::GET, &sector_tile, None)
        .await
        .headers["etag"]
        .to_str()
        .unwrap()
        .to_owned();

    // A write through the API: the tile and TileJSON move on at once.
    let created = send_to(
        &state,
        Method::POST,
        "/collections/towers/items",
        Some((
            "application/geo+json",
            serde_json::to_vec(&common::tower_feature()).unwrap(),
        )),
    )
    .await;
    assert_eq!(created.status.as_u16(), 201);
    let id: i64 = created.json()["id"].as_i64().unwrap();
    let after =
        send_with_headers(&state, Method::GET, &uri, None, &[("if-none-match", &etag)]).await;
    assert_eq!(after.status.as_u16(), 200);
    assert_ne!(after.headers["etag"].to_str().unwrap(), etag);
    assert!(ids(&decode(&after, "towers")).contains(&id));
    assert_ne!(tj(state.clone()).await, url_before);
    let sectors_after = send_with_headers(
        &state,
        Method::GET,
        &sector_tile,
        None,
        &[("if-none-match", &sector_etag)],
    )
    .await;
    assert_eq!(sectors_after.status.as_u16(), 200);
    let layer = decode(&sectors_after, "sectors");
    assert!(
        layer
            .features
            .iter()
            .any(|f| props(&layer, f)["tower_id"] == json!(id))
    );

    // A write in plain SQL moves the version too (the triggers of 0003).
    let before = fetch(&state, "towers", t).await.headers["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    sqlx::query("update towers set name = 'Đổi tên' where id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let renamed = fetch(&state, "towers", t).await;
    assert_ne!(renamed.headers["etag"].to_str().unwrap(), before);
    let layer = decode(&renamed, "towers");
    let f = layer
        .features
        .iter()
        .find(|f| f.id == Some(id as u64))
        .unwrap();
    assert_eq!(props(&layer, f)["name"], "Đổi tên");
}

#[sqlx::test]
async fn a_tile_without_features_answers_no_content(pool: PgPool) {
    load_sample(&pool, 30).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    // Mid-Atlantic, lon/lat -30, 0.
    let t = tile_of(-30.0, 0.0, 12);
    for set in [
        "towers",
        "sectors",
        "fibre-routes",
        "data-centres",
        "districts",
    ] {
        let r = fetch(&state, set, t).await;
        assert_eq!(r.status.as_u16(), 204, "{set}");
        assert!(r.body.is_empty());
        assert!(r.headers.contains_key("etag"));
    }
    // The world tile holds the whole city.
    let world = decode(
        &fetch(&state, "towers", TileCoord::new(0, 0, 0).unwrap()).await,
        "towers",
    );
    assert_eq!(world.features.len(), 30);
}

#[sqlx::test]
async fn malformed_tile_requests_get_problems(pool: PgPool) {
    load_sample(&pool, 10).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    for (uri, status, mention) in [
        (
            "/collections/towers/tiles/WebMercatorQuad/25/0/0",
            404,
            "zoom",
        ),
        (
            "/collections/towers/tiles/WebMercatorQuad/3/8/0",
            404,
            "outside",
        ),
        (
            "/collections/towers/tiles/WebMercatorQuad/3/0/8",
            404,
            "outside",
        ),
        (
            "/collections/towers/tiles/WebMercatorQuad/x/0/0",
            400,
            "integer",
        ),
        (
            "/collections/towers/tiles/WebMercatorQuad/3/-1/0",
            400,
            "integer",
        ),
        (
            "/collections/towers/tiles/WebMercatorQuad/4294967296/0/0",
            400,
            "integer",
        ),
        (
            "/collections/antennas/tiles/WebMercatorQuad/3/0/0",
            404,
            "tilesets are",
        ),
        (
            "/collections/towers/tiles/WorldCRS84Quad/3/0/0",
            404,
            "WebMercatorQuad",
        ),
        (
            "/collections/towers/tiles/WebMercatorQuad/3/0/0?zoom=3",
            400,
            "unknown parameter",
        ),
        (
            "/collections/towers/tiles/WebMercatorQuad/3/0/0?f=png",
            400,
            "format",
        ),
        (
            "/collections/towers/tiles/WorldCRS84Quad/tilejson.json",
            404,
            "WebMercatorQuad",
        ),
        (
            "/tileMatrixSets/EuropeanETRS89_LAEAQuad",
            404,
            "WebMercatorQuad",
        ),
    ] {
        let r = send_to(&state, Method::GET, uri, None).await;
        let p = r.problem(status);
        assert!(
            p["detail"].as_str().unwrap().contains(mention),
            "{uri}: {p}"
        );
    }
    let r = send_to(
        &state,
        Method::POST,
        "/collections/towers/tiles/WebMercatorQuad/3/0/0",
        None,
    )
    .await;
    r.problem(405);
}

#[sqlx::test]
async fn tiling_metadata_links_the_tile_matrix_set_and_the_tiles(pool: PgPool) {
    load_sample(&pool, 10).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let tms = send_to(&state, Method::GET, "/tileMatrixSets/WebMercatorQuad", None)
        .await
        .json();
    let matrices = tms["tileMatrices"].as_array().unwrap();
    assert_eq!(matrices.len(), 25);
    assert_eq!(matrices[14]["matrixWidth"], 16384);
    let cell = matrices[0]["cellSize"].as_f64().unwrap();
    assert!((cell * 256.0 - 2.0 * telecom_gis::tiles::MERCATOR_HALF_M).abs() < 1e-3);

    let sets = send_to(&state, Method::GET, "/collections/towers/tiles", None)
        .await
        .json();
    let links = sets["tilesets"][0]["links"].as_array().unwrap();
    let item = links.iter().find(|l| l["rel"] == "item").unwrap();
    assert_eq!(item["templated"], true);
    assert_eq!(
        item["href"],
        "http://test.local/collections/towers/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
    );
    let meta = send_to(
        &state,
        Method::GET,
        "/collections/sectors/tiles/WebMercatorQuad",
        None,
    )
    .await
    .json();
    assert_eq!(meta["tileMatrixSetLimits"][0]["tileMatrix"], "13");
    let collection = send_to(&state, Method::GET, "/collections/fibre-routes", None)
        .await
        .json();
    assert!(
        collection["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["href"] == "http://test.local/collections/fibre-routes/tiles")
    );
    let conf = send_to(&state, Method::GET, "/conformance", None)
        .await
        .json();
    assert!(
        conf["conformsTo"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt")
    );
    // Keep the helper used: a tile's corner maps back to its lon/lat bounds.
    let t = TileCoord::new(14, 13117, 7450).unwrap();
    let [x0, y0, ..] = t.bounds_3857();
    let (w, s) = to_lonlat(x0, y0);
    let [bw, bs, ..] = t.bounds_lonlat(0);
    assert!((w - bw).abs() < 1e-9 && (s - bs).abs() < 1e-9);
}

#[sqlx::test]
async fn a_dense_towers_tile_is_thinned_but_counts_every_tower(pool: PgPool) {
    load_sample(&pool, 0).await;
    // 12,000 towers of two operators, seeded positions over 10 × 10 km.
    sqlx::query(
        "insert into towers (operator_id, site_code, structure_type, height_m, geom)
         select case when i % 3 = 0 then 'viettel' else 'mobifone' end, 'DENSE-' || i, 'monopole', 30,
                ST_SetSRID(ST_MakePoint(108.10 + ((i * 7919) % 10007) / 10007.0 * 0.09,
                                        16.00 + ((i * 104729) % 10009) / 10009.0 * 0.09), 4326)
         from generate_series(1, 12000) as i",
    )
    .execute(&pool)
    .await
    .unwrap();
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let limit = telecom_gis::db::tiles::THIN_ABOVE as usize;

    let coarse = decode(
        &fetch(&state, "towers", tile_of(108.15, 16.05, 9)).await,
        "towers",
    );
    assert!(
        coarse.features.len() <= limit,
        "{} features",
        coarse.features.len()
    );
    assert!(coarse.features.len() < 12_000);
    let mut per_operator = std::collections::BTreeMap::<String, i64>::new();
    for f in &coarse.features {
        let p = props(&coarse, f);
        *per_operator
            .entry(p["operator_id"].as_str().unwrap().to_owned())
            .or_default() += p["point_count"].as_i64().unwrap();
    }
    assert_eq!(per_operator["viettel"], 4000);
    assert_eq!(per_operator["mobifone"], 8000);

    // A deep tile is not thinned: every tower, each standing for itself.
    let t = tile_of(108.15, 16.05, 14);
    let fine = decode(&fetch(&state, "towers", t).await, "towers");
    assert_same_ids(&ids(&fine), &pool, "towers", t).await;
    assert!(
        fine.features
            .iter()
            .all(|f| props(&fine, f)["point_count"] == json!(1))
    );
}

/// The `fibre_presence` layer of MVT bytes (an empty layer for no bytes).
fn presence_layer(mvt: &[u8]) -> tile::Layer {
    if mvt.is_empty() {
        return tile::Layer::default();
    }
    let tile = Tile::decode(mvt).expect("a valid MVT");
    assert_eq!(tile.layers.len(), 1);
    let layer = tile.layers.into_iter().next().unwrap();
    assert_eq!(layer.name, "fibre_presence");
    assert_eq!(layer.extent, Some(EXTENT));
    layer
}

#[sqlx::test]
async fn presence_tiles_cover_the_cells_of_nearby_routes_with_polygons_only(pool: PgPool) {
    use geo::Intersects;
    use geozero::ToGeo;
    use telecom_gis::spatial::generalise::fibre_cells;
    use telecom_gis::tiles::fibre::{fibre_presence_tile, fibre_routes_tile};

    load_sample(&pool, 60).await;
    // Oracle input: every route's whole geometry from PostGIS, and its cells.
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("select id, operator_id, ST_AsGeoJSON(geom) from fibre_routes order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let routes: Vec<(i64, String, Vec<h3o::CellIndex>)> = rows
        .into_iter()
        .map(|(id, op, json)| {
            let g: geojson::Geometry = json.parse().unwrap();
            let g = geo::Geometry::<f64>::try_from(g).unwrap();
            (id, op, fibre_cells(&g))
        })
        .collect();
    let mut covered = 0;
    for z in [10u8, 12, 14] {
        for (lon, lat) in [(108.2208, 16.0471), (108.05, 16.03), (108.15, 16.12)] {
            let t = tile_of(lon, lat, z);
            let presence = fibre_presence_tile(&pool, t, None).await.unwrap();
            let layer = presence_layer(&presence.mvt);
            // Polygons only: nothing of a route's path is encoded.
            for f in &layer.features {
                assert_eq!(f.r#type, Some(tile::GeomType::Polygon as i32), "{t:?}");
            }
            let got = ids(&layer);
            // Every route meeting the tile is present; every route present
            // is within a cell's diameter (≤ 1.1 km) of the tile.
            let inner = postgis_ids_within(&pool, "fibre_routes", t, -0.5).await;
            assert!(inner.is_subset(&got), "{t:?}: {inner:?} ⊄ {got:?}");
            let [a, b, c, d] = buffered(t);
            let near: BTreeSet<i64> = sqlx::query_scalar(
                "select id from fibre_routes where ST_DWithin(geom::geography,
                    ST_Transform(ST_MakeEnvelope($1, $2, $3, $4, 3857), 4326)::geography, 1200)",
            )
            .bind(a)
            .bind(b)
            .bind(c)
            .bind(d)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
            assert!(got.is_subset(&near), "{t:?}: {got:?} ⊄ {near:?}");
            // Each route's feature covers the centre of each of its cells in
            // the tile (two tile units in from the buffered edge).
            let shapes: std::collections::BTreeMap<i64, geo::Geometry<f64>> = layer
                .features
                .iter()
                .map(|f| (f.id.unwrap() as i64, f.to_geo().unwrap()))
                .collect();
            let [x0, _, _, y1] = t.bounds_3857();
            let unit = t.size_m() / f64::from(EXTENT);
            let (lo, hi) = (2.0 - f64::from(BUFFER), f64::from(EXTENT + BUFFER) - 2.0);
            for (id, _, cells) in &routes {
                for cell in cells {
                    let ll = h3o::LatLng::from(*cell);
                    let (mx, my) = to_3857(ll.lng(), ll.lat());
                    let p = geo::Point::new((mx - x0) / unit, (y1 - my) / unit);
                    if p.x() > lo && p.x() < hi && p.y() > lo && p.y() < hi {
                        let shape = shapes
                            .get(id)
                            .unwrap_or_else(|| panic!("{t:?}: route {id} missing for {cell}"));
                        assert!(shape.intersects(&p), "{t:?}: cell {cell} of route {id}");
                        covered += 1;
                    }
                }
            }
            // A carrier's own routes leave the presence layer, and the exact
            // layer restricted to it holds exactly its routes of the full one.
            let Some(f) = layer.features.first() else {
                continue;
            };
            let op = props(&layer, f)["operator"].as_str().unwrap().to_owned();
            let without =
                presence_layer(&fibre_presence_tile(&pool, t, Some(&op)).await.unwrap().mvt);
            let theirs: BTreeSet<i64> = layer
                .features
                .iter()
                .filter(|f| props(&layer, f)["operator"] == json!(op))
                .map(|f| f.id.unwrap() as i64)
                .collect();
            assert_eq!(ids(&without), &got - &theirs, "{t:?} without {op}");
            let full = exact_layer(&fibre_routes_tile(&pool, t, None).await.unwrap().mvt);
            let only = exact_layer(&fibre_routes_tile(&pool, t, Some(&op)).await.unwrap().mvt);
            let expected: BTreeSet<i64> = full
                .features
                .iter()
                .filter(|f| props(&full, f)["operator_id"] == json!(op))
                .map(|f| f.id.unwrap() as i64)
                .collect();
            assert_eq!(ids(&only), expected, "{t:?} only {op}");
        }
    }
    assert!(covered > 50, "only {covered} cells checked");
}

/// The `fibre_routes` layer of MVT bytes (an empty layer for no bytes).
fn exact_layer(mvt: &[u8]) -> tile::Layer {
    if mvt.is_empty() {
        return tile::Layer::default();
    }
    let tile = Tile::decode(mvt).expect("a valid MVT");
    let layer = tile.layers.into_iter().next().unwrap();
    assert_eq!(layer.name, "fibre_routes");
    layer
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn a_fibre_tile_depends_on_who_asks_and_says_so_to_caches(pool: PgPool) {
    load_sample(&pool, 60).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let operators: Vec<String> =
        sqlx::query_scalar("select distinct operator_id from fibre_routes order by 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(operators.len() >= 2, "the sample has several fibre owners");
    let mine = operators[0].clone();
    let carrier = format!(
        "Bearer {}",
        common::token(&pool, "carrier", Some(&mine)).await
    );
    let analyst = format!("Bearer {}", common::token(&pool, "analyst", None).await);
    // The city at zoom 10 holds routes of every operator.
    let t = TileCoord::new(10, 819, 465).unwrap();
    let uri = tile_uri("fibre-routes", t);
    let get = |auth: Option<String>| {
        let state = state.clone();
        let uri = uri.clone();
        async move {
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| vec![("authorization", a)])
                .unwrap_or_default();
            send_with_headers(&state, Method::GET, &uri, None, &headers).await
        }
    };
    let layers = |r: &Reply| -> Vec<(String, BTreeSet<String>)> {
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.headers["vary"].to_str().unwrap();
        assert!(v.contains("Authorization"), "{v}");
        Tile::decode(r.body.as_slice())
            .unwrap()
            .layers
            .into_iter()
            .map(|l| {
                let ops: BTreeSet<String> = l
                    .features
                    .iter()
                    .filter_map(|f| {
                        f.tags.chunks(2).find_map(|kv| {
                            (l.keys[kv[0] as usize] == "operator"
                                || l.keys[kv[0] as usize] == "operator_id")
                                .then(|| l.values[kv[1] as usize].string_value.clone())
                                .flatten()
                        })
                    })
                    .collect();
                (l.name, ops)
            })
            .collect()
    };
    let public = get(None).await;
    let own = get(Some(carrier)).await;
    let all = get(Some(analyst)).await;
    let (public_l, own_l, all_l) = (layers(&public), layers(&own), layers(&all));
    assert_eq!(public_l.len(), 1);
    assert_eq!(public_l[0].0, "fibre_presence");
    assert_eq!(all_l.len(), 1);
    assert_eq!(all_l[0].0, "fibre_routes");
    let exact = own_l
        .iter()
        .find(|(n, _)| n == "fibre_routes")
        .expect("own routes exact");
    let cells = own_l
        .iter()
        .find(|(n, _)| n == "fibre_presence")
        .expect("others as cells");
    assert_eq!(exact.1, BTreeSet::from([mine.clone()]));
    assert!(!cells.1.contains(&mine) && !cells.1.is_empty());
    let tags: BTreeSet<&str> = [&public, &own, &all]
        .iter()
        .map(|r| r.headers["etag"].to_str().unwrap())
        .collect();
    assert_eq!(tags.len(), 3, "one ETag per view");
}

/// A duct-bank tile as `auth` sees it, with its properties by bank id.
async fn duct_tile(
    state: &AppState,
    t: TileCoord,
    auth: Option<&str>,
) -> (
    Reply,
    std::collections::BTreeMap<i64, serde_json::Map<String, Value>>,
) {
    let headers: Vec<(&str, &str)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
    let r = send_with_headers(
        state,
        Method::GET,
        &tile_uri("duct-banks", t),
        None,
        &headers,
    )
    .await;
    let layer = decode(&r, "duct_banks");
    let by_id = layer
        .features
        .iter()
        .map(|f| (f.id.unwrap() as i64, props(&layer, f)))
        .collect();
    (r, by_id)
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn duct_bank_tiles_carry_the_capacity_map_and_fill_details_only_for_the_signed_in(
    pool: PgPool,
) {
    load_sample(&pool, 60).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let analyst = format!("Bearer {}", common::token(&pool, "analyst", None).await);
    let carrier = format!(
        "Bearer {}",
        common::token(&pool, "carrier", Some("viettel")).await
    );
    // The zoom-13 tile holding the most bank midpoints.
    let mids: Vec<(f64, f64)> = sqlx::query_as(
        "select ST_X(p), ST_Y(p) from (select ST_LineInterpolatePoint(geom, 0.5) p from duct_banks) q",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut best = (tile_of(mids[0].0, mids[0].1, 13), 0usize);
    for &(x, y) in &mids {
        let t = tile_of(x, y, 13);
        let n = mids
            .iter()
            .filter(|&&(a, b)| tile_of(a, b, 13) == t)
            .count();
        if n > best.1 {
            best = (t, n);
        }
    }
    let t = best.0;
    assert!(best.1 >= 20, "a busy tile: {best:?}");
    let (full, detailed) = duct_tile(&state, t, Some(&analyst)).await;
    assert_same_ids(&detailed.keys().copied().collect(), &pool, "duct_banks", t).await;
    // The oracle: the capacity map of /ducts/capacity (built in Rust from
    // the snapshot; the tile's numbers come from SQL).
    let [w, s, e, n] = t.bounds_lonlat(BUFFER);
    let map = send_with_headers(
        &state,
        Method::GET,
        &format!("/ducts/capacity?bbox={w},{s},{e},{n}&limit=10000"),
        None,
        &[("authorization", &analyst)],
    )
    .await
    .json();
    let oracle: std::collections::BTreeMap<i64, &Value> = map["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_i64().unwrap(), &f["properties"]))
        .collect();
    let mut classes = BTreeSet::new();
    for (id, p) in &detailed {
        if p["status"] != "active" {
            assert!(!p.contains_key("capacity_class"), "{id}: {p:?}");
            continue;
        }
        let o = oracle
            .get(id)
            .unwrap_or_else(|| panic!("bank {id} in the capacity map"));
        for k in [
            "capacity_class",
            "largest_cable_mm",
            "max_fill",
            "over_limit",
        ] {
            assert_eq!(p[k], o[k], "bank {id} {k}");
        }
        classes.insert(p["capacity_class"].as_str().unwrap().to_owned());
    }
    assert!(
        classes.len() >= 2,
        "the sample has full and free banks here: {classes:?}"
    );
    // The public gets the same banks and classes, no fill; a carrier the
    // details; each variant has its own ETag, and caches are told.
    let (public, classes_only) = duct_tile(&state, t, None).await;
    assert_eq!(
        classes_only.keys().collect::<Vec<_>>(),
        detailed.keys().collect::<Vec<_>>()
    );
    for (id, p) in &classes_only {
        assert_eq!(p.get("capacity_class"), detailed[id].get("capacity_class"));
        for k in ["largest_cable_mm", "max_fill", "over_limit"] {
            assert!(!p.contains_key(k), "public tile shows {k} of bank {id}");
        }
    }
    let (own, carrier_view) = duct_tile(&state, t, Some(&carrier)).await;
    assert_eq!(carrier_view, detailed);
    assert_ne!(public.headers["etag"], full.headers["etag"]);
    assert_eq!(own.headers["etag"], full.headers["etag"]);
    for r in [&public, &full] {
        assert!(
            r.headers["vary"]
                .to_str()
                .unwrap()
                .contains("Authorization")
        );
    }
    // A lease in a bank's fullest duct raises the bank's fill in its tile,
    // and the ETag moves.
    let (bank, duct) = oracle
        .iter()
        .find_map(|(id, p)| {
            let c = p["conduits"].as_array()?.iter().find(|c| {
                c["subduct"].is_null()
                    && c["fill"] == p["max_fill"]
                    && c["largest_cable_mm"].as_f64().unwrap_or(0.0) >= 20.0
            })?;
            Some((*id, c["duct"].as_str()?.to_owned()))
        })
        .expect("a bank with room for 20 mm");
    let body = json!({"operator": "viettel", "cable_diameter_mm": 20.0, "fibre_count": 96,
                      "segments": [{"bank_id": bank, "duct": duct}]});
    let admin = format!("Bearer {}", common::token(&pool, "admin", None).await);
    let r = send_with_headers(
        &state,
        Method::POST,
        "/ducts/leases",
        Some(("application/json", serde_json::to_vec(&body).unwrap())),
        &[("authorization", &admin)],
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let (after, changed) = duct_tile(&state, t, Some(&analyst)).await;
    assert_ne!(after.headers["etag"], full.headers["etag"]);
    assert!(
        changed[&bank]["max_fill"].as_f64() > detailed[&bank]["max_fill"].as_f64(),
        "{:?} → {:?}",
        detailed[&bank],
        changed[&bank]
    );
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn structure_tiles_hold_exactly_the_structures_postgis_finds_in_them(pool: PgPool) {
    load_sample(&pool, 60).await;
    let state = AppState::loaded(pool.clone()).await.unwrap();
    let (lon, lat): (f64, f64) = sqlx::query_as(
        "select ST_X(geom), ST_Y(geom) from structures order by id limit 1 offset 40",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    for z in [12, 15] {
        let t = tile_of(lon, lat, z);
        let r = send_with_headers(&state, Method::GET, &tile_uri("structures", t), None, &[]).await;
        let layer = decode(&r, "structures");
        assert!(!layer.features.is_empty());
        assert_same_ids(&ids(&layer), &pool, "structures", t).await;
        let p = props(&layer, &layer.features[0]);
        for k in ["id", "owner", "kind", "status", "synthetic"] {
            assert!(p.contains_key(k), "{k} in {p:?}");
        }
    }
    for (set, layer) in [("structures", "structures"), ("duct-banks", "duct_banks")] {
        let uri = format!("/collections/{set}/tiles/WebMercatorQuad/tilejson.json");
        let tj = send_with_headers(&state, Method::GET, &uri, None, &[])
            .await
            .json();
        assert_eq!(tj["vector_layers"][0]["id"], layer, "{tj}");
        let b = tj["bounds"].as_array().unwrap();
        assert!(
            b[0].as_f64().unwrap() > 107.9 && b[2].as_f64().unwrap() < 108.4,
            "{tj}"
        );
    }
}
