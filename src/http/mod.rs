//! HTTP layer: axum routers, extractors, DTOs and status codes.
//!
//! Serves OGC API – Features Part 1 (Core, GeoJSON, OpenAPI 3.0) and Part 4
//! (create, replace, update, delete) over the collections in
//! [`CollectionId`](crate::domain::CollectionId), plus `/operators`.

pub mod access;
pub mod analysis;
pub mod conditional;
pub mod coverage;
pub mod ducts;
pub mod error;
pub mod export;
pub mod extract;

pub mod imports;
pub mod items;
pub mod limits;
pub mod ogc;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod query;
pub mod serve;
pub mod terrain;
pub mod tiles;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use self::error::ApiError;
use crate::coverage::listener::CoverageState;
use crate::coverage::model::CoverageConfig;
use crate::domain::classify::AnalysisConfig;

/// Largest accepted request body, bytes.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// Connection pool to PostGIS.
    pub pool: PgPool,
    /// Public base URL used in links (e.g. `https://gis.example.org`); when
    /// `None`, links are built from the request's `Host` header.
    pub public_url: Option<Arc<str>>,
    /// Folder of the web front end, served at `/` for browsers.
    pub web_dir: Option<PathBuf>,
    /// The in-memory coverage index.
    pub coverage: Arc<CoverageState>,
    /// Default thresholds of the underserved analysis.
    pub analysis: Arc<AnalysisConfig>,
    /// Request counts and latencies, exported at `/metrics`.
    pub metrics: Arc<ops::Metrics>,
    /// Rate limits per bearer token and per client address.
    pub limits: Arc<limits::RateLimits>,
    /// Bounds of a request's time to its response head.
    pub timeouts: limits::Timeouts,
    /// Origins allowed by CORS.
    pub cors_origins: limits::CorsOrigins,
    /// Where asset geometries may lie (writes and imports are checked).
    pub region: Arc<crate::domain::region::ServiceRegion>,
    /// The duct network's capacity policy and snapshot.
    pub ducts: Arc<crate::service::ducts::DuctState>,
}

impl AppState {
    /// State with links built from the request, no web front end, an
    /// empty coverage index with the shipped configuration, and the default
    /// rate limits, timeouts, CORS policy and service region of `serve`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            public_url: None,
            web_dir: None,
            coverage: {
                let coverage = Arc::new(CoverageState::new(CoverageConfig::default()));
                crate::service::read_model::ReadModel::attach(&coverage);
                coverage
            },
            analysis: Arc::new(AnalysisConfig::default()),
            metrics: Arc::new(ops::Metrics::new()),
            limits: Arc::new(limits::RateLimits::default()),
            timeouts: limits::Timeouts::default(),
            cors_origins: limits::CorsOrigins::Any,
            region: Arc::new(crate::domain::region::ServiceRegion::default()),
            ducts: Arc::default(),
        }
    }

    /// The application layer over this state's pool, index and analysis
    /// defaults (shared handles: cheap).
    pub fn service(&self) -> crate::service::Service {
        crate::service::Service {
            pool: self.pool.clone(),
            coverage: self.coverage.clone(),
            analysis: self.analysis.clone(),
            region: self.region.clone(),
            ducts: self.ducts.clone(),
        }
    }

    /// [`AppState::new`] with the coverage index loaded from the database.
    ///
    /// # Errors
    /// When the index cannot be loaded.
    pub async fn loaded(pool: PgPool) -> Result<Self, crate::coverage::listener::SyncError> {
        let state = Self::new(pool);
        state.coverage.reload(&state.pool).await?;
        Ok(state)
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no resource at this path; the landing page / lists the API".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::Internal("handler panicked".into()).into_response()
}

/// The service's router with all middleware, ready to serve.
pub fn app(state: AppState) -> Router {
    let web = state.web_dir.clone();
    let metrics = state.metrics.clone();
    let api = Router::new()
        .route("/", get(ogc::landing))
        .route("/conformance", get(ogc::conformance))
        .route("/api", get(openapi::document))
        .route("/operators", get(ogc::operators))
        .route("/healthz", get(ogc::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/index/fingerprint", get(ops::fingerprint))
        .route("/coverage/point", get(coverage::point))
        .route("/coverage/profile", get(coverage::profile))
        .route("/terrain", get(terrain::info))
        .route("/terrain/tiles/{z}/{x}/{y}", get(terrain::tile))
        .route("/analysis/districts", get(analysis::districts))
        .route("/analysis/districts/{code}", get(analysis::district))
        .route("/analysis/summary", get(analysis::summary))
        .route("/analysis/undergrounding", get(analysis::undergrounding))
        .route(
            "/analysis/undergrounding/streets",
            get(analysis::undergrounding_streets),
        )
        .route(
            "/coverage/points",
            axum::routing::post(coverage::points)
                .layer(DefaultBodyLimit::max(coverage::MAX_POINTS_BODY_BYTES)),
        )
        .route(
            "/imports",
            axum::routing::post(imports::import)
                .layer(DefaultBodyLimit::max(imports::MAX_IMPORT_BYTES)),
        )
        .route("/ducts/route", get(ducts::route))
        .route("/ducts/capacity", get(ducts::capacity))
        .route("/ducts/leases", get(ducts::leases).post(ducts::request))
        .route("/ducts/leases/{id}", get(ducts::lease).patch(ducts::change))
        .route("/coverage/footprints", get(coverage::footprints))
        .route("/coverage/gaps", get(coverage::gaps))
        .route("/collections", get(ogc::collections))
        .route("/collections/{collection_id}", get(ogc::collection_one))
        .route(
            "/collections/{collection_id}/queryables",
            get(ogc::queryables),
        )
        .route(
            "/collections/{collection_id}/items",
            get(items::list).post(items::create),
        )
        .route("/tileMatrixSets", get(tiles::tile_matrix_sets))
        .route("/styles/default.json", get(tiles::style))
        .route("/tileMatrixSets/{tms}", get(tiles::tile_matrix_set))
        .route("/collections/{collection_id}/tiles", get(tiles::tilesets))
        .route(
            "/collections/{collection_id}/tiles/{tms}",
            get(tiles::tileset),
        )
        .route(
            "/collections/{collection_id}/tiles/{tms}/tilejson.json",
            get(tiles::tilejson),
        )
        .route(
            "/collections/{collection_id}/tiles/{tms}/{z}/{y}/{x}",
            get(tiles::tile),
        )
        .route(
            "/collections/{collection_id}/items/{feature_id}",
            get(items::get_one)
                .put(items::replace)
                .patch(items::patch)
                .delete(items::delete),
        )
        .route(
            "/collections/{collection_id}/items/{feature_id}/history",
            get(items::history),
        )
        .route(
            "/collections/{collection_id}/items/{feature_id}/restore",
            axum::routing::post(items::restore),
        )
        .route("/changes", get(items::changes))
        .method_not_allowed_fallback(method_not_allowed);
    let router = match web {
        Some(dir) if dir.is_dir() => {
            api.fallback_service(ServeDir::new(dir).fallback(get(not_found)))
        }
        _ => api.fallback(not_found),
    };
    // Outermost last: request-id hygiene, then the id is set (before the
    // handlers, which record it) and copied to the response; secrets are
    // marked before tracing sees the headers; CORS answers preflights and
    // decorates 429/503 answers; rate limit before timeout and work.
    let sensitive = [
        header::AUTHORIZATION,
        header::PROXY_AUTHORIZATION,
        header::COOKIE,
    ];
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CompressionLayer::new())
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn_with_state(
            state.timeouts,
            limits::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.limits.clone(),
            limits::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(metrics, ops::track))
        .layer(limits::cors_layer(&state.cors_origins))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
            let request_id = req.headers().get(&limits::REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %req.method(), route, uri = %req.uri().path(), request_id)
        })
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(SetSensitiveRequestHeadersLayer::new(sensitive))
        .layer(PropagateRequestIdLayer::new(limits::REQUEST_ID))
        .layer(SetRequestIdLayer::new(limits::REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn(limits::drop_insane_request_id))
        .with_state(state)
}

/// `Content-Type` of GeoJSON responses.
pub const GEO_JSON: &str = "application/geo+json";
/// `Content-Crs` of every feature response.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// A JSON response with the given media type.
pub fn json_response(
    status: axum::http::StatusCode,
    media_type: &'static str,
    body: Vec<u8>,
) -> Response {
    let mut res = (status, body).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    res
}
