//! The OpenAPI 3.0 document, generated from the handlers' annotations.

use axum::http::StatusCode;
use axum::response::Response;
use utoipa::OpenApi;

use super::error::{ApiError, ApiResult};
use super::json_response;

/// The API definition.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "telecom-gis",
        description = "Telecom infrastructure inventory and coverage GIS for Đà Nẵng. OGC API – Features Part 1 (Core, GeoJSON) and Part 4 (create, replace, update, delete); OGC API – Tiles (vector tiles, WebMercatorQuad). Coordinates are CRS84, lon/lat order.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(
        super::ogc::landing,
        super::ogc::conformance,
        super::ogc::collections,
        super::ogc::collection_one,
        super::ogc::queryables,
        super::ogc::operators,
        super::ogc::healthz,
        super::ops::readyz,
        super::ops::metrics,
        super::ops::fingerprint,
        super::items::list,
        super::items::get_one,
        super::items::create,
        super::items::replace,
        super::items::patch,
        super::items::delete,
        super::items::restore,
        super::items::history,
        super::items::changes,
        super::imports::import,
        super::coverage::point,
        super::coverage::profile,
        super::terrain::info,
        super::terrain::tile,
        super::coverage::points,
        super::coverage::footprints,
        super::coverage::gaps,
        super::analysis::districts,
        super::analysis::district,
        super::analysis::summary,
        super::analysis::undergrounding,
        super::analysis::undergrounding_streets,
        super::ducts::route,
        super::ducts::capacity,
        super::ducts::leases,
        super::ducts::request,
        super::ducts::lease,
        super::ducts::change,
        super::tiles::tile_matrix_sets,
        super::tiles::tile_matrix_set,
        super::tiles::tilesets,
        super::tiles::tileset,
        super::tiles::tilejson,
        super::tiles::tile,
        super::tiles::style,
    ),
    components(schemas(super::error::Problem, super::error::ProblemItem, crate::service::render::Link, crate::domain::operator::Operator,
        super::coverage::PointAnswer,
        super::coverage::ProfileAnswer,
        super::coverage::ProfileSample,
        super::terrain::TerrainInfo,
        super::terrain::DemRasterInfo,
        super::coverage::PointSector,
        super::ops::Readiness,
        crate::import::Report,
        crate::import::Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "Capabilities", description = "Landing page, conformance and collections"),
        (name = "Features", description = "Read and write features"),
        (name = "Audit", description = "Who changed what: per-feature history and the change feed (needs a token)"),
        (name = "Import", description = "Bulk import of GeoJSON, CSV, OpenCelliD and GeoPackage files"),
        (name = "Operators", description = "Carriers"),
        (name = "Ducts", description = "Shared underground ducts: leases of duct space, the route finder with free capacity, and the capacity map"),
        (name = "Analysis", description = "Underserved districts: indicators, classes and explanations"),
        (name = "Tiles", description = "Vector tiles (OGC API – Tiles, WebMercatorQuad, Mapbox Vector Tiles) and TileJSON"),
        (name = "Coverage", description = "Coverage and gap queries answered by the in-memory index"),
        (name = "Operations", description = "Liveness, readiness, metrics and the coverage index fingerprint"),
    )
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme (API tokens).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "API token from 'telecom-gis token create' (or 'make token')",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /api`: the OpenAPI document as JSON.
pub async fn document() -> ApiResult<Response> {
    let body = ApiDoc::openapi().to_json().map_err(ApiError::internal)?;
    Ok(json_response(
        StatusCode::OK,
        "application/vnd.oai.openapi+json;version=3.0",
        body.into_bytes(),
    ))
}
