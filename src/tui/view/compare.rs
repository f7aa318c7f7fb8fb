//! Compare: one metric, the pinned runs (or all visible ones) overlaid in
//! one chart, x = step. With colour each run is a line in its colour; without
//! colour (`NO_COLOR`) or in `--ascii` each run draws its points with its own
//! character. The legend shows each run's line sample or character, its
//! name and its latest raw value (and the smoothed one while smoothing is
//! on). A run's curve is split at missing values, so gaps stay gaps here too.

use super::format;
use super::spectrum::uses_glyphs;
use crate::text::sanitize;
use crate::tui::app::{App, Latest, RunState};
use crate::tui::theme::Theme;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

/// The characters runs draw their points with when colour cannot tell them
/// apart, by the run's first-seen index (as its colour). None of them is a
/// chart axis or border glyph, nor the pin mark.
const RUN_GLYPHS: &[u8] = b"ox+#@%&=$~";

/// Run number `index`'s point character (without colour or in `--ascii`).
pub fn run_glyph(index: usize) -> char {
    char::from(RUN_GLYPHS[index % RUN_GLYPHS.len()])
}

/// One run's curve: its contiguous pieces and its latest value.
struct Curve<'a> {
    run: &'a RunState,
    segments: Vec<Vec<(f64, f64)>>,
    latest: Option<Latest>,
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let layer = app.current_layer().unwrap_or_default();
    let runs = app.compared_runs();
    let pinned = runs.iter().any(|r| app.pinned.contains(&r.info.name));
    let count = match (pinned, runs.len()) {
        (true, 1) => "1 pinned run".to_string(),
        (true, n) => format!("{n} pinned runs"),
        (false, 1) => "1 run".to_string(),
        (false, n) => format!("all {n} runs"),
    };
    let smooth = if app.smoothing { ", smoothed" } else { "" };
    // The axes are named here, not on the chart, where their titles would
    // be drawn over the curves.
    let title = format!(
        " {} by step · layer {} · {count}{smooth} ",
        app.metric.label(),
        if layer.is_empty() {
            "-".into()
        } else {
            sanitize(&layer)
        },
    );
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border_set())
        .title(Span::styled(title, theme.strong()))
        .title_bottom(Line::styled(" h/l metric  Space pin ", theme.dim()).right_aligned());

    // Selected run last, so it is drawn on top.
    let mut curves: Vec<Curve> = runs
        .iter()
        .map(|run| Curve {
            run,
            segments: segments(&app.series(run, app.metric, &layer)),
            latest: app.latest(run, app.metric, &layer),
        })
        .collect();
    curves.sort_by_key(|c| Some(&c.run.info.name) == app.selected.as_ref());

    let points = curves.iter().flat_map(|c| c.segments.iter().flatten());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for (x, y) in points {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y0 = y0.min(*y);
        y1 = y1.max(*y);
    }
    if x0 > x1 || y0 > y1 {
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let msg = if runs.is_empty() {
            "no runs to compare".to_string()
        } else {
            format!(
                "no {} values yet on layer {}",
                app.metric.label(),
                sanitize(&layer)
            )
        };
        let y = inner.y + inner.height / 2;
        let rect = Rect {
            y,
            height: 1.min(inner.bottom().saturating_sub(y)),
            ..inner
        };
        frame.render_widget(Paragraph::new(msg).alignment(Alignment::Center), rect);
        return;
    }
    if x1 <= x0 {
        x0 -= 1.0;
        x1 += 1.0;
    }
    let pad = if y1 > y0 {
        (y1 - y0) * 0.05
    } else {
        y0.abs().max(1.0) * 0.05
    };
    let (y0, y1) = (y0 - pad, y1 + pad);

    let inner = block.inner(area);
    frame.render_widget(block, area);
    let legend = Legend::new(app, theme, &curves);
    let (chart_area, legend_area) = legend.split(inner);
    legend.draw(frame, legend_area, Legend::column(inner));

    let mut datasets = Vec::new();
    for c in &curves {
        let style = theme.run(c.run.colour);
        let marker = if uses_glyphs(theme) {
            Marker::Custom(run_glyph(c.run.colour))
        } else {
            theme.marker()
        };
        for seg in &c.segments {
            datasets.push(
                Dataset::default()
                    .marker(marker)
                    .style(style)
                    .graph_type(if seg.len() > 1 {
                        GraphType::Line
                    } else {
                        GraphType::Scatter
                    })
                    .data(seg),
            );
        }
    }
    let mid = |a: f64, b: f64| (a + b) / 2.0;
    let x_axis = Axis::default().bounds([x0, x1]).labels([
        format::step(x0),
        format::step(mid(x0, x1)),
        format::step(x1),
    ]);
    let y_axis = Axis::default().bounds([y0, y1]).labels([
        format::value(y0),
        format::value(mid(y0, y1)),
        format::value(y1),
    ]);
    // Datasets have no names: the legend is drawn beside or above the chart
    // so it never hides a curve.
    let chart = Chart::new(datasets).x_axis(x_axis).y_axis(y_axis);
    frame.render_widget(chart, chart_area);
}

/// Space between legend entries on one line.
const ENTRY_GAP: usize = 2;

/// One run's legend entry: its sample (line or point character), its name
/// and its latest values.
struct Entry {
    sample: Span<'static>,
    name: String,
    name_style: Style,
    values: String,
}

impl Entry {
    /// Columns of "sample name values".
    fn width(&self) -> usize {
        format::cols(&self.sample.content) + 1 + format::cols(&self.name) + 1 + self.values.len()
    }
}

/// The legend: in a column on the right when the terminal is wide (two
/// lines per run: sample and name, then the values), else entries packed
/// into lines above the chart, never split.
struct Legend {
    entries: Vec<Entry>,
    ellipsis: &'static str,
}

impl Legend {
    fn new(app: &App, theme: &Theme, curves: &[Curve]) -> Legend {
        // Display order (the selected run is drawn last but listed in place).
        let mut sorted: Vec<&Curve> = curves.iter().collect();
        sorted.sort_by(|a, b| a.run.info.name.cmp(&b.run.info.name));
        let entries = sorted
            .into_iter()
            .map(|c| {
                let colour = theme.run(c.run.colour);
                let sample = if uses_glyphs(theme) {
                    run_glyph(c.run.colour).to_string()
                } else {
                    "━━".to_string()
                };
                let mut name_style = colour;
                if Some(&c.run.info.name) == app.selected.as_ref() {
                    name_style = name_style.patch(theme.selected());
                }
                Entry {
                    sample: Span::styled(sample, colour),
                    name: sanitize(&c.run.info.name).into_owned(),
                    name_style,
                    values: values_text(c.latest, app.smoothing),
                }
            })
            .collect();
        Legend {
            entries,
            ellipsis: theme.ellipsis(),
        }
    }

    /// Whether the legend is a column on the right of `inner`.
    fn column(inner: Rect) -> bool {
        inner.width >= 100
    }

    /// (chart, legend) areas of `inner`.
    fn split(&self, inner: Rect) -> (Rect, Rect) {
        if Self::column(inner) {
            let widest = self
                .entries
                .iter()
                .map(|e| {
                    let first = format::cols(&e.sample.content) + 1 + format::cols(&e.name);
                    first.max(format::cols(&e.sample.content) + 1 + e.values.len())
                })
                .max()
                .unwrap_or(0) as u16;
            let w = widest.clamp(12, inner.width / 3);
            let [chart, _, legend] = Layout::horizontal([
                Constraint::Min(0),
                Constraint::Length(1),
                Constraint::Length(w),
            ])
            .areas(inner);
            (chart, legend)
        } else {
            let lines = self.packed(inner.width as usize).len() as u16;
            let lines = lines.clamp(1, (inner.height / 3).max(1));
            let [legend, chart] =
                Layout::vertical([Constraint::Length(lines), Constraint::Min(0)]).areas(inner);
            (chart, legend)
        }
    }

    /// Entries packed into lines of `width` columns: indices per line.
    fn packed(&self, width: usize) -> Vec<Vec<usize>> {
        let mut lines: Vec<Vec<usize>> = Vec::new();
        let mut used = 0;
        for (i, e) in self.entries.iter().enumerate() {
            let w = e.width();
            match lines.last_mut() {
                Some(line) if used + ENTRY_GAP + w <= width => {
                    line.push(i);
                    used += ENTRY_GAP + w;
                }
                _ => {
                    lines.push(vec![i]);
                    used = w;
                }
            }
        }
        lines
    }

    fn draw(&self, frame: &mut Frame, area: Rect, column: bool) {
        if area.is_empty() {
            return;
        }
        let width = area.width as usize;
        let lines: Vec<Line> = if column {
            self.entries
                .iter()
                .flat_map(|e| {
                    let indent = format::cols(&e.sample.content) + 1;
                    let name = format::truncate_start(
                        &e.name,
                        width.saturating_sub(indent),
                        self.ellipsis,
                    );
                    [
                        Line::from(vec![
                            e.sample.clone(),
                            Span::raw(" "),
                            Span::styled(name, e.name_style),
                        ]),
                        Line::from(format!("{}{}", " ".repeat(indent), e.values)),
                    ]
                })
                .collect()
        } else {
            self.packed(width)
                .iter()
                .map(|line| {
                    let mut spans = Vec::new();
                    for (n, &i) in line.iter().enumerate() {
                        let e = &self.entries[i];
                        if n > 0 {
                            spans.push(Span::raw(" ".repeat(ENTRY_GAP)));
                        }
                        // An entry alone on a line too narrow for it: its
                        // name gives way (keeping its end, where run names
                        // differ), the values stay.
                        let room = width
                            .saturating_sub(format::cols(&e.sample.content) + 2 + e.values.len());
                        spans.push(e.sample.clone());
                        spans.push(Span::raw(" "));
                        spans.push(Span::styled(
                            format::truncate_start(&e.name, room, self.ellipsis),
                            e.name_style,
                        ));
                        spans.push(Span::raw(format!(" {}", e.values)));
                    }
                    Line::from(spans)
                })
                .collect()
        };
        frame.render_widget(Paragraph::new(lines), area);
    }
}

/// The latest raw value, and the smoothed one beside it while smoothing is
/// on (the curves are smoothed, the raw number stays readable).
fn values_text(latest: Option<Latest>, smoothing: bool) -> String {
    match (latest, smoothing) {
        (None, _) => "-".into(),
        (Some(l), false) => format::value(l.raw),
        (Some(l), true) => format!(
            "raw {} smooth {}",
            format::value(l.raw),
            format::opt_value(l.smoothed)
        ),
    }
}

/// (step, value) pieces between missing values.
fn segments(series: &[(u64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    crate::plot::pieces(series.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curves_split_at_gaps() {
        let s = [
            (1, Some(1.0)),
            (2, None),
            (3, Some(3.0)),
            (4, Some(f64::NAN)),
            (5, Some(5.0)),
            (6, Some(6.0)),
        ];
        let segs = segments(&s);
        assert_eq!(
            segs,
            vec![
                vec![(1.0, 1.0)],
                vec![(3.0, 3.0)],
                vec![(5.0, 5.0), (6.0, 6.0)]
            ]
        );
    }
}
