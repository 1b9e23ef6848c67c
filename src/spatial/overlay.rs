//! Polygon overlay that cannot take a request down.
//!
//! geo's boolean operations (i_overlay 4.5) panicked with an index out of
//! bounds on the unions of terrain footprints; the tile clips that still
//! use an overlay go through [`clip`], which answers the unclipped polygons
//! instead of panicking (a vector tile may carry geometry beyond its
//! buffer; the client clips it).

use std::panic::{AssertUnwindSafe, catch_unwind};

use geo::{BooleanOps, MultiPolygon};

/// `subject ∩ clip_by`, or `subject` itself when the overlay panics (the
/// panic is logged once per occurrence by the panic hook).
pub fn clip<B: BooleanOps<Scalar = f64>>(
    subject: &MultiPolygon<f64>,
    clip_by: &B,
) -> MultiPolygon<f64> {
    catch_unwind(AssertUnwindSafe(|| subject.intersection(clip_by))).unwrap_or_else(|_| {
        tracing::warn!("polygon overlay failed (i_overlay); the polygons are served unclipped");
        subject.clone()
    })
}

#[cfg(test)]
mod tests {
    use geo::{Area, Rect, coord};

    #[test]
    fn a_clip_keeps_what_lies_inside() {
        let square = Rect::new(coord! { x: 0.0, y: 0.0 }, coord! { x: 4.0, y: 4.0 }).to_polygon();
        let half = Rect::new(coord! { x: 2.0, y: -1.0 }, coord! { x: 9.0, y: 9.0 }).to_polygon();
        let out = super::clip(&geo::MultiPolygon::new(vec![square]), &half);
        assert!((out.unsigned_area() - 8.0).abs() < 1e-9);
    }
}
