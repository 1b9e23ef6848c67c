//! File formats the service reads and writes, independent of any layer:
//! GeoPackage, and the bounded readers of user-supplied geometries and JSON
//! ([`wkt`], [`wkb`], [`json`]), which check nesting depth and sizes before
//! (WKT, WKB) or while (JSON) anything is built from them.

pub mod gpkg;
pub mod json;
pub mod wkb;
pub mod wkt;

/// Deepest nesting a WKT or WKB geometry may have: parentheses in WKT (a
/// MultiPolygon needs 3), nested geometries in WKB (a MultiPolygon needs 2).
/// Every geometry a layer accepts needs at most 3; the rest is room for
/// GeometryCollections, which the layers refuse with a clear message.
pub const MAX_GEOMETRY_DEPTH: usize = 8;

/// What a geometry reader may read: its nesting depth and its number of
/// positions (the layer's vertex limit), checked before anything is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeometryBudget {
    /// Deepest nesting ([`MAX_GEOMETRY_DEPTH`] by default).
    pub max_depth: usize,
    /// Most positions (vertices) in the whole geometry.
    pub max_positions: usize,
}

/// Why a bounded geometry reader refused its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryReadError {
    /// Nested deeper than the budget allows.
    #[error("nests geometries deeper than {limit} levels (limit: geometry nesting depth, {limit})")]
    Depth {
        /// The depth limit.
        limit: usize,
    },
    /// More positions than the budget allows (`found` is exact for WKT and
    /// WKB, which are counted in full before anything is built).
    #[error("has {found} positions; at most {limit} are accepted")]
    Positions {
        /// Positions in the input.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// Malformed input; the message says where.
    #[error("{0}")]
    Invalid(String),
}
