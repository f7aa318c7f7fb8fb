//! The grid: one row per run, one column per metric. Each cell is a
//! sparkline over the run's milestones (gaps where a value is missing), the
//! raw latest value and a trend mark (raw even while the sparkline is
//! smoothed). By default each cell has its own vertical scale, the run's
//! min-max, written under the latest value, so a run whose values move in a
//! small band is not a flat line under another run's outlier; `S` switches
//! to one scale per column shared by all runs (filtered out or not, so it
//! does not jump while filtering), written under the metric's name. Columns
//! that do not fit are scrolled with h/l, and the header says how many are
//! hidden on each side.

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
/// metadata); the rows share the terminal's height, up to 20 lines each.
const MIN_ROW: u16 = 2;
const MAX_ROW: u16 = 20;
/// Columns used by " value trend" after a cell's sparkline.
const VALUE_W: u16 = 8;
/// With per-run scales the value column also holds the run's "lo-hi".
const VALUE_W_PER_RUN: u16 = 11;

/// The metric columns in view: those that fit in `avail` columns, scrolled
/// so the selected metric is in view, and how many are hidden to the left
/// and to the right.
pub struct Columns {
    pub shown: Vec<Metric>,
    pub hidden_left: usize,
    pub hidden_right: usize,
}

pub fn columns(app: &App, avail: u16) -> Columns {
    let all = grid_metrics();
    let n = ((avail / MIN_CELL) as usize).clamp(1, all.len());
    let sel = all.iter().position(|m| *m == app.metric).unwrap_or(0);
    let start = (sel + 1).saturating_sub(n);
    Columns {
        shown: all[start..start + n].to_vec(),
        hidden_left: start,
        hidden_right: all.len() - start - n,
    }
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
    let Columns {
        shown: cols,
        hidden_left,
        hidden_right,
    } = columns(app, avail);
    let cell_w = avail / cols.len().max(1) as u16;
    let per_run = !app.shared_scale;

    // Every run's raw series per column (the number, the trend and the
    // scales) and the series drawn (smoothed when smoothing is on).
    let cells: Vec<Vec<Cell>> = cols
        .iter()
        .map(|m| {
            app.runs
                .values()
                .map(|r| Cell {
                    run: r.info.name.clone(),
                    raw: r.raw(*m, &layer).iter().map(|(_, v)| *v).collect(),
                    drawn: app
                        .series(r, *m, &layer)
                        .into_iter()
                        .map(|(_, v)| v)
                        .collect(),
                })
                .collect()
        })
        .collect();
    // The raw range holds the smoothed curve too (an average of raw values).
    let shared: Vec<Option<(f64, f64)>> = cells
        .iter()
        .map(|col| series::range(col.iter().map(|c| c.raw.as_slice())))
        .collect();

    // Header: metric names, then the scale.
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
    let (left_mark, right_mark) = theme.more_marks();
    for (i, m) in cols.iter().enumerate() {
        let x = area.x + label_w + i as u16 * cell_w;
        let style = if *m == app.metric {
            theme.strong().patch(theme.selected())
        } else {
            theme.strong()
        };
        // Hidden columns: "<3" before the first name, "9>" after the last.
        let before = if i == 0 && hidden_left > 0 {
            format!("{left_mark}{hidden_left} ")
        } else {
            String::new()
        };
        let after = if i + 1 == cols.len() && hidden_right > 0 {
            format!(" {hidden_right}{right_mark}")
        } else {
            String::new()
        };
        let room =
            (cell_w as usize).saturating_sub(1 + format::cols(&before) + format::cols(&after) + 1);
        let name = format::truncate(m.label(), room, theme.ellipsis());
        put(buf, x, y0, " ", 1, style);
        put(buf, x + 1, y0, &before, cell_w as usize, theme.dim());
        let name_x = x + 1 + format::cols(&before) as u16;
        put(buf, name_x, y0, format!("{name} "), room + 1, style);
        if !after.is_empty() {
            let ax = (x + cell_w).saturating_sub(format::cols(&after) as u16);
            put(buf, ax, y0, &after, format::cols(&after), theme.dim());
        }
        if area.height > 1 {
            let scale = if per_run {
                "per-run scale".to_string()
            } else {
                match shared[i] {
                    Some((lo, hi)) => format!(
                        "{}{}{}",
                        format::value(lo),
                        theme.range_dash(),
                        format::value(hi)
                    ),
                    None => "-".into(),
                }
            };
            put(
                buf,
                x + 1,
                y0 + 1,
                scale,
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
        for (i, col) in cells.iter().enumerate() {
            let x = area.x + label_w + i as u16 * cell_w;
            let Some(cell) = col.iter().find(|c| c.run == run.info.name) else {
                continue;
            };
            let scale = if per_run {
                series::range([cell.raw.as_slice()])
            } else {
                shared[i]
            };
            let look = CellLook {
                scale,
                per_run,
                smoothed: app.smoothing,
                style: theme.run(run.colour),
            };
            draw_cell(theme, frame, Rect::new(x, y, cell_w, row_h), cell, &look);
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
    // An active alert outranks the pin mark: "!" in the alert style.
    let alerted = app.run_alerted(&run.info.name);
    let (pin, pin_style) = if alerted {
        ("!", theme.bad())
    } else if app.pinned.contains(&run.info.name) {
        ("*", Style::new())
    } else {
        (" ", Style::new())
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
        Span::styled(pin, pin_style),
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

/// One run's values in one column.
struct Cell {
    run: String,
    raw: Vec<Option<f64>>,
    drawn: Vec<Option<f64>>,
}

/// How a cell is drawn.
struct CellLook {
    /// The sparkline's vertical scale: the run's own or the column's.
    scale: Option<(f64, f64)>,
    /// Write the run's own "lo-hi" under the latest value.
    per_run: bool,
    /// The sparkline is smoothed: write the smoothed latest too.
    smoothed: bool,
    style: Style,
}

/// Sparkline (left), then in the value column: the raw latest value and
/// its trend; under it the cell's own range (per-run scale) and the
/// smoothed latest (`ema 0.12`, when smoothing is on), as the height allows.
fn draw_cell(theme: &Theme, frame: &mut Frame, area: Rect, cell: &Cell, look: &CellLook) {
    let value_w = if look.per_run {
        VALUE_W_PER_RUN
    } else {
        VALUE_W
    };
    let spark_w = area.width.saturating_sub(value_w + 1);
    let latest = cell.raw.iter().rev().find_map(|v| *v);
    let span = look.scale.map(|(lo, hi)| hi - lo).unwrap_or(0.0);
    if let Some(range) = look.scale {
        let resampled = series::resample_latest(&cell.drawn, spark_w as usize);
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
                style: look.style,
            },
            spark_area,
        );
    }
    let [up, down, flat] = theme.trend_marks();
    let mark = match series::trend(&cell.raw, span) {
        Some(Trend::Up) => up,
        Some(Trend::Down) => down,
        Some(Trend::Flat) => flat,
        None => " ",
    };
    let text = match latest {
        Some(v) => format!("{:>6}{mark}", format::value(v)),
        None if cell.raw.is_empty() => format!("{:>6} ", ""),
        None => format!("{:>6} ", "-"),
    };
    let x = area.x + 1 + spark_w;
    let max = (value_w as usize).min(area.right().saturating_sub(x) as usize);
    let buf = frame.buffer_mut();
    put(buf, x, area.y, text, max, look.style);
    let mut lines = Vec::new();
    if look.per_run {
        if let Some((lo, hi)) = look.scale {
            lines.push(format!(
                "{}{}{}",
                format::value(lo),
                theme.range_dash(),
                format::value(hi)
            ));
        }
    }
    if look.smoothed {
        if let Some(v) = cell.drawn.iter().rev().find_map(|v| *v) {
            lines.push(format!("ema {}", format::value(v)));
        }
    }
    for (row, line) in lines.into_iter().enumerate() {
        let y = area.y + 1 + row as u16;
        if y >= area.bottom() {
            break;
        }
        let w = format::cols(&line);
        let lx = (x + value_w).saturating_sub(w as u16).max(x);
        put(buf, lx, y, line, max, theme.dim());
    }
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
