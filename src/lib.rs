//! telecom-gis: telecom infrastructure inventory and coverage GIS service.
//!
//! Layers point inward: [`http`] (axum routers, extractors, DTOs) calls
//! [`domain`] (validated types), [`spatial`] (in-memory geometry) and
//! [`tiles`] (vector tiles, no HTTP), which rest on [`db`] (sqlx/PostGIS).
//! [`app`] builds the router so tests drive the real service. See the README
//! for the API and operations.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod coverage;
pub mod db;
pub mod domain;
pub mod generate;
pub mod http;
pub mod import;
pub mod report;
pub mod sample;
pub mod spatial;
pub mod tiles;

pub use http::{AppState, app};
