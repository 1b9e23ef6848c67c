//! Spatial computation in memory: geodesy, the local metric frame, H3 grids,
//! fibre generalisation and district indicators. Vector tiles are in
//! [`crate::tiles`].

pub mod analysis;
pub mod frame;
pub mod generalise;
pub mod geodesy;
pub mod grid;
pub mod overlay;
