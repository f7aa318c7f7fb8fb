//! Compare: one metric, the pinned runs (or all visible ones) overlaid in
//! one chart, x = step, legend in the run colours. A run's curve is split
//! at missing values, so gaps stay gaps here too.

use super::format;
use crate::text::sanitize;
use crate::tui::app::{App, RunState};
use crate::tui::theme::Theme;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Wrap};
use ratatui::Frame;

/// One run's curve: its contiguous pieces.
struct Curve<'a> {
    run: &'a RunState,
    segments: Vec<Vec<(f64, f64)>>,
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
    let title = format!(
        " {} · layer {} · {count}{smooth} ",
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
    let (chart_area, legend_area) = split_legend(&curves, inner);
    draw_legend(app, theme, frame, legend_area, &curves);

    let mut datasets = Vec::new();
    for c in &curves {
        let style = theme.run(c.run.colour);
        for seg in &c.segments {
            datasets.push(
                Dataset::default()
                    .marker(theme.marker())
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
    let x_axis = Axis::default()
        .title(Span::styled("step", theme.dim()))
        .bounds([x0, x1])
        .labels([
            format::step(x0),
            format::step(mid(x0, x1)),
            format::step(x1),
        ]);
    let y_axis = Axis::default()
        .title(Span::styled(app.metric.label(), theme.dim()))
        .bounds([y0, y1])
        .labels([
            format::value(y0),
            format::value(mid(y0, y1)),
            format::value(y1),
        ]);
    // Datasets have no names: the legend is drawn beside or above the chart
    // so it never hides a curve.
    let chart = Chart::new(datasets).x_axis(x_axis).y_axis(y_axis);
    frame.render_widget(chart, chart_area);
}

/// The legend goes in a column on the right when the terminal is wide,
/// else in lines above the chart.
fn split_legend(curves: &[Curve], inner: Rect) -> (Rect, Rect) {
    let longest = curves
        .iter()
        .map(|c| format::cols(&sanitize(&c.run.info.name)))
        .max()
        .unwrap_or(0) as u16;
    if inner.width >= 100 {
        let w = (longest + 6).clamp(12, inner.width / 4);
        let [chart, _, legend] = Layout::horizontal([
            Constraint::Min(0),
            Constraint::Length(1),
            Constraint::Length(w),
        ])
        .areas(inner);
        (chart, legend)
    } else {
        let total: u16 = curves
            .iter()
            .map(|c| format::cols(&sanitize(&c.run.info.name)) as u16 + 6)
            .sum();
        let lines = total
            .div_ceil(inner.width.max(1))
            .clamp(1, 3)
            .min(inner.height / 3);
        let [legend, chart] =
            Layout::vertical([Constraint::Length(lines), Constraint::Min(0)]).areas(inner);
        (chart, legend)
    }
}

fn draw_legend(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, curves: &[Curve]) {
    if area.is_empty() {
        return;
    }
    let mark = if theme.ascii { "--" } else { "━━" };
    let tall = area.height > 3;
    // Display order (the selected run is drawn last but listed in place).
    let mut sorted: Vec<&Curve> = curves.iter().collect();
    sorted.sort_by(|a, b| a.run.info.name.cmp(&b.run.info.name));
    let entry = |c: &Curve| {
        let mut name_style = theme.run(c.run.colour);
        if Some(&c.run.info.name) == app.selected.as_ref() {
            name_style = name_style.patch(theme.selected());
        }
        let pin = if app.pinned.contains(&c.run.info.name) {
            " *"
        } else {
            " "
        };
        vec![
            Span::styled(mark, theme.run(c.run.colour)),
            Span::raw(pin),
            Span::styled(sanitize(&c.run.info.name).into_owned(), name_style),
        ]
    };
    let lines: Vec<Line> = if tall {
        sorted.iter().map(|c| Line::from(entry(c))).collect()
    } else {
        let mut spans = Vec::new();
        for c in &sorted {
            spans.extend(entry(c));
            spans.push(Span::raw("  "));
        }
        vec![Line::from(spans)]
    };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), area);
}

/// (step, value) pieces between missing values.
fn segments(series: &[(u64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for (step, v) in series {
        match v {
            Some(v) if v.is_finite() => current.push((*step as f64, *v)),
            _ => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
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
