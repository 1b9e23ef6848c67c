//! The coverage engine: the propagation [`model`] that turns a sector into a
//! range, the in-memory [`index`] of sector wedges that answers coverage and
//! gap queries, and the [`listener`] that keeps the index in step with
//! PostGIS (patched after API writes, by LISTEN/NOTIFY for everything else).

pub mod index;
pub mod listener;
pub mod model;
