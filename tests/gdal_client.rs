//! A real OGC client reads the API: GDAL's OAPIF driver (`ogrinfo`,
//! `ogr2ogr`), installed by `make test` from Debian's gdal-bin.

mod common;

use std::process::Command;

use sqlx::PgPool;

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
        assert!(
            info.contains(&format!("Feature Count: {want}")),
            "{layer}: expected {want} features:\n{info}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
