//! File formats the service reads and writes, independent of any layer:
//! GeoPackage.

pub mod gpkg;
