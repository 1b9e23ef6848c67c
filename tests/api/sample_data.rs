//! The Đà Nẵng sample: real districts, idempotent loading, synthetic marking.

use sqlx::PgPool;

use crate::common;

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn loading_the_sample_twice_adds_no_duplicates(pool: PgPool) {
    common::load_sample(&pool, 120).await;
    let first = common::fingerprint(&pool).await;
    let counts = common::row_counts(&pool).await;
    let report = telecom_gis::sample::load(&pool, &common::sample_args(120))
        .await
        .unwrap();
    assert_eq!(
        (
            report.towers_inserted,
            report.fibre_routes_inserted,
            report.data_centres_inserted
        ),
        (0, 0, 0)
    );
    assert_eq!(common::row_counts(&pool).await, counts);
    assert_eq!(common::fingerprint(&pool).await, first);
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn the_real_districts_keep_their_census_population_and_area(pool: PgPool) {
    common::load_sample(&pool, 10).await;
    let (n, pop, area): (i64, i64, f64) =
        sqlx::query_as("select count(*), sum(population)::bigint, sum(area_km2) from districts")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(n, 7);
    assert_eq!(pop, 1_134_310, "2019 census total of the seven districts");
    assert!(
        (area - 971.46).abs() < 1.0,
        "total geodesic area {area} km²"
    );
    let name: String = sqlx::query_scalar("select name from districts where code = '494'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "Ngũ Hành Sơn");
    // The main streets: the seven road lines of the transport file (no
    // railway), Quốc lộ 1A in two parts.
    let (streets, names): (i64, i64) =
        sqlx::query_as("select count(*), count(distinct name) from streets")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((streets, names), (7, 6));
}

#[sqlx::test(migrator = "telecom_gis::db::MIGRATOR")]
async fn every_generated_asset_is_marked_synthetic(pool: PgPool) {
    common::load_sample(&pool, 50).await;
    for t in [
        "towers",
        "fibre_routes",
        "data_centres",
        "structures",
        "duct_banks",
    ] {
        let real: i64 =
            sqlx::query_scalar(&format!("select count(*) from {t} where not synthetic"))
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(real, 0, "{t}");
    }
}
