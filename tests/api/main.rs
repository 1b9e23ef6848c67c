//! The integration tests: one test binary (`cargo test --test api`) with a
//! module per area, all sharing the helpers of `common`. One binary means one
//! link, and rustc's dead-code analysis sees every use of a helper.
//!
//! A module's tests are selected by its path, for example
//! `cargo test --test api ops_outage::`.

// Tests may unwrap: a failed unwrap is a failed test (the service may not:
// Cargo.toml [lints]).
#![allow(clippy::unwrap_used)]

mod common;

mod access;
mod analysis_api;
mod budget;
mod cli_output;
mod coverage_api;
mod cpu_bound;
mod ducts;
mod fuzz;
mod gdal_client;
mod hardening;
mod history;
mod imports;
mod items_read;
mod items_write;
mod ogc_api;
mod ops_api;
mod ops_outage;
mod ops_replicas;
mod parsers;
mod qgis_client;
mod read_model;
mod sample_data;
mod secrets_not_logged;
mod service_region;
mod terrain;
mod tiles_api;
mod visibility;
