//! The service region: asset geometries outside it are refused (422 naming
//! the region, its box and its setting) through the API and every import
//! format alike; submarine cables may reach the wider cable region; fibre
//! routes are bounded in length and parts. Nothing is stored on refusal.

use std::sync::Arc;

use crate::common::{self, Reply, fingerprint, send_to};
use axum::http::Method;
use serde_json::{Value, json};
use sqlx::PgPool;
use telecom_gis::AppState;
use telecom_gis::domain::region::{LonLatBox, ServiceRegion};

/// Hà Nội and London, lon/lat.
const FAR_AWAY: [(f64, f64); 2] = [(105.8542, 21.0285), (-0.1276, 51.5072)];

/// The default region as the 422 names it.
const REGION: &str = "service region [107.6, 15.7, 108.6, 16.45]";

fn tower_at(lon: f64, lat: f64) -> Value {
    let mut t = common::tower_feature();
    t["geometry"]["coordinates"] = json!([lon, lat]);
    t
}

fn route(placement: &str, coords: &[(f64, f64)]) -> Value {
    let mut f = common::fibre_feature();
    f["geometry"]["coordinates"] = json!(coords.iter().map(|(x, y)| [*x, *y]).collect::<Vec<_>>());
    f["properties"]["placement"] = json!(placement);
    f
}

async fn post(state: &AppState, collection: &str, feature: &Value) -> Reply {
    send_to(
        state,
        Method::POST,
        &format!("/collections/{collection}/items"),
        Some(("application/geo+json", serde_json::to_vec(feature).unwrap())),
    )
    .await
}

/// POSTs `feature`, expects 422 with one error at `/geometry…` containing
/// every one of `needles`, and nothing stored.
async fn refused(state: &AppState, collection: &str, feature: &Value, needles: &[&str]) {
    let before = fingerprint(&state.pool).await;
    let r = post(state, collection, feature).await;
    let p = r.problem(422);
    let e = &p["errors"][0];
    assert!(
        e["pointer"].as_str().unwrap().starts_with("/geometry"),
        "{p:#}"
    );
    let detail = e["detail"].as_str().unwrap();
    for n in needles {
        assert!(detail.contains(n), "no {n:?} in {detail}");
    }
    assert_eq!(
        fingerprint(&state.pool).await,
        before,
        "a refused write stored data"
    );
}

#[sqlx::test]
async fn towers_at_ha_noi_or_london_are_refused_422_naming_the_region_and_its_bbox(pool: PgPool) {
    common::operators(&pool).await;
    let state = AppState::new(pool.clone());
    for (lon, lat) in FAR_AWAY {
        refused(
            &state,
            "towers",
            &tower_at(lon, lat),
            &[
                REGION,
                "lon/lat",
                "SERVICE_REGION",
                &format!("lon {lon}, lat {lat}"),
            ],
        )
        .await;
    }
    // Data centres and districts too.
    let mut dc = common::data_centre_feature();
    dc["geometry"]["coordinates"] = json!([[
        [105.85, 21.02],
        [105.851, 21.02],
        [105.851, 21.021],
        [105.85, 21.021],
        [105.85, 21.02]
    ]]);
    refused(&state, "data-centres", &dc, &[REGION]).await;
    let mut district = common::district_feature();
    district["geometry"]["coordinates"] = json!([[
        [108.5, 16.0],
        [108.7, 16.0],
        [108.7, 16.1],
        [108.5, 16.1],
        [108.5, 16.0]
    ]]);
    refused(&state, "districts", &district, &[REGION, "lon 108.7"]).await;
    // A replace may not move a tower out either.
    let created = post(&state, "towers", &common::tower_feature()).await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id = created.json()["id"].clone();
    let before = fingerprint(&pool).await;
    let uri = format!("/collections/towers/items/{id}");
    let (lon, lat) = FAR_AWAY[0];
    let r = send_to(
        &state,
        Method::PUT,
        &uri,
        Some((
            "application/geo+json",
            serde_json::to_vec(&tower_at(lon, lat)).unwrap(),
        )),
    )
    .await;
    r.problem(422);
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test]
async fn a_configured_region_is_the_one_enforced(pool: PgPool) {
    common::operators(&pool).await;
    let state = AppState {
        region: Arc::new(ServiceRegion {
            area: "105.2,20.5,106.5,21.5".parse::<LonLatBox>().unwrap(),
            ..ServiceRegion::default()
        }),
        ..AppState::new(pool.clone())
    };
    let (lon, lat) = FAR_AWAY[0];
    let r = post(&state, "towers", &tower_at(lon, lat)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    refused(
        &state,
        "towers",
        &common::tower_feature(),
        &["service region [105.2, 20.5, 106.5, 21.5]"],
    )
    .await;
}

async fn import_csv(state: &AppState, layer: &str, csv: String) -> Reply {
    send_to(
        state,
        Method::POST,
        &format!("/imports?layer={layer}&format=csv&mode=commit"),
        Some(("text/csv", csv.into_bytes())),
    )
    .await
}

#[sqlx::test]
async fn a_csv_import_with_a_tower_at_ha_noi_or_london_is_refused_as_a_row_problem(pool: PgPool) {
    common::operators(&pool).await;
    let state = AppState::new(pool.clone());
    let before = fingerprint(&pool).await;
    let mut csv =
        String::from("external_id,operator,site_code,structure_type,height_m,status,lon,lat\n");
    csv.push_str("V-1,viettel,DNG-1,monopole,30,operational,108.2208,16.0471\n");
    for (i, (lon, lat)) in FAR_AWAY.iter().enumerate() {
        csv.push_str(&format!(
            "V-{},viettel,FAR-{i},monopole,30,operational,{lon},{lat}\n",
            i + 2
        ));
    }
    let r = import_csv(&state, "towers", csv).await;
    let p = r.problem(422);
    let problems = p["report"]["problems"].as_array().unwrap();
    let rows: Vec<(u64, &str)> = problems
        .iter()
        .map(|q| (q["row"].as_u64().unwrap(), q["field"].as_str().unwrap()))
        .collect();
    assert_eq!(rows, [(2, "lon,lat"), (3, "lon,lat")], "{p:#}");
    for q in problems {
        let reason = q["reason"].as_str().unwrap();
        assert!(
            reason.contains(REGION) && reason.contains("SERVICE_REGION"),
            "{reason}"
        );
    }
    assert_eq!(
        fingerprint(&pool).await,
        before,
        "a refused import stored data"
    );
    // WKT and OpenCelliD rows alike.
    let wkt =
        "external_id,operator,name,tier,wkt\nDC-1,vnpt,IDC,3,POINT(105.85 21.03)\n".to_owned();
    let r = import_csv(&state, "data-centres", wkt).await;
    let p = r.problem(422);
    assert_eq!(p["report"]["problems"][0]["field"], "wkt", "{p:#}");
    let ocid = "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal\n\
                LTE,452,04,1,10,0,105.8542,21.0285,500,10,1,0,0,0\n";
    let r = send_to(
        &state,
        Method::POST,
        "/imports?layer=towers&format=opencellid&mode=commit",
        Some(("text/csv", ocid.as_bytes().to_vec())),
    )
    .await;
    let p = r.problem(422);
    let reason = p["report"]["problems"][0]["reason"].as_str().unwrap();
    assert!(reason.contains(REGION), "{p:#}");
    assert_eq!(fingerprint(&pool).await, before);
}

#[sqlx::test]
async fn a_submarine_cable_may_reach_out_to_sea_within_the_cable_region(pool: PgPool) {
    common::operators(&pool).await;
    let state = AppState::new(pool.clone());
    // From Mỹ Khê beach 300 km east, past the service region's edge (108.6).
    let to_sea = [(108.25, 16.06), (108.9, 16.2), (109.8, 16.4), (111.0, 16.5)];
    let r = post(&state, "fibre-routes", &route("submarine", &to_sea)).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // Underground, the same line is refused; and no cable reaches Europe.
    refused(
        &state,
        "fibre-routes",
        &route("underground", &to_sea),
        &[REGION, "only submarine cables"],
    )
    .await;
    let to_europe = [(108.25, 16.06), (60.0, 10.0), (2.35, 48.85)];
    refused(
        &state,
        "fibre-routes",
        &route("submarine", &to_europe),
        &["cable region [100, 0, 125, 25]", "CABLE_REGION"],
    )
    .await;
    // A cable must land in the city.
    let offshore = [(110.0, 16.0), (111.0, 16.5)];
    refused(
        &state,
        "fibre-routes",
        &route("submarine", &offshore),
        &["must land", REGION],
    )
    .await;
}

#[sqlx::test]
async fn a_terrestrial_route_past_the_length_limit_is_refused_naming_it(pool: PgPool) {
    common::operators(&pool).await;
    let state = AppState::new(pool.clone());
    // Back and forth across the region, about 100 km a leg: 700 km.
    let zigzag: Vec<(f64, f64)> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                (107.65, 16.0)
            } else {
                (108.55, 16.01)
            }
        })
        .collect();
    refused(
        &state,
        "fibre-routes",
        &route("underground", &zigzag),
        &["km long", "at most 500 km", "MAX_ROUTE_KM"],
    )
    .await;
    // Within the limit, the same shape is accepted.
    let r = post(&state, "fibre-routes", &route("aerial", &zigzag[..4])).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // And too many parts.
    let parts: Vec<Vec<[f64; 2]>> = (0..101)
        .map(|i| {
            let x = 108.0 + f64::from(i) * 0.001;
            vec![[x, 16.0], [x, 16.0005]]
        })
        .collect();
    let mut multi = route("underground", &[]);
    multi["geometry"] = json!({"type": "MultiLineString", "coordinates": parts});
    multi["properties"]["external_id"] = json!("FPT-MULTI");
    refused(
        &state,
        "fibre-routes",
        &multi,
        &["101 parts", "MAX_ROUTE_PARTS"],
    )
    .await;
}
