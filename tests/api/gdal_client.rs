//! A real OGC client reads the API: GDAL's OAPIF driver (`ogrinfo`,
//! `ogr2ogr`), installed by `make test` from Debian's gdal-bin, and GDAL's
//! OGC API driver reading the vector tilesets (a current GDAL, bundled with
//! pyogrio in the `.venv/` that `make test` creates: Debian's GDAL 3.6.2
//! was built without that driver's vector-tile path).

use std::process::Command;

use sqlx::PgPool;

use crate::common;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install gdal-bin (make test does)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn ogrinfo_reports_the_tower_count_and_fields(pool: PgPool) {
    common::load_sample(&pool, 260).await;
    let base = common::serve(&pool).await;
    let url = format!("OAPIF:{base}");
    let text = tokio::task::spawn_blocking(move || run("ogrinfo", &["-ro", "-so", &url, "towers"]))
        .await
        .unwrap();
    assert!(text.contains("Feature Count: 260"), "{text}");
    assert!(text.contains("Geometry: Point"), "{text}");
    for field in [
        "operator: String",
        "site_code: String",
        "structure_type: String",
        "height_m: Real",
        "status: String",
        "sectors: String",
    ] {
        assert!(text.contains(field), "missing field {field} in:\n{text}");
    }
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn ogr2ogr_copies_every_layer_to_a_geopackage(pool: PgPool) {
    common::load_sample(&pool, 230).await;
    let base = common::serve(&pool).await;
    let dir = std::env::temp_dir().join(format!("telecom-gis-gdal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (layer, table) in [
        ("towers", "towers"),
        ("fibre-routes", "fibre_routes"),
        ("data-centres", "data_centres"),
        ("districts", "districts"),
        ("structures", "structures"),
        ("duct-banks", "duct_banks"),
    ] {
        let gpkg = dir.join(format!("{layer}.gpkg"));
        let _ = std::fs::remove_file(&gpkg);
        let (url, out) = (format!("OAPIF:{base}"), gpkg.to_str().unwrap().to_owned());
        // A small page size makes GDAL follow several `next` links.
        let layer_owned = layer.to_owned();
        tokio::task::spawn_blocking(move || {
            run(
                "ogr2ogr",
                &[
                    "-f",
                    "GPKG",
                    &out,
                    &url,
                    &layer_owned,
                    "-oo",
                    "PAGE_SIZE=50",
                ],
            )
        })
        .await
        .unwrap();
        let info = run("ogrinfo", &["-ro", "-so", gpkg.to_str().unwrap(), layer]);
        let want: i64 = sqlx::query_scalar(&format!("select count(*) from {table}"))
            .fetch_one(&pool)
            .await
            .unwrap();
        assert!(want > 0, "the sample has no {layer}");
        assert!(
            info.contains(&format!("Feature Count: {want}")),
            "{layer}: expected {want} features:\n{info}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// GDAL's MVT driver reads a towers tile and a sectors tile: the feature
/// counts match PostGIS (towers) and the decoded tile (sectors), and the
/// fields are typed.
#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn gdal_reads_vector_tiles_with_the_features_postgis_has(pool: PgPool) {
    common::load_sample(&pool, 240).await;
    let state = telecom_gis::AppState::loaded(pool.clone()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("telecom-gis-mvt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Zoom 13 over central Đà Nẵng (x 6558, y 3725 hold lon/lat 108.2, 16.05).
    let (z, x, y) = (13u32, 6558u32, 3725u32);
    for set in ["towers", "sectors"] {
        let uri = format!("/collections/{set}/tiles/WebMercatorQuad/{z}/{y}/{x}");
        let r = common::send_to(&state, axum::http::Method::GET, &uri, None).await;
        assert_eq!(r.status.as_u16(), 200, "{uri}");
        let file = dir.join(format!("{set}.mvt"));
        std::fs::write(&file, &r.body).unwrap();
        let path = file.to_string_lossy().into_owned();
        let args: Vec<String> = vec![
            "-ro".into(),
            "-al".into(),
            "-so".into(),
            "-oo".into(),
            format!("Z={z}"),
            "-oo".into(),
            format!("X={x}"),
            "-oo".into(),
            format!("Y={y}"),
            path,
        ];
        let text = tokio::task::spawn_blocking(move || {
            run(
                "ogrinfo",
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
            )
        })
        .await
        .unwrap();
        // The tile plus its 64/4096 buffer, in EPSG:3857.
        let t = telecom_gis::tiles::TileCoord::new(z, x, y).unwrap();
        let [x0, y0, x1, y1] = t.bounds_3857();
        let pad = t.size_m() * 64.0 / 4096.0;
        let expected: i64 = if set == "towers" {
            sqlx::query_scalar("select count(*) from towers where ST_Intersects(ST_Transform(geom, 3857), ST_MakeEnvelope($1, $2, $3, $4, 3857))")
                .bind(x0 - pad).bind(y0 - pad).bind(x1 + pad).bind(y1 + pad)
                .fetch_one(&pool).await.unwrap()
        } else {
            // Wedges meeting the tile are checked against a brute-force scan
            // in tiles_api.rs; here GDAL must read every one geozero decodes.
            use geozero::mvt::Message;
            let tile = geozero::mvt::Tile::decode(r.body.as_slice()).unwrap();
            tile.layers[0].features.len() as i64
        };
        assert!(expected > 10, "{set}: the tile should not be almost empty");
        assert!(
            text.contains(&format!("Feature Count: {expected}")),
            "{set}: expected {expected} in\n{text}"
        );
        let field = if set == "towers" {
            "operator_id: String"
        } else {
            "range_m: Real"
        };
        assert!(text.contains(field), "{set}: no {field} in\n{text}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The Python of `.venv/` (scripts/py-venv.sh; `make test` sets
/// `TGIS_GIS_PYTHON`).
fn gis_python() -> String {
    std::env::var("TGIS_GIS_PYTHON")
        .unwrap_or_else(|_| format!("{}/.venv/bin/python", env!("CARGO_MANIFEST_DIR")))
}

/// GDAL's OGC API driver opens the towers collection as a GIS user would
/// (`OGCAPI:<service>/collections/towers`): it follows the vector tileset,
/// the tile matrix set and the tile template, lists one layer per zoom
/// level, and the features it reads from a z13 tile are the towers PostGIS
/// has there, with their attributes and positions.
#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn gdal_ogcapi_driver_reads_the_towers_tileset_as_postgis_has_it(pool: PgPool) {
    common::load_sample(&pool, 240).await;
    let base = common::serve(&pool).await;
    let (z, x, y) = (13u32, 6558u32, 3725u32);
    let script = format!("{}/tests/gdal/ogcapi_tiles.py", env!("CARGO_MANIFEST_DIR"));
    let python = gis_python();
    let args = vec![
        script,
        base,
        "towers".to_owned(),
        z.to_string(),
        x.to_string(),
        y.to_string(),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .args(&args)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {python} ({e}): run scripts/py-venv.sh (make test does)")
            })
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "GDAL's OGC API driver failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = got["layers"].as_array().unwrap();
    assert!(
        layers.iter().any(|l| l == &format!("Zoom level {z}")),
        "layers: {layers:?}"
    );
    assert_eq!(got["crs"], "EPSG:3857");
    for field in ["id", "operator_id", "site_code", "status", "point_count"] {
        assert!(
            got["fields"].as_array().unwrap().iter().any(|f| f == field),
            "no field {field}: {}",
            got["fields"]
        );
    }
    // PostGIS: every tower near the tile, in EPSG:3857.
    let t = telecom_gis::tiles::TileCoord::new(z, x, y).unwrap();
    let [x0, y0, x1, y1] = t.bounds_3857();
    let unit = t.size_m() / 4096.0;
    let rows: Vec<(i64, String, String, f64, f64)> = sqlx::query_as(
        "select id, operator_id, site_code, ST_X(p), ST_Y(p)
         from (select *, ST_Transform(geom, 3857) p from towers) t
         where ST_Intersects(p, ST_MakeEnvelope($1, $2, $3, $4, 3857))",
    )
    .bind(x0 - 4.0 * unit)
    .bind(y0 - 4.0 * unit)
    .bind(x1 + 4.0 * unit)
    .bind(y1 + 4.0 * unit)
    .fetch_all(&pool)
    .await
    .unwrap();
    let near: std::collections::HashMap<i64, _> = rows.iter().map(|r| (r.0, r)).collect();
    let features = got["features"].as_array().unwrap();
    let mut read = std::collections::HashSet::new();
    for f in features {
        let id = f["id"].as_i64().unwrap();
        let (_, operator, code, px, py) = near
            .get(&id)
            .unwrap_or_else(|| panic!("GDAL read tower {id}, which PostGIS has not near the tile"));
        assert_eq!(f["operator_id"].as_str(), Some(operator.as_str()), "{f}");
        assert_eq!(f["site_code"].as_str(), Some(code.as_str()), "{f}");
        let (fx, fy) = (f["_x"].as_f64().unwrap(), f["_y"].as_f64().unwrap());
        assert!(
            (fx - px).abs() <= unit && (fy - py).abs() <= unit,
            "tower {id} at {fx},{fy} (EPSG:3857, x/y), PostGIS {px},{py}"
        );
        read.insert(id);
    }
    // Every tower well inside the tile was read.
    let inside: Vec<i64> = rows
        .iter()
        .filter(|r| {
            r.3 > x0 + 2.0 * unit
                && r.3 < x1 - 2.0 * unit
                && r.4 > y0 + 2.0 * unit
                && r.4 < y1 - 2.0 * unit
        })
        .map(|r| r.0)
        .collect();
    assert!(inside.len() > 10, "the tile should not be almost empty");
    let missed: Vec<_> = inside.iter().filter(|id| !read.contains(id)).collect();
    assert!(missed.is_empty(), "GDAL did not read towers {missed:?}");
}
