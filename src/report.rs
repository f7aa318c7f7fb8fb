//! Formatting engine results for `sslwatch report`: one row per (run, step,
//! layer) as a table, CSV, JSON Lines or Markdown, and the per-run summary
//! (latest values and Spearman correlations with probe accuracy, see
//! [`crate::runs::analysis`]).
//!
//! JSON Lines (`--format json`): every result line has `run`, `step`,
//! `step_name`, `layer`, `status` (`ok` | `error`), `cached`, `file`, then
//! either every metric (null where it does not apply) or `error`. Other
//! lines carry an `event` key instead of `status`:
//! `{"event":"run_removed","run":...}`,
//! `{"event":"milestone_removed","run":...,"step":...}`,
//! `{"event":"alert",...}` ([`alert_json`]) and, at the end of a report
//! without `--follow` (and when `--follow` is stopped), one
//! `{"event":"summary",...}` per run and layer.
//!
//! Table and Markdown text is for a terminal: names, paths, warnings and
//! errors from disk go through [`crate::text::sanitize`] and columns are
//! aligned by display width. CSV and JSON keep the exact strings (they
//! escape by their own rules).

use crate::alerts::Alert;
use crate::metrics::{LayerMetrics, Metric, View};
use crate::runs::analysis::{self, LayerSummary, ProbeChoice};
use crate::runs::meta::MAX_SCALAR_POINTS;
use crate::runs::ScalarPoint;
use crate::text::{self, sanitize};
use crate::watch::event::{EngineEvent, MilestoneKey, MilestoneResult, WatchMode};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Markdown,
}

impl Format {
    /// CSV and JSON keep stdout machine-readable: headers, warnings and
    /// progress go to stderr.
    pub fn machine_readable(self) -> bool {
        matches!(self, Format::Csv | Format::Json)
    }
}

/// The metric columns of table and Markdown rows, in registry order
/// ([`View::Table`]); CSV and JSON have every metric.
pub fn table_metrics() -> impl Iterator<Item = Metric> {
    Metric::in_view(View::Table)
}

/// A watch mode in words (`native (inotify)`, `polling every 2 s (--poll)`).
pub fn mode_text(mode: &WatchMode) -> String {
    match mode {
        WatchMode::Native => "native file events".into(),
        WatchMode::Poll { interval, reason } if interval.is_zero() => reason.clone(),
        WatchMode::Poll { interval, reason } => {
            format!(
                "polling every {} s ({reason})",
                trim_float(interval.as_secs_f64())
            )
        }
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The JSON object of one result.
pub fn result_json(r: &MilestoneResult) -> Value {
    let mut obj = Map::new();
    obj.insert("run".into(), r.key.run.clone().into());
    obj.insert("step".into(), r.key.step.into());
    obj.insert("step_name".into(), r.step_name.clone().into());
    obj.insert("layer".into(), r.key.layer.clone().into());
    obj.insert(
        "status".into(),
        if r.outcome.is_ok() { "ok" } else { "error" }.into(),
    );
    obj.insert("cached".into(), r.cached.into());
    obj.insert("file".into(), r.file.display().to_string().into());
    match &r.outcome {
        Ok(m) => {
            if let Ok(Value::Object(fields)) = serde_json::to_value(m) {
                obj.extend(fields);
            }
        }
        Err(e) => {
            obj.insert("error".into(), e.clone().into());
        }
    }
    Value::Object(obj)
}

/// The JSON line of an event `--follow` prints, if it prints one.
pub fn event_json(ev: &EngineEvent) -> Option<Value> {
    match ev {
        EngineEvent::Result(r) => Some(result_json(r)),
        EngineEvent::RunRemoved { run } => Some(json!({"event": "run_removed", "run": run})),
        EngineEvent::MilestoneRemoved { run, step } => {
            Some(json!({"event": "milestone_removed", "run": run, "step": step}))
        }
        // The results that follow for this step replace the earlier ones.
        EngineEvent::Changed { run, step, file } => Some(json!({
            "event": "changed", "run": run, "step": step, "file": file.display().to_string()
        })),
        _ => None,
    }
}

/// The JSON line of an alert: `event` = `alert`, `run`, `step`, `layer`
/// (null for the per-run stale rule), `rule` (its stable key), `value`,
/// `threshold` (null where there is none) and `message`.
pub fn alert_json(a: &Alert) -> Value {
    json!({
        "event": "alert",
        "run": a.run,
        "step": a.step,
        "layer": a.layer,
        "rule": a.rule,
        "value": a.value,
        "threshold": a.threshold,
        "message": a.message,
    })
}

/// `ALERT run step layer: message` for a terminal (sanitised; `-` for no
/// step or layer).
pub fn alert_line(a: &Alert) -> String {
    format!(
        "ALERT {} {} {}: {}",
        sanitize(&a.run),
        a.step.map_or_else(|| "-".into(), |s| s.to_string()),
        a.layer.as_deref().map_or_else(|| "-".into(), sanitize),
        sanitize(&a.message)
    )
}

/// The alerts a report's rows triggered, after its summary: JSON lines, or
/// an `Alerts` list of [`alert_line`]s (table and CSV: the CSV one goes to
/// stderr), or a Markdown section.
pub fn render_alerts(alerts: &[Alert], format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            for a in alerts {
                let _ = writeln!(out, "{}", alert_json(a));
            }
        }
        Format::Table | Format::Csv if alerts.is_empty() => out.push_str("Alerts: none\n"),
        Format::Table | Format::Csv => {
            let _ = writeln!(out, "Alerts ({}):", alerts.len());
            for a in alerts {
                let _ = writeln!(out, "  {}", alert_line(a));
            }
        }
        Format::Markdown => {
            out.push_str("\n### Alerts\n\n");
            if alerts.is_empty() {
                out.push_str("None.\n");
            }
            for a in alerts {
                let _ = writeln!(out, "- {}", md_cell(&alert_line(a)));
            }
        }
    }
    out
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), text::metric)
}

/// A Markdown table cell: sanitised, `|` escaped.
fn md_cell(s: &str) -> String {
    sanitize(s).replace('|', "\\|")
}

/// CSV columns before and after the metrics (one per registry row).
const CSV_BEFORE: [&str; 9] = [
    "run",
    "step",
    "step_name",
    "layer",
    "status",
    "cached",
    "n",
    "dim",
    "k",
];
const CSV_AFTER: [&str; 4] = ["nonfinite_rows", "seconds", "error", "warnings"];

/// One CSV record, quoted as needed by the `csv` crate.
fn csv_line<I: AsRef<[u8]>>(fields: impl IntoIterator<Item = I>) -> String {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to memory cannot fail; an empty line would show if it did.
    let _ = w.write_record(fields);
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes)
        .trim_end_matches('\n')
        .to_string()
}

fn csv_header() -> String {
    csv_line(
        CSV_BEFORE
            .into_iter()
            .chain(Metric::ALL.iter().map(|m| m.key()))
            .chain(CSV_AFTER),
    )
}

fn csv_row(r: &MilestoneResult) -> String {
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    let mut f: Vec<String> = vec![
        r.key.run.clone(),
        r.key.step.to_string(),
        r.step_name.clone(),
        r.key.layer.clone(),
        if r.outcome.is_ok() { "ok" } else { "error" }.into(),
        r.cached.to_string(),
    ];
    match &r.outcome {
        Ok(m) => {
            f.extend([m.n.to_string(), m.dim.to_string(), m.k.to_string()]);
            f.extend(m.values.iter().map(|(_, v)| opt(v)));
            f.extend([m.nonfinite_rows.to_string(), format!("{:.3}", m.seconds)]);
            f.push(String::new());
            f.push(m.warnings.join("; "));
        }
        Err(e) => {
            let empty = CSV_BEFORE.len() - f.len() + Metric::ALL.len() + 2;
            f.extend(std::iter::repeat_n(String::new(), empty));
            f.push(e.clone());
            f.push(String::new());
        }
    }
    csv_line(&f)
}

/// The cells of a table or Markdown row, sanitised.
fn cells(r: &MilestoneResult) -> Vec<String> {
    let mut c = vec![
        sanitize(&r.key.run).into_owned(),
        r.key.step.to_string(),
        sanitize(&r.key.layer).into_owned(),
    ];
    match &r.outcome {
        Ok(m) => {
            c.push(m.n.to_string());
            c.extend(table_metrics().map(|k| num(m.get(k))));
            let mut note = if r.cached {
                "cached".to_string()
            } else {
                format!("{:.2}s", m.seconds)
            };
            if !m.warnings.is_empty() {
                let _ = write!(note, "; {}", sanitize(&m.warnings.join("; ")));
            }
            c.push(note);
        }
        Err(e) => {
            c.push("-".into());
            c.extend(table_metrics().map(|_| "-".to_string()));
            c.push(format!("ERROR {}", sanitize(e)));
        }
    }
    c
}

fn headings() -> Vec<String> {
    let mut h: Vec<String> = ["run", "step", "layer", "n"].map(String::from).to_vec();
    h.extend(table_metrics().map(|m| m.def().short.to_string()));
    h.push("note".into());
    h
}

/// Rows laid out with every column as wide as its widest cell in display
/// columns (the last, free-text column is not padded).
fn aligned(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| text::width(c)))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else if i >= 3 {
                line.push_str(&text::pad_start(cell, widths[i]));
                line.push_str("  ");
            } else {
                line.push_str(&text::pad_end(cell, widths[i]));
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// All results in `format` (with the header row).
pub fn render_results(results: &[&MilestoneResult], format: Format) -> String {
    match format {
        Format::Json => results
            .iter()
            .map(|r| format!("{}\n", result_json(r)))
            .collect(),
        Format::Csv => {
            let mut out = format!("{}\n", csv_header());
            for r in results {
                out.push_str(&csv_row(r));
                out.push('\n');
            }
            out
        }
        Format::Table => {
            let mut rows = vec![headings()];
            rows.extend(results.iter().map(|r| cells(r)));
            aligned(&rows)
        }
        Format::Markdown => {
            let h = headings();
            let mut out = format!("| {} |\n|{}\n", h.join(" | "), "---|".repeat(h.len()));
            for r in results {
                let c: Vec<String> = cells(r).iter().map(|c| md_cell(c)).collect();
                let _ = writeln!(out, "| {} |", c.join(" | "));
            }
            out
        }
    }
}

/// The header row printed once before `--follow` rows (none for JSON).
pub fn follow_header(format: Format) -> Option<String> {
    match format {
        Format::Json => None,
        Format::Csv => Some(csv_header()),
        Format::Table => Some(follow_row(&headings())),
        Format::Markdown => {
            let h = headings();
            Some(format!(
                "| {} |\n|{}",
                h.join(" | "),
                "---|".repeat(h.len())
            ))
        }
    }
}

fn follow_row(c: &[String]) -> String {
    // Fixed widths: rows are printed as they come.
    // run, step, layer, n, then the metrics; the note is not padded.
    let widths = [24, 8, 6, 6];
    let mut line = String::new();
    for (i, cell) in c.iter().enumerate() {
        if i + 1 == c.len() {
            line.push_str(cell);
        } else if i < 3 {
            line.push_str(&text::pad_end(cell, widths[i]));
            line.push_str("  ");
        } else {
            line.push_str(&text::pad_start(cell, widths.get(i).copied().unwrap_or(8)));
            line.push_str("  ");
        }
    }
    line.trim_end().to_string()
}

/// One `--follow` line for an event, if it prints one.
pub fn follow_line(ev: &EngineEvent, format: Format) -> Option<String> {
    match format {
        Format::Json => event_json(ev).map(|v| v.to_string()),
        _ => match ev {
            EngineEvent::Result(r) => Some(match format {
                Format::Csv => csv_row(r),
                Format::Markdown => {
                    let c: Vec<String> = cells(r).iter().map(|c| md_cell(c)).collect();
                    format!("| {} |", c.join(" | "))
                }
                _ => follow_row(&cells(r)),
            }),
            _ => None,
        },
    }
}

/// Everything a report shows, gathered from the event stream.
#[derive(Debug, Default)]
pub struct Collected {
    pub results: BTreeMap<MilestoneKey, MilestoneResult>,
    pub scalars: BTreeMap<String, Vec<ScalarPoint>>,
    pub computed: usize,
    pub cached: usize,
    pub errors: usize,
}

impl Collected {
    pub fn apply(&mut self, ev: &EngineEvent) {
        match ev {
            EngineEvent::Result(r) => {
                if r.outcome.is_err() {
                    self.errors += 1;
                } else if r.cached {
                    self.cached += 1;
                } else {
                    self.computed += 1;
                }
                self.results.insert(r.key.clone(), (**r).clone());
            }
            EngineEvent::MilestoneRemoved { run, step } => {
                self.results
                    .retain(|k, _| !(&k.run == run && k.step == *step));
            }
            EngineEvent::RunRemoved { run } => {
                self.results.retain(|k, _| &k.run != run);
                self.scalars.remove(run);
            }
            EngineEvent::Scalars {
                run,
                points,
                from_start,
            } => {
                let kept = self.scalars.entry(run.clone()).or_default();
                if *from_start {
                    kept.clear();
                }
                kept.extend_from_slice(points);
                // Bounded: the newest points.
                let extra = kept.len().saturating_sub(MAX_SCALAR_POINTS);
                kept.drain(..extra);
            }
            _ => {}
        }
    }

    /// Results in (run, step, layer) order.
    pub fn rows(&self) -> Vec<&MilestoneResult> {
        self.results.values().collect()
    }

    /// One summary per (run, layer) with metrics, correlated with the
    /// probe accuracy `probe` asks for.
    pub fn summaries(&self, probe: ProbeChoice) -> Vec<LayerSummary> {
        let mut groups: BTreeMap<(&str, &str), Vec<(u64, &LayerMetrics)>> = BTreeMap::new();
        for (k, r) in &self.results {
            if let Ok(m) = &r.outcome {
                groups
                    .entry((&k.run, &k.layer))
                    .or_default()
                    .push((k.step, m));
            }
        }
        groups
            .into_iter()
            .map(|((run, layer), pts)| {
                let scalars = self.scalars.get(run).map_or(&[][..], Vec::as_slice);
                analysis::summarize(run, layer, &pts, scalars, probe)
            })
            .collect()
    }

    /// "computed N, cached M, errors E".
    pub fn counts(&self) -> String {
        format!(
            "computed {}, cached {}, errors {}",
            self.computed, self.cached, self.errors
        )
    }
}

fn signed(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| text::signed(v, 2))
}

/// The per-run summary in `format` (JSON: one `{"event":"summary"}` line
/// each). The table and CSV summary is text for a terminal (the CSV one
/// goes to stderr): sanitised like the table.
pub fn render_summary(summaries: &[LayerSummary], format: Format) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            for s in summaries {
                let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.insert("event".into(), "summary".into());
                }
                let _ = writeln!(out, "{v}");
            }
        }
        Format::Table | Format::Csv => {
            out.push_str(
                "Summary (Spearman vs probe_acc over milestones: all / without the first 20%)\n",
            );
            for s in summaries {
                let _ = writeln!(
                    out,
                    "  {} [{}]: {} milestone(s), latest step {}",
                    sanitize(&s.run),
                    sanitize(&s.layer),
                    s.milestones,
                    s.latest_step.map_or("-".into(), |v| v.to_string())
                );
                if let Some(m) = &s.latest {
                    let latest: Vec<String> = table_metrics()
                        .filter_map(|k| {
                            m.get(k)
                                .map(|v| format!("{} {}", k.def().short, text::metric(v)))
                        })
                        .collect();
                    let _ = writeln!(out, "    latest: {}", latest.join(", "));
                }
                let _ = write!(out, "    {}", s.probe_text());
                for w in &s.probe_warnings {
                    let _ = write!(out, "\n    warning: {w}");
                }
                for c in &s.correlations {
                    let _ = write!(
                        out,
                        "\n      {:<14} {:>6} / {:>6}  (n={}/{})",
                        c.metric,
                        signed(c.all),
                        signed(c.late),
                        c.n_all,
                        c.n_late
                    );
                }
                out.push('\n');
            }
        }
        Format::Markdown => {
            out.push_str("\n### Summary\n\nSpearman rank correlation with probe_acc over milestones (all / leaving out the first 20%).\n\n");
            let mut h = vec!["run", "layer", "milestones", "latest step", "probe"];
            h.extend(Metric::in_view(View::Correlate).map(Metric::key));
            let _ = writeln!(out, "| {} |\n|{}", h.join(" | "), "---|".repeat(h.len()));
            for s in summaries {
                let mut c = vec![
                    md_cell(&s.run),
                    md_cell(&s.layer),
                    s.milestones.to_string(),
                    s.latest_step.map_or("-".into(), |v| v.to_string()),
                    md_cell(&s.probe_text()),
                ];
                for m in Metric::in_view(View::Correlate) {
                    c.push(
                        s.correlations
                            .iter()
                            .find(|x| x.metric == m)
                            .map_or("-".into(), |x| {
                                format!("{} / {}", signed(x.all), signed(x.late))
                            }),
                    );
                }
                let _ = writeln!(out, "| {} |", c.join(" | "));
            }
            let warned: Vec<&LayerSummary> = summaries
                .iter()
                .filter(|s| !s.probe_warnings.is_empty())
                .collect();
            if !warned.is_empty() {
                out.push_str("\nProbe warnings:\n\n");
                for s in warned {
                    for w in &s.probe_warnings {
                        let _ = writeln!(
                            out,
                            "- {} [{}]: {}",
                            md_cell(&s.run),
                            md_cell(&s.layer),
                            md_cell(w)
                        );
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn result(outcome: Result<LayerMetrics, String>) -> MilestoneResult {
        MilestoneResult {
            key: MilestoneKey {
                run: "a,b".into(),
                step: 20,
                layer: "h".into(),
            },
            step_name: "epoch_0020".into(),
            file: PathBuf::from("/r/a,b/milestones/epoch_0020/h.npy"),
            cached: true,
            modified: None,
            outcome,
        }
    }

    #[test]
    fn scalar_points_follow_or_replace_and_stay_bounded() {
        let pts = |steps: std::ops::Range<u64>| -> Vec<ScalarPoint> {
            steps
                .map(|step| ScalarPoint {
                    step,
                    values: BTreeMap::from([("probe_acc".to_string(), 0.5)]),
                })
                .collect()
        };
        let ev = |points, from_start| EngineEvent::Scalars {
            run: "r".into(),
            points,
            from_start,
        };
        let mut c = Collected::default();
        c.apply(&ev(pts(0..3), true));
        c.apply(&ev(pts(3..5), false));
        let steps = |c: &Collected| -> Vec<u64> { c.scalars["r"].iter().map(|p| p.step).collect() };
        assert_eq!(steps(&c), [0, 1, 2, 3, 4], "appended points follow");
        c.apply(&ev(pts(7..8), true));
        assert_eq!(steps(&c), [7], "a file read from its start replaces");
        let n = MAX_SCALAR_POINTS as u64;
        c.apply(&ev(pts(8..n + 10), false));
        assert_eq!(c.scalars["r"].len(), MAX_SCALAR_POINTS);
        // Steps 7..=n+9 are n+3 points: the 3 oldest go.
        assert_eq!(c.scalars["r"][0].step, 10, "the newest are kept");
    }

    #[test]
    fn json_lines_flatten_metrics_or_carry_the_error() {
        let ok = result_json(&result(Ok(LayerMetrics {
            n: 10,
            values: crate::metrics::Values::of([(Metric::Silhouette, Some(0.5))]),
            ..LayerMetrics::default()
        })));
        assert_eq!(ok["status"], "ok");
        assert_eq!(ok["cached"], true);
        assert_eq!(ok["silhouette"], 0.5);
        assert_eq!(ok["probe_acc"], Value::Null);
        let err = result_json(&result(Err("x.npy: corrupt: bad magic".into())));
        assert_eq!(err["status"], "error");
        assert_eq!(err["error"], "x.npy: corrupt: bad magic");
        let gone = event_json(&EngineEvent::RunRemoved { run: "r".into() }).unwrap();
        assert_eq!(gone, json!({"event": "run_removed", "run": "r"}));
    }

    #[test]
    fn alerts_are_json_lines_or_sanitised_alert_lines() {
        let a = Alert {
            run: "r\x1b[2J".into(),
            layer: None,
            step: Some(3),
            rule: "stale".into(),
            value: Some(1.0),
            threshold: None,
            message: "no new milestone".into(),
        };
        let v = alert_json(&a);
        assert_eq!(v["event"], "alert");
        assert_eq!(v["run"], "r\x1b[2J", "JSON keeps the exact name");
        assert_eq!(v["step"], 3);
        assert_eq!(v["layer"], Value::Null);
        assert_eq!(v["rule"], "stale");
        assert_eq!(v["value"], 1.0);
        assert_eq!(v["threshold"], Value::Null);
        assert_eq!(v["message"], "no new milestone");
        assert_eq!(
            alert_line(&a),
            "ALERT r\\x1b[2J 3 -: no new milestone",
            "the terminal line escapes it"
        );
        assert_eq!(render_alerts(&[], Format::Table), "Alerts: none\n");
        assert_eq!(render_alerts(&[], Format::Json), "");
        let listed = render_alerts(std::slice::from_ref(&a), Format::Csv);
        assert_eq!(listed, format!("Alerts (1):\n  {}\n", alert_line(&a)));
    }

    #[test]
    fn csv_quotes_and_keeps_column_count() {
        let header = csv_header();
        assert!(header.starts_with("run,step,step_name,layer,status,cached,n,dim,k,entropy_bits,"));
        assert!(header.ends_with(",kmeans_inertia,nonfinite_rows,seconds,error,warnings"));
        let header_cols = header.split(',').count();
        let ok = csv_row(&result(Ok(LayerMetrics::default())));
        let err = csv_row(&result(Err("bad, very".into())));
        assert!(ok.starts_with("\"a,b\",20,"));
        // Count columns outside quotes.
        let count = |s: &str| {
            let mut n = 1;
            let mut q = false;
            for ch in s.chars() {
                match ch {
                    '"' => q = !q,
                    ',' if !q => n += 1,
                    _ => {}
                }
            }
            n
        };
        assert_eq!(count(&ok), header_cols);
        assert_eq!(count(&err), header_cols);
    }
}
