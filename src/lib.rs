//! telecom-gis: telecom infrastructure inventory and coverage GIS service.
//!
//! Layers point inward. The adapters — [`http`] (axum handlers, extractors,
//! problem+json) and [`cli`] (one module per subcommand) — identify the
//! caller, parse the input and call [`service`], the application layer that
//! owns every use-case once (transaction, audit row, index refresh after
//! commit, the permission policy, what a viewer may see). It rests on
//! [`domain`] (validated types, no SQL, no axum), [`coverage`] (the
//! propagation model, the wedge index and its listener), [`spatial`]
//! (geodesy, H3 grids, generalisation, indicators), [`tiles`] (vector tile
//! sources), [`import`] (file readers), [`format`] (GeoPackage) and [`db`]
//! (sqlx/PostGIS, the system of record). [`app`] builds the router so tests
//! drive the real service. The manual is in `docs/`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli;
pub mod combine;
pub mod config;
pub mod coverage;
pub mod cpu;
pub mod db;
pub mod domain;
pub mod format;
pub mod generate;
pub mod http;
pub mod import;
pub mod sample;
pub mod service;
pub mod spatial;
pub mod startup;
#[cfg(test)]
mod testing;
pub mod tiles;

pub use http::{AppState, app};
