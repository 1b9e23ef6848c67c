//! Spatial computation in memory: geodesy, the local metric frame, H3 grids,
//! fibre generalisation, district indicators and routes through shared
//! ducts ([`duct_route`]). Vector tiles are in
//! [`crate::tiles`].

pub mod analysis;
pub mod duct_route;
pub mod frame;
pub mod generalise;
pub mod geodesy;
pub mod grid;
pub mod overlay;
