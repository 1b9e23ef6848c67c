//! The underserved-districts report: indicators from the coverage index and
//! the database, classified by the configured (or overridden) thresholds.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use sqlx::PgPool;

use crate::coverage::index::CoverageIndex;
use crate::db::{self, DbError};
use crate::domain::classify::{AnalysisConfig, Verdict, classify};
use crate::domain::tower::Technology;
use crate::spatial::analysis::{
    AnalysisParams, CoverageIndicators, PopulationModel, coverage_indicators,
};

/// The city plan's target of shared sites by 2025 (Resolution 07-NQ/TU).
pub const SHARED_SITES_TARGET_2025: i64 = 400;

/// Every indicator of a district (units in the names).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicators {
    /// Technology measured.
    pub technology: &'static str,
    /// Resident population.
    pub population: i64,
    /// Geodesic area, km².
    pub area_km2: f64,
    /// Coverage and fibre indicators.
    #[serde(flatten)]
    pub coverage: CoverageIndicators,
    /// Operational towers.
    pub towers: i64,
    /// Towers per km².
    pub towers_per_km2: f64,
    /// Towers per 10,000 residents.
    pub towers_per_10k_people: f64,
    /// Share of towers with tenants, %.
    pub shared_tower_pct: f64,
    /// Share of compact or camouflaged towers, %.
    pub compact_tower_pct: f64,
    /// Bulky (type 1) masts.
    pub type1_towers: i64,
    /// Operational underground fibre inside the district, km.
    pub fibre_underground_km: f64,
    /// Operational aerial fibre inside the district, km.
    pub fibre_aerial_km: f64,
    /// Operational submarine fibre inside the district, km.
    pub fibre_submarine_km: f64,
}

/// One district's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DistrictReport {
    /// District code.
    pub code: String,
    /// Name (Vietnamese, with diacritics).
    pub name: String,
    /// 1 = worst score.
    pub rank: usize,
    /// Indicators.
    pub indicators: Indicators,
    /// Class, score and explanation.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// Errors of the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Database failure.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A district could not be tiled.
    #[error("district {code} cannot be covered with H3 cells")]
    Grid {
        /// District code.
        code: String,
        /// Why.
        #[source]
        source: crate::spatial::grid::GridError,
    },
    /// The computation failed on the CPU pool.
    #[error(transparent)]
    Cpu(#[from] crate::cpu::CpuError),
    /// The request ended before the report was built.
    #[error(transparent)]
    Cancelled(#[from] crate::cpu::Cancelled),
}

fn round(v: f64, d: i32) -> f64 {
    let f = 10f64.powi(d);
    (v * f).round() / f
}

/// Builds the report of every district for `technology`, ranked worst first.
/// The district statistics come from the database; the coverage indicators
/// (an H3 grid of every district) are computed on the CPU pool
/// ([`crate::cpu`]), which stops between districts when the request ends.
///
/// # Errors
/// On database failure or an untileable district.
pub async fn districts<P: PopulationModel + Clone + 'static>(
    pool: &PgPool,
    index: &Arc<CoverageIndex>,
    config: &AnalysisConfig,
    technology: Technology,
    pop_model: &P,
) -> Result<Vec<DistrictReport>, ReportError> {
    let stats = db::analysis::tower_stats(pool).await?;
    let (index, config, pop_model) = (index.clone(), config.clone(), pop_model.clone());
    crate::cpu::run(move |cancel| {
        build_reports(&index, &config, technology, &pop_model, stats, cancel)
    })
    .await?
}

/// [`districts`], answered from the read model's answer cache when the
/// same report was computed from the same data (layer versions and coverage
/// index version) and parameters.
///
/// # Errors
/// As [`districts`].
pub async fn districts_cached<P: PopulationModel + Clone + 'static>(
    pool: &PgPool,
    coverage: &crate::coverage::listener::CoverageState,
    config: &AnalysisConfig,
    technology: Technology,
    pop_model: &P,
) -> Result<Arc<Vec<DistrictReport>>, ReportError> {
    use super::read_model::{Answer, ReadModel};
    let index = coverage.snapshot();
    let Some(model) = ReadModel::of(coverage) else {
        return Ok(Arc::new(
            districts(pool, &index, config, technology, pop_model).await?,
        ));
    };
    let versions = model.versions(pool).await?;
    let key = format!(
        "districts|{versions:?}|{}|{config:?}|{}|{}",
        index.version,
        technology.as_str(),
        std::any::type_name::<P>()
    );
    if let Some(Answer::Reports(r)) = model.answers().get(&key) {
        return Ok(r);
    }
    let reports = Arc::new(districts(pool, &index, config, technology, pop_model).await?);
    model
        .answers()
        .insert(key, Answer::Reports(reports.clone()));
    Ok(reports)
}

fn build_reports(
    index: &CoverageIndex,
    config: &AnalysisConfig,
    technology: Technology,
    pop_model: &dyn PopulationModel,
    stats: Vec<db::analysis::TowerStats>,
    cancel: &crate::cpu::Cancel,
) -> Result<Vec<DistrictReport>, ReportError> {
    let params = AnalysisParams {
        technology,
        resolution: config.resolution,
        fibre_reach_m: config.fibre_reach_m,
    };
    let mut reports = Vec::with_capacity(stats.len());
    for s in stats {
        cancel.check()?;
        let Some(area) = index.areas.iter().find(|a| a.code == s.code) else {
            continue;
        };
        let cov = coverage_indicators(index, area, s.population as f64, &params, pop_model)
            .map_err(|source| ReportError::Grid {
                code: s.code.clone(),
                source,
            })?;
        let pct = |part: i64, whole: i64| {
            if whole > 0 {
                round(100.0 * part as f64 / whole as f64, 2)
            } else {
                0.0
            }
        };
        let values: BTreeMap<&'static str, Option<f64>> = BTreeMap::from([
            ("pop_coverage_pct", Some(cov.pop_coverage_any_pct)),
            ("area_coverage_pct", Some(cov.area_coverage_any_pct)),
            ("all_operator_pop_pct", Some(cov.pop_coverage_all_pct)),
            ("fibre_reach_pop_pct", Some(cov.fibre_reach_pop_pct)),
            ("data_centre_km", cov.nearest_data_centre_km),
        ]);
        let verdict = classify(config, &values);
        reports.push(DistrictReport {
            indicators: Indicators {
                technology: technology.as_str(),
                population: s.population,
                area_km2: round(s.area_km2, 3),
                towers: s.towers,
                towers_per_km2: if s.area_km2 > 0.0 {
                    round(s.towers as f64 / s.area_km2, 3)
                } else {
                    0.0
                },
                towers_per_10k_people: if s.population > 0 {
                    round(s.towers as f64 * 10_000.0 / s.population as f64, 3)
                } else {
                    0.0
                },
                shared_tower_pct: pct(s.shared_towers, s.towers),
                compact_tower_pct: pct(s.compact_towers, s.towers),
                type1_towers: s.type1_towers,
                fibre_underground_km: round(s.underground_km, 3),
                fibre_aerial_km: round(s.aerial_km, 3),
                fibre_submarine_km: round(s.submarine_km, 3),
                coverage: cov,
            },
            code: s.code,
            name: s.name,
            rank: 0,
            verdict,
        });
    }
    reports.sort_by(|a, b| {
        a.verdict
            .score
            .total_cmp(&b.verdict.score)
            .then_with(|| a.code.cmp(&b.code))
    });
    for (i, r) in reports.iter_mut().enumerate() {
        r.rank = i + 1;
    }
    Ok(reports)
}

/// City totals and the plan's indicators.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Technology of the coverage figures.
    pub technology: &'static str,
    /// Residents of all districts.
    pub population: i64,
    /// Area of all districts, km².
    pub area_km2: f64,
    /// Population covered by at least one operator, % (population-weighted).
    pub pop_coverage_pct: f64,
    /// Area covered by at least one operator, %.
    pub area_coverage_pct: f64,
    /// Districts per class.
    pub districts: BTreeMap<String, usize>,
    /// Operational towers.
    pub towers: i64,
    /// Shared sites (operational towers with tenants).
    pub shared_sites: i64,
    /// The plan's target of shared sites by 2025.
    pub shared_sites_target_2025: i64,
    /// Shared sites as a share of the target, %.
    pub shared_sites_target_pct: f64,
    /// Bulky (type 1) masts.
    pub type1_masts: i64,
    /// Compact or camouflaged (type 2) masts.
    pub type2_masts: i64,
    /// Operational underground fibre, km.
    pub fibre_underground_km: f64,
    /// Operational aerial fibre, km.
    pub fibre_aerial_km: f64,
    /// Underground share of land fibre, %.
    pub fibre_underground_pct: f64,
    /// Operational submarine fibre, km.
    pub fibre_submarine_km: f64,
    /// Operational data centres.
    pub data_centres: i64,
    /// The shared duct network: km of banks, fill, banks over the limit,
    /// aerial fibre near room (`room_mm`: the smallest cable that counts).
    pub ducts: crate::db::analysis::DuctIndicators,
}

/// Summarises a district report and the city totals.
///
/// # Errors
/// On database failure.
pub async fn summary(
    pool: &PgPool,
    technology: Technology,
    reports: &[DistrictReport],
    policy: &crate::domain::duct::CapacityPolicy,
) -> Result<Summary, ReportError> {
    let t = db::analysis::city_totals(pool).await?;
    let mut ducts = db::analysis::duct_indicators(
        pool,
        (policy.one_cable, policy.two_cables, policy.three_or_more),
        super::ducts::LOW_FROM_MM,
    )
    .await?;
    ducts.bank_km = round(ducts.bank_km, 3);
    ducts.average_fill = round(ducts.average_fill, 4);
    ducts.max_fill = round(ducts.max_fill, 4);
    ducts.aerial_km_near_room = round(ducts.aerial_km_near_room, 3);
    let population: i64 = reports.iter().map(|r| r.indicators.population).sum();
    let area: f64 = reports.iter().map(|r| r.indicators.area_km2).sum();
    let weighted = |f: fn(&DistrictReport) -> f64, w: fn(&DistrictReport) -> f64| {
        let total: f64 = reports.iter().map(w).sum();
        if total > 0.0 {
            round(reports.iter().map(|r| f(r) * w(r)).sum::<f64>() / total, 3)
        } else {
            0.0
        }
    };
    let mut districts = BTreeMap::new();
    for r in reports {
        let class = serde_json::to_value(r.verdict.class)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *districts.entry(class).or_insert(0) += 1;
    }
    let land = t.fibre_underground_km + t.fibre_aerial_km;
    Ok(Summary {
        technology: technology.as_str(),
        population,
        area_km2: round(area, 3),
        pop_coverage_pct: weighted(
            |r| r.indicators.coverage.pop_coverage_any_pct,
            |r| r.indicators.population as f64,
        ),
        area_coverage_pct: weighted(
            |r| r.indicators.coverage.area_coverage_any_pct,
            |r| r.indicators.area_km2,
        ),
        districts,
        towers: t.towers,
        shared_sites: t.shared_sites,
        shared_sites_target_2025: SHARED_SITES_TARGET_2025,
        shared_sites_target_pct: round(
            100.0 * t.shared_sites as f64 / SHARED_SITES_TARGET_2025 as f64,
            1,
        ),
        type1_masts: t.type1_masts,
        type2_masts: t.type2_masts,
        fibre_underground_km: round(t.fibre_underground_km, 3),
        fibre_aerial_km: round(t.fibre_aerial_km, 3),
        fibre_underground_pct: if land > 0.0 {
            round(100.0 * t.fibre_underground_km / land, 2)
        } else {
            0.0
        },
        fibre_submarine_km: round(t.fibre_submarine_km, 3),
        data_centres: t.data_centres,
        ducts,
    })
}

/// CSV header and rows (one per district, ranked).
pub fn to_csv(reports: &[DistrictReport]) -> Result<String, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "rank",
        "code",
        "name",
        "class",
        "score",
        "technology",
        "population",
        "area_km2",
        "pop_coverage_any_pct",
        "pop_coverage_all_pct",
        "area_coverage_any_pct",
        "area_coverage_all_pct",
        "not_spot_area_pct",
        "fibre_reach_pop_pct",
        "fibre_reach_area_pct",
        "fibre_underground_km",
        "fibre_aerial_km",
        "nearest_data_centre_km",
        "towers",
        "towers_per_km2",
        "towers_per_10k_people",
        "shared_tower_pct",
        "compact_tower_pct",
        "failed_criteria",
        "coverage_model",
        "dem_area_pct",
    ])?;
    for r in reports {
        let i = &r.indicators;
        let c = &i.coverage;
        let failed: Vec<&str> = r
            .verdict
            .explanation
            .iter()
            .filter(|e| !e.pass)
            .map(|e| e.criterion)
            .collect();
        let class = serde_json::to_value(r.verdict.class)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        w.write_record([
            r.rank.to_string(),
            r.code.clone(),
            r.name.clone(),
            class,
            r.verdict.score.to_string(),
            i.technology.to_owned(),
            i.population.to_string(),
            i.area_km2.to_string(),
            c.pop_coverage_any_pct.to_string(),
            c.pop_coverage_all_pct.to_string(),
            c.area_coverage_any_pct.to_string(),
            c.area_coverage_all_pct.to_string(),
            c.not_spot_area_pct.to_string(),
            c.fibre_reach_pop_pct.to_string(),
            c.fibre_reach_area_pct.to_string(),
            i.fibre_underground_km.to_string(),
            i.fibre_aerial_km.to_string(),
            c.nearest_data_centre_km
                .map(|v| v.to_string())
                .unwrap_or_default(),
            i.towers.to_string(),
            i.towers_per_km2.to_string(),
            i.towers_per_10k_people.to_string(),
            i.shared_tower_pct.to_string(),
            i.compact_tower_pct.to_string(),
            failed.join(" "),
            c.coverage_model.to_owned(),
            c.dem_area_pct.to_string(),
        ])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8(bytes).unwrap_or_default())
}
