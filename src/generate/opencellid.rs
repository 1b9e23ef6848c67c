//! A deterministic OpenCelliD-style cell file for benchmarks and tests:
//! synthetic sites of the three Vietnamese mobile operators around Đà Nẵng,
//! each with 1–6 cells a few metres apart (lon/lat in decimal degrees).

use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The OpenCelliD header.
pub const HEADER: &str =
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal";

/// Lon/lat box the sites are drawn from `[west, south, east, north]`: the
/// city's core.
pub const EXTENT: [f64; 4] = crate::domain::region::CITY_CORE_BBOX;

/// Writes `rows` cell rows (plus the header) drawn from `seed` to `out`.
///
/// # Errors
/// When writing fails.
pub fn write(rows: u64, seed: u64, mut out: impl Write) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    writeln!(out, "{HEADER}")?;
    let nets = [1u16, 2, 4];
    let mut next_cell = [100_000u64; 3];
    let mut written = 0u64;
    let mut site = 0u64;
    while written < rows {
        let op = rng.gen_range(0..nets.len());
        let lon = rng.gen_range(EXTENT[0]..EXTENT[2]);
        let lat = rng.gen_range(EXTENT[1]..EXTENT[3]);
        let cells = rng.gen_range(1..=6u64).min(rows - written);
        let area = 10_000 + site / 40;
        for _ in 0..cells {
            let radio = match rng.gen_range(0..10) {
                0 | 1 => "GSM",
                2 | 3 => "UMTS",
                4..=8 => "LTE",
                _ => "NR",
            };
            let cell = next_cell[op];
            next_cell[op] += 1;
            // Cells of a site lie within about 15 m of one another.
            let jlon = rng.gen_range(-0.0001..0.0001);
            let jlat = rng.gen_range(-0.0001..0.0001);
            let range = if rng.gen_bool(0.2) {
                0
            } else {
                rng.gen_range(100..6000)
            };
            let samples = rng.gen_range(1..300);
            let created = 1_500_000_000 + rng.gen_range(0..200_000_000u64);
            writeln!(
                out,
                "{radio},452,{:02},{area},{cell},0,{:.6},{:.6},{range},{samples},1,{created},{},0",
                nets[op],
                lon + jlon,
                lat + jlat,
                created + 86_400
            )?;
        }
        written += cells;
        site += 1;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_seed_writes_the_same_file_with_the_asked_rows() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        super::write(500, 3, &mut a).unwrap();
        super::write(500, 3, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(String::from_utf8(a).unwrap().lines().count(), 501);
    }
}
