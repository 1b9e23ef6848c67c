//! The explainable underserved classifier: thresholds as configuration,
//! a class, a score and one explanation line per criterion.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A criterion: the indicator it reads and whether higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Criterion {
    /// Name used in configuration, overrides and explanations.
    pub name: &'static str,
    /// True when the value must be at least the threshold; false for at most.
    pub at_least: bool,
    /// Unit of the value.
    pub unit: &'static str,
}

/// Every criterion, in explanation order.
pub const CRITERIA: &[Criterion] = &[
    Criterion {
        name: "pop_coverage_pct",
        at_least: true,
        unit: "%",
    },
    Criterion {
        name: "area_coverage_pct",
        at_least: true,
        unit: "%",
    },
    Criterion {
        name: "all_operator_pop_pct",
        at_least: true,
        unit: "%",
    },
    Criterion {
        name: "fibre_reach_pop_pct",
        at_least: true,
        unit: "%",
    },
    Criterion {
        name: "data_centre_km",
        at_least: false,
        unit: "km",
    },
];

/// Classifier configuration (see `config/analysis.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// H3 resolution of the analysis grid (7–11).
    pub resolution: u8,
    /// Fibre reach distance, metres.
    pub fibre_reach_m: f64,
    /// Bounds below which (or above, for `at_least = false`) a district is underserved.
    pub underserved: BTreeMap<String, f64>,
    /// Stricter bounds for unserved.
    pub unserved: BTreeMap<String, f64>,
}

/// The shipped `config/analysis.toml`.
pub const DEFAULT_ANALYSIS_TOML: &str = include_str!("../../config/analysis.toml");

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self::from_toml(DEFAULT_ANALYSIS_TOML).expect("the shipped config/analysis.toml is valid")
    }
}

/// A setting of an [`AnalysisConfig`] out of its range, missing or unknown.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingError {
    /// `resolution` outside 7–11.
    #[error("resolution {0} is outside 7–11")]
    Resolution(u8),
    /// `fibre_reach_m` outside (0, 50000].
    #[error("fibre_reach_m must be in (0, 50000]")]
    FibreReach(f64),
    /// A bound for something that is not a criterion.
    #[error(
        "{level}.{name} is not a criterion; criteria are {}",
        criterion_names()
    )]
    UnknownCriterion {
        /// `underserved` or `unserved`.
        level: &'static str,
        /// The name given.
        name: String,
    },
    /// A bound out of range (negative, not finite, or a percentage over 100).
    #[error("{level}.{name} = {value} is out of range")]
    OutOfRange {
        /// `underserved` or `unserved`.
        level: &'static str,
        /// The criterion.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A criterion without its bound.
    #[error("{level}.{name} is missing")]
    Missing {
        /// `underserved` or `unserved`.
        level: &'static str,
        /// The criterion.
        name: &'static str,
    },
}

impl SettingError {
    /// The setting at fault, as configuration files and query parameters
    /// name it: `resolution`, `fibre_reach_m`, `underserved.pop_coverage_pct`…
    pub fn setting(&self) -> String {
        match self {
            SettingError::Resolution(_) => "resolution".into(),
            SettingError::FibreReach(_) => "fibre_reach_m".into(),
            SettingError::UnknownCriterion { level, name } => format!("{level}.{name}"),
            SettingError::OutOfRange { level, name, .. }
            | SettingError::Missing { level, name } => {
                format!("{level}.{name}")
            }
        }
    }
}

fn criterion_names() -> String {
    CRITERIA
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why an analysis configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisConfigError {
    /// The file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not TOML of the expected shape.
    #[error("not a valid analysis configuration")]
    Toml(#[source] toml::de::Error),
    /// A setting is out of range, missing or unknown.
    #[error("invalid analysis setting")]
    Setting(#[source] SettingError),
    /// The file's contents are refused.
    #[error("invalid analysis configuration {}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<AnalysisConfigError>,
    },
}

impl AnalysisConfig {
    /// Parses and checks a TOML configuration.
    ///
    /// # Errors
    /// [`AnalysisConfigError::Toml`] for a syntax error or an unknown or
    /// missing key, [`AnalysisConfigError::Setting`] naming the setting out of
    /// range.
    pub fn from_toml(text: &str) -> Result<Self, AnalysisConfigError> {
        let c: AnalysisConfig = toml::from_str(text).map_err(AnalysisConfigError::Toml)?;
        c.check().map_err(AnalysisConfigError::Setting)?;
        Ok(c)
    }

    /// Reads a configuration file.
    ///
    /// # Errors
    /// When the file cannot be read or is invalid (the error names the file).
    pub fn load(path: &std::path::Path) -> Result<Self, AnalysisConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| AnalysisConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| AnalysisConfigError::File {
            path: path.to_owned(),
            source: Box::new(e),
        })
    }

    /// Checks ranges and that every criterion has both bounds.
    ///
    /// # Errors
    /// The first setting at fault ([`SettingError::setting`] names it).
    pub fn check(&self) -> Result<(), SettingError> {
        if !(7..=11).contains(&self.resolution) {
            return Err(SettingError::Resolution(self.resolution));
        }
        if !(self.fibre_reach_m > 0.0 && self.fibre_reach_m <= 50_000.0) {
            return Err(SettingError::FibreReach(self.fibre_reach_m));
        }
        for (level, map) in [
            ("underserved", &self.underserved),
            ("unserved", &self.unserved),
        ] {
            for k in map.keys() {
                if !CRITERIA.iter().any(|c| c.name == k) {
                    return Err(SettingError::UnknownCriterion {
                        level,
                        name: k.clone(),
                    });
                }
            }
            for c in CRITERIA {
                match map.get(c.name) {
                    Some(v) if v.is_finite() && *v >= 0.0 && (c.unit != "%" || *v <= 100.0) => {}
                    Some(v) => {
                        return Err(SettingError::OutOfRange {
                            level,
                            name: c.name,
                            value: *v,
                        });
                    }
                    None => {
                        return Err(SettingError::Missing {
                            level,
                            name: c.name,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Service class of a district.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceClass {
    /// Passes every underserved bound.
    Served,
    /// Fails an underserved bound, passes every unserved bound.
    Underserved,
    /// Fails an unserved bound.
    Unserved,
}

/// One line of a district's explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Criterion name.
    pub criterion: &'static str,
    /// The district's value (`null` when unknown, e.g. no data centre at all).
    pub value: Option<f64>,
    /// The underserved bound.
    pub threshold: f64,
    /// The unserved bound.
    pub unserved_threshold: f64,
    /// `>=` or `<=`: how value compares with a passing threshold.
    pub comparison: &'static str,
    /// Whether the underserved bound holds.
    pub pass: bool,
    /// Unit of value and thresholds.
    pub unit: &'static str,
}

/// The verdict on one district.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Class.
    pub class: ServiceClass,
    /// 0–100, higher is better served: the mean over criteria of how far the
    /// value reaches its underserved bound (capped at 100 each). Rank
    /// ascending to list the worst first.
    pub score: f64,
    /// Every criterion with its value, thresholds and result.
    pub explanation: Vec<Explanation>,
}

fn holds(c: &Criterion, value: Option<f64>, bound: f64) -> bool {
    match value {
        None => false,
        Some(v) if c.at_least => v >= bound,
        Some(v) => v <= bound,
    }
}

/// Classifies a district from its criterion values (`name → value`).
pub fn classify(config: &AnalysisConfig, values: &BTreeMap<&'static str, Option<f64>>) -> Verdict {
    let mut explanation = Vec::with_capacity(CRITERIA.len());
    let (mut unserved, mut underserved) = (false, false);
    let mut score_sum = 0.0;
    for c in CRITERIA {
        let value = values.get(c.name).copied().flatten();
        let threshold = config.underserved.get(c.name).copied().unwrap_or(0.0);
        let strict = config.unserved.get(c.name).copied().unwrap_or(0.0);
        let pass = holds(c, value, threshold);
        underserved |= !pass;
        unserved |= !holds(c, value, strict);
        score_sum += match value {
            None => 0.0,
            Some(v) if c.at_least => {
                if threshold <= 0.0 {
                    1.0
                } else {
                    (v / threshold).clamp(0.0, 1.0)
                }
            }
            Some(v) => {
                if v <= threshold {
                    1.0
                } else {
                    (threshold / v).clamp(0.0, 1.0)
                }
            }
        };
        explanation.push(Explanation {
            criterion: c.name,
            value,
            threshold,
            unserved_threshold: strict,
            comparison: if c.at_least { ">=" } else { "<=" },
            pass,
            unit: c.unit,
        });
    }
    let class = if unserved {
        ServiceClass::Unserved
    } else if underserved {
        ServiceClass::Underserved
    } else {
        ServiceClass::Served
    };
    let score = (1000.0 * score_sum / CRITERIA.len() as f64).round() / 10.0;
    Verdict {
        class,
        score,
        explanation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(
        pop: f64,
        area: f64,
        all: f64,
        fibre: f64,
        dc: Option<f64>,
    ) -> BTreeMap<&'static str, Option<f64>> {
        BTreeMap::from([
            ("pop_coverage_pct", Some(pop)),
            ("area_coverage_pct", Some(area)),
            ("all_operator_pop_pct", Some(all)),
            ("fibre_reach_pop_pct", Some(fibre)),
            ("data_centre_km", dc),
        ])
    }

    #[test]
    fn a_district_passing_every_bound_is_served_with_a_full_score() {
        let v = classify(
            &AnalysisConfig::default(),
            &values(99.0, 90.0, 80.0, 95.0, Some(3.0)),
        );
        assert_eq!(v.class, ServiceClass::Served);
        assert_eq!(v.score, 100.0);
        assert!(v.explanation.iter().all(|e| e.pass));
    }

    #[test]
    fn failing_one_underserved_bound_explains_which() {
        let v = classify(
            &AnalysisConfig::default(),
            &values(90.0, 90.0, 80.0, 95.0, Some(3.0)),
        );
        assert_eq!(v.class, ServiceClass::Underserved);
        let failing: Vec<&str> = v
            .explanation
            .iter()
            .filter(|e| !e.pass)
            .map(|e| e.criterion)
            .collect();
        assert_eq!(failing, ["pop_coverage_pct"]);
    }

    #[test]
    fn failing_a_strict_bound_is_unserved_and_no_data_centre_fails_its_criterion() {
        let v = classify(
            &AnalysisConfig::default(),
            &values(50.0, 90.0, 80.0, 95.0, Some(3.0)),
        );
        assert_eq!(v.class, ServiceClass::Unserved);
        let v = classify(
            &AnalysisConfig::default(),
            &values(99.0, 90.0, 80.0, 95.0, None),
        );
        assert_eq!(v.class, ServiceClass::Unserved);
    }

    #[test]
    fn an_unknown_criterion_in_the_configuration_is_refused() {
        let text = DEFAULT_ANALYSIS_TOML.replace("[unserved]", "[unserved]\nspeed_mbps = 25.0");
        let e = AnalysisConfig::from_toml(&text).unwrap_err();
        let AnalysisConfigError::Setting(setting) = &e else {
            panic!("not a setting error: {e:?}");
        };
        assert_eq!(setting.setting(), "unserved.speed_mbps");
        assert!(setting.to_string().contains("speed_mbps"), "{setting}");
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
    }

    #[test]
    fn a_file_error_names_the_file_and_keeps_its_cause() {
        let e =
            AnalysisConfig::load(std::path::Path::new("/nonexistent/analysis.toml")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/analysis.toml"), "{e}");
        assert!(matches!(e, AnalysisConfigError::Read { .. }));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("analysis.toml");
        std::fs::write(
            &path,
            DEFAULT_ANALYSIS_TOML.replace("resolution = ", "resolution = 1"),
        )
        .unwrap();
        let e = AnalysisConfig::load(&path).unwrap_err();
        let mut chain = vec![e.to_string()];
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            chain.push(c.to_string());
            cause = c.source();
        }
        assert!(chain[0].contains("analysis.toml"), "{chain:?}");
        assert!(chain.len() >= 2, "{chain:?}");
    }
}
