//! The embedding map: a 2-D projection of one milestone's embeddings (PCA
//! by default) as a scatter, points coloured by class (labels when the run
//! has them, else k-means clusters). TensorBoard's projector, in a terminal.
//!
//! A self-contained widget over owned data ([`MapPlot`]). With colour the
//! points are braille dots in the class colours; without colour
//! (`NO_COLOR`) or with `--ascii` each cell holding points shows its class's
//! character (`0`-`9`, `a`-`z`, `A`-`Z`), later classes over earlier ones,
//! and the legend says which character is which class.
//!
//! Each axis spans its data with a 5% margin (the two axes are scaled
//! independently); when all points share a coordinate, that axis spans
//! ±1 around it, so the points are drawn centred.

use super::format;
use super::spectrum::{caption, draw_legend, empty_message, layout, uses_glyphs, Entry};
use crate::text::sanitize;
use crate::tui::theme::{Theme, CLASS_COLOURS};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Widget};

/// Class characters when classes are told apart without colour.
const GLYPHS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// What the map shows.
#[derive(Debug, Clone, PartialEq)]
pub struct MapPlot {
    pub title: String,
    /// One point per row of the embedding matrix (PC1, PC2).
    pub xy: Vec<[f32; 2]>,
    /// The class of each point (index into `class_names`); points past the
    /// end of `class` are not drawn.
    pub class: Vec<u32>,
    /// Legend names, index = class (a class without a name shows its number).
    pub class_names: Vec<String>,
    /// "labels" or "k-means clusters".
    pub coloured_by: String,
    /// Variance fraction explained by PC1 and PC2.
    pub explained: [f64; 2],
    /// Shown under the map, or under "no map for this milestone" (why not).
    pub note: Option<String>,
}

/// The character of class `class` (they repeat after 62 classes).
fn glyph(class: usize) -> char {
    char::from(GLYPHS[class % GLYPHS.len()])
}

/// Bounds of `values` with a 5% margin; ±1 around a single value; None
/// when there is no finite value.
fn bounds(values: impl Iterator<Item = f64>) -> Option<[f64; 2]> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        return None;
    }
    let span = hi - lo;
    if span > 0.0 {
        Some([lo - 0.05 * span, hi + 0.05 * span])
    } else {
        Some([lo - 1.0, hi + 1.0])
    }
}

/// "PC1 (41%)".
fn axis_name(pc: usize, explained: f64) -> String {
    if explained.is_finite() {
        format!("PC{pc} ({:.0}%)", 100.0 * explained)
    } else {
        format!("PC{pc}")
    }
}

pub fn draw(plot: &MapPlot, theme: &Theme, buf: &mut Buffer, area: Rect) {
    let Some(inner) = super::spectrum::framed(&plot.title, theme, buf, area) else {
        return;
    };

    // Finite points with their class.
    let points: Vec<(f64, f64, usize)> = plot
        .xy
        .iter()
        .zip(&plot.class)
        .map(|([x, y], c)| (f64::from(*x), f64::from(*y), *c as usize))
        .filter(|(x, y, _)| x.is_finite() && y.is_finite())
        .collect();
    let (Some(xb), Some(yb)) = (
        bounds(points.iter().map(|p| p.0)),
        bounds(points.iter().map(|p| p.1)),
    ) else {
        empty_message(
            "no map for this milestone",
            plot.note.as_deref(),
            theme,
            buf,
            inner,
        );
        return;
    };

    let glyphs = uses_glyphs(theme);
    let classes = plot
        .class_names
        .len()
        .max(points.iter().map(|p| p.2 + 1).max().unwrap_or(0));
    // Classes that share a colour (or a character) share a dataset, so at
    // most one dataset per colour; slots are drawn in class order.
    let slots = if glyphs { GLYPHS.len() } else { CLASS_COLOURS };
    let mut entries = Vec::new();
    if classes > slots {
        let what = if glyphs { "characters" } else { "colours" };
        entries.push(Entry {
            mark: String::new(),
            mark_style: theme.dim(),
            text: format!("{classes} classes, {what} repeat"),
            style: theme.dim(),
        });
    }
    entries.extend((0..classes).map(|c| {
        let name = plot
            .class_names
            .get(c)
            .map(|n| sanitize(n).into_owned())
            .unwrap_or_else(|| c.to_string());
        Entry {
            mark: if glyphs {
                glyph(c).to_string()
            } else {
                "●".into()
            },
            mark_style: theme.class(c % slots),
            text: name,
            style: theme.class(c % slots),
        }
    }));

    let parts = layout(&entries, plot.note.is_some(), inner);
    draw_legend(&entries, theme, buf, parts.legend);
    caption(
        buf,
        parts.y_title,
        &axis_name(2, plot.explained[1]),
        false,
        theme,
    );
    let by = format!("coloured by {}", sanitize(&plot.coloured_by));
    let x_name = axis_name(1, plot.explained[0]);
    if !parts.x_title.is_empty() {
        let line = format::spread(&by, &x_name, parts.x_title.width as usize, theme.ellipsis());
        caption(buf, parts.x_title, &line, false, theme);
    }
    if let Some(note) = &plot.note {
        caption(buf, parts.note, &sanitize(note), false, theme);
    }
    if parts.chart.width < 3 || parts.chart.height < 2 {
        return;
    }

    let mut by_slot: Vec<Vec<(f64, f64)>> = vec![Vec::new(); slots.min(classes.max(1))];
    let used = by_slot.len();
    for (x, y, c) in &points {
        by_slot[c % slots % used].push((*x, *y));
    }
    let datasets: Vec<Dataset> = by_slot
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.is_empty())
        .map(|(slot, p)| {
            Dataset::default()
                .marker(if glyphs {
                    Marker::Custom(glyph(slot))
                } else {
                    theme.marker()
                })
                .style(theme.class(slot))
                .graph_type(GraphType::Scatter)
                .data(p)
        })
        .collect();
    let mid = |[a, b]: [f64; 2]| (a + b) / 2.0;
    // Three labels when they have room, else the two ends.
    let wide = parts.chart.width >= 40;
    let labels = |b: [f64; 2]| {
        let mut l = vec![format::value(b[0])];
        if wide {
            l.push(format::value(mid(b)));
        }
        l.push(format::value(b[1]));
        l
    };
    Chart::new(datasets)
        .x_axis(Axis::default().bounds(xb).labels(labels(xb)))
        .y_axis(Axis::default().bounds(yb).labels(labels(yb)))
        .render(parts.chart, buf);
}

#[cfg(test)]
mod tests {
    use super::super::spectrum::tests::{
        buffer, cells_with, graph_area, text, ASCII, COLOUR, NO_COLOR,
    };
    use super::*;

    /// A deterministic cloud of `n` points around (cx, cy), radius `r`.
    fn cloud(n: usize, cx: f32, cy: f32, r: f32, seed: usize) -> Vec<[f32; 2]> {
        (0..n)
            .map(|i| {
                // Golden-angle spiral: spread out, no randomness needed.
                let t = (i + seed) as f32 * 2.399_963;
                let d = r * ((i as f32 + 0.5) / n as f32).sqrt();
                [cx + d * t.cos(), cy + d * t.sin()]
            })
            .collect()
    }

    /// Class 0 on the left, class 1 top right, class 2 bottom right.
    fn three_classes() -> MapPlot {
        let centres = [(-10.0, 0.0), (8.0, 6.0), (8.0, -6.0)];
        let mut xy = Vec::new();
        let mut class = Vec::new();
        for (c, (cx, cy)) in centres.iter().enumerate() {
            xy.extend(cloud(60, *cx, *cy, 2.0, c));
            class.extend(std::iter::repeat_n(c as u32, 60));
        }
        MapPlot {
            title: "map · simclr-s0 · step 4000 · layer z".into(),
            xy,
            class,
            class_names: vec!["airplane".into(), "cat".into(), "ship".into()],
            coloured_by: "labels".into(),
            explained: [0.41, 0.12],
            note: None,
        }
    }

    fn render(plot: &MapPlot, theme: &Theme, w: u16, h: u16) -> Buffer {
        buffer(theme, w, h, |buf, area| draw(plot, theme, buf, area))
    }

    /// Where draw put the chart (the same layout call as draw's).
    fn chart_rect(plot: &MapPlot, theme: &Theme, w: u16, h: u16) -> Rect {
        let inner = Rect::new(1, 1, w - 2, h - 2);
        let entries: Vec<Entry> = plot
            .class_names
            .iter()
            .enumerate()
            .map(|(c, n)| Entry {
                mark: if uses_glyphs(theme) {
                    glyph(c).to_string()
                } else {
                    "●".into()
                },
                mark_style: theme.class(c),
                text: n.clone(),
                style: theme.class(c),
            })
            .collect();
        layout(&entries, plot.note.is_some(), inner).chart
    }

    /// The graph without its first and last rows, where the axis names of
    /// other charts would go (kept clear of any text here, but the check
    /// should not depend on it).
    fn interior(graph: Rect) -> Rect {
        Rect {
            y: graph.y + 1,
            height: graph.height.saturating_sub(2),
            ..graph
        }
    }

    #[test]
    fn three_classes_80x24() {
        let plot = three_classes();
        let buf = render(&plot, &COLOUR, 80, 24);
        let t = text(&buf);
        assert!(t.contains("PC1 (41%)") && t.contains("PC2 (12%)"), "{t}");
        assert!(t.contains("coloured by labels"), "{t}");
        // Class 0 (placed on the left) is drawn in the left third, and only there.
        let graph = graph_area(&buf, chart_rect(&plot, &COLOUR, 80, 24));
        let third = graph.x + graph.width / 3;
        let fg0 = COLOUR.class(0).fg.unwrap_or_default();
        let mut class0 = Vec::new();
        for y in graph.top()..graph.bottom() {
            for x in graph.left()..graph.right() {
                let cell = &buf[(x, y)];
                if cell.fg == fg0 && cell.symbol() != " " {
                    class0.push((x, y));
                }
            }
        }
        assert!(class0.len() >= 10, "{class0:?}");
        assert!(class0.iter().all(|(x, _)| *x < third), "{class0:?}\n{t}");
        // And classes 1 and 2 are in the right third.
        for c in [1, 2] {
            let fg = COLOUR.class(c).fg.unwrap_or_default();
            let xs: Vec<u16> = (graph.top()..graph.bottom())
                .flat_map(|y| (graph.left()..graph.right()).map(move |x| (x, y)))
                .filter(|&(x, y)| buf[(x, y)].fg == fg && buf[(x, y)].symbol() != " ")
                .map(|(x, _)| x)
                .collect();
            assert!(!xs.is_empty() && xs.iter().all(|x| *x >= graph.right() - graph.width / 3));
        }
        insta::assert_snapshot!("map_three_classes_80x24", t);
    }

    #[test]
    fn three_classes_no_color_80x24_one_character_per_class_where_its_points_are() {
        let plot = three_classes();
        let buf = render(&plot, &NO_COLOR, 80, 24);
        let t = text(&buf);
        let graph = interior(graph_area(&buf, chart_rect(&plot, &NO_COLOR, 80, 24)));
        let w3 = graph.width / 3;
        let h2 = graph.height / 2;
        let left = Rect { width: w3, ..graph };
        let right_top = Rect {
            x: graph.right() - w3,
            width: w3,
            height: h2,
            ..graph
        };
        let right_bottom = Rect {
            y: graph.y + h2,
            height: graph.height - h2,
            ..right_top
        };
        for (g, region) in [("0", left), ("1", right_top), ("2", right_bottom)] {
            let all = cells_with(&buf, graph, g);
            let inside = cells_with(&buf, region, g);
            assert!(inside.len() >= 5, "class {g}: {inside:?}\n{t}");
            assert_eq!(all, inside, "class {g} drawn outside {region:?}\n{t}");
        }
        for (g, name) in [("0", "airplane"), ("1", "cat"), ("2", "ship")] {
            assert!(t.contains(&format!("{g} {name}")), "legend for {g}: {t}");
        }
        insta::assert_snapshot!("map_three_classes_no_color_80x24", t);
    }

    #[test]
    fn all_points_equal_are_drawn_centred() {
        let plot = MapPlot {
            xy: vec![[3.5, -2.0]; 50],
            class: vec![1; 50],
            ..three_classes()
        };
        let buf = render(&plot, &NO_COLOR, 80, 24);
        let graph = graph_area(&buf, chart_rect(&plot, &NO_COLOR, 80, 24));
        let cells = cells_with(&buf, graph, "1");
        assert_eq!(cells.len(), 1, "{cells:?}");
        let (x, y) = cells[0];
        let (cx, cy) = (graph.x + graph.width / 2, graph.y + graph.height / 2);
        assert!(
            x.abs_diff(cx) <= 1 && y.abs_diff(cy) <= 1,
            "{cells:?} vs {cx},{cy}"
        );
        insta::assert_snapshot!("map_all_points_equal_80x24", text(&buf));
    }

    #[test]
    fn empty_says_so_with_the_reason() {
        let plot = MapPlot {
            xy: Vec::new(),
            class: Vec::new(),
            note: Some("layer h: not computed yet".into()),
            ..three_classes()
        };
        let t = text(&render(&plot, &COLOUR, 80, 24));
        insta::assert_snapshot!("map_empty_80x24", t);
        assert!(t.contains("no map for this milestone"), "{t}");
        assert!(t.contains("layer h: not computed yet"), "{t}");
        // Non-finite points only: the same.
        let nan = MapPlot {
            xy: vec![[f32::NAN, 1.0], [0.0, f32::INFINITY]],
            class: vec![0, 0],
            ..three_classes()
        };
        assert!(text(&render(&nan, &COLOUR, 80, 24)).contains("no map for this milestone"));
    }

    #[test]
    fn many_classes_say_colours_repeat() {
        let n = 25;
        let plot = MapPlot {
            xy: (0..n).map(|i| [i as f32, (i * i % 7) as f32]).collect(),
            class: (0..n as u32).collect(),
            class_names: Vec::new(),
            coloured_by: "k-means clusters".into(),
            ..three_classes()
        };
        let t = text(&render(&plot, &COLOUR, 120, 40));
        insta::assert_snapshot!("map_25_clusters_120x40", t);
        assert!(t.contains("25 classes, colours repeat"), "{t}");
        assert!(t.contains("coloured by k-means clusters"), "{t}");
        // Without colour, 25 characters are enough: no repeat to announce.
        let t = text(&render(&plot, &NO_COLOR, 120, 40));
        assert!(!t.contains("repeat"), "{t}");
        assert!(t.contains("o 24"), "class 24 is `o`: {t}");
    }

    #[test]
    fn ascii_draws_only_ascii() {
        let t = text(&render(&three_classes(), &ASCII, 80, 24));
        let odd: String = t.chars().filter(|c| !c.is_ascii()).collect();
        assert!(odd.is_empty(), "non-ASCII {odd:?} in\n{t}");
        assert!(t.contains("0 airplane"), "{t}");
    }

    #[test]
    fn names_from_disk_are_escaped() {
        let mut plot = three_classes();
        plot.class_names[0] = "cat\x1b[31m".into();
        plot.coloured_by = "labels\x07".into();
        let t = text(&render(&plot, &COLOUR, 120, 40));
        assert!(!t.contains('\x1b') && !t.contains('\x07'), "{t:?}");
        assert!(t.contains("cat\\x1b[31m"), "{t}");
    }

    #[test]
    fn tiny_areas_do_not_panic() {
        let plots = [
            three_classes(),
            MapPlot {
                xy: vec![[0.0, 0.0]],
                class: vec![70],
                ..three_classes()
            },
            MapPlot {
                xy: Vec::new(),
                ..three_classes()
            },
        ];
        let t = text(&render(&plots[0], &COLOUR, 20, 5));
        insta::assert_snapshot!("map_tiny_20x5", t);
        for plot in &plots {
            for theme in [COLOUR, NO_COLOR, ASCII] {
                for w in [0, 1, 2, 3, 5, 10, 20, 39, 80, 101, 200] {
                    for h in [0, 1, 2, 3, 4, 5, 7, 8, 9, 13, 24, 60] {
                        render(plot, &theme, w, h);
                    }
                }
            }
            let mut buf = Buffer::empty(Rect::new(0, 0, 10, 10));
            draw(plot, &COLOUR, &mut buf, Rect::new(5, 5, 40, 40));
            draw(plot, &COLOUR, &mut buf, Rect::new(50, 50, 40, 40));
        }
    }
}
