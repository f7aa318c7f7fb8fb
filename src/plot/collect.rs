//! A [`Figure`] from what a report gathered from the engine
//! ([`Collected`]): one panel per metric asked for, one line per run on
//! one layer, the correlations from the per-run summaries
//! ([`crate::runs::analysis`]).

use super::{glob_match, Figure, Line, Panel, PlotError};
use crate::metrics::{Metric, View};
use crate::report::Collected;
use crate::runs::analysis::{trainer_probe, LayerSummary, ProbeChoice};
use crate::runs::RunMeta;
use crate::text;
use std::collections::{BTreeMap, BTreeSet};

/// The paper's panels: label-free metrics and the probe they track.
pub const DEFAULT_METRICS: [Metric; 4] = [
    Metric::EntropyBits,
    Metric::Silhouette,
    Metric::AmiAgreement,
    Metric::ProbeAcc,
];

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// One panel each, in this order (panels without values are skipped).
    pub metrics: Vec<Metric>,
    /// The layer; None: the first present in the TUI's layer order
    /// (h, z, p, emb, then by name).
    pub layer: Option<String>,
    /// Only runs whose name matches this glob ([`glob_match`]).
    pub runs: Option<String>,
    /// Which probe accuracy the probe panel shows and the correlations use.
    pub probe: ProbeChoice,
    /// Write each run's Spearman rho with probe accuracy in the panels of
    /// the correlated metrics.
    pub annotate: bool,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            metrics: DEFAULT_METRICS.to_vec(),
            layer: None,
            runs: None,
            probe: ProbeChoice::Auto,
            annotate: false,
        }
    }
}

/// A figure and what was left out of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub figure: Figure,
    /// The layer drawn.
    pub layer: String,
    /// Metrics asked for that had no values on the layer (no panel).
    pub skipped: Vec<Metric>,
}

/// Names listed in an error, at most.
const LIST_AT_MOST: usize = 20;

fn listed(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = names.into_iter().collect();
    if out.len() > LIST_AT_MOST {
        let more = out.len() - LIST_AT_MOST;
        out.truncate(LIST_AT_MOST);
        out.push(format!("... {more} more"));
    }
    out
}

/// Legends: the run's method from `run.json`, else its name; runs that
/// would share a legend (two seeds of one method) get their name added.
fn legends(runs: &[&str], meta: &BTreeMap<String, RunMeta>) -> BTreeMap<String, String> {
    let base: Vec<String> = runs
        .iter()
        .map(|r| {
            meta.get(*r)
                .and_then(|m| m.method.clone())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| r.to_string())
        })
        .collect();
    runs.iter()
        .zip(&base)
        .map(|(run, b)| {
            let shared = base.iter().filter(|x| *x == b).count() > 1;
            let legend = if shared && b != run {
                format!("{b} ({run})")
            } else {
                b.clone()
            };
            (run.to_string(), legend)
        })
        .collect()
}

/// Consecutive present values as pieces: a missing (or non-finite) value
/// ends a piece. The compare view and its exported figure split the same way.
pub fn pieces(values: impl IntoIterator<Item = (u64, Option<f64>)>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for (step, v) in values {
        match v.filter(|v| v.is_finite()) {
            Some(v) => current.push((step as f64, v)),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl Figure {
    /// The figure of `collected` (with the runs' `run.json` metadata
    /// `meta`, for the legends) that `spec` asks for.
    ///
    /// Run colours: a run's index among all runs (matching or not) sorted
    /// by name. The TUI gives colours in first-seen order and the engine
    /// announces the runs present at its start sorted by name
    /// (`App::run_mut` in `tui/app.rs`), so both agree on those runs.
    pub fn from_collected(
        collected: &Collected,
        meta: &BTreeMap<String, RunMeta>,
        spec: &Spec,
    ) -> Result<Built, PlotError> {
        let all: BTreeSet<&str> = meta
            .keys()
            .map(String::as_str)
            .chain(collected.results.keys().map(|k| k.run.as_str()))
            .chain(collected.scalars.keys().map(String::as_str))
            .collect();
        let colour: BTreeMap<&str, usize> = all.iter().enumerate().map(|(i, r)| (*r, i)).collect();

        let with_results: BTreeSet<&str> = collected
            .results
            .iter()
            .filter(|(_, r)| r.outcome.is_ok())
            .map(|(k, _)| k.run.as_str())
            .collect();
        match &spec.layer {
            // The engine read only that layer (`--layer`): none of it anywhere.
            Some(layer) if with_results.is_empty() => {
                return Err(PlotError::NoLayer {
                    layer: layer.clone(),
                    available: Vec::new(),
                })
            }
            _ if with_results.is_empty() => return Err(PlotError::NoResults),
            _ => {}
        }
        let chosen: Vec<&str> = match &spec.runs {
            Some(pattern) => {
                let m: Vec<&str> = all
                    .iter()
                    .copied()
                    .filter(|r| glob_match(pattern, r))
                    .collect();
                if m.is_empty() {
                    return Err(PlotError::NoRunMatches {
                        pattern: pattern.clone(),
                        runs: listed(all.iter().map(|r| r.to_string())),
                    });
                }
                m.into_iter().filter(|r| with_results.contains(r)).collect()
            }
            None => with_results.iter().copied().collect(),
        };

        let layers: BTreeSet<(usize, &str)> = collected
            .results
            .iter()
            .filter(|(k, r)| r.outcome.is_ok() && chosen.contains(&k.run.as_str()))
            .map(|(k, _)| crate::tui::app::layer_rank(&k.layer))
            .collect();
        let layer = match &spec.layer {
            Some(l) if layers.iter().any(|(_, x)| x == l) => l.clone(),
            Some(l) => {
                return Err(PlotError::NoLayer {
                    layer: l.clone(),
                    available: listed(layers.iter().map(|(_, x)| x.to_string())),
                })
            }
            None => match layers.first() {
                Some((_, l)) => l.to_string(),
                // The matching runs have no results.
                None => return Err(PlotError::NoResults),
            },
        };

        let summaries: BTreeMap<String, LayerSummary> = collected
            .summaries(spec.probe)
            .into_iter()
            .filter(|s| s.layer == layer)
            .map(|s| (s.run.clone(), s))
            .collect();
        let legend = legends(&chosen, meta);

        let mut panels = Vec::new();
        let mut skipped = Vec::new();
        for &metric in &spec.metrics {
            let mut series = Vec::new();
            for &run in &chosen {
                let trainer = collected
                    .scalars
                    .get(run)
                    .map(|s| trainer_probe(s))
                    .unwrap_or_default();
                // One value per milestone of this run that has the layer
                // (an error or a missing metric is a gap), as the TUI's
                // compare view draws it.
                let values = collected
                    .results
                    .iter()
                    .filter(|(k, _)| k.run == run && k.layer == layer)
                    .map(|(k, r)| {
                        let own = r.outcome.as_ref().ok().and_then(|m| m.get(metric));
                        let v = match metric {
                            Metric::ProbeAcc => spec
                                .probe
                                .pick(own, trainer.get(&k.step).copied())
                                .map(|(v, _)| v),
                            _ => own,
                        };
                        (k.step, v)
                    });
                let pieces = pieces(values);
                if pieces.is_empty() {
                    continue;
                }
                series.push(Line {
                    run: run.to_string(),
                    legend: legend.get(run).cloned().unwrap_or_else(|| run.to_string()),
                    colour: colour.get(run).copied().unwrap_or(0),
                    pieces,
                });
            }
            if series.is_empty() {
                skipped.push(metric);
                continue;
            }
            let annotation = (spec.annotate && metric.def().shown_in(View::Correlate))
                .then(|| annotation(metric, &series, &summaries));
            panels.push(Panel {
                metric,
                series,
                annotation,
            });
        }
        if panels.is_empty() {
            return Err(PlotError::Empty { layer });
        }
        Ok(Built {
            figure: Figure {
                title: format!("layer {layer}"),
                panels,
            },
            layer,
            skipped,
        })
    }
}

/// "Spearman ρ with probe acc: simclr +0.83 · moco-v2 -0.12 · simsiam n/a"
/// (over all of each run's milestones).
fn annotation(
    metric: Metric,
    series: &[Line],
    summaries: &BTreeMap<String, LayerSummary>,
) -> String {
    let parts: Vec<String> = series
        .iter()
        .map(|line| {
            let rho = summaries
                .get(&line.run)
                .and_then(|s| s.correlations.iter().find(|c| c.metric == metric))
                .and_then(|c| c.all);
            let value = rho.map_or_else(|| "n/a".to_string(), |v| text::signed(v, 2));
            format!("{} {value}", line.legend)
        })
        .collect();
    format!(
        "Spearman ρ with probe acc: {}",
        parts.join(super::render::SEPARATOR)
    )
}
