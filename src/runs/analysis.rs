//! The per-run summary that `report` prints and the TUI's run detail shows:
//! latest values, and the Spearman rank correlation over milestones between
//! each label-free metric and probe accuracy (the central analysis of Xu,
//! Lowe and Trappenberg), over all milestones and leaving out the first 20%.
//!
//! Probe accuracy of a milestone: the `probe_acc` computed on that layer
//! (when labels are present), else the run's `scalars.jsonl` `probe_acc` at
//! that step (the last line with that step), else none.

use crate::metrics::correlation::spearman;
use crate::metrics::LayerMetrics;
use crate::watch::event::ScalarPoint;
use serde::Serialize;

/// The label-free metrics correlated with probe accuracy.
pub const LABEL_FREE: [&str; 4] = ["entropy_bits", "silhouette", "ami_agreement", "rankme"];

/// Fraction of the earliest milestones left out of the "late" correlation.
pub const EARLY_FRACTION: f64 = 0.2;

/// A metric of [`LayerMetrics`] by its JSON name (`None` when null or unknown).
pub fn metric_value(m: &LayerMetrics, name: &str) -> Option<f64> {
    match name {
        "entropy_bits" => m.entropy_bits,
        "silhouette" => m.silhouette,
        "ami_agreement" => m.ami_agreement,
        "ami_labels" => m.ami_labels,
        "probe_acc" => m.probe_acc,
        "knn_acc" => m.knn_acc,
        "rankme" => m.rankme,
        "kmeans_inertia" => m.kmeans_inertia,
        _ => None,
    }
}

/// Where the probe accuracies of a summary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeSource {
    /// Computed on the embeddings with the labels.
    Computed,
    /// The run's `scalars.jsonl`.
    Scalars,
    /// Some milestones one way, some the other.
    Mixed,
    /// No probe accuracy anywhere: no correlations.
    None,
}

/// Spearman correlation of one label-free metric with probe accuracy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    pub metric: &'static str,
    /// Over every milestone where both values exist.
    pub all: Option<f64>,
    pub n_all: usize,
    /// Leaving out the first 20% of milestones (early-training instability).
    pub late: Option<f64>,
    pub n_late: usize,
}

/// The summary of one layer of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSummary {
    pub run: String,
    pub layer: String,
    /// Milestones with metrics.
    pub milestones: usize,
    pub latest_step: Option<u64>,
    /// The metrics of the latest milestone.
    pub latest: Option<LayerMetrics>,
    pub probe_source: ProbeSource,
    pub correlations: Vec<Correlation>,
}

/// Summarise one layer of one run from its per-milestone metrics (any order)
/// and the run's scalar log.
pub fn summarize(
    run: &str,
    layer: &str,
    points: &[(u64, &LayerMetrics)],
    scalars: &[ScalarPoint],
) -> LayerSummary {
    let mut points: Vec<(u64, &LayerMetrics)> = points.to_vec();
    points.sort_by_key(|(step, _)| *step);
    points.dedup_by_key(|(step, _)| *step);

    let mut computed = 0;
    let mut from_scalars = 0;
    let probe: Vec<Option<f64>> = points
        .iter()
        .map(|(step, m)| {
            if let Some(p) = m.probe_acc {
                computed += 1;
                Some(p)
            } else {
                let p = scalars
                    .iter()
                    .rev()
                    .find(|s| s.step == *step)
                    .and_then(|s| s.values.get("probe_acc").copied());
                from_scalars += usize::from(p.is_some());
                p
            }
        })
        .collect();
    let probe_source = match (computed, from_scalars) {
        (0, 0) => ProbeSource::None,
        (_, 0) => ProbeSource::Computed,
        (0, _) => ProbeSource::Scalars,
        _ => ProbeSource::Mixed,
    };

    let skip = (points.len() as f64 * EARLY_FRACTION).floor() as usize;
    let correlations = if probe_source == ProbeSource::None {
        Vec::new()
    } else {
        LABEL_FREE
            .iter()
            .map(|&metric| {
                let pairs: Vec<(usize, f64, f64)> = points
                    .iter()
                    .zip(&probe)
                    .enumerate()
                    .filter_map(|(i, ((_, m), p))| Some((i, metric_value(m, metric)?, (*p)?)))
                    .collect();
                let corr = |from: usize| {
                    let (a, b): (Vec<f64>, Vec<f64>) = pairs
                        .iter()
                        .filter(|(i, _, _)| *i >= from)
                        .map(|&(_, a, b)| (a, b))
                        .unzip();
                    (spearman(&a, &b), a.len())
                };
                let (all, n_all) = corr(0);
                let (late, n_late) = corr(skip);
                Correlation {
                    metric,
                    all,
                    n_all,
                    late,
                    n_late,
                }
            })
            .collect()
    };

    LayerSummary {
        run: run.to_string(),
        layer: layer.to_string(),
        milestones: points.len(),
        latest_step: points.last().map(|(s, _)| *s),
        latest: points.last().map(|(_, m)| (*m).clone()),
        probe_source,
        correlations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn m(entropy: f64, probe: Option<f64>) -> LayerMetrics {
        LayerMetrics {
            entropy_bits: Some(entropy),
            silhouette: Some(-entropy),
            probe_acc: probe,
            ..LayerMetrics::default()
        }
    }

    #[test]
    fn correlates_computed_probe_and_leaves_out_the_early_fifth() {
        // Step 0 is an early outlier that breaks the monotone relation.
        let ms: Vec<LayerMetrics> = (0..10)
            .map(|i| {
                let e = if i == 0 { 100.0 } else { i as f64 };
                m(e, Some(i as f64 / 10.0))
            })
            .collect();
        let pts: Vec<(u64, &LayerMetrics)> = ms
            .iter()
            .enumerate()
            .map(|(i, m)| (i as u64 * 10, m))
            .collect();
        let s = summarize("r", "h", &pts, &[]);
        assert_eq!(s.probe_source, ProbeSource::Computed);
        assert_eq!(s.latest_step, Some(90));
        let ent = &s.correlations[0];
        assert_eq!(ent.metric, "entropy_bits");
        assert_eq!((ent.n_all, ent.n_late), (10, 8));
        assert!((ent.all.unwrap() - (1.0 - 6.0 * 90.0 / 990.0)).abs() < 1e-9);
        assert!((ent.late.unwrap() - 1.0).abs() < 1e-12);
        assert!((s.correlations[1].late.unwrap() + 1.0).abs() < 1e-12);
        // Metrics never computed (null) give no correlation.
        assert_eq!(s.correlations[2].all, None);
    }

    #[test]
    fn falls_back_to_scalars_probe_acc() {
        let ms: Vec<LayerMetrics> = (0..5).map(|i| m(i as f64, None)).collect();
        let pts: Vec<(u64, &LayerMetrics)> =
            ms.iter().enumerate().map(|(i, m)| (i as u64, m)).collect();
        let scalars: Vec<ScalarPoint> = (0..5)
            .map(|i| ScalarPoint {
                step: i,
                values: BTreeMap::from([("probe_acc".to_string(), 1.0 - i as f64 / 10.0)]),
            })
            .collect();
        let s = summarize("r", "h", &pts, &scalars);
        assert_eq!(s.probe_source, ProbeSource::Scalars);
        assert!((s.correlations[0].all.unwrap() + 1.0).abs() < 1e-12);
        let none = summarize("r", "h", &pts, &[]);
        assert_eq!(none.probe_source, ProbeSource::None);
        assert!(none.correlations.is_empty());
    }
}
