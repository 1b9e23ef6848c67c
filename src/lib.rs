//! telecom-gis: telecom infrastructure inventory and coverage GIS service.
//!
//! Layers point inward: [`http`] (axum routers, extractors, DTOs) calls
//! [`domain`] (validated types) and [`spatial`] (in-memory geometry), which
//! rest on [`db`] (sqlx/PostGIS). [`app`] builds the router so tests drive the
//! real service; [`cli`] is the command line. See the README for the API and operations.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod coverage;
pub mod db;
pub mod domain;
pub mod format;
pub mod generate;
pub mod http;
pub mod import;
pub mod sample;
pub mod service;
pub mod spatial;

pub use http::{AppState, app};
