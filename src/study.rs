//! `sslwatch study`: the analysis of Xu, Lowe and Trappenberg on a set of
//! runs. Per method and layer: the trend of each metric over training and
//! the Spearman correlation of each label-free metric with probe accuracy,
//! as mean ± sd over seeds; then the paper's four findings, each checked
//! against those numbers ("holds here" / "does not hold here"), never
//! assumed.
//!
//! Pure functions of the engine's results ([`crate::report::Collected`]):
//! training the runs is the CLI's business.

use crate::metrics::correlation::spearman;
use crate::metrics::LayerMetrics;
use crate::metrics::{Metric, View};
use crate::report::Collected;
use crate::runs::analysis::{self, ProbeChoice, ProbeSource, EARLY_FRACTION};
use crate::text;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Metrics whose trend over training the study shows, label-free first.
pub fn trend_metrics() -> impl Iterator<Item = Metric> {
    Metric::ALL.into_iter().filter(|m| {
        let d = m.def();
        d.shown_in(View::Correlate) || (d.needs_labels && *m != Metric::ProbeAcc)
    })
}

/// The clustering signals of the paper.
pub const CLUSTERING: [&str; 2] = ["silhouette", "ami_agreement"];

/// A mean Spearman correlation with the probe at least this large counts as
/// "tracks"; a method's clustering tracks when both clustering metrics do,
/// does not when neither does (one of each meets neither expectation).
pub const TRACKS: f64 = 0.5;

/// A mean Spearman correlation with the step at least this large (in
/// absolute value) counts as a trend ("rises" / "falls").
pub const TREND: f64 = 0.5;

/// Early milestones count as unstable when their normalised step-to-step
/// change is at least this many times that of the later ones.
pub const UNSTABLE: f64 = 1.5;

/// The contrastive methods of the paper, and its non-contrastive one.
pub const CONTRASTIVE: [&str; 2] = ["simclr", "moco"];
pub const NON_CONTRASTIVE: &str = "simsiam";

/// Mean and sample standard deviation over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    /// `None` with a single value.
    pub sd: Option<f64>,
    pub n: usize,
}

impl Stat {
    /// Over the finite values; `None` when there are none.
    pub fn of(values: impl IntoIterator<Item = Option<f64>>) -> Option<Stat> {
        let v: Vec<f64> = values
            .into_iter()
            .flatten()
            .filter(|x| x.is_finite())
            .collect();
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let sd = (n > 1).then(|| {
            (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64).sqrt()
        });
        Some(Stat { mean, sd, n })
    }
}

/// One metric of one run and layer over its milestones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub first: Option<f64>,
    pub last: Option<f64>,
    /// Spearman correlation with the step.
    pub vs_step: Option<f64>,
}

/// A (method, layer) row of metric statistics over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub metric: String,
    pub first: Option<Stat>,
    pub last: Option<Stat>,
    /// Spearman with the step.
    pub vs_step: Option<Stat>,
    /// Spearman with probe accuracy over every milestone (label-free only).
    pub vs_probe_all: Option<Stat>,
    /// ... leaving out the first 20% of milestones.
    pub vs_probe_late: Option<Stat>,
}

/// Everything about one method on one layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodLayer {
    pub method: String,
    pub layer: String,
    /// The runs (one per seed).
    pub runs: Vec<String>,
    /// Milestones per run (min over the runs).
    pub milestones: usize,
    /// Where the probe accuracies came from (over the runs).
    pub probe_source: ProbeSource,
    /// Probe accuracy first -> last and its trend.
    pub probe: MetricRow,
    pub metrics: Vec<MetricRow>,
    /// Normalised early/late step-to-step change of the label-free metrics.
    pub early_instability: Option<Stat>,
    /// Probe-quality warnings of the runs, prefixed with the run.
    pub warnings: Vec<String>,
}

/// What a finding's check says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Holds,
    Partly,
    DoesNotHold,
    /// The runs lack what the check needs (a method, labels, a probe).
    NotTestable,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds here",
            Verdict::Partly => "holds here only in part",
            Verdict::DoesNotHold => "does not hold here",
            Verdict::NotTestable => "cannot be tested on these runs",
        }
    }

    /// All parts pass: holds; none: does not hold; some: partly.
    fn of(parts: &[bool]) -> Verdict {
        match (parts.is_empty(), parts.iter().filter(|&&p| p).count()) {
            (true, _) => Verdict::NotTestable,
            (false, 0) => Verdict::DoesNotHold,
            (false, k) if k == parts.len() => Verdict::Holds,
            _ => Verdict::Partly,
        }
    }
}

/// One of the paper's findings, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub claim: &'static str,
    pub layer: String,
    pub verdict: Verdict,
    /// One line per method with the numbers the verdict rests on.
    pub evidence: Vec<String>,
}

/// The whole study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Study {
    pub runs: usize,
    pub rows: Vec<MethodLayer>,
    pub findings: Vec<Finding>,
}

/// A run's method: `run.json`'s `method`, else its directory name up to the
/// first `-` (`simclr-s0` -> `simclr`).
pub fn method_of(run: &str, meta_method: Option<&str>) -> String {
    if let Some(m) = meta_method {
        return m.to_ascii_lowercase();
    }
    let leaf = run.rsplit('/').next().unwrap_or(run);
    leaf.split('-').next().unwrap_or(leaf).to_ascii_lowercase()
}

impl Trend {
    /// first, last and Spearman vs step of a (step, value) series in step order.
    fn of(series: impl IntoIterator<Item = (f64, f64)>) -> Trend {
        let (steps, values): (Vec<f64>, Vec<f64>) = series.into_iter().unzip();
        Trend {
            first: values.first().copied(),
            last: values.last().copied(),
            vs_step: spearman(&steps, &values),
        }
    }
}

/// The trend of `metric` over `points` (step order), finite values only.
fn trend(points: &[(u64, &LayerMetrics)], metric: Metric) -> Trend {
    Trend::of(
        points
            .iter()
            .filter_map(|(s, m)| Some((*s as f64, m.get(metric)?)))
            .filter(|(_, v)| v.is_finite()),
    )
}

/// Mean over `metrics` of (mean normalised |change| between consecutive
/// milestones among the first [`EARLY_FRACTION`] of them) / (the same over
/// the rest). A change is normalised by the metric's range over the run.
/// `None` with fewer than 5 milestones or no movement later on.
fn early_instability(points: &[(u64, &LayerMetrics)], metrics: &[Metric]) -> Option<f64> {
    let n = points.len();
    if n < 5 {
        return None;
    }
    // the first `early` milestones (at least 2) are early: the changes
    // between them, d[..early - 1], against the rest
    let early = ((n as f64 * EARLY_FRACTION).ceil() as usize).max(2);
    let cut = early - 1;
    let ratios: Vec<f64> = metrics
        .iter()
        .filter_map(|&metric| {
            let v: Vec<f64> = points
                .iter()
                .map(|(_, m)| m.get(metric))
                .collect::<Option<Vec<f64>>>()?;
            let (lo, hi) = v
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                    (l.min(x), h.max(x))
                });
            let range = hi - lo;
            if !(range > 0.0 && range.is_finite()) {
                return None;
            }
            let d: Vec<f64> = v.windows(2).map(|w| (w[1] - w[0]).abs() / range).collect();
            let early = &d[..cut.min(d.len())];
            let late = &d[cut.min(d.len())..];
            if early.is_empty() || late.is_empty() {
                return None;
            }
            let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
            let late = mean(late);
            (late > 0.0).then(|| mean(early) / late)
        })
        .collect();
    (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64)
}

/// Build the study from the engine's results. `methods` gives each run's
/// method; runs without an entry are left out.
pub fn analyse(
    results: &Collected,
    methods: &BTreeMap<String, String>,
    choice: ProbeChoice,
    findings_layer: Option<&str>,
) -> Study {
    // (method, layer) -> run -> points
    type Points<'a> = Vec<(u64, &'a LayerMetrics)>;
    let mut groups: BTreeMap<(String, String), BTreeMap<String, Points<'_>>> = BTreeMap::new();
    for (k, r) in &results.results {
        let (Ok(m), Some(method)) = (&r.outcome, methods.get(&k.run)) else {
            continue;
        };
        groups
            .entry((method.clone(), k.layer.clone()))
            .or_default()
            .entry(k.run.clone())
            .or_default()
            .push((k.step, m));
    }

    let label_free: Vec<Metric> = Metric::in_view(View::Correlate).collect();
    let mut rows = Vec::new();
    for ((method, layer), runs) in groups {
        let mut summaries = Vec::new();
        let mut trends: BTreeMap<Metric, Vec<Trend>> = BTreeMap::new();
        let mut probe_trends = Vec::new();
        let mut instability = Vec::new();
        let mut milestones = usize::MAX;
        for (run, mut points) in runs.iter().map(|(r, p)| (r, p.clone())) {
            points.sort_by_key(|(s, _)| *s);
            points.dedup_by_key(|(s, _)| *s);
            milestones = milestones.min(points.len());
            let scalars = results.scalars.get(run).map_or(&[][..], Vec::as_slice);
            let summary = analysis::summarize(run, &layer, &points, scalars, choice);
            for metric in trend_metrics() {
                trends
                    .entry(metric)
                    .or_default()
                    .push(trend(&points, metric));
            }
            probe_trends.push(probe_trend(&summary));
            instability.push(early_instability(&points, &label_free));
            summaries.push(summary);
        }
        let source = summaries
            .iter()
            .map(|s| s.probe_source)
            .reduce(|a, b| if a == b { a } else { ProbeSource::Mixed })
            .unwrap_or(ProbeSource::None);
        let metrics = trend_metrics()
            .map(|metric| {
                let t = trends.get(&metric).map_or(&[][..], Vec::as_slice);
                let corr = |late: bool| {
                    Stat::of(summaries.iter().map(|s| {
                        s.correlations
                            .iter()
                            .find(|c| c.metric == metric)
                            .and_then(|c| if late { c.late } else { c.all })
                    }))
                };
                MetricRow {
                    metric: metric.key().to_string(),
                    first: Stat::of(t.iter().map(|t| t.first)),
                    last: Stat::of(t.iter().map(|t| t.last)),
                    vs_step: Stat::of(t.iter().map(|t| t.vs_step)),
                    vs_probe_all: corr(false),
                    vs_probe_late: corr(true),
                }
            })
            .collect();
        let warnings = summaries
            .iter()
            .flat_map(|s| {
                s.probe_warnings
                    .iter()
                    .map(move |w| format!("{}: {w}", s.run))
            })
            .collect();
        rows.push(MethodLayer {
            probe: MetricRow {
                metric: "probe_acc".into(),
                first: Stat::of(probe_trends.iter().map(|t| t.first)),
                last: Stat::of(probe_trends.iter().map(|t| t.last)),
                vs_step: Stat::of(probe_trends.iter().map(|t| t.vs_step)),
                vs_probe_all: None,
                vs_probe_late: None,
            },
            method,
            layer,
            runs: runs.keys().cloned().collect(),
            milestones: if milestones == usize::MAX {
                0
            } else {
                milestones
            },
            probe_source: source,
            metrics,
            early_instability: Stat::of(instability),
            warnings,
        });
    }

    let layer = findings_layer
        .map(str::to_string)
        .or_else(|| {
            let layers: Vec<&str> = rows.iter().map(|r| r.layer.as_str()).collect();
            ["h", "emb", "z"]
                .iter()
                .find(|l| layers.contains(l))
                .map(|l| l.to_string())
                .or_else(|| layers.first().map(|l| l.to_string()))
        })
        .unwrap_or_else(|| "h".into());
    let findings = findings(&rows, &layer);
    Study {
        runs: methods.len(),
        rows,
        findings,
    }
}

/// Probe accuracy of a summary's milestones: first, last, trend.
fn probe_trend(s: &analysis::LayerSummary) -> Trend {
    Trend::of(s.probe.iter().map(|&(step, p)| (step as f64, p)))
}

/// A mean ± sd over seeds; `number` formats each part (the mean of a
/// correlation with a sign, a value without).
fn fmt_with(s: Option<Stat>, digits: usize, number: fn(f64, usize) -> String) -> String {
    match s {
        None => "-".into(),
        Some(Stat { mean, sd: None, .. }) => number(mean, digits),
        Some(Stat {
            mean, sd: Some(sd), ..
        }) => format!("{}±{}", number(mean, digits), text::fixed(sd, digits)),
    }
}

/// A correlation: always signed.
fn fmt_stat(s: Option<Stat>, digits: usize) -> String {
    fmt_with(s, digits, text::signed)
}

/// A value (not a correlation): no forced sign.
fn fmt_value(s: Option<Stat>, digits: usize) -> String {
    fmt_with(s, digits, text::fixed)
}

fn mean_of(s: Option<Stat>) -> Option<f64> {
    s.map(|s| s.mean)
}

/// What one method's numbers say about a finding.
enum Part {
    /// The claim is not about this method.
    Skip,
    /// The numbers the check needs are missing: said, not counted.
    Missing(String),
    /// Whether the method behaves as claimed, and the numbers why.
    Checked(bool, String),
}

/// The claim's expectation for `method`: `Some(true)` for the contrastive
/// methods, `Some(false)` for SimSiam, `None` for methods it is not about.
fn contrastive(method: &str) -> Option<bool> {
    if CONTRASTIVE.contains(&method) {
        Some(true)
    } else {
        (method == NON_CONTRASTIVE).then_some(false)
    }
}

/// Check `claim` on every method of `on` with `check`.
fn finding(
    claim: &'static str,
    layer: &str,
    on: &BTreeMap<&str, &MethodLayer>,
    check: impl Fn(&str, &MethodLayer) -> Part,
) -> Finding {
    let mut parts = Vec::new();
    let mut evidence = Vec::new();
    for (method, r) in on {
        match check(method, r) {
            Part::Skip => {}
            Part::Missing(e) => evidence.push(format!("{method}: {e}")),
            Part::Checked(ok, e) => {
                parts.push(ok);
                evidence.push(format!("{method}: {e}"));
            }
        }
    }
    Finding {
        claim,
        layer: layer.into(),
        verdict: Verdict::of(&parts),
        evidence,
    }
}

fn metric<'a>(r: &'a MethodLayer, name: &str) -> Option<&'a MetricRow> {
    r.metrics.iter().find(|m| m.metric == name)
}

/// The paper's four findings, checked on `layer`.
fn findings(rows: &[MethodLayer], layer: &str) -> Vec<Finding> {
    let on: BTreeMap<&str, &MethodLayer> = rows
        .iter()
        .filter(|r| r.layer == layer)
        .map(|r| (r.method.as_str(), r))
        .collect();
    vec![
        finding(
            "the clustering metrics (silhouette, AMI between clusterings) track probe accuracy for SimCLR and MoCo-v2 but not for SimSiam",
            layer,
            &on,
            |method, r| {
                let Some(contrastive) = contrastive(method) else {
                    return Part::Skip;
                };
                let corr: Vec<(&str, Option<Stat>)> = CLUSTERING
                    .iter()
                    .map(|&c| (c, metric(r, c).and_then(|m| m.vs_probe_all)))
                    .collect();
                if corr.iter().any(|(_, s)| s.is_none()) {
                    return Part::Missing(
                        "no correlation with the probe (no probe accuracy)".into(),
                    );
                }
                // both at least TRACKS: tracks; both below: does not; one
                // of each: neither (meets no expectation)
                let above = corr
                    .iter()
                    .filter(|(_, s)| mean_of(*s).is_some_and(|m| m >= TRACKS))
                    .count();
                let found = match above {
                    n if n == corr.len() => "tracks",
                    0 => "does not track",
                    _ => "mixed: one tracks, one does not",
                };
                let expected = if contrastive {
                    "tracks"
                } else {
                    "does not track"
                };
                let nums: Vec<String> = corr
                    .iter()
                    .map(|(c, s)| format!("{c} {}", fmt_stat(*s, 2)))
                    .collect();
                Part::Checked(
                    found == expected,
                    format!(
                        "ρ with probe {} -> {found} (expected: {expected})",
                        nums.join(", ")
                    ),
                )
            },
        ),
        finding(
            "entropy falls over training for the contrastive methods (SimCLR, MoCo-v2) and rises for SimSiam",
            layer,
            &on,
            |method, r| {
                let (Some(contrastive), Some(m)) = (contrastive(method), metric(r, "entropy_bits"))
                else {
                    return Part::Skip;
                };
                let Some(rho) = mean_of(m.vs_step) else {
                    return Part::Missing("no entropy values".into());
                };
                let direction = if rho <= -TREND {
                    "falls"
                } else if rho >= TREND {
                    "rises"
                } else {
                    "no clear trend"
                };
                let expected = if contrastive { "falls" } else { "rises" };
                Part::Checked(
                    direction == expected,
                    format!(
                        "entropy {} -> {} bits, ρ with step {} -> {direction} (expected: {expected})",
                        fmt_value(m.first, 1),
                        fmt_value(m.last, 1),
                        fmt_stat(m.vs_step, 2)
                    ),
                )
            },
        ),
        finding(
            "the early milestones are unstable (the label-free metrics jump more early in training than later)",
            layer,
            &on,
            |_, r| {
                let Some(s) = r.early_instability else {
                    return Part::Missing("fewer than 5 milestones".into());
                };
                let unstable = s.mean >= UNSTABLE;
                Part::Checked(
                    unstable,
                    format!(
                        "label-free metrics move {:.1}x as much per milestone in the first {:.0}% as later (sd {}) -> {}",
                        s.mean,
                        EARLY_FRACTION * 100.0,
                        s.sd.map_or("-".into(), |v| format!("{v:.1}")),
                        if unstable {
                            "unstable early"
                        } else {
                            "not markedly unstable early"
                        }
                    ),
                )
            },
        ),
        finding(
            "AMI between the k-means clustering and the labels rises over training",
            layer,
            &on,
            |_, r| {
                let Some(m) = metric(r, "ami_labels") else {
                    return Part::Skip;
                };
                let (Some(rho), Some(first), Some(last)) =
                    (mean_of(m.vs_step), mean_of(m.first), mean_of(m.last))
                else {
                    return Part::Missing("no AMI with labels (no labels.npy)".into());
                };
                let rises = rho >= TREND && last > first;
                Part::Checked(
                    rises,
                    format!(
                        "AMI with labels {first:.3} -> {last:.3}, ρ with step {} -> {}",
                        fmt_stat(m.vs_step, 2),
                        if rises { "rises" } else { "does not rise" }
                    ),
                )
            },
        ),
    ]
}

/// Output formats of the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyFormat {
    Table,
    Markdown,
    Json,
}

fn source_words(s: ProbeSource) -> &'static str {
    match s {
        ProbeSource::Trainer => "trainer (scalars.jsonl)",
        ProbeSource::Own => "own (labels.npy)",
        ProbeSource::Mixed => "mixed (trainer where logged, else own)",
        ProbeSource::None => "none",
    }
}

/// The study as text (`Table`, `Markdown`) or one JSON object. Run and
/// layer names come from disk: sanitised for the terminal.
pub fn render(study: &Study, format: StudyFormat) -> String {
    match format {
        StudyFormat::Json => serde_json::to_string_pretty(study).unwrap_or_default() + "\n",
        StudyFormat::Table => render_text(study, false),
        StudyFormat::Markdown => render_text(study, true),
    }
}

fn render_text(study: &Study, md: bool) -> String {
    let mut out = String::new();
    let header = [
        "method",
        "layer",
        "metric",
        "first",
        "last",
        "ρ step",
        "ρ probe",
        "ρ probe late",
    ];
    let mut table: Vec<Vec<String>> = Vec::new();
    for r in &study.rows {
        let method = text::sanitize(&r.method).into_owned();
        let layer = text::sanitize(&r.layer).into_owned();
        for m in std::iter::once(&r.probe).chain(&r.metrics) {
            if m.first.is_none() && m.vs_step.is_none() {
                continue;
            }
            let digits = if m.metric == "entropy_bits" || m.metric == "rankme" {
                1
            } else {
                3
            };
            let plain = |s: Option<Stat>| fmt_value(s, digits);
            table.push(vec![
                method.clone(),
                layer.clone(),
                m.metric.clone(),
                plain(m.first),
                plain(m.last),
                fmt_stat(m.vs_step, 2),
                fmt_stat(m.vs_probe_all, 2),
                fmt_stat(m.vs_probe_late, 2),
            ]);
        }
    }
    let runs_line = format!(
        "{} runs; {}",
        study.runs,
        study
            .rows
            .iter()
            .filter(|r| Some(&r.layer) == study.rows.first().map(|f| &f.layer))
            .map(|r| format!(
                "{}: {} seed(s), {} milestones, probe {}",
                text::sanitize(&r.method),
                r.runs.len(),
                r.milestones,
                source_words(r.probe_source)
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    if md {
        let _ = writeln!(out, "{runs_line}\n");
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}|", vec!["---"; header.len()].join("|"));
        for row in &table {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        let _ = writeln!(out, "\nMean ± sd over seeds; ρ = Spearman correlation over milestones; \"late\" leaves out the first 20% of milestones.\n");
        for (i, f) in study.findings.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. **{}** (layer `{}`): **{}**",
                i + 1,
                f.claim,
                text::sanitize(&f.layer),
                f.verdict.text()
            );
            for e in &f.evidence {
                let _ = writeln!(out, "   - {}", text::sanitize(e));
            }
        }
    } else {
        let _ = writeln!(out, "{runs_line}");
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &table {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let head: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        let _ = writeln!(out, "{}", line(&head));
        for row in &table {
            let _ = writeln!(out, "{}", line(row));
        }
        let _ = writeln!(
            out,
            "(mean±sd over seeds; ρ = Spearman over milestones; late = without the first 20%)\n"
        );
        let _ = writeln!(out, "the paper's findings, checked on these runs:");
        for (i, f) in study.findings.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. {} (layer {}): {}",
                i + 1,
                f.claim,
                text::sanitize(&f.layer),
                f.verdict.text().to_uppercase()
            );
            for e in &f.evidence {
                let _ = writeln!(out, "   {}", text::sanitize(e));
            }
        }
    }
    let warnings: Vec<&String> = study.rows.iter().flat_map(|r| &r.warnings).collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "{}", if md { "\nWarnings:\n" } else { "\nwarnings:" });
        for w in warnings {
            let _ = writeln!(out, "{}{}", if md { "- " } else { "  " }, text::sanitize(w));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::ScalarPoint;
    use crate::watch::event::{MilestoneKey, MilestoneResult};

    #[test]
    fn stat_is_mean_and_sample_sd() {
        let s = Stat::of([Some(1.0), Some(3.0), None, Some(f64::NAN)]).unwrap();
        assert_eq!((s.mean, s.n), (2.0, 2));
        // sample sd of {1, 3}: sqrt(((1-2)^2 + (3-2)^2) / 1) = sqrt(2)
        assert!((s.sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(Stat::of([Some(5.0)]).unwrap().sd, None);
        assert!(Stat::of([None]).is_none());
    }

    #[test]
    fn method_from_run_json_or_the_directory_name() {
        assert_eq!(method_of("digits/simclr-s0", None), "simclr");
        assert_eq!(method_of("moco-s1", Some("MoCo")), "moco");
        assert_eq!(method_of("x/y/simsiam", None), "simsiam");
    }

    fn metrics(entropy: f64, sil: f64, ami: f64, ami_labels: f64) -> LayerMetrics {
        LayerMetrics {
            n: 100,
            dim: 8,
            k: 10,
            values: crate::metrics::Values::of([
                (Metric::EntropyBits, Some(entropy)),
                (Metric::Silhouette, Some(sil)),
                (Metric::AmiAgreement, Some(ami)),
                (Metric::AmiLabels, Some(ami_labels)),
                (Metric::Rankme, Some(5.0 + sil)),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn early_instability_by_hand() {
        // silhouette 0, 10, 11, 12, 13, 14 (range 14): changes 10, 1, 1, 1, 1.
        // 6 milestones, early = first ceil(6 * 0.2) = 2 milestones -> one
        // change (10/14); late changes 1/14 each: ratio 10.
        let ms: Vec<LayerMetrics> = [0.0, 10.0, 11.0, 12.0, 13.0, 14.0]
            .iter()
            .map(|&s| LayerMetrics {
                values: crate::metrics::Values::of([(Metric::Silhouette, Some(s))]),
                ..Default::default()
            })
            .collect();
        let pts: Vec<(u64, &LayerMetrics)> =
            ms.iter().enumerate().map(|(i, m)| (i as u64, m)).collect();
        let r = early_instability(&pts, &[Metric::Silhouette]).unwrap();
        assert!((r - 10.0).abs() < 1e-12, "{r}");
        // too few milestones
        assert!(early_instability(&pts[..4], &[Metric::Silhouette]).is_none());
    }

    /// Runs whose metrics follow `f(method, seed, step)`; the trainer's
    /// probe rises with the step in every run.
    fn collected(
        runs: &[(&str, u64)],
        f: impl Fn(&str, u64, u64) -> LayerMetrics,
    ) -> (Collected, BTreeMap<String, String>) {
        let mut c = Collected::default();
        let mut methods = BTreeMap::new();
        for &(method, seed) in runs {
            let run = format!("{method}-s{seed}");
            methods.insert(run.clone(), method.to_string());
            let mut points = Vec::new();
            for step in 0..10u64 {
                let key = MilestoneKey {
                    run: run.clone(),
                    step,
                    layer: "h".into(),
                };
                c.results.insert(
                    key.clone(),
                    MilestoneResult {
                        key,
                        step_name: format!("epoch_{step:04}"),
                        file: PathBuf::from("x"),
                        cached: false,
                        modified: None,
                        outcome: Ok(f(method, seed, step)),
                    },
                );
                points.push(ScalarPoint {
                    step,
                    values: [("probe_acc".to_string(), 0.5 + 0.04 * step as f64)]
                        .into_iter()
                        .collect(),
                });
            }
            c.scalars.insert(run, points);
        }
        (c, methods)
    }
    use std::path::PathBuf;

    fn the_paper(method: &str, seed: u64, step: u64) -> LayerMetrics {
        let t = step as f64 + 0.01 * seed as f64;
        // a jump between the first two milestones, then steady change
        let early = if step == 0 { -3.0 } else { 0.0 };
        match method {
            "simsiam" => metrics(
                10.0 + t,
                0.3 - 0.01 * t,
                0.5 - 0.02 * t,
                0.1 + 0.05 * t + 0.01 * early,
            ),
            _ => metrics(
                20.0 - t - early,
                0.1 + 0.02 * t + 0.1 * early,
                0.3 + 0.03 * t,
                0.1 + 0.05 * t,
            ),
        }
    }

    #[test]
    fn the_papers_findings_hold_on_runs_that_behave_like_the_paper() {
        let runs = [
            ("simclr", 0),
            ("simclr", 1),
            ("moco", 0),
            ("simsiam", 0),
            ("simsiam", 1),
        ];
        let (c, methods) = collected(&runs, the_paper);
        let s = analyse(&c, &methods, ProbeChoice::Auto, None);
        assert_eq!(s.runs, 5);
        let verdicts: Vec<Verdict> = s.findings.iter().map(|f| f.verdict).collect();
        assert_eq!(verdicts[0], Verdict::Holds, "{:#?}", s.findings[0]);
        assert_eq!(verdicts[1], Verdict::Holds, "{:#?}", s.findings[1]);
        assert_eq!(verdicts[3], Verdict::Holds, "{:#?}", s.findings[3]);
        let simclr = s.rows.iter().find(|r| r.method == "simclr").unwrap();
        assert_eq!(simclr.runs, vec!["simclr-s0", "simclr-s1"]);
        assert_eq!(simclr.milestones, 10);
        assert_eq!(simclr.probe_source, ProbeSource::Trainer);
        // probe 0.5 -> 0.86 in both seeds: sd 0
        let p = simclr.probe.last.unwrap();
        assert!(
            (p.mean - 0.86).abs() < 1e-9 && p.sd.unwrap() < 1e-9,
            "{p:?}"
        );
        let ent = simclr
            .metrics
            .iter()
            .find(|m| m.metric == "entropy_bits")
            .unwrap();
        // entropy falls monotonically after the first milestone
        assert!(ent.vs_step.unwrap().mean < -0.9);
        assert!(ent.vs_probe_all.unwrap().mean < -0.9);
        let text = render(&s, StudyFormat::Table);
        assert!(text.contains("HOLDS HERE"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render(&s, StudyFormat::Json)).unwrap();
        assert_eq!(json["findings"][0]["verdict"], "holds");
        assert!(render(&s, StudyFormat::Markdown).contains("| method | layer |"));
    }

    #[test]
    fn a_finding_the_runs_contradict_does_not_hold() {
        // every method's entropy rises and clustering falls while the probe rises
        let (c, methods) = collected(&[("simclr", 0), ("simsiam", 0)], |_, _, step| {
            let t = step as f64;
            metrics(10.0 + t, 0.5 - 0.01 * t, 0.5 - 0.01 * t, 0.5 - 0.01 * t)
        });
        let s = analyse(&c, &methods, ProbeChoice::Auto, Some("h"));
        // 1: simclr should track but does not, simsiam should not and does not
        assert_eq!(
            s.findings[0].verdict,
            Verdict::Partly,
            "{:#?}",
            s.findings[0]
        );
        // 2: simclr's entropy rises (expected to fall), simsiam's rises
        assert_eq!(s.findings[1].verdict, Verdict::Partly);
        // 3: steady change, no early jump
        assert_eq!(s.findings[2].verdict, Verdict::DoesNotHold);
        // 4: AMI with labels falls
        assert_eq!(s.findings[3].verdict, Verdict::DoesNotHold);
        assert!(render(&s, StudyFormat::Table).contains("DOES NOT HOLD HERE"));
    }

    #[test]
    fn one_clustering_metric_tracking_meets_neither_expectation() {
        // SimSiam: silhouette rises with the probe, AMI between clusterings falls
        let (c, methods) = collected(&[("simsiam", 0)], |_, _, step| {
            let t = step as f64;
            metrics(10.0 + t, 0.1 + 0.01 * t, 0.9 - 0.01 * t, 0.1 + 0.01 * t)
        });
        let s = analyse(&c, &methods, ProbeChoice::Auto, None);
        assert_eq!(s.findings[0].verdict, Verdict::DoesNotHold);
        assert!(
            s.findings[0].evidence[0].contains("mixed"),
            "{:?}",
            s.findings[0]
        );
    }

    #[test]
    fn without_the_methods_a_finding_cannot_be_tested() {
        let (c, methods) = collected(&[("byol", 0)], the_paper);
        let s = analyse(&c, &methods, ProbeChoice::Auto, None);
        assert_eq!(s.findings[0].verdict, Verdict::NotTestable);
        assert_eq!(s.findings[1].verdict, Verdict::NotTestable);
        // a layer that does not exist: nothing to test
        let s = analyse(&c, &methods, ProbeChoice::Auto, Some("nope"));
        assert!(s.findings.iter().all(|f| f.verdict == Verdict::NotTestable));
    }
}
