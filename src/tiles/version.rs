//! Tile versions and their ETags, formatted here and nowhere else.
//!
//! A tile's ETag is its tileset's version: a stored layer's
//! `layer_versions.version` (migration 0003 moves it forward on every
//! committed change) with the crate version (a release may encode tiles
//! differently), or the version of this process's coverage index snapshot.
//! Where a tile depends on who asks (fibre routes), the ETag also names the
//! viewer's [`FibreScope`], so no cache hands one viewer's tile to another.

use std::sync::OnceLock;

use super::FibreScope;

/// What a tile was cut from: its ETag, and `v` of TileJSON tile URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// A stored layer at this `layer_versions.version`, cut for `scope`
    /// ([`FibreScope::All`] for layers that are the same for everyone).
    Stored {
        /// The layer's version.
        layer: i64,
        /// Whom the tile was cut for.
        scope: FibreScope,
    },
    /// A snapshot of this process's coverage index (its `version`).
    Index(u64),
}

impl Version {
    /// A stored layer's version as everyone sees it.
    pub fn stored(layer: i64) -> Self {
        Version::Stored {
            layer,
            scope: FibreScope::All,
        }
    }

    /// The version without quotes: `<layer>-<crate version>[-<scope>]` for
    /// stored layers (scope `op-<operator>` or `public`),
    /// `s<boot id, hex>-<index version>` for the coverage index.
    pub fn token(&self) -> String {
        match self {
            Version::Index(v) => format!("s{:x}-{v}", boot_id()),
            Version::Stored { layer, scope } => {
                let pkg = env!("CARGO_PKG_VERSION");
                match scope {
                    FibreScope::All => format!("{layer}-{pkg}"),
                    FibreScope::Operator(op) => format!("{layer}-{pkg}-op-{op}"),
                    FibreScope::Public => format!("{layer}-{pkg}-public"),
                }
            }
        }
    }

    /// The strong ETag: the [token](Version::token) in double quotes.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.token())
    }

    /// True when the ETag names a viewer (the tile was cut for one scope
    /// of several).
    pub fn names_viewer(&self) -> bool {
        matches!(
            self,
            Version::Stored {
                scope: FibreScope::Operator(_) | FibreScope::Public,
                ..
            }
        )
    }
}

/// A random number fixed for the life of the process: sector tiles come from
/// this process's index, whose versions restart with the process.
fn boot_id() -> u64 {
    static BOOT: OnceLock<u64> = OnceLock::new();
    *BOOT.get_or_init(rand::random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_etags_name_the_layer_version_the_release_and_the_viewer() {
        let pkg = env!("CARGO_PKG_VERSION");
        assert_eq!(Version::stored(7).etag(), format!("\"7-{pkg}\""));
        let mine = Version::Stored {
            layer: 7,
            scope: FibreScope::Operator("vnpt".into()),
        };
        assert_eq!(mine.token(), format!("7-{pkg}-op-vnpt"));
        let public = Version::Stored {
            layer: 7,
            scope: FibreScope::Public,
        };
        assert_eq!(public.token(), format!("7-{pkg}-public"));
        assert!(mine.names_viewer() && public.names_viewer());
        assert!(!Version::stored(7).names_viewer() && !Version::Index(3).names_viewer());
    }

    #[test]
    fn index_etags_change_with_the_snapshot_and_the_process() {
        let t = Version::Index(3).token();
        assert!(t.starts_with('s') && t.ends_with("-3"), "{t}");
        assert_ne!(t, Version::Index(4).token());
    }
}
