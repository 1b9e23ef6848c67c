//! Well-known text (WKT) read within a [`GeometryBudget`]. The `wkt` crate
//! (through geozero) parses by recursive descent, one stack frame per
//! parenthesis, and allocates every position it reads: a linear pre-scan
//! first measures the deepest parenthesis nesting and counts the positions,
//! and only text within the budget is handed to the parser.

use super::{GeometryBudget, GeometryReadError};

/// What the pre-scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scan {
    depth: usize,
    positions: usize,
}

/// Words that open a geometry or mark its dimension or emptiness (any other
/// token right after `(` or `,` starts a position).
fn is_keyword(word: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "POINT",
        "LINESTRING",
        "POLYGON",
        "MULTIPOINT",
        "MULTILINESTRING",
        "MULTIPOLYGON",
        "GEOMETRYCOLLECTION",
        "EMPTY",
        "Z",
        "M",
        "ZM",
    ];
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// One pass over the bytes: the deepest parenthesis nesting, and the
/// positions (a token after `(` or `,` that is neither a keyword nor `(`).
/// Stops as soon as the depth is over `max_depth`.
fn scan(text: &str, max_depth: usize) -> Result<Scan, GeometryReadError> {
    let bytes = text.as_bytes();
    let (mut depth, mut deepest, mut positions) = (0usize, 0usize, 0usize);
    let mut i = 0;
    let mut after_open = false;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                if depth > max_depth {
                    return Err(GeometryReadError::Depth { limit: max_depth });
                }
                after_open = true;
                i += 1;
            }
            b')' => {
                depth = depth.saturating_sub(1);
                after_open = false;
                i += 1;
            }
            b',' => {
                after_open = true;
                i += 1;
            }
            b if b.is_ascii_whitespace() => i += 1,
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b'(' | b')' | b',')
                    && !bytes[i].is_ascii_whitespace()
                {
                    i += 1;
                }
                if after_open && !is_keyword(&text[start..i]) {
                    positions += 1;
                }
                after_open = false;
            }
        }
    }
    Ok(Scan {
        depth: deepest,
        positions,
    })
}

/// Parses WKT text into a geometry (lon/lat order: x is the longitude).
///
/// # Errors
/// [`GeometryReadError::Depth`] or [`GeometryReadError::Positions`] when the
/// text is over `budget` (nothing is parsed then), else
/// [`GeometryReadError::Invalid`] with the parser's message.
pub fn read(text: &str, budget: GeometryBudget) -> Result<geo::Geometry<f64>, GeometryReadError> {
    use geozero::ToGeo;
    let found = scan(text, budget.max_depth)?;
    if found.positions > budget.max_positions {
        return Err(GeometryReadError::Positions {
            found: found.positions,
            limit: budget.max_positions,
        });
    }
    let g = geozero::wkt::Wkt(text)
        .to_geo()
        .map_err(|e| GeometryReadError::Invalid(format!("is not valid WKT: {e}")))?;
    // The decoder closes open polygon rings, one position each beyond what
    // the scan counted: hold the budget on what was built.
    let built = geo::CoordsIter::coords_count(&g);
    if built > budget.max_positions {
        return Err(GeometryReadError::Positions {
            found: built,
            limit: budget.max_positions,
        });
    }
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: GeometryBudget = GeometryBudget {
        max_depth: 8,
        max_positions: 5,
    };

    #[test]
    fn positions_and_depth_are_counted_in_one_pass() {
        let s = |t| scan(t, 8).unwrap();
        assert_eq!(
            s("POINT (108.2 16.05)"),
            Scan {
                depth: 1,
                positions: 1
            }
        );
        assert_eq!(
            s("POINT EMPTY"),
            Scan {
                depth: 0,
                positions: 0
            }
        );
        assert_eq!(
            s("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)), ((5 5,6 5,6 6,5 5)))"),
            Scan {
                depth: 3,
                positions: 8
            }
        );
        assert_eq!(
            s("GEOMETRYCOLLECTION(POINT Z(1 2 3),LINESTRING EMPTY,LINESTRING(nan inf,1 2))"),
            Scan {
                depth: 2,
                positions: 3
            }
        );
    }

    #[test]
    fn text_within_the_budget_parses_and_the_rest_is_refused_unparsed() {
        assert_eq!(
            read("LINESTRING (108.1 16.0, 108.2 16.1)", BUDGET).unwrap(),
            geo::Geometry::LineString(geo::LineString::from(vec![(108.1, 16.0), (108.2, 16.1)]))
        );
        assert_eq!(
            read("LINESTRING (0 0, 1 1, 2 2, 3 3, 4 4, 5 5)", BUDGET),
            Err(GeometryReadError::Positions { found: 6, limit: 5 })
        );
        let deep = format!(
            "{}POINT(1 2){}",
            "GEOMETRYCOLLECTION(".repeat(300_000),
            ")".repeat(300_000)
        );
        assert_eq!(
            read(&deep, BUDGET),
            Err(GeometryReadError::Depth { limit: 8 })
        );
        assert!(matches!(
            read("LINESTRING (0 0, 1", BUDGET),
            Err(GeometryReadError::Invalid(_))
        ));
    }
}
