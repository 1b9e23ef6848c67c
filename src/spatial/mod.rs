//! Spatial computation in memory: geodesy, the local metric frame, the
//! propagation model, and the rstar coverage index with its queries.

pub mod analysis;
pub mod coverage;
pub mod frame;
pub mod generalise;
pub mod geodesy;
pub mod grid;
pub mod propagation;
pub mod tiles;
