//! Run detail: every metric of one run over its milestones, the Spearman
//! correlation of each label-free metric with probe accuracy (all
//! milestones, and without the first 20%), where that probe accuracy came
//! from and why it may not carry a correlation, the latest milestone's
//! numbers per layer, and its errors and warnings.

use super::format;
use super::sparkline::Sparkline;
use crate::metrics::View;
use crate::runs::analysis::LayerSummary;
use crate::text::{self, sanitize};
use crate::tui::app::{detail_metrics, App, Metric, RunState};
use crate::tui::series;
use crate::tui::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// Width of the metric-name column (the longest label and a space).
const NAME_W: usize = 12;
/// Width of "  value trend".
const VALUE_W: usize = 9;
/// Width of "  value (smoothed) trend" while smoothing is on.
const VALUE_SMOOTH_W: usize = 17;
/// Width of the two correlation columns.
const CORR_W: usize = 14;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(run) = app.selected_run() else {
        return;
    };
    let layer = app.current_layer().unwrap_or_default();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border_set())
        .title_bottom(
            Line::styled(" Esc close  h/l metric  L layer  s smooth ", theme.dim()).right_aligned(),
        );
    let block = titled(block, theme, run, &layer, area.width);
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    if inner.width < 20 || inner.height < 3 {
        return;
    }

    // Correlations on the raw values (smoothing is for the eye only), from
    // the engine's summary, the same numbers `report` prints.
    let fallback;
    let summary = match run.summaries.get(&layer) {
        Some(s) => s,
        None => {
            fallback = crate::tui::app::layer_summary(run, &layer, app.options.probe);
            &fallback
        }
    };
    let mut lines = focus_lines(app, theme, run, &layer);
    lines.extend(probe_lines(theme, summary));
    let below = lines.len() as u16;
    let mut y = inner.y;
    y = draw_curves(app, theme, frame, inner, y, run, &layer, summary, below);
    lines.extend(latest_lines(app, theme, run, inner.width as usize));
    // A blank line under the curves only when the rest fits below it.
    if inner.bottom().saturating_sub(y) as usize > lines.len() {
        y += 1;
    }
    if y < inner.bottom() {
        let rect = Rect {
            y,
            height: inner.bottom() - y,
            ..inner
        };
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), rect);
    }
}

/// The block's titles: the run's name and metadata on the left, cut with an
/// ellipsis when the terminal is narrow, and the layer on the right, which
/// always stays (the detail is about one layer).
fn titled<'a>(
    block: Block<'a>,
    theme: &Theme,
    run: &RunState,
    layer: &str,
    width: u16,
) -> Block<'a> {
    let style = theme.run(run.colour).patch(theme.strong());
    let layer = format!(
        " layer {} ",
        if layer.is_empty() {
            "-".into()
        } else {
            sanitize(layer)
        }
    );
    let meta = run.meta_label();
    let name = format!(
        " {}{}{} ",
        sanitize(&run.info.name),
        if meta.is_empty() { "" } else { " · " },
        sanitize(&meta)
    );
    // Corners take two columns; one more keeps the titles apart.
    let room = (width as usize).saturating_sub(2);
    let layer = format::truncate(&layer, room, theme.ellipsis());
    let left = room.saturating_sub(format::cols(&layer) + 1);
    let name = if format::cols(&name) > left {
        // Keep the closing space after the ellipsis.
        format!(
            "{} ",
            format::truncate(name.trim_end(), left.saturating_sub(1), theme.ellipsis())
        )
    } else {
        name
    };
    let block = if left >= 4 {
        block.title(Line::styled(name, style))
    } else {
        block
    };
    block.title(Line::styled(layer, style).right_aligned())
}

/// The metric h/l select (`app.metric`, highlighted in the rows above):
/// its latest raw value and that value's step (the smoothed one beside it
/// while smoothing is on), and its lowest and highest over the milestones.
fn focus_lines<'a>(app: &App, theme: &Theme, run: &RunState, layer: &str) -> Vec<Line<'a>> {
    let metric = app.metric;
    let mut text = format!("{} {}", theme.pointer(), metric.label());
    match app.latest(run, metric, layer) {
        None => text.push_str(": no value yet"),
        Some(latest) => {
            text.push_str(&format!(" latest {}", format::value(latest.raw)));
            if app.smoothing {
                text.push_str(&format!(
                    " (smoothed {})",
                    format::opt_value(latest.smoothed)
                ));
            }
            text.push_str(&format!(" @{}", latest.step));
            let finite = || {
                run.raw(metric, layer)
                    .iter()
                    .filter_map(|(s, v)| v.filter(|v| v.is_finite()).map(|v| (*s, v)))
            };
            // The first milestone that reaches each extreme.
            let lo = finite().reduce(|a, b| if b.1 < a.1 { b } else { a });
            let hi = finite().reduce(|a, b| if b.1 > a.1 { b } else { a });
            if let (Some((ls, lv)), Some((hs, hv))) = (lo, hi) {
                text.push_str(&format!(
                    "  min {} @{ls}  max {} @{hs}",
                    format::value(lv),
                    format::value(hv)
                ));
            }
        }
    }
    vec![Line::styled(text, theme.strong())]
}

/// Where the probe accuracy came from, then each probe warning.
fn probe_lines<'a>(theme: &Theme, summary: &LayerSummary) -> Vec<Line<'a>> {
    let mut lines = vec![Line::styled(summary.probe_text(), theme.dim())];
    lines.extend(
        summary
            .probe_warnings
            .iter()
            .map(|w| Line::from(format!("! {w}"))),
    );
    lines
}

/// One line per metric: sparkline, latest value, trend and, for the
/// label-free ones, the correlation with probe accuracy. `below`: lines
/// drawn between the curves and the latest-milestone table. Returns the
/// next y.
#[allow(clippy::too_many_arguments)]
fn draw_curves(
    app: &App,
    theme: &Theme,
    frame: &mut Frame,
    inner: Rect,
    mut y: u16,
    run: &RunState,
    layer: &str,
    summary: &LayerSummary,
    below: u16,
) -> u16 {
    let w = inner.width as usize;
    let (value_w, value_head) = if app.smoothing {
        (VALUE_SMOOTH_W, "latest (smoothed)")
    } else {
        (VALUE_W, "latest")
    };
    let spark_w = w.saturating_sub(NAME_W + value_w + CORR_W + 1);
    let steps: Vec<u64> = run.milestones.keys().copied().collect();
    let span = match (steps.first(), steps.last()) {
        (Some(a), Some(b)) => format!(
            "{} milestones, steps {a}{}{b}",
            steps.len(),
            theme.range_dash()
        ),
        _ => "no milestones yet".to_string(),
    };
    let header = format!(
        "{:<NAME_W$}{:<spark$}{:>value_w$}{:>CORR_W$}",
        "metric",
        format::truncate(&span, spark_w, theme.ellipsis()),
        value_head,
        "rho vs probe",
        spark = spark_w + 1
    );
    super::put(frame.buffer_mut(), inner.x, y, header, w, theme.strong());
    y += 1;
    if y < inner.bottom() {
        let sub = format!(
            "{:>width$}",
            "all  >20%",
            width = NAME_W + spark_w + 1 + value_w + CORR_W
        );
        super::put(frame.buffer_mut(), inner.x, y, sub, w, theme.dim());
        y += 1;
    }
    // Taller sparklines when the terminal has room (the probe lines, then
    // the latest-milestone table and notes below need about 8 lines).
    let spare = inner.bottom().saturating_sub(y + 8 + below);
    let metrics = detail_metrics();
    let row_h = (spare / metrics.len() as u16).clamp(1, 5);
    for metric in metrics {
        if y + row_h > inner.bottom() {
            break;
        }
        let values: Vec<Option<f64>> = app
            .series(run, metric, layer)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let range = series::range([values.as_slice()]);
        let buf = frame.buffer_mut();
        // The metric h/l select is highlighted (reversed: visible without
        // colour too); its details are listed under the curves.
        let (name, name_style) = if metric == app.metric {
            (
                text::pad_end(metric.label(), NAME_W - 1),
                theme.strong().patch(theme.selected()),
            )
        } else {
            (metric.label().to_string(), theme.strong())
        };
        super::put(buf, inner.x, y, name, NAME_W - 1, name_style);
        if let Some(range) = range {
            // Spread over the whole width, one blank line under each curve
            // when there is room, so stacked curves never merge.
            let resampled = series::fit_width(&values, spark_w);
            let bar_h = if row_h >= 2 { row_h - 1 } else { row_h };
            let rect = Rect::new(inner.x + NAME_W as u16, y, spark_w as u16, bar_h);
            frame.render_widget(
                Sparkline {
                    values: &resampled,
                    range,
                    ascii: theme.ascii,
                    style: theme.run(run.colour),
                },
                rect,
            );
        }
        let span = range.map(|(lo, hi)| hi - lo).unwrap_or(0.0);
        let [up, down, flat] = theme.trend_marks();
        let mark = match series::trend(&values, span) {
            Some(series::Trend::Up) => up,
            Some(series::Trend::Down) => down,
            Some(series::Trend::Flat) => flat,
            None => " ",
        };
        // The raw latest value; the smoothed one (what the curve and the
        // trend show) in brackets while smoothing is on.
        let latest = app.latest(run, metric, layer);
        let raw = format::opt_value(latest.map(|l| l.raw));
        let mut text = if app.smoothing {
            let smoothed = format::opt_value(latest.and_then(|l| l.smoothed));
            let bracketed = format!("({smoothed})");
            format!("{raw:>7} {bracketed:>8}{mark}")
        } else {
            format!("{raw:>8}{mark}")
        };
        if metric.def().shown_in(View::Correlate) {
            let corr = summary.correlations.iter().find(|c| c.metric == metric);
            let (all, late) = corr.map_or((None, None), |c| (c.all, c.late));
            text.push_str(&format!(
                "{:>8} {:>5}",
                format::corr(all),
                format::corr(late)
            ));
        }
        let x = inner.x + (NAME_W + spark_w + 1) as u16;
        let max = inner.right().saturating_sub(x) as usize;
        super::put(frame.buffer_mut(), x, y, text, max, theme.run(run.colour));
        y += row_h;
    }
    y
}

/// Width of the latest-milestone table's "layer n dim k" columns.
const TABLE_HEAD_W: usize = 21;
/// Width of one metric column of that table.
const TABLE_COL_W: usize = 8;

/// The latest milestone: a row of numbers per layer (the metric columns
/// that fit in `width`; a table row is never wrapped), then its problems.
fn latest_lines<'a>(app: &App, theme: &Theme, run: &'a RunState, width: usize) -> Vec<Line<'a>> {
    let Some((step, m)) = run.latest() else {
        return vec![Line::styled("no milestones yet", theme.dim())];
    };
    let mut lines = vec![Line::styled(
        format!("latest milestone {} (step {step})", sanitize(&m.step_name)),
        theme.strong(),
    )];
    let all: Vec<Metric> = Metric::in_view(View::Table).collect();
    let fit = width.saturating_sub(TABLE_HEAD_W) / TABLE_COL_W;
    let cols = if fit >= all.len() {
        &all[..]
    } else {
        // Room for the "+N" that says how many are left out.
        &all[..fit.saturating_sub(1)]
    };
    let mut head = format!("{:<6}{:>6}{:>5}{:>4}", "layer", "n", "dim", "k");
    for m in cols {
        head.push_str(&format!("{:>8}", m.def().short));
    }
    if cols.len() < all.len() {
        head.push_str(&format!(
            "{:>8}",
            format!("+{} more", all.len() - cols.len())
        ));
    }
    lines.push(Line::styled(head, theme.dim()));
    let mut notes: Vec<Line> = Vec::new();
    for (raw_layer, outcome) in &m.layers {
        let marker = if Some(raw_layer) == app.current_layer().as_ref() {
            "*"
        } else {
            " "
        };
        let layer = sanitize(raw_layer);
        match outcome {
            Ok(lm) => {
                let mut row = format!(
                    "{}{:>6}{:>5}{:>4}",
                    text::pad_end(&format!("{marker}{layer}"), 6),
                    lm.n,
                    lm.dim,
                    lm.k
                );
                for m in cols {
                    row.push_str(&format!("{:>8}", format::opt_value(lm.get(*m))));
                }
                lines.push(Line::from(row));
                if lm.nonfinite_rows > 0 {
                    notes.push(Line::styled(
                        format!("! {layer}: {} rows with NaN/Inf dropped", lm.nonfinite_rows),
                        theme.bad(),
                    ));
                }
                for w in &lm.warnings {
                    notes.push(Line::from(format!("! {layer}: {}", sanitize(w))));
                }
            }
            Err(e) => {
                lines.push(Line::styled(
                    format!("{marker}{} error (below)", text::pad_end(&layer, 5)),
                    theme.bad(),
                ));
                notes.push(Line::styled(
                    format!("x {layer}: {}", sanitize(e)),
                    theme.bad(),
                ));
            }
        }
    }
    lines.extend(notes);
    if let Some(layer) = app.current_layer() {
        lines.extend(outlier_lines(theme, run, &layer));
    }
    lines
}

/// The latest milestone's strongest outliers on `layer` and which of those
/// rows were outliers in earlier milestones too (persistent samples).
fn outlier_lines<'a>(theme: &Theme, run: &RunState, layer: &str) -> Vec<Line<'a>> {
    let per_step: Vec<(u64, &[u32])> = run
        .milestones
        .iter()
        .filter_map(|(step, m)| match m.layers.get(layer) {
            Some(Ok(lm)) => Some((*step, lm.outlier_idx.as_slice())),
            _ => None,
        })
        .collect();
    let Some(((step, latest), earlier)) = per_step.split_last() else {
        return Vec::new();
    };
    if latest.is_empty() {
        return Vec::new();
    }
    let rows: Vec<String> = latest.iter().map(u32::to_string).collect();
    let mut out = vec![Line::styled(
        format!(
            "outliers at step {step} ({}, farthest first): rows {}",
            sanitize(layer),
            rows.join(" ")
        ),
        theme.strong(),
    )];
    let persistent: Vec<String> = latest
        .iter()
        .filter_map(|row| {
            let times = earlier.iter().filter(|(_, idx)| idx.contains(row)).count();
            (times > 0).then(|| format!("{row} ({times}x)"))
        })
        .collect();
    out.push(Line::styled(
        if persistent.is_empty() {
            format!(
                "none of them was an outlier in the {} earlier milestone(s)",
                earlier.len()
            )
        } else {
            format!(
                "outliers earlier too (of {} earlier milestones): {}",
                earlier.len(),
                persistent.join(", ")
            )
        },
        theme.dim(),
    ));
    out
}
