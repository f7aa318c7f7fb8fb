//! Drawing a [`Figure`] with plotters, into SVG text or an RGB buffer that
//! the `png` crate encodes.
//!
//! Layout, top to bottom: the title, the panels in a grid (one to three in
//! a row; four as 2x2, more as a near-square grid), and one legend for the
//! whole figure (a colour swatch and the legend text per run). Sizes scale
//! with the figure, from one base font size.
//!
//! Every string drawn goes through [`sanitize`] (it comes from disk); the
//! SVG backend then escapes it for XML.

use super::{check_size, Figure, Line, Panel, PlotError};
use crate::metrics::Metric;
use crate::palette;
use crate::text::{self, sanitize};
use plotters::coord::Shift;
use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::sync::OnceLock;

/// DejaVu Sans, from matplotlib's wheel (license: assets/fonts/LICENSE-DejaVu.txt).
/// Used to measure text for both formats and to draw the PNG's text; the
/// SVG names the generic `sans-serif` family and lets the viewer draw it.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Axes, ticks and text: dark grey (never a run colour: the palette has no greys).
const INK: RGBColor = RGBColor(40, 40, 40);
const GRID_MAJOR: RGBColor = RGBColor(215, 215, 215);
const GRID_MINOR: RGBColor = RGBColor(238, 238, 238);

fn font_ready() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(PlotError::Font)
    }
}

fn draw_error<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// `fig` as an SVG document of `width` x `height` pixels.
pub fn render_svg(fig: &Figure, width: u32, height: u32) -> Result<String, PlotError> {
    check_size(width, height)?;
    font_ready()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        draw_figure(&root, fig)?;
        root.present().map_err(draw_error)?;
    }
    Ok(out)
}

/// `fig` as a PNG file's bytes (8-bit RGB, `width` x `height` pixels).
pub fn render_png(fig: &Figure, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    check_size(width, height)?;
    font_ready()?;
    // Within SIZE_RANGE: at most 6000 x 6000 x 3 bytes.
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        draw_figure(&root, fig)?;
        root.present().map_err(draw_error)?;
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Columns of the panel grid for `n` panels.
pub(crate) fn grid_columns(n: usize) -> usize {
    match n {
        0..=3 => n.max(1),
        _ => (n as f64).sqrt().ceil() as usize,
    }
}

/// Sizes that scale with the figure.
#[derive(Clone, Copy)]
struct Metrics {
    /// Base font size in pixels.
    font: f64,
}

impl Metrics {
    fn of(width: u32, height: u32) -> Metrics {
        let font = (f64::from(width.min(height)) / 50.0).clamp(10.0, 32.0);
        Metrics { font }
    }
    fn px(self, times: f64) -> i32 {
        (self.font * times).round() as i32
    }
    fn style(self, times: f64) -> TextStyle<'static> {
        TextStyle::from((FAMILY, self.font * times).into_font()).color(&INK)
    }
}

fn draw_figure<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    fig: &Figure,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(draw_error)?;
    let (w, h) = root.dim_in_pixel();
    let m = Metrics::of(w, h);
    let margin = m.px(1.0);

    // Title.
    let title_h = if fig.title.is_empty() { 0 } else { m.px(2.2) };
    if title_h > 0 {
        let style = m.style(1.3).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw(&Text::new(
            sanitize(&fig.title).into_owned(),
            (w as i32 / 2, margin / 2 + title_h / 2),
            style,
        ))
        .map_err(draw_error)?;
    }

    // Legend rows, from the bottom up.
    let runs = fig.runs();
    let rows = legend_rows(root, m, &runs, w as i32 - 2 * margin)?;
    let row_h = m.px(1.7);
    let legend_h = if rows.is_empty() {
        0
    } else {
        rows.len() as i32 * row_h + m.px(0.6)
    };
    let legend_top = h as i32 - margin / 2 - legend_h;
    for (r, row) in rows.iter().enumerate() {
        let y = legend_top + m.px(0.6) + r as i32 * row_h + row_h / 2;
        let total: i32 = row.iter().map(|(_, w)| w).sum();
        let mut x = (w as i32 - total) / 2;
        for (line, entry_w) in row {
            draw_legend_entry(root, m, line, (x, y))?;
            x += entry_w;
        }
    }

    // Panels.
    let top = margin / 2 + title_h;
    let bottom = legend_top;
    let n = fig.panels.len();
    if n == 0 {
        return Ok(());
    }
    let cols = grid_columns(n);
    let grid_rows = n.div_ceil(cols);
    let cell_w = (w as i32 - margin) / cols as i32;
    let cell_h = ((bottom - top) / grid_rows as i32).max(1);
    for (i, panel) in fig.panels.iter().enumerate() {
        let (r, c) = (i / cols, i % cols);
        let area = root.clone().shrink(
            (margin / 2 + c as i32 * cell_w, top + r as i32 * cell_h),
            (cell_w, cell_h),
        );
        draw_panel(&area, m, panel)?;
    }
    Ok(())
}

/// The legend laid out in rows that fit `width`: each entry and its width.
fn legend_rows<'a, DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: Metrics,
    runs: &[&'a Line],
    width: i32,
) -> Result<Vec<Vec<(&'a Line, i32)>>, PlotError> {
    let style = m.style(1.0);
    let mut rows: Vec<Vec<(&Line, i32)>> = Vec::new();
    let mut used = 0;
    for line in runs {
        let (tw, _) = root
            .estimate_text_size(&sanitize(&line.legend), &style)
            .map_err(draw_error)?;
        let entry = m.px(1.4) + m.px(0.4) + tw as i32 + m.px(1.6);
        if rows.is_empty() || used + entry > width {
            rows.push(Vec::new());
            used = 0;
        }
        used += entry;
        if let Some(row) = rows.last_mut() {
            row.push((line, entry));
        }
    }
    Ok(rows)
}

fn rgb(colour: usize) -> RGBColor {
    let (r, g, b) = palette::run_rgb(colour);
    RGBColor(r, g, b)
}

fn draw_legend_entry<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    m: Metrics,
    line: &Line,
    (x, y): (i32, i32),
) -> Result<(), PlotError> {
    let half = m.px(0.2).max(2);
    root.draw(&Rectangle::new(
        [(x, y - half), (x + m.px(1.4), y + half)],
        rgb(line.colour).filled(),
    ))
    .map_err(draw_error)?;
    let style = m.style(1.0).pos(Pos::new(HPos::Left, VPos::Center));
    root.draw(&Text::new(
        sanitize(&line.legend).into_owned(),
        (x + m.px(1.8), y),
        style,
    ))
    .map_err(draw_error)?;
    Ok(())
}

/// A panel's caption: the metric's label and unit.
fn caption(metric: Metric) -> String {
    let def = metric.def();
    if def.unit.is_empty() {
        def.label.to_string()
    } else {
        format!("{} ({})", def.label, def.unit)
    }
}

/// `text` broken at its ` · ` separators into lines no wider than `width`
/// (a part wider than that gets a line of its own).
pub(crate) const SEPARATOR: &str = " · ";

fn wrap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    width: i32,
) -> Result<Vec<String>, PlotError> {
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.lines() {
        let mut current = String::new();
        for word in paragraph.split(SEPARATOR).filter(|w| !w.is_empty()) {
            let candidate = if current.is_empty() {
                word.to_string()
            } else {
                format!("{current}{SEPARATOR}{word}")
            };
            let (tw, _) = area
                .estimate_text_size(&candidate, style)
                .map_err(draw_error)?;
            if tw as i32 > width && !current.is_empty() {
                lines.push(std::mem::replace(&mut current, word.to_string()));
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
    }
    Ok(lines)
}

/// Decimals for tick labels `span` apart over about six ticks.
fn tick_digits(span: f64) -> usize {
    if !(span.is_finite() && span > 0.0) {
        return 2;
    }
    let step = span / 6.0;
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
}

/// A value range with some room around the data; a flat series gets a
/// visible band around its value.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * lo.abs().max(hi.abs()).max(1.0) {
        let pad = (lo.abs() * 0.05).max(0.5);
        return (lo - pad, hi + pad);
    }
    (lo - span * 0.06, hi + span * 0.06)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    m: Metrics,
    panel: &Panel,
) -> Result<(), PlotError> {
    let (w, _) = area.dim_in_pixel();
    let inner = m.px(0.5);
    let caption_style = m.style(1.1).pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(
        caption(panel.metric),
        (w as i32 / 2, inner),
        caption_style,
    ))
    .map_err(draw_error)?;
    let mut head = inner + m.px(1.6);

    if let Some(note) = &panel.annotation {
        let style = m.style(0.8);
        let lines = wrap(area, &sanitize(note), &style, w as i32 - 2 * m.px(1.0))?;
        let line_h = m.px(1.05);
        for line in lines {
            let s = style.clone().pos(Pos::new(HPos::Center, VPos::Top));
            area.draw(&Text::new(line, (w as i32 / 2, head), s))
                .map_err(draw_error)?;
            head += line_h;
        }
        head += m.px(0.2);
    }
    let body = area.margin(head, inner, inner, m.px(1.0));

    let points = || panel.series.iter().flat_map(|l| l.pieces.iter().flatten());
    let fold = |f: fn(&(f64, f64)) -> f64| {
        points()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    if points().next().is_none() {
        let (bw, bh) = body.dim_in_pixel();
        let style = m.style(1.0).pos(Pos::new(HPos::Center, VPos::Center));
        body.draw(&Text::new("no data", (bw as i32 / 2, bh as i32 / 2), style))
            .map_err(draw_error)?;
        return Ok(());
    }
    let (x0, x1) = fold(|p| p.0);
    let (y0, y1) = fold(|p| p.1);
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x1 + 1.0)
    };
    let (y0, y1) = padded(y0, y1);
    let x_digits = tick_digits(x1 - x0);
    let y_digits = tick_digits(y1 - y0);
    let x_fmt = |v: &f64| text::fixed(*v, x_digits);
    let y_fmt = |v: &f64| text::fixed(*v, y_digits);

    let label_style = m.style(0.8);
    let widest = [y0, y1]
        .iter()
        .map(|v| body.estimate_text_size(&y_fmt(v), &label_style))
        .try_fold(0u32, |acc, s| s.map(|(tw, _)| acc.max(tw)))
        .map_err(draw_error)?;
    let mut chart = ChartBuilder::on(&body)
        .x_label_area_size(m.px(2.6))
        .y_label_area_size(widest as i32 + m.px(1.0))
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(6)
        .x_desc("step")
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(label_style.clone())
        .axis_desc_style(label_style)
        .axis_style(INK)
        .bold_line_style(GRID_MAJOR)
        .light_line_style(GRID_MINOR)
        .draw()
        .map_err(draw_error)?;

    let stroke = (m.font / 7.0).clamp(1.0, 5.0) as u32;
    let dot = (m.font / 4.0).clamp(2.0, 8.0) as i32;
    for line in &panel.series {
        let colour = rgb(line.colour);
        for piece in &line.pieces {
            match piece.as_slice() {
                [] => {}
                [only] => {
                    chart
                        .draw_series(std::iter::once(Circle::new(*only, dot, colour.filled())))
                        .map_err(draw_error)?;
                }
                _ => {
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            piece.clone(),
                            colour.stroke_width(stroke),
                        )))
                        .map_err(draw_error)?;
                }
            }
        }
    }
    Ok(())
}
