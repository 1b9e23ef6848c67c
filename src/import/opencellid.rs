//! OpenCelliD cell exports (`radio,mcc,net,area,cell,unit,lon,lat,range,
//! samples,changeable,created,updated,averageSignal`) into towers: the
//! cells of one operator within [`OpenCellIdOptions::site_radius_m`] of a
//! site's first cell form one site (tower), each cell one sector.
//!
//! OpenCelliD positions are crowd-sourced averages of where handsets saw a
//! cell, often hundreds of metres from the mast, and `range` is the spread
//! of those sightings rather than a designed coverage radius: the report
//! says so in its warnings. Sector azimuth is unknown, so each cell is an
//! omni sector unless configured otherwise.

use std::collections::HashMap;
use std::io::Read;

use serde_json::{Value, json};

use super::read::{Sink, swapped};
use super::{Candidate, Context, Item, Loc, Msg};
use crate::domain::tower::{NewTower, StructureType, Technology, bounds};

/// Grouping and the values OpenCelliD does not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenCellIdOptions {
    /// Cells of one operator closer than this to a site's first cell join
    /// that site, metres.
    pub site_radius_m: f64,
    /// Azimuth given to every sector, degrees clockwise from north.
    pub azimuth_deg: f64,
    /// Beamwidth given to every sector, degrees (360 = omni).
    pub beamwidth_deg: f64,
    /// Height of the tower structure, metres.
    pub tower_height_m: f64,
    /// Antenna height of every sector, metres.
    pub antenna_height_m: f64,
    /// Structure type of every site.
    pub structure_type: StructureType,
}

impl Default for OpenCellIdOptions {
    fn default() -> Self {
        Self {
            site_radius_m: 50.0,
            azimuth_deg: 0.0,
            beamwidth_deg: 360.0,
            tower_height_m: 30.0,
            antenna_height_m: 28.0,
            structure_type: StructureType::Monopole,
        }
    }
}

/// The OpenCelliD `radio` value as a technology; `Err` explains a refusal.
pub fn technology(radio: &str) -> Result<Technology, String> {
    match radio.trim().to_ascii_uppercase().as_str() {
        "GSM" => Ok(Technology::G2),
        "UMTS" => Ok(Technology::G3),
        "LTE" => Ok(Technology::G4),
        "NR" => Ok(Technology::G5),
        "CDMA" => Err("CDMA cells are not supported (no technology of this inventory: 2G GSM, 3G UMTS, 4G LTE, 5G NR)".into()),
        other => Err(format!("unknown radio '{other}': expected GSM, UMTS, LTE or NR")),
    }
}

/// Default carrier frequency (MHz) and EIRP (dBm) of a technology, for
/// sectors whose real values OpenCelliD does not know.
pub fn defaults(t: Technology) -> (f64, f64) {
    match t {
        Technology::G2 => (900.0, 58.0),
        Technology::G3 => (2100.0, 60.0),
        Technology::G4 => (1800.0, 61.0),
        Technology::G5 => (3500.0, 66.0),
    }
}

struct Cell {
    row: u64,
    technology: Technology,
    /// Explicit range, metres (0 = none).
    range_m: f32,
}

struct Site {
    operator: u16,
    lon: f64,
    lat: f64,
    external_id: String,
    cells: Vec<Cell>,
}

/// The columns this reader needs, by header name.
const COLUMNS: [&str; 8] = ["radio", "mcc", "net", "area", "cell", "lon", "lat", "range"];

pub(crate) fn produce(input: impl Read, ctx: &Context, sink: &mut Sink<'_>) {
    let o = &ctx.options.opencellid;
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let fatal = |sink: &mut Sink<'_>, row: Option<u64>, reason: String| {
        sink.flush();
        sink.send(Msg::Fatal(super::Problem {
            row,
            feature: None,
            field: String::new(),
            reason,
        }));
    };
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect(),
        Err(e) => return fatal(sink, None, format!("cannot read the CSV header: {e}")),
    };
    let mut idx = [0usize; 8];
    for (k, name) in COLUMNS.iter().enumerate() {
        match headers.iter().position(|h| h == name) {
            Some(i) => idx[k] = i,
            None => {
                return fatal(
                    sink,
                    None,
                    format!(
                        "the OpenCelliD header lacks the '{name}' column; expected radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
                    ),
                );
            }
        }
    }
    let samples_col = headers.iter().position(|h| h == "samples");
    // Local metric frame (equirectangular at the area's middle latitude).
    let (mx, my) = crate::spatial::geodesy::metres_per_degree((ctx.area[1] + ctx.area[3]) / 2.0);
    let r = o.site_radius_m.max(0.1);
    let mut grid: HashMap<(u16, i64, i64), Vec<u32>> = HashMap::new();
    let mut sites: Vec<Site> = Vec::new();
    let mut cells_seen: HashMap<(u16, u8, u64, u64), u64> = HashMap::new();
    let (mut few_samples, mut ranged, mut unranged, mut over_range) = (0u64, 0u64, 0u64, 0u64);
    let mut record = csv::StringRecord::new();
    let mut row = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return fatal(sink, Some(row + 1), format!("unreadable CSV: {e}")),
        }
        row += 1;
        let loc = Loc::Row(row);
        let get = |k: usize| record.get(idx[k]).unwrap_or("").trim();
        let mut problems = Vec::new();
        let tech = technology(get(0))
            .map_err(|e| problems.push(loc.problem("radio", e)))
            .ok();
        let int = |k: usize, problems: &mut Vec<super::Problem>| {
            get(k)
                .parse::<u64>()
                .map_err(|_| {
                    problems.push(
                        loc.problem(COLUMNS[k], format!("'{}' is not a whole number", get(k))),
                    );
                })
                .ok()
        };
        let (mcc, net, area, cell) = (
            int(1, &mut problems),
            int(2, &mut problems),
            int(3, &mut problems),
            int(4, &mut problems),
        );
        let operator = match (mcc, net) {
            (Some(mcc), Some(net)) => {
                let found = ctx.operators.iter().position(|op| {
                    op.mcc.map(|m| m as u64) == Some(mcc) && op.mnc.map(|m| m as u64) == Some(net)
                });
                match found {
                    None => {
                        problems.push(loc.problem(
                            "net",
                            format!(
                                "no operator has MCC {mcc} MNC {net:02} (GET /operators lists them)"
                            ),
                        ));
                        None
                    }
                    Some(i) => match &ctx.options.operator {
                        Some(want) if *want != ctx.operators[i].id => {
                            problems.push(loc.problem(
                                "net",
                                format!(
                                    "MCC {mcc} MNC {net:02} is '{}', but this file is imported for '{want}'",
                                    ctx.operators[i].id
                                ),
                            ));
                            None
                        }
                        _ => Some(i as u16),
                    },
                }
            }
            _ => None,
        };
        let coord = |k: usize, problems: &mut Vec<super::Problem>| match get(k).parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => {
                problems.push(loc.problem(COLUMNS[k], format!("'{}' is not a number", get(k))));
                None
            }
        };
        let (lon, lat) = (coord(5, &mut problems), coord(6, &mut problems));
        if let (Some(x), Some(y)) = (lon, lat) {
            if !(-180.0..=180.0).contains(&x) {
                problems
                    .push(loc.problem("lon", format!("longitude {x} is out of range −180…180")));
            }
            if !(-90.0..=90.0).contains(&y) {
                problems.push(loc.problem(
                    "lat",
                    format!(
                        "latitude {y} is out of range −90…90; are longitude and latitude swapped?"
                    ),
                ));
            } else if let Some(reason) = swapped(&ctx.area, x, y) {
                problems.push(loc.problem("lon,lat", reason));
            } else if let Err(outside) = ctx
                .region
                .check(&geo::Geometry::Point(geo::Point::new(x, y)), None)
            {
                problems.extend(
                    outside
                        .errors
                        .into_iter()
                        .map(|e| loc.problem("lon,lat", e.detail)),
                );
            }
        }
        let range = get(7);
        let range_m = if range.is_empty() {
            0.0
        } else {
            match range.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => v,
                _ => {
                    problems.push(
                        loc.problem("range", format!("'{range}' is not a distance in metres")),
                    );
                    0.0
                }
            }
        };
        if let (Some(t), Some(op), Some(area), Some(cell)) = (tech, operator, area, cell) {
            let key = (op, t as u8, area, cell);
            if let Some(first) = cells_seen.get(&key) {
                problems.push(loc.problem(
                    "cell",
                    format!(
                        "duplicate cell {} {}-{}-{area}-{cell}: rows {first} and {row} both have it",
                        get(0),
                        get(1),
                        get(2)
                    ),
                ));
            } else {
                cells_seen.insert(key, row);
            }
        }
        if !problems.is_empty() {
            sink.push(Candidate {
                loc,
                rows: 1,
                result: Err(problems),
            });
            continue;
        }
        let (Some(t), Some(op), Some(x), Some(y), Some(area), Some(cell)) =
            (tech, operator, lon, lat, area, cell)
        else {
            continue;
        };
        if samples_col
            .and_then(|i| record.get(i))
            .and_then(|s| s.trim().parse::<u64>().ok())
            .is_some_and(|s| s < 3)
        {
            few_samples += 1;
        }
        let range_m = if range_m > bounds::RANGE_M.1 {
            over_range += 1;
            0.0
        } else if range_m >= bounds::RANGE_M.0 {
            ranged += 1;
            range_m
        } else {
            unranged += 1;
            0.0
        };
        let c = Cell {
            row,
            technology: t,
            range_m: range_m as f32,
        };
        let (px, py) = (x * mx, y * my);
        let (gx, gy) = ((px / r).floor() as i64, (py / r).floor() as i64);
        let mut joined = None;
        'search: for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(list) = grid.get(&(op, gx + dx, gy + dy)) {
                    for &s in list {
                        let site = &sites[s as usize];
                        let (sx, sy) = (site.lon * mx, site.lat * my);
                        if (sx - px).hypot(sy - py) <= r {
                            joined = Some(s as usize);
                            break 'search;
                        }
                    }
                }
            }
        }
        match joined {
            Some(s) => sites[s].cells.push(c),
            None => {
                let o = &ctx.operators[op as usize];
                grid.entry((op, gx, gy))
                    .or_default()
                    .push(sites.len() as u32);
                sites.push(Site {
                    operator: op,
                    lon: x,
                    lat: y,
                    external_id: format!(
                        "OCID-{}-{}-{:02}-{area}-{cell}",
                        get(0).to_ascii_uppercase(),
                        o.mcc.unwrap_or(0),
                        o.mnc.unwrap_or(0)
                    ),
                    cells: vec![c],
                });
            }
        }
    }
    drop(grid);
    drop(cells_seen);
    sink.send(Msg::Warning(format!(
        "OpenCelliD positions are crowd-sourced averages of where handsets saw each cell and are often hundreds of metres from the real mast: {} cells were grouped into {} sites (cells of one operator within {} m of a site's first cell), each placed at its first cell's position",
        ranged + unranged + over_range,
        sites.len(),
        o.site_radius_m
    )));
    sink.send(Msg::Warning(format!(
        "sector azimuth, beamwidth, heights, frequency and EIRP are not in OpenCelliD: every sector gets azimuth {}°, beamwidth {}°, antenna height {} m on a {} m {} and its technology's default frequency and EIRP",
        o.azimuth_deg,
        o.beamwidth_deg,
        o.antenna_height_m,
        o.tower_height_m,
        o.structure_type
    )));
    sink.send(Msg::Warning(format!(
        "OpenCelliD 'range' is the spread of the sightings, not a designed coverage radius: {ranged} sectors store it as an explicit range_m, {unranged} (range 0) use the coverage model"
    )));
    if over_range > 0 {
        sink.send(Msg::Warning(format!(
            "{over_range} cells had a range over {} m, which was ignored (the coverage model decides)",
            bounds::RANGE_M.1
        )));
    }
    if few_samples > 0 {
        sink.send(Msg::Warning(format!(
            "{few_samples} cells were seen in fewer than 3 samples: their positions are especially uncertain"
        )));
    }
    for site in sites {
        let loc = Loc::Row(site.cells[0].row);
        let rows = site.cells.len() as u64;
        let operator = &ctx.operators[site.operator as usize].id;
        let sectors: Vec<Value> = site
            .cells
            .iter()
            .map(|c| {
                let (f, eirp) = defaults(c.technology);
                let mut s = json!({
                    "operator": operator, "technology": c.technology.as_str(), "frequency_mhz": f,
                    "azimuth_deg": o.azimuth_deg, "beamwidth_deg": o.beamwidth_deg, "tilt_deg": 0.0,
                    "height_m": o.antenna_height_m, "eirp_dbm": eirp,
                });
                if c.range_m > 0.0 {
                    s["range_m"] = json!(f64::from(c.range_m).round());
                }
                s
            })
            .collect();
        let props = json!({
            "operator": operator, "site_code": site.external_id, "external_id": site.external_id,
            "structure_type": o.structure_type.as_str(), "height_m": o.tower_height_m,
            "status": "operational", "sectors": sectors,
        });
        let geometry = json!({"type": "Point", "coordinates": [site.lon, site.lat]});
        let result = match props.as_object() {
            Some(p) => NewTower::from_feature(Some(&geometry), p)
                .map(Item::Tower)
                .map_err(|inv| {
                    inv.errors
                        .into_iter()
                        .map(|e| loc.problem(e.pointer, e.detail))
                        .collect()
                }),
            None => continue,
        };
        sink.push(Candidate { loc, rows, result });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radio_names_map_to_technologies_and_cdma_is_refused() {
        assert_eq!(technology("GSM"), Ok(Technology::G2));
        assert_eq!(technology("umts"), Ok(Technology::G3));
        assert_eq!(technology("LTE"), Ok(Technology::G4));
        assert_eq!(technology("NR"), Ok(Technology::G5));
        assert!(technology("CDMA").unwrap_err().contains("CDMA"));
    }

    #[test]
    fn default_frequencies_lie_in_their_technology_bands() {
        for t in Technology::ALL {
            let (f, _) = defaults(*t);
            assert!(t.bands_mhz().iter().any(|(lo, hi)| f >= *lo && f <= *hi));
        }
    }
}
