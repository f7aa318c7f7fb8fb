//! The per-run summary that `report` prints and the TUI's run detail shows:
//! latest values, and the Spearman rank correlation over milestones between
//! each label-free metric the registry correlates ([`View::Correlate`]) and
//! probe accuracy ([`crate::metrics::correlation::over_milestones`]).
//!
//! Probe accuracy of a milestone, by [`ProbeChoice`]: the trainer's
//! `probe_acc` in the run's `scalars.jsonl` at that step (the last line with
//! that step that has one), or the probe sslwatch computes on the layer with
//! `labels.npy` (its "own" probe: trained and tested on the milestone's
//! evaluation split, often a few hundred rows, so it moves in coarse steps).
//! [`ProbeChoice::Auto`] prefers the trainer's, milestone by milestone.
//!
//! A probe that barely moves cannot carry a correlation: the summary says so
//! in [`LayerSummary::probe_warnings`] (see [`PROBE_HEADROOM`] and
//! [`MIN_DISTINCT_PROBE`]).

use crate::metrics::correlation::over_milestones;
pub use crate::metrics::correlation::{Correlation, EARLY_FRACTION};
use crate::metrics::probe::TEST_FRACTION;
use crate::metrics::{LayerMetrics, Metric, View};
use crate::runs::meta::ScalarPoint;
use serde::Serialize;
use std::collections::BTreeMap;

/// Probe headroom warning: when the first milestone's probe accuracy is
/// already within this much (3 points of accuracy) of the run's maximum,
/// the probe has little room to move and its rank order over milestones is
/// mostly noise (one or two test rows either way), so correlations with it
/// mean little.
pub const PROBE_HEADROOM: f64 = 0.03;

/// Coarse probe warning: fewer distinct probe accuracies than this over the
/// run's milestones means many ties (a small test split moves in steps of
/// 1/test rows), so a rank correlation rests on a handful of steps.
pub const MIN_DISTINCT_PROBE: usize = 5;

/// The coarse probe warning is given only to runs with at least this many
/// milestones (a short run has few distinct values by construction).
pub const MIN_MILESTONES_FOR_DISTINCT: usize = 5;

/// No probe warning below this many milestones with a probe accuracy: with
/// fewer, there is no correlation to warn about (Spearman needs 3 pairs).
pub const MIN_PROBE_POINTS: usize = 3;

/// Slack on [`PROBE_HEADROOM`] for accuracies that are exact fractions
/// (0.989 - 0.959 is not exactly 0.03 in floating point).
const HEADROOM_EPS: f64 = 1e-9;

/// Which probe accuracy the summary correlates with (`--probe-source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeChoice {
    /// The trainer's `probe_acc` from `scalars.jsonl` at a milestone's step
    /// when there is one, else the own probe (decided per milestone).
    #[default]
    Auto,
    /// Only the trainer's `probe_acc` from `scalars.jsonl`; milestones
    /// without one have no probe accuracy.
    Trainer,
    /// Only the probe sslwatch computes on the layer with `labels.npy`.
    Own,
}

impl ProbeChoice {
    /// One milestone's probe accuracy from its own probe and the trainer's
    /// value at its step, and where it came from ([`ProbeSource::Trainer`]
    /// or [`ProbeSource::Own`]). Non-finite values count as missing.
    pub fn pick(self, own: Option<f64>, trainer: Option<f64>) -> Option<(f64, ProbeSource)> {
        let own = own.filter(|v| v.is_finite()).map(|v| (v, ProbeSource::Own));
        let trainer = trainer
            .filter(|v| v.is_finite())
            .map(|v| (v, ProbeSource::Trainer));
        match self {
            ProbeChoice::Auto => trainer.or(own),
            ProbeChoice::Trainer => trainer,
            ProbeChoice::Own => own,
        }
    }
}

/// Where the probe accuracies of a summary came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeSource {
    /// The trainer's `probe_acc` in the run's `scalars.jsonl`.
    Trainer,
    /// sslwatch's own probe, computed on the embeddings with `labels.npy`.
    Own,
    /// Some milestones one way, some the other.
    Mixed,
    /// No probe accuracy anywhere: no correlations.
    None,
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
    /// The probe accuracy asked for (`--probe-source`).
    pub probe_choice: ProbeChoice,
    /// The probe accuracy used.
    pub probe_source: ProbeSource,
    /// Milestones whose probe accuracy is the trainer's (`scalars.jsonl`).
    pub probe_trainer: usize,
    /// Milestones whose probe accuracy is sslwatch's own (`labels.npy`).
    pub probe_own: usize,
    /// Rows the own probe was computed on, at the latest milestone that used
    /// it (it is trained on 80% of them and tested on the rest).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_probe_rows: Option<usize>,
    /// Why the probe may not carry a correlation (see [`PROBE_HEADROOM`],
    /// [`MIN_DISTINCT_PROBE`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probe_warnings: Vec<String>,
    /// The probe accuracy used at each milestone that has one, in step
    /// order (for trends; not in the JSON summary).
    #[serde(skip)]
    pub probe: Vec<(u64, f64)>,
    pub correlations: Vec<Correlation>,
}

impl LayerSummary {
    /// Where the probe accuracies came from, in words:
    /// `probe: trainer (scalars.jsonl probe_acc)`,
    /// `probe: own (labels.npy, linear probe on 359 rows, 20% held out)`, ...
    pub fn probe_text(&self) -> String {
        let own = || match self.own_probe_rows {
            Some(n) => format!(
                "labels.npy, linear probe on {n} rows, {:.0}% held out",
                TEST_FRACTION * 100.0
            ),
            None => "labels.npy".to_string(),
        };
        let of = |k: usize| {
            if k < self.milestones {
                format!(" at {k} of {} milestones", self.milestones)
            } else {
                String::new()
            }
        };
        match self.probe_source {
            ProbeSource::Trainer => {
                format!(
                    "probe: trainer (scalars.jsonl probe_acc{})",
                    of(self.probe_trainer)
                )
            }
            ProbeSource::Own => format!("probe: own ({}{})", own(), of(self.probe_own)),
            ProbeSource::Mixed => format!(
                "probe: mixed (trainer's scalars.jsonl probe_acc at {} milestone(s), own at {}: {})",
                self.probe_trainer,
                self.probe_own,
                own()
            ),
            ProbeSource::None => match self.probe_choice {
                ProbeChoice::Auto => {
                    "probe: none (no scalars.jsonl probe_acc at these steps, no labels.npy probe)"
                }
                ProbeChoice::Trainer => {
                    "probe: none (--probe-source trainer: no scalars.jsonl probe_acc at these steps)"
                }
                ProbeChoice::Own => "probe: none (--probe-source own: no labels.npy probe)",
            }
            .to_string(),
        }
    }
}

/// The trainer's `probe_acc` by step: the last line of a step that has a
/// finite one.
pub fn trainer_probe(scalars: &[ScalarPoint]) -> BTreeMap<u64, f64> {
    scalars
        .iter()
        .filter_map(|s| Some((s.step, *s.values.get("probe_acc")?)))
        .filter(|(_, v)| v.is_finite())
        .collect()
}

/// Why these probe accuracies (in step order) may not carry a correlation.
pub fn probe_warnings(milestones: usize, probe: &[(u64, f64)]) -> Vec<String> {
    let mut out = Vec::new();
    if probe.len() < MIN_PROBE_POINTS {
        return out;
    }
    let (first_step, first) = probe[0];
    let max = probe
        .iter()
        .map(|(_, v)| *v)
        .fold(f64::NEG_INFINITY, f64::max);
    if max - first <= PROBE_HEADROOM + HEADROOM_EPS {
        out.push(format!(
            "probe at the first milestone (step {first_step}: {first:.3}) is within {PROBE_HEADROOM} of its maximum ({max:.3}): little room to move, correlations may be noise"
        ));
    }
    let mut distinct: Vec<u64> = probe.iter().map(|(_, v)| v.to_bits()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    if milestones >= MIN_MILESTONES_FOR_DISTINCT && distinct.len() < MIN_DISTINCT_PROBE {
        out.push(format!(
            "only {} distinct probe value(s) over {milestones} milestones (fewer than {MIN_DISTINCT_PROBE}): mostly ties, correlations may be noise",
            distinct.len()
        ));
    }
    out
}

/// Summarise one layer of one run from its per-milestone metrics (any order)
/// and the run's scalar log, correlating with the probe accuracy `choice`
/// asks for.
pub fn summarize(
    run: &str,
    layer: &str,
    points: &[(u64, &LayerMetrics)],
    scalars: &[ScalarPoint],
    choice: ProbeChoice,
) -> LayerSummary {
    let mut points: Vec<(u64, &LayerMetrics)> = points.to_vec();
    points.sort_by_key(|(step, _)| *step);
    points.dedup_by_key(|(step, _)| *step);

    let trainer = trainer_probe(scalars);
    let mut probe_trainer = 0;
    let mut probe_own = 0;
    let mut own_probe_rows = None;
    let probe: Vec<Option<f64>> = points
        .iter()
        .map(|(step, m)| {
            let (v, source) = choice.pick(m.get(Metric::ProbeAcc), trainer.get(step).copied())?;
            if source == ProbeSource::Trainer {
                probe_trainer += 1;
            } else {
                probe_own += 1;
                own_probe_rows = Some(m.n);
            }
            Some(v)
        })
        .collect();
    let probe_source = match (probe_trainer, probe_own) {
        (0, 0) => ProbeSource::None,
        (_, 0) => ProbeSource::Trainer,
        (0, _) => ProbeSource::Own,
        _ => ProbeSource::Mixed,
    };
    let present: Vec<(u64, f64)> = points
        .iter()
        .zip(&probe)
        .filter_map(|((step, _), p)| Some((*step, (*p)?)))
        .collect();
    let probe_warnings = probe_warnings(points.len(), &present);
    let probe_series = present;

    let correlations = if probe_source == ProbeSource::None {
        Vec::new()
    } else {
        Metric::in_view(View::Correlate)
            .map(|metric| {
                let values: Vec<Option<f64>> = points.iter().map(|(_, m)| m.get(metric)).collect();
                over_milestones(metric, &values, &probe)
            })
            .collect()
    };

    LayerSummary {
        run: run.to_string(),
        layer: layer.to_string(),
        milestones: points.len(),
        latest_step: points.last().map(|(s, _)| *s),
        latest: points.last().map(|(_, m)| (*m).clone()),
        probe_choice: choice,
        probe_source,
        probe_trainer,
        probe_own,
        own_probe_rows,
        probe_warnings,
        probe: probe_series,
        correlations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(entropy: f64, probe: Option<f64>) -> LayerMetrics {
        LayerMetrics {
            n: 359,
            values: crate::metrics::Values::of([
                (Metric::EntropyBits, Some(entropy)),
                (Metric::Silhouette, Some(-entropy)),
                (Metric::ProbeAcc, probe),
            ]),
            ..LayerMetrics::default()
        }
    }

    fn scalars(points: &[(u64, f64)]) -> Vec<ScalarPoint> {
        points
            .iter()
            .map(|&(step, v)| ScalarPoint {
                step,
                values: BTreeMap::from([("loss".to_string(), 1.0), ("probe_acc".to_string(), v)]),
            })
            .collect()
    }

    fn at_steps(ms: &[LayerMetrics]) -> Vec<(u64, &LayerMetrics)> {
        ms.iter().enumerate().map(|(i, m)| (i as u64, m)).collect()
    }

    /// Entropy rises with the step; the own probe rises with it, the
    /// trainer's falls: the two sources give opposite correlations.
    fn disagreeing(n: usize) -> (Vec<LayerMetrics>, Vec<ScalarPoint>) {
        let ms = (0..n)
            .map(|i| m(i as f64, Some(0.5 + i as f64 / 20.0)))
            .collect();
        let sc = (0..n)
            .map(|i| (i as u64, 0.9 - i as f64 / 20.0))
            .collect::<Vec<_>>();
        (ms, scalars(&sc))
    }

    #[test]
    fn correlates_own_probe_and_leaves_out_the_early_fifth() {
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
        let s = summarize("r", "h", &pts, &[], ProbeChoice::Auto);
        assert_eq!(s.probe_source, ProbeSource::Own);
        assert_eq!((s.probe_own, s.probe_trainer), (10, 0));
        assert_eq!(s.latest_step, Some(90));
        let ent = &s.correlations[0];
        assert_eq!(ent.metric, Metric::EntropyBits);
        assert_eq!((ent.n_all, ent.n_late), (10, 8));
        assert!((ent.all.unwrap() - (1.0 - 6.0 * 90.0 / 990.0)).abs() < 1e-9);
        assert!((ent.late.unwrap() - 1.0).abs() < 1e-12);
        assert!((s.correlations[1].late.unwrap() + 1.0).abs() < 1e-12);
        // Metrics never computed (null) give no correlation.
        assert_eq!(s.correlations[2].all, None);
    }

    #[test]
    fn auto_prefers_the_trainers_probe_over_the_own_one() {
        let (ms, sc) = disagreeing(6);
        let s = summarize("r", "h", &at_steps(&ms), &sc, ProbeChoice::Auto);
        assert_eq!(s.probe_source, ProbeSource::Trainer);
        assert_eq!((s.probe_trainer, s.probe_own), (6, 0));
        assert_eq!(s.own_probe_rows, None);
        assert!((s.correlations[0].all.unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(s.probe_text(), "probe: trainer (scalars.jsonl probe_acc)");
    }

    #[test]
    fn auto_falls_back_to_the_own_probe_per_milestone() {
        let (ms, _) = disagreeing(6);
        // The trainer logged probe_acc at steps 0-2 only; steps 3-5 use
        // the own probe. A later line of a step without probe_acc (a loss
        // line) does not hide the earlier probe_acc of that step.
        let mut sc = scalars(&[(0, 0.1), (1, 0.2), (2, 0.3)]);
        sc.push(ScalarPoint {
            step: 2,
            values: BTreeMap::from([("loss".to_string(), 0.5)]),
        });
        let s = summarize("r", "h", &at_steps(&ms), &sc, ProbeChoice::Auto);
        assert_eq!(s.probe_source, ProbeSource::Mixed);
        assert_eq!((s.probe_trainer, s.probe_own), (3, 3));
        assert_eq!(s.own_probe_rows, Some(359));
        // Probe 0.1, 0.2, 0.3, 0.65, 0.70, 0.75: rising with entropy.
        let ent = &s.correlations[0];
        assert_eq!(ent.n_all, 6);
        assert!((ent.all.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(
            s.probe_text(),
            "probe: mixed (trainer's scalars.jsonl probe_acc at 3 milestone(s), own at 3: \
             labels.npy, linear probe on 359 rows, 20% held out)"
        );
    }

    #[test]
    fn trainer_only_leaves_gaps_where_the_trainer_logged_nothing() {
        let (ms, _) = disagreeing(6);
        let sc = scalars(&[(0, 0.9), (2, 0.7), (4, 0.5), (5, 0.45)]);
        let s = summarize("r", "h", &at_steps(&ms), &sc, ProbeChoice::Trainer);
        assert_eq!(s.probe_source, ProbeSource::Trainer);
        assert_eq!((s.probe_trainer, s.probe_own), (4, 0));
        let ent = &s.correlations[0];
        assert_eq!(ent.n_all, 4, "steps 1 and 3 have no trainer probe");
        assert!((ent.all.unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(
            s.probe_text(),
            "probe: trainer (scalars.jsonl probe_acc at 4 of 6 milestones)"
        );
        // No scalars at all: no correlations, although labels exist.
        let none = summarize("r", "h", &at_steps(&ms), &[], ProbeChoice::Trainer);
        assert_eq!(none.probe_source, ProbeSource::None);
        assert!(none.correlations.is_empty());
        assert!(none.probe_text().contains("--probe-source trainer"));
    }

    #[test]
    fn own_ignores_the_scalars() {
        let (ms, sc) = disagreeing(6);
        let s = summarize("r", "h", &at_steps(&ms), &sc, ProbeChoice::Own);
        assert_eq!(s.probe_source, ProbeSource::Own);
        assert_eq!((s.probe_trainer, s.probe_own), (0, 6));
        assert!((s.correlations[0].all.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(
            s.probe_text(),
            "probe: own (labels.npy, linear probe on 359 rows, 20% held out)"
        );
        // Without labels the own probe is absent: nothing to correlate.
        let unlabelled: Vec<LayerMetrics> = (0..6).map(|i| m(i as f64, None)).collect();
        let none = summarize("r", "h", &at_steps(&unlabelled), &sc, ProbeChoice::Own);
        assert_eq!(none.probe_source, ProbeSource::None);
        assert!(none.correlations.is_empty());
    }

    #[test]
    fn summaries_without_any_probe_have_no_correlations() {
        let ms: Vec<LayerMetrics> = (0..5).map(|i| m(i as f64, None)).collect();
        let none = summarize("r", "h", &at_steps(&ms), &[], ProbeChoice::Auto);
        assert_eq!(none.probe_source, ProbeSource::None);
        assert!(none.correlations.is_empty());
        assert!(none.probe_warnings.is_empty());
    }

    #[test]
    fn warns_when_the_first_probe_is_already_near_its_maximum() {
        // The trainer's probe of the README's digits run: 0.975 at epoch 0,
        // at most 0.989.
        let ms: Vec<LayerMetrics> = (0..6).map(|i| m(i as f64, None)).collect();
        let sc = scalars(&[
            (0, 0.975),
            (1, 0.989),
            (2, 0.986),
            (3, 0.981),
            (4, 0.978),
            (5, 0.986),
        ]);
        let s = summarize("r", "h", &at_steps(&ms), &sc, ProbeChoice::Auto);
        assert_eq!(
            s.probe_warnings,
            vec![
                "probe at the first milestone (step 0: 0.975) is within 0.03 of its maximum \
                 (0.989): little room to move, correlations may be noise"
                    .to_string()
            ]
        );
        // Exactly 0.03 below the maximum still warns; just over does not.
        let edge = scalars(&[(0, 0.959), (1, 0.989), (2, 0.97)]);
        let s = summarize("r", "h", &at_steps(&ms[..3]), &edge, ProbeChoice::Auto);
        assert_eq!(s.probe_warnings.len(), 1, "{:?}", s.probe_warnings);
        let room = scalars(&[(0, 0.958), (1, 0.989), (2, 0.97)]);
        let s = summarize("r", "h", &at_steps(&ms[..3]), &room, ProbeChoice::Auto);
        assert!(s.probe_warnings.is_empty(), "{:?}", s.probe_warnings);
    }

    #[test]
    fn no_headroom_warning_for_a_probe_that_rises() {
        let (ms, sc) = disagreeing(6);
        // Own probe: 0.50 .. 0.75, six distinct values.
        let s = summarize("r", "h", &at_steps(&ms), &sc, ProbeChoice::Own);
        assert!(s.probe_warnings.is_empty(), "{:?}", s.probe_warnings);
        // Serialised without the field when empty.
        let v = serde_json::to_value(&s).unwrap();
        assert!(v.get("probe_warnings").is_none(), "{v}");
        assert_eq!(v["probe_source"], "own");
        assert_eq!(v["probe_choice"], "own");
    }

    #[test]
    fn warns_when_the_probe_has_few_distinct_values() {
        // Six milestones, the own probe in steps of 1/72 taking 4 values
        // (0.5 twice and 0.75 twice); it rises by far more than 0.03.
        let probe = [36.0, 36.0, 44.0, 50.0, 54.0, 54.0].map(|k| k / 72.0);
        let ms: Vec<LayerMetrics> = probe
            .iter()
            .enumerate()
            .map(|(i, &p)| m(i as f64, Some(p)))
            .collect();
        let s = summarize("r", "h", &at_steps(&ms), &[], ProbeChoice::Auto);
        assert_eq!(
            s.probe_warnings,
            vec![
                "only 4 distinct probe value(s) over 6 milestones (fewer than 5): mostly ties, \
                 correlations may be noise"
                    .to_string()
            ]
        );
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["probe_warnings"].as_array().map(Vec::len), Some(1));
        // Five distinct values: no warning.
        let mut five = ms.clone();
        five[1].values.set(Metric::ProbeAcc, Some(40.0 / 72.0));
        let s = summarize("r", "h", &at_steps(&five), &[], ProbeChoice::Auto);
        assert!(s.probe_warnings.is_empty(), "{:?}", s.probe_warnings);
        // Fewer than 5 milestones: not checked.
        let s = summarize("r", "h", &at_steps(&ms[..4]), &[], ProbeChoice::Auto);
        assert!(s.probe_warnings.is_empty(), "{:?}", s.probe_warnings);
    }
}
