//! Spatial computation in memory: geodesy, the local metric frame, H3 grids,
//! fibre generalisation, district indicators and vector-tile geometry.

pub mod analysis;
pub mod frame;
pub mod generalise;
pub mod geodesy;
pub mod grid;
pub mod tiles;
