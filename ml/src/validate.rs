//! Validation of a new dataset version against an earlier one, in the manner of TensorFlow Data
//! Validation: schema changes, missing-rate jumps, new categories, values out of the earlier range
//! and a distribution distance per column.

use serde::{Deserialize, Serialize};

use crate::drift::{js_divergence, l_infinity};
use crate::profile::{ColumnProfile, ColumnType, TOP_K};

/// Distances at or above this are reported as drift (Vertex AI's default alert threshold).
pub const DRIFT_THRESHOLD: f64 = 0.3;
/// A rise of the missing fraction by this much (absolute) is reported.
pub const MISSING_RATE_JUMP: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub column: String,
    /// `missing_column`, `new_column`, `type_change`, `missing_rate`, `new_values`,
    /// `out_of_range`, `distribution`.
    pub kind: String,
    pub severity: Severity,
    pub message: String,
}

/// The distance between a column's distributions in two versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDistance {
    pub column: String,
    /// `jensen_shannon` (numbers) or `l_infinity` (categories).
    pub measure: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub anomalies: Vec<Anomaly>,
    pub distances: Vec<ColumnDistance>,
}

fn missing_rate(c: &ColumnProfile) -> f64 {
    let n = c.count + c.missing;
    if n == 0 { 0.0 } else { c.missing as f64 / n as f64 }
}

fn frequencies(c: &ColumnProfile) -> Vec<(String, f64)> {
    let n = c.count.max(1) as f64;
    c.top.iter().map(|(v, k)| (v.clone(), *k as f64 / n)).collect()
}

/// Compares `current` with `previous`. Numeric drift needs `current`'s reference counts on the
/// previous bins (see `HistogramPass::add_reference`).
pub fn compare(previous: &[ColumnProfile], current: &[ColumnProfile]) -> Comparison {
    let mut anomalies = Vec::new();
    let mut distances = Vec::new();
    let mut push = |column: &str, kind: &str, severity: Severity, message: String| {
        anomalies.push(Anomaly { column: column.to_string(), kind: kind.to_string(), severity, message });
    };
    for p in previous {
        if !current.iter().any(|c| c.name == p.name) {
            push(&p.name, "missing_column", Severity::Error, format!("column '{}' is missing", p.name));
        }
    }
    for c in current {
        let Some(p) = previous.iter().find(|p| p.name == c.name) else {
            push(&c.name, "new_column", Severity::Warning, format!("new column '{}' ({})", c.name, c.column_type.as_str()));
            continue;
        };
        if p.column_type != c.column_type {
            push(&c.name, "type_change", Severity::Error,
                format!("type changed from {} to {}", p.column_type.as_str(), c.column_type.as_str()));
            continue;
        }
        let (mp, mc) = (missing_rate(p), missing_rate(c));
        if mc - mp >= MISSING_RATE_JUMP {
            push(&c.name, "missing_rate", Severity::Warning,
                format!("missing values rose from {:.1}% to {:.1}%", mp * 100.0, mc * 100.0));
        }
        if c.column_type.is_numeric() {
            if let (Some(pmin), Some(pmax), Some(cmin), Some(cmax)) = (p.min, p.max, c.min, c.max) {
                if cmin < pmin || cmax > pmax {
                    let outside = c.reference.as_ref().map(|r| r.below + r.above);
                    let share = outside.map(|o| format!(" ({:.1}% of values)", 100.0 * o as f64 / c.count.max(1) as f64)).unwrap_or_default();
                    push(&c.name, "out_of_range", Severity::Warning,
                        format!("values outside the previous range [{pmin}, {pmax}]: now [{cmin}, {cmax}]{share}"));
                }
            }
            if let (Some(ph), Some(r)) = (&p.histogram, &c.reference) {
                if ph.edges == r.edges {
                    // The previous version's bins plus an underflow and an overflow bin.
                    let mut a: Vec<f64> = vec![0.0];
                    a.extend(ph.counts.iter().map(|&x| x as f64));
                    a.push(0.0);
                    let mut b: Vec<f64> = vec![r.below as f64];
                    b.extend(r.counts.iter().map(|&x| x as f64));
                    b.push(r.above as f64);
                    let d = js_divergence(&a, &b);
                    distances.push(ColumnDistance { column: c.name.clone(), measure: "jensen_shannon".into(), value: d });
                    if d >= DRIFT_THRESHOLD {
                        push(&c.name, "distribution", Severity::Warning,
                            format!("distribution changed: Jensen-Shannon divergence {d:.3} ≥ {DRIFT_THRESHOLD}"));
                    }
                }
            }
        } else if matches!(c.column_type, ColumnType::String | ColumnType::Boolean) {
            let complete = p.distinct_exact && (p.distinct as usize) <= TOP_K;
            if complete {
                let new: Vec<&str> = c.top.iter().map(|(v, _)| v.as_str()).filter(|v| !p.top.iter().any(|(w, _)| w == v)).collect();
                if !new.is_empty() {
                    push(&c.name, "new_values", Severity::Warning, format!("new values: {}", new.join(", ")));
                }
            }
            let d = l_infinity(&frequencies(p), &frequencies(c));
            distances.push(ColumnDistance { column: c.name.clone(), measure: "l_infinity".into(), value: d });
            if d >= DRIFT_THRESHOLD {
                push(&c.name, "distribution", Severity::Warning,
                    format!("category frequencies changed: L-infinity distance {d:.3} ≥ {DRIFT_THRESHOLD}"));
            }
        }
    }
    anomalies.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.column.cmp(&b.column)));
    Comparison { anomalies, distances }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Profile, Profiler};

    fn profile(header: &str, rows: &[&str], reference: Option<&Profile>) -> Profile {
        let names: Vec<String> = header.split(',').map(String::from).collect();
        let mut p = Profiler::new(names);
        for r in rows {
            p.push(r.split(','));
        }
        let mut pass = p.finish();
        if let Some(prev) = reference {
            for c in &prev.columns {
                if let Some(h) = &c.histogram {
                    pass.add_reference(&c.name, &h.edges);
                }
            }
        }
        for r in rows {
            pass.push(r.split(','));
        }
        pass.finish()
    }

    #[test]
    fn identical_versions_have_no_anomalies() {
        let rows: Vec<String> = (0..100).map(|i| format!("{},{}", i % 37, ["a", "b", "c"][i % 3])).collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let v1 = profile("x,cat", &rows, None);
        let v2 = profile("x,cat", &rows, Some(&v1));
        let cmp = compare(&v1.columns, &v2.columns);
        assert!(cmp.anomalies.is_empty(), "{:?}", cmp.anomalies);
        assert_eq!(cmp.distances.len(), 2);
        assert!(cmp.distances.iter().all(|d| d.value.abs() < 1e-12));
    }

    #[test]
    fn finds_schema_range_category_missing_and_drift_changes() {
        let old: Vec<String> = (0..200).map(|i| format!("{},{},{},{}", i % 50, ["a", "b"][i % 2], i, "k")).collect();
        let new: Vec<String> = (0..200)
            .map(|i| format!("{},{},{},{}", 40 + i % 50, ["a", "b", "z"][i % 3], if i % 4 == 0 { "".into() } else { i.to_string() }, 1.5))
            .collect();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        let new: Vec<&str> = new.iter().map(String::as_str).collect();
        let v1 = profile("x,cat,id,kind", &old, None);
        let v2 = profile("x,cat,id,extra", &new, Some(&v1));
        let cmp = compare(&v1.columns, &v2.columns);
        let kinds: Vec<(&str, &str)> = cmp.anomalies.iter().map(|a| (a.column.as_str(), a.kind.as_str())).collect();
        assert!(kinds.contains(&("kind", "missing_column")), "{kinds:?}");
        assert!(kinds.contains(&("extra", "new_column")));
        assert!(kinds.contains(&("x", "out_of_range")));
        assert!(kinds.contains(&("x", "distribution")));
        assert!(kinds.contains(&("cat", "new_values")));
        assert!(kinds.contains(&("cat", "distribution")));
        assert!(kinds.contains(&("id", "missing_rate")));
        assert_eq!(cmp.anomalies[0].severity, Severity::Error, "errors first");
        let x = cmp.distances.iter().find(|d| d.column == "x").unwrap();
        assert!(x.value > DRIFT_THRESHOLD);
        let msg = &cmp.anomalies.iter().find(|a| a.kind == "out_of_range").unwrap().message;
        assert!(msg.contains("80.0% of values") || msg.contains("% of values"), "{msg}");
    }
}
