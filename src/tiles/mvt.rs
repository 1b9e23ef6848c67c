//! Mapbox Vector Tile assembly for the layers encoded in Rust (`sectors`,
//! `fibre_presence`): tagging features, building a layer, encoding a tile.
//! Layers encoded by PostGIS (`ST_AsMVT`) arrive as bytes.

use geozero::mvt::{Message, TagsBuilder, Tile, TileValue, tile};

use super::grid::EXTENT;

/// Adds `props` to `feature`, interning keys and values in `tags`.
pub(super) fn tag<const N: usize>(
    tags: &mut TagsBuilder,
    feature: &mut tile::Feature,
    props: [(&str, TileValue); N],
) {
    for (k, v) in props {
        let (ki, vi) = tags.insert_ref(k, v);
        feature.tags.extend([ki, vi]);
    }
}

/// An MVT layer of `features` with the interned `tags` (`None` when empty).
pub(super) fn layer(
    name: &str,
    features: Vec<tile::Feature>,
    tags: TagsBuilder,
) -> Option<tile::Layer> {
    if features.is_empty() {
        return None;
    }
    let (keys, values) = tags.into_tags();
    Some(tile::Layer {
        version: 2,
        name: name.into(),
        features,
        keys,
        values: values.into_iter().map(Into::into).collect(),
        extent: Some(EXTENT),
    })
}

/// Encodes layers as one Mapbox Vector Tile (protobuf bytes).
pub fn encode(layers: Vec<tile::Layer>) -> Vec<u8> {
    Tile { layers }.encode_to_vec()
}
