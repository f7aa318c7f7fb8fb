//! The spectrum plot: normalised singular values (s_i / sum s) of one or
//! more embedding matrices, both axes on a log scale, so that dimensional
//! collapse shows at a glance (the first value near the top row, the rest
//! fallen to the floor) and a power law is a straight line.
//!
//! A self-contained widget: it takes owned data ([`SpectrumPlot`]) and knows
//! nothing of the App. Two uses: one run's spectra over its milestones
//! ([`LineStyle::Age`], oldest dim to newest bright) and all runs' latest
//! spectrum ([`LineStyle::Run`], the compare view's run colours).
//!
//! Without colour (`NO_COLOR`) or with `--ascii`, every line is drawn with a
//! character of its own (`1`, `2`, ...) and the legend shows which is which.
//! The y axis always reaches 1 (all the mass in one component), so the top
//! row means "collapsed to one direction" on every plot.

use super::format;
use crate::text::sanitize;
use crate::tui::theme::Theme;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Widget};

/// At most this many components are drawn (the cache keeps the top 64).
pub const MAX_COMPONENTS: usize = 64;
/// Values below this (zeros included) are drawn on the floor.
pub const FLOOR: f64 = 1e-6;

/// Characters that tell lines apart without colour, by position in
/// [`SpectrumPlot::lines`].
const GLYPHS: &[u8] = b"123456789abcdefghijklmnopqrstuvwxyz";

/// How one line is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStyle {
    /// Milestone `rank` of `of` (0 = oldest) of one run: oldest dim,
    /// newest bright ([`Theme::age`]).
    Age { rank: usize, of: usize },
    /// A run's colour index, as the compare view uses it (`RunState::colour`,
    /// [`Theme::run`]).
    Run(usize),
}

impl LineStyle {
    fn style(self, theme: &Theme) -> Style {
        match self {
            LineStyle::Age { rank, of } => theme.age(rank, of),
            LineStyle::Run(index) => theme.run(index),
        }
    }
}

/// One spectrum.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumLine {
    /// "step 4000" or a run name (sanitised when drawn).
    pub label: String,
    /// Normalised singular values s_i / sum s, decreasing, up to 64.
    pub values: Vec<f64>,
    pub style: LineStyle,
}

/// What the plot shows. Lines are drawn in order, the last on top.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectrumPlot {
    pub title: String,
    pub lines: Vec<SpectrumLine>,
    /// A dim line under the plot (e.g. which layer, or why a run is missing).
    pub note: Option<String>,
}

/// The glyph of line `index` when lines are told apart by characters.
fn glyph(index: usize) -> char {
    char::from(GLYPHS[index % GLYPHS.len()])
}

/// Whether lines (or classes) are told apart by characters rather than
/// colours on braille.
pub(super) fn uses_glyphs(theme: &Theme) -> bool {
    !theme.color || theme.ascii
}

/// A line's points: (log10 i, log10 max(v, FLOOR)) for i = 1.., skipping
/// non-finite values.
fn points(values: &[f64]) -> Vec<(f64, f64)> {
    values
        .iter()
        .take(MAX_COMPONENTS)
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, v)| ((i as f64 + 1.0).log10(), v.max(FLOOR).log10()))
        .collect()
}

/// A power of ten as an axis label: "1", "0.1", "1e-2".
fn decade(e: i32) -> String {
    match e {
        0 => "1".into(),
        -1 => "0.1".into(),
        e => format!("1e{e}"),
    }
}

/// Draw the bordered block titled `title` (sanitised) over `area`, clipped
/// to the buffer; the inside, or `None` when nothing fits there.
pub(super) fn framed(title: &str, theme: &Theme, buf: &mut Buffer, area: Rect) -> Option<Rect> {
    let area = area.intersection(buf.area);
    if area.is_empty() {
        return None;
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_set(theme.border_set())
        .title(Span::styled(
            format!(" {} ", sanitize(title)),
            theme.strong(),
        ));
    let inner = block.inner(area);
    block.render(area, buf);
    (!inner.is_empty()).then_some(inner)
}

pub fn draw(plot: &SpectrumPlot, theme: &Theme, buf: &mut Buffer, area: Rect) {
    let Some(inner) = framed(&plot.title, theme, buf, area) else {
        return;
    };

    let glyphs = uses_glyphs(theme);
    let lines: Vec<_> = plot
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i, l, points(&l.values)))
        .collect();
    if lines.iter().all(|(_, _, p)| p.is_empty()) {
        empty_message("no spectrum yet", plot.note.as_deref(), theme, buf, inner);
        return;
    }

    let entries: Vec<Entry> = lines
        .iter()
        .map(|(i, line, _)| {
            let style = line.style.style(theme);
            let first = line
                .values
                .first()
                .filter(|v| v.is_finite())
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into());
            Entry {
                mark: if glyphs {
                    glyph(*i).to_string()
                } else {
                    "━━".into()
                },
                mark_style: style,
                text: format!("{}  s1 {first}", sanitize(&line.label)),
                style,
            }
        })
        .collect();
    let parts = layout(&entries, plot.note.is_some(), inner);
    draw_legend(&entries, theme, buf, parts.legend);
    caption(
        buf,
        parts.y_title,
        "s_i / sum s (log; below 1e-6 on the floor)",
        false,
        theme,
    );
    caption(buf, parts.x_title, "component i (log scale)", true, theme);
    if let Some(note) = &plot.note {
        caption(buf, parts.note, &sanitize(note), false, theme);
    }
    if parts.chart.width < 3 || parts.chart.height < 2 {
        return;
    }

    // y from the lowest decade reached (at least 0.1, at most the floor) to
    // 1; x from component 1 to 64 whatever the number of values, so that
    // plots side by side share their axes.
    let lowest = lines
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::min);
    let highest = lines
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let y0 = (lowest.floor() as i32).clamp(FLOOR.log10() as i32, -1);
    let y1 = (highest.ceil() as i32).max(0);
    let decades = y1 - y0;
    // Label every decade when the rows allow it, else every 2nd, 3rd, ...
    let room = (i32::from(parts.chart.height.saturating_sub(2)) / 2).max(1);
    let intervals = (1..=decades)
        .rev()
        .find(|m| decades % m == 0 && *m <= room)
        .unwrap_or(1);
    let y_labels: Vec<String> = (0..=intervals)
        .map(|j| decade(y0 + j * decades / intervals))
        .collect();
    let x_max = (MAX_COMPONENTS as f64).log10();

    let datasets: Vec<Dataset> = lines
        .iter()
        .filter(|(_, _, p)| !p.is_empty())
        .map(|(i, line, p)| {
            Dataset::default()
                .marker(if glyphs {
                    Marker::Custom(glyph(*i))
                } else {
                    theme.marker()
                })
                .style(line.style.style(theme))
                .graph_type(if p.len() > 1 {
                    GraphType::Line
                } else {
                    GraphType::Scatter
                })
                .data(p)
        })
        .collect();
    let x_axis = Axis::default()
        .bounds([0.0, x_max])
        // 1, 4, 16, 64 are evenly spaced on a log axis.
        .labels(["1", "4", "16", "64"]);
    let y_axis = Axis::default()
        .bounds([f64::from(y0), f64::from(y1)])
        .labels(y_labels);
    Chart::new(datasets)
        .x_axis(x_axis)
        .y_axis(y_axis)
        .render(parts.chart, buf);
}

/// One legend item: a mark in the line's (or class's) style, then text.
pub(super) struct Entry {
    pub mark: String,
    pub mark_style: Style,
    pub text: String,
    pub style: Style,
}

impl Entry {
    fn cols(&self) -> usize {
        format::cols(&self.mark) + 1 + format::cols(&self.text)
    }
}

/// Where the parts of a plot go inside its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Parts {
    pub legend: Rect,
    /// The y axis's name, above the chart (kept out of the graph, where
    /// ratatui's own axis titles would hide points).
    pub y_title: Rect,
    pub chart: Rect,
    /// The x axis's name, under the chart, right-aligned.
    pub x_title: Rect,
    pub note: Rect,
}

/// The legend goes in a column on the right when the area is wide (100
/// columns or more), else in rows above the chart (at most a quarter of the
/// height); the axis names and the note take a row each when there is room.
pub(super) fn layout(entries: &[Entry], note: bool, inner: Rect) -> Parts {
    let widest = entries.iter().map(Entry::cols).max().unwrap_or(0) as u16;
    let (legend, mut rest) = if entries.is_empty() {
        (Rect::default(), inner)
    } else if inner.width >= 100 {
        let w = widest.clamp(12, inner.width / 4);
        let legend = Rect {
            x: inner.right() - w,
            width: w,
            ..inner
        };
        let rest = Rect {
            width: inner.width - w - 1,
            ..inner
        };
        (legend, rest)
    } else {
        let col = widest + 2;
        let per_row = (inner.width / col.max(1)).max(1) as usize;
        let rows = (entries.len().div_ceil(per_row) as u16).min(inner.height / 4);
        let legend = Rect {
            height: rows,
            ..inner
        };
        let rest = Rect {
            y: inner.y + rows,
            height: inner.height - rows,
            ..inner
        };
        (legend, rest)
    };
    let row = |y: u16| Rect {
        y,
        height: 1,
        ..inner
    };
    let (mut y_title, mut x_title, mut note_row) =
        (Rect::default(), Rect::default(), Rect::default());
    if rest.height >= 6 {
        y_title = Rect {
            width: rest.width,
            ..row(rest.y)
        };
        rest.y += 1;
        rest.height -= 1;
        if note && rest.height >= 7 {
            note_row = Rect {
                width: rest.width,
                ..row(rest.bottom() - 1)
            };
            rest.height -= 1;
        }
        x_title = Rect {
            width: rest.width,
            ..row(rest.bottom() - 1)
        };
        rest.height -= 1;
    }
    Parts {
        legend,
        y_title,
        chart: rest,
        x_title,
        note: note_row,
    }
}

/// Entries row by row (or one a row in a tall column); when they do not
/// all fit, the last place says how many are left out.
pub(super) fn draw_legend(entries: &[Entry], theme: &Theme, buf: &mut Buffer, area: Rect) {
    if area.is_empty() || entries.is_empty() {
        return;
    }
    let widest = entries.iter().map(Entry::cols).max().unwrap_or(0) as u16;
    let col = (widest + 2).min(area.width);
    let per_row = (area.width / col.max(1)).max(1) as usize;
    let places = per_row * area.height as usize;
    let shown = if entries.len() > places {
        places - 1
    } else {
        entries.len()
    };
    let at = |k: usize| {
        (
            area.x + (k % per_row) as u16 * col,
            area.y + (k / per_row) as u16,
        )
    };
    for (k, e) in entries.iter().take(shown).enumerate() {
        let (x, y) = at(k);
        let room = area.right().saturating_sub(x) as usize;
        let mark = format::truncate(&e.mark, room, "");
        let mw = format::cols(&mark);
        super::put(buf, x, y, &mark, room, e.mark_style);
        if room > mw + 1 {
            let text = format::truncate(&e.text, room - mw - 1, theme.ellipsis());
            super::put(buf, x + mw as u16 + 1, y, text, room - mw - 1, e.style);
        }
    }
    if shown < entries.len() {
        let (x, y) = at(shown);
        let room = area.right().saturating_sub(x) as usize;
        let more = format!("+{} more", entries.len() - shown);
        super::put(buf, x, y, &more, room, theme.dim());
    }
}

/// A dim one-line caption, left- or right-aligned in `row`.
pub(super) fn caption(buf: &mut Buffer, row: Rect, text: &str, right: bool, theme: &Theme) {
    if row.is_empty() {
        return;
    }
    let text = format::truncate(text, row.width as usize, theme.ellipsis());
    let w = format::cols(&text) as u16;
    let x = if right { row.right() - w } else { row.x };
    super::put(buf, x, row.y, text, row.width as usize, theme.dim());
}

/// `message` (and the note under it) centred in `area`.
pub(super) fn empty_message(
    message: &str,
    note: Option<&str>,
    theme: &Theme,
    buf: &mut Buffer,
    area: Rect,
) {
    let mut rows = vec![(message.to_string(), Style::new())];
    if let Some(note) = note {
        rows.push((sanitize(note).into_owned(), theme.dim()));
    }
    let top = area.y + area.height.saturating_sub(rows.len() as u16) / 2;
    for (k, (text, style)) in rows.iter().enumerate() {
        let y = top + k as u16;
        if y >= area.bottom() {
            break;
        }
        let text = format::truncate(text, area.width as usize, theme.ellipsis());
        let w = format::cols(&text) as u16;
        let x = area.x + area.width.saturating_sub(w) / 2;
        super::put(buf, x, y, text, area.width as usize, *style);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::tui::theme;

    pub const COLOUR: Theme = Theme {
        color: true,
        ascii: false,
    };
    pub const NO_COLOR: Theme = Theme {
        color: false,
        ascii: false,
    };
    pub const ASCII: Theme = Theme {
        color: false,
        ascii: true,
    };

    /// Draw with `f` into a `w` x `h` buffer as the real UI does (ASCII
    /// replacement and the scrub after the views).
    pub fn buffer(theme: &Theme, w: u16, h: u16, f: impl FnOnce(&mut Buffer, Rect)) -> Buffer {
        let area = Rect::new(0, 0, w, h);
        let mut buf = Buffer::empty(area);
        f(&mut buf, area);
        if theme.ascii {
            theme::asciify(&mut buf);
        }
        super::super::scrub(&mut buf);
        buf
    }

    /// The buffer as text, one line per row, trailing spaces cut.
    pub fn text(buf: &Buffer) -> String {
        let mut out = String::new();
        for y in 0..buf.area.height {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// The graph of the chart in `chart`: right of the y axis, above the x
    /// axis (found by the axes' corner, `└` or `+` in ASCII).
    pub fn graph_area(buf: &Buffer, chart: Rect) -> Rect {
        for y in chart.top()..chart.bottom() {
            for x in chart.left()..chart.right() {
                if matches!(buf[(x, y)].symbol(), "└" | "+") {
                    return Rect::new(x + 1, chart.y, chart.right() - x - 1, y - chart.y);
                }
            }
        }
        panic!("no axes corner in {chart:?}:\n{}", text(buf));
    }

    /// The cells of `area` whose symbol is `symbol`.
    pub fn cells_with(buf: &Buffer, area: Rect, symbol: &str) -> Vec<(u16, u16)> {
        let mut out = Vec::new();
        for y in area.top()..area.bottom() {
            for x in area.left()..area.right() {
                if buf[(x, y)].symbol() == symbol {
                    out.push((x, y));
                }
            }
        }
        out
    }

    /// A power-law spectrum s_i ∝ i^-alpha over 64 components, normalised.
    fn power_law(alpha: f64) -> Vec<f64> {
        let raw: Vec<f64> = (1..=64).map(|i| (i as f64).powf(-alpha)).collect();
        let sum: f64 = raw.iter().sum();
        raw.iter().map(|v| v / sum).collect()
    }

    /// The first value carries almost all the mass; the rest is below 1e-5.
    fn collapsed() -> Vec<f64> {
        let mut v = vec![0.97];
        v.extend((1..64).map(|i| 1e-5 * 0.9f64.powi(i)));
        v
    }

    /// One run over three milestones: the spectrum steepens as it trains.
    fn milestones() -> SpectrumPlot {
        let steps = [(100, 0.4), (2000, 0.9), (4000, 1.6)];
        SpectrumPlot {
            title: "spectrum · simclr-s0 · layer z".into(),
            lines: steps
                .iter()
                .enumerate()
                .map(|(rank, (step, alpha))| SpectrumLine {
                    label: format!("step {step}"),
                    values: power_law(*alpha),
                    style: LineStyle::Age { rank, of: 3 },
                })
                .collect(),
            note: Some("3 of 12 milestones".into()),
        }
    }

    fn render(plot: &SpectrumPlot, theme: &Theme, w: u16, h: u16) -> Buffer {
        buffer(theme, w, h, |buf, area| draw(plot, theme, buf, area))
    }

    /// Where draw put the chart, for `plot` in a `w` x `h` area.
    fn chart_rect(plot: &SpectrumPlot, theme: &Theme, w: u16, h: u16) -> Rect {
        let inner = Rect::new(1, 1, w - 2, h - 2);
        let entries: Vec<Entry> = plot
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| Entry {
                mark: if uses_glyphs(theme) {
                    glyph(i).to_string()
                } else {
                    "━━".into()
                },
                mark_style: Style::new(),
                text: format!("{}  s1 {:.2}", l.label, l.values[0]),
                style: Style::new(),
            })
            .collect();
        layout(&entries, plot.note.is_some(), inner).chart
    }

    #[test]
    fn milestones_80x24() {
        let buf = render(&milestones(), &COLOUR, 80, 24);
        let text = text(&buf);
        insta::assert_snapshot!("spectrum_milestones_80x24", text);
        assert!(text.contains("step 4000  s1 "), "{text}");
        // s1 of the steepest spectrum (alpha 1.6) is its normalised first value.
        let s1 = power_law(1.6)[0];
        assert!(text.contains(&format!("step 4000  s1 {s1:.2}")), "{text}");
    }

    #[test]
    fn milestones_no_color_80x24_tells_lines_apart_by_glyph() {
        let plot = milestones();
        let buf = render(&plot, &NO_COLOR, 80, 24);
        let graph = graph_area(&buf, chart_rect(&plot, &NO_COLOR, 80, 24));
        for g in ["1", "2", "3"] {
            assert!(
                cells_with(&buf, graph, g).len() >= 5,
                "line {g} not drawn in {graph:?}:\n{}",
                text(&buf)
            );
        }
        // The legend shows each glyph with its label.
        let t = text(&buf);
        for (g, step) in [("1", 100), ("2", 2000), ("3", 4000)] {
            assert!(t.contains(&format!("{g} step {step}  s1")), "{t}");
        }
        // No colour at all reaches the buffer.
        assert!(buf
            .content
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset));
        insta::assert_snapshot!("spectrum_milestones_no_color_80x24", text(&buf));
    }

    #[test]
    fn all_runs_120x40() {
        let names = [
            "cifar10/simclr-s0",
            "cifar10/moco-s0",
            "simsiam-long-experiment-name",
            "byol-s1",
        ];
        let plot = SpectrumPlot {
            title: "spectrum · latest of all runs · layer z".into(),
            lines: names
                .iter()
                .enumerate()
                .map(|(i, name)| SpectrumLine {
                    label: (*name).into(),
                    values: if i == 2 {
                        collapsed()
                    } else {
                        power_law(0.5 + 0.4 * i as f64)
                    },
                    style: LineStyle::Run(i),
                })
                .collect(),
            note: None,
        };
        let buf = render(&plot, &COLOUR, 120, 40);
        // Wide: the legend is a column on the right, one run a row.
        let t = text(&buf);
        for name in names {
            // Long names are cut to the column ("simsiam-long-experiment-n…").
            let start = &name[..name.len().min(12)];
            let row = t.lines().find(|l| l.contains(start)).expect(name);
            let col = row.chars().count() - row[row.find(start).unwrap_or(0)..].chars().count();
            assert!(col > 80, "{row}");
        }
        // Each run's line is drawn in its compare-view colour.
        let graph = graph_area(&buf, chart_rect(&plot, &COLOUR, 120, 40));
        for i in 0..names.len() {
            let fg = COLOUR.run(i).fg;
            let drawn = (graph.top()..graph.bottom())
                .flat_map(|y| (graph.left()..graph.right()).map(move |x| (x, y)))
                .any(|(x, y)| buf[(x, y)].fg == fg.unwrap_or_default());
            assert!(drawn, "run {i} has no cell in its colour");
        }
        insta::assert_snapshot!("spectrum_all_runs_120x40", text(&buf));
    }

    #[test]
    fn collapse_shows_at_a_glance() {
        let plot = SpectrumPlot {
            title: "spectrum · simsiam · layer z".into(),
            lines: vec![SpectrumLine {
                label: "step 4000".into(),
                values: collapsed(),
                style: LineStyle::Age { rank: 0, of: 1 },
            }],
            note: None,
        };
        let colour = render(&plot, &COLOUR, 80, 24);
        assert!(text(&colour).contains("step 4000  s1 0.97"));

        let buf = render(&plot, &NO_COLOR, 80, 24);
        let graph = graph_area(&buf, chart_rect(&plot, &NO_COLOR, 80, 24));
        let cells = cells_with(&buf, graph, "1");
        // Component 1 (0.97) is in the top row, in the first column.
        assert!(cells.contains(&(graph.x, graph.y)), "{cells:?}");
        // Components 2..64 (x from log10 2 on) are all in the bottom quarter.
        let x2 = graph.x + (graph.width as f64 * 2f64.log10() / 64f64.log10()).ceil() as u16;
        let low = graph.bottom() - graph.height / 4;
        let rest: Vec<_> = cells.iter().filter(|(x, _)| *x >= x2).collect();
        assert!(rest.len() > 10, "{rest:?}");
        assert!(
            rest.iter().all(|(_, y)| *y >= low),
            "{rest:?}\n{}",
            text(&buf)
        );
        insta::assert_snapshot!("spectrum_collapsed_80x24", text(&colour));
        insta::assert_snapshot!("spectrum_collapsed_no_color_80x24", text(&buf));
    }

    #[test]
    fn values_at_or_below_the_floor_are_drawn_on_it() {
        let plot = SpectrumPlot {
            title: "t".into(),
            lines: vec![SpectrumLine {
                label: "a".into(),
                values: vec![0.5, 0.0, -1.0, 1e-9, f64::NAN],
                style: LineStyle::Run(0),
            }],
            note: None,
        };
        assert_eq!(
            points(&plot.lines[0].values),
            vec![
                (0.0, 0.5f64.log10()),
                (2f64.log10(), -6.0),
                (3f64.log10(), -6.0),
                (4f64.log10(), -6.0),
            ]
        );
        let t = text(&render(&plot, &COLOUR, 80, 24));
        assert!(t.contains("1e-6"), "the axis reaches the floor:\n{t}");
        assert!(t.contains("below 1e-6 on the floor"), "{t}");
    }

    #[test]
    fn empty_says_so_centred() {
        let none = SpectrumPlot {
            title: "spectrum".into(),
            lines: Vec::new(),
            note: None,
        };
        let empty_lines = SpectrumPlot {
            lines: vec![SpectrumLine {
                label: "step 1".into(),
                values: Vec::new(),
                style: LineStyle::Run(0),
            }],
            note: Some("layer z has no spectrum in the cache".into()),
            ..none.clone()
        };
        let t = text(&render(&none, &COLOUR, 80, 24));
        insta::assert_snapshot!("spectrum_empty_80x24", t);
        let row = t.lines().nth(11).unwrap_or_default();
        let at = row
            .find("no spectrum yet")
            .expect("message on the middle row");
        // 80 columns, 15 for the message: (80 - 15) / 2 = 32.
        assert_eq!(row[..at].chars().count(), 32, "{row}");
        let t = text(&render(&empty_lines, &COLOUR, 80, 24));
        assert!(t.contains("no spectrum yet"), "{t}");
        assert!(t.contains("layer z has no spectrum in the cache"), "{t}");
    }

    #[test]
    fn ascii_draws_only_ascii() {
        let t = text(&render(&milestones(), &ASCII, 80, 24));
        insta::assert_snapshot!("spectrum_milestones_ascii_80x24", t);
        let odd: String = t.chars().filter(|c| !c.is_ascii()).collect();
        assert!(odd.is_empty(), "non-ASCII {odd:?} in\n{t}");
    }

    #[test]
    fn labels_from_disk_are_escaped() {
        let mut plot = milestones();
        plot.lines[0].label = "evil\x1b]2;x\x07".into();
        plot.title = "t\x1b[2J".into();
        let t = text(&render(&plot, &COLOUR, 120, 40));
        assert!(!t.contains('\x1b'), "{t:?}");
        assert!(t.contains("evil\\x1b]2;x\\x07"), "{t}");
    }

    #[test]
    fn tiny_areas_do_not_panic() {
        let mut plots = vec![milestones()];
        plots.push(SpectrumPlot {
            lines: Vec::new(),
            ..milestones()
        });
        let many = SpectrumPlot {
            lines: (0..40)
                .map(|i| SpectrumLine {
                    label: format!("step {i}"),
                    values: vec![1.0; 1 + i % 3],
                    style: LineStyle::Age { rank: i, of: 40 },
                })
                .collect(),
            ..milestones()
        };
        plots.push(many);
        let t = text(&render(&plots[0], &COLOUR, 20, 5));
        insta::assert_snapshot!("spectrum_tiny_20x5", t);
        for plot in &plots {
            for theme in [COLOUR, NO_COLOR, ASCII] {
                for w in [0, 1, 2, 3, 5, 10, 20, 39, 80, 101, 200] {
                    for h in [0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 24, 60] {
                        render(plot, &theme, w, h);
                    }
                }
            }
            // An area outside the buffer, or partly outside it.
            let mut buf = Buffer::empty(Rect::new(0, 0, 10, 10));
            draw(plot, &COLOUR, &mut buf, Rect::new(5, 5, 40, 40));
            draw(plot, &COLOUR, &mut buf, Rect::new(50, 50, 40, 40));
        }
    }
}
