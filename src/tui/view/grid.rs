//! The grid: one row per run, one column per metric. Each cell is a
//! sparkline over the run's milestones (gaps where a value is missing), the
//! latest value and a trend mark. A column's vertical scale is shared by all
//! runs (filtered out or not, so it does not jump while filtering) and its
//! range is shown under the metric's name.

use super::sparkline::Sparkline;
use super::{format, put};
use crate::text::sanitize;
use crate::tui::app::{grid_metrics, App, Metric, RunState};
use crate::tui::series::{self, Trend};
use crate::tui::theme::Theme;
use ratatui::layout::{Alignment, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// Narrowest metric column: sparkline, value and trend.
const MIN_CELL: u16 = 18;
/// Lines per run row (the sparkline is this tall): at least 2 (name and
/// metadata), up to 8 when the terminal has room for every run.
const MIN_ROW: u16 = 2;
const MAX_ROW: u16 = 8;
/// Columns used by " value trend" after a cell's sparkline.
const VALUE_W: u16 = 8;

/// The metric columns that fit in `avail` columns, keeping the selected
/// metric in view.
pub fn columns(app: &App, avail: u16) -> Vec<Metric> {
    let all = grid_metrics();
    let n = ((avail / MIN_CELL) as usize).clamp(1, all.len());
    let sel = all.iter().position(|m| *m == app.metric).unwrap_or(0);
    let start = (sel + 1).saturating_sub(n);
    all[start..start + n].to_vec()
}

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let runs: Vec<&RunState> = app.visible_runs().collect();
    let layer = app.current_layer().unwrap_or_default();
    if runs.is_empty() {
        empty_message(app, theme, frame, area);
        return;
    }
    let label_w = (area.width / 4).clamp(18, 30).min(area.width);
    let avail = area.width - label_w;
    let cols = columns(app, avail);
    let cell_w = avail / cols.len().max(1) as u16;

    // Every run's (smoothed) series per column; the scale is shared by all
    // runs, visible or not.
    let all_series: Vec<Vec<(String, Vec<Option<f64>>)>> = cols
        .iter()
        .map(|m| {
            app.runs
                .values()
                .map(|r| {
                    let v = app
                        .series(r, *m, &layer)
                        .into_iter()
                        .map(|(_, v)| v)
                        .collect();
                    (r.info.name.clone(), v)
                })
                .collect()
        })
        .collect();
    let ranges: Vec<Option<(f64, f64)>> = all_series
        .iter()
        .map(|col| series::range(col.iter().map(|(_, v)| v.as_slice())))
        .collect();

    // Header: metric names, then ranges.
    let buf = frame.buffer_mut();
    let y0 = area.y;
    let head = if runs.len() == app.runs.len() {
        format::plural(runs.len(), "run")
    } else {
        format!(
            "{} of {}",
            runs.len(),
            format::plural(app.runs.len(), "run")
        )
    };
    let layer_txt = if layer.is_empty() {
        String::from("no layer yet")
    } else {
        format!("layer {}", sanitize(&layer))
    };
    put(
        buf,
        area.x + 1,
        y0,
        head,
        label_w.saturating_sub(1) as usize,
        theme.strong(),
    );
    if area.height > 1 {
        let smooth = if app.smoothing { " smoothed" } else { "" };
        put(
            buf,
            area.x + 1,
            y0 + 1,
            format!("{layer_txt}{smooth}"),
            label_w.saturating_sub(1) as usize,
            theme.dim(),
        );
    }
    for (i, m) in cols.iter().enumerate() {
        let x = area.x + label_w + i as u16 * cell_w;
        let style = if *m == app.metric {
            theme.strong().patch(theme.selected())
        } else {
            theme.strong()
        };
        let name = format::truncate(
            m.label(),
            cell_w.saturating_sub(1) as usize,
            theme.ellipsis(),
        );
        put(buf, x, y0, format!(" {name} "), cell_w as usize, style);
        if area.height > 1 {
            let range = match ranges[i] {
                Some((lo, hi)) => format!(
                    "{}{}{}",
                    format::value(lo),
                    theme.range_dash(),
                    format::value(hi)
                ),
                None => "-".into(),
            };
            put(
                buf,
                x + 1,
                y0 + 1,
                range,
                cell_w.saturating_sub(1) as usize,
                theme.dim(),
            );
        }
    }

    // Rows, scrolled so the selected run is visible.
    let body = Rect {
        y: area.y + 2,
        height: area.height.saturating_sub(2),
        ..area
    };
    let row_h = (body.height / runs.len().max(1) as u16).clamp(MIN_ROW, MAX_ROW);
    let fit = (body.height / row_h).max(1) as usize;
    let sel = runs
        .iter()
        .position(|r| Some(&r.info.name) == app.selected.as_ref())
        .unwrap_or(0);
    let first = (sel + 1).saturating_sub(fit);
    for (row, run) in runs.iter().skip(first).take(fit).enumerate() {
        let y = body.y + row as u16 * row_h;
        if y + row_h > body.bottom() {
            break;
        }
        let selected = first + row == sel;
        draw_label(
            app,
            theme,
            frame,
            Rect::new(area.x, y, label_w, row_h),
            run,
            selected,
        );
        for i in 0..cols.len() {
            let x = area.x + label_w + i as u16 * cell_w;
            let values = all_series[i]
                .iter()
                .find(|(n, _)| *n == run.info.name)
                .map(|(_, v)| v.as_slice())
                .unwrap_or(&[]);
            let cell = Rect::new(x, y, cell_w, row_h);
            draw_cell(theme, frame, cell, values, ranges[i], theme.run(run.colour));
        }
    }
    if runs.len() > fit {
        let more = format!(
            " {}-{} of {} ",
            first + 1,
            (first + fit).min(runs.len()),
            runs.len()
        );
        let w = format::cols(&more) as u16;
        if w < area.width {
            let y = area.bottom().saturating_sub(1);
            put(
                frame.buffer_mut(),
                area.right() - w,
                y,
                more,
                w as usize,
                theme.dim(),
            );
        }
    }
}

fn draw_label(
    app: &App,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    run: &RunState,
    selected: bool,
) {
    let w = area.width as usize;
    let pointer = if selected { theme.pointer() } else { " " };
    let pin = if app.pinned.contains(&run.info.name) {
        "*"
    } else {
        " "
    };
    let (live, idle) = theme.live_marks();
    let (mark, mark_style) = match app.since_last(run) {
        Some(d) if d <= crate::tui::app::LIVE_FOR => {
            (format!("{live}{}", format::duration(d)), theme.good())
        }
        Some(d) => (format!("{idle}{}", format::duration(d)), theme.dim()),
        None => (String::new(), theme.dim()),
    };
    let name_w = w.saturating_sub(2 + format::cols(&mark) + usize::from(!mark.is_empty()));
    let name = format::truncate_start(&sanitize(&run.info.name), name_w, theme.ellipsis());
    let pad = w.saturating_sub(2 + format::cols(&name) + format::cols(&mark));
    let mut name_style = theme.run(run.colour);
    if selected {
        name_style = name_style.patch(theme.selected());
    }
    let line1 = Line::from(vec![
        Span::raw(pointer),
        Span::raw(pin),
        Span::styled(name, name_style),
        Span::raw(" ".repeat(pad)),
        Span::styled(mark, mark_style),
    ]);
    let count = format!("#{}", run.milestones.len());
    let line2 = format::spread(
        &format!("  {}", sanitize(&run.meta_label())),
        &count,
        w,
        theme.ellipsis(),
    );
    let text = vec![line1, Line::styled(line2, theme.dim())];
    frame.render_widget(Paragraph::new(text), area);
}

fn draw_cell(
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    values: &[Option<f64>],
    range: Option<(f64, f64)>,
    style: Style,
) {
    let spark_w = area.width.saturating_sub(VALUE_W + 1);
    let latest = values.iter().rev().find_map(|v| *v);
    let span = range.map(|(lo, hi)| hi - lo).unwrap_or(0.0);
    if let Some(range) = range {
        let resampled = series::resample_latest(values, spark_w as usize);
        let spark_area = Rect {
            x: area.x + 1,
            width: spark_w,
            ..area
        };
        frame.render_widget(
            Sparkline {
                values: &resampled,
                range,
                ascii: theme.ascii,
                style,
            },
            spark_area,
        );
    }
    let [up, down, flat] = theme.trend_marks();
    let mark = match series::trend(values, span) {
        Some(Trend::Up) => up,
        Some(Trend::Down) => down,
        Some(Trend::Flat) => flat,
        None => " ",
    };
    let text = match latest {
        Some(v) => format!("{:>6}{mark}", format::value(v)),
        None if values.is_empty() => format!("{:>6} ", ""),
        None => format!("{:>6} ", "-"),
    };
    let x = area.x + 1 + spark_w;
    let max = (VALUE_W as usize).min(area.right().saturating_sub(x) as usize);
    put(frame.buffer_mut(), x, area.y, text, max, style);
}

fn empty_message(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let text = if app.runs.is_empty() {
        vec![
            Line::styled(
                format!("Waiting for runs under {}", sanitize(&app.root)),
                theme.strong(),
            ),
            Line::from(""),
            Line::styled(
                "A run is any directory holding a milestones/ directory,",
                theme.dim(),
            ),
            Line::styled(
                "e.g. RUN/milestones/epoch_0020/z.npy (see the README).",
                theme.dim(),
            ),
        ]
    } else {
        vec![Line::from(format!(
            "No run matches \"{}\" ({} runs hidden; / then Esc clears the filter)",
            sanitize(&app.filter),
            app.runs.len()
        ))]
    };
    let y = area.y + area.height / 3;
    let rect = Rect {
        y,
        height: area.bottom().saturating_sub(y),
        ..area
    };
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}
