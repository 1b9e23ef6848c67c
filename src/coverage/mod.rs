//! The coverage engine: the propagation [`model`] that turns a sector into a
//! range, the in-memory [`index`] of sector wedges that answers coverage and
//! gap queries, and the [`listener`] that keeps the index in step with
//! PostGIS (patched after API writes, by LISTEN/NOTIFY for everything else).
//! With `[terrain] enabled`, the [`terrain`] (DEM) and [`landuse`] layers
//! feed terrain [`profile`]s and the [`link`] budgets and radial footprints
//! that the index answers from, with [`settle`] grids for batches.

pub mod index;
pub mod landuse;
pub mod link;
pub mod listener;
pub mod model;
pub mod profile;
pub mod settle;
pub mod terrain;
