//! Drawing: pure functions of [`App`] into a [`Frame`], one file per screen.
//! Nothing here changes state or reads the clock (`app.now` is "now").

pub mod compare;
pub mod detail;
pub mod errors;
pub mod format;
pub mod grid;
pub mod help;
pub mod map;
pub mod sparkline;
pub mod spectrum;
pub mod status;

use super::app::{App, Overlay, Screen};
use super::theme::{self, Theme};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// Below this the UI shows "terminal too small" instead of the screens.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 8;

/// Draw the whole UI.
pub fn draw(app: &App, frame: &mut Frame) {
    let theme = Theme {
        color: app.options.color,
        ascii: app.options.ascii,
    };
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area);
    } else {
        let footer = status::footer_height(area.width);
        let [top, main, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(footer),
        ])
        .areas(area);
        status::draw_status(app, &theme, frame, top);
        match app.screen {
            Screen::Grid => grid::draw(app, &theme, frame, main),
            Screen::Compare => compare::draw(app, &theme, frame, main),
        }
        for overlay in &app.overlays {
            match overlay {
                Overlay::Detail => detail::draw(app, &theme, frame, main),
                Overlay::Errors => errors::draw(app, &theme, frame, main),
                Overlay::Help => help::draw(app, &theme, frame, main),
                Overlay::Spectrum => {
                    frame.render_widget(ratatui::widgets::Clear, main);
                    let plot = spectrum_plot(app);
                    spectrum::draw(&plot, &theme, frame.buffer_mut(), main);
                }
                Overlay::Map => {
                    frame.render_widget(ratatui::widgets::Clear, main);
                    let plot = map_plot(app);
                    map::draw(&plot, &theme, frame.buffer_mut(), main);
                }
            }
        }
        status::draw_footer(app, &theme, frame, bottom);
    }
    if theme.ascii {
        theme::asciify(frame.buffer_mut());
    }
    scrub(frame.buffer_mut());
}

/// Most milestones one run's spectrum view draws (spread over the run,
/// the newest always among them).
const SPECTRUM_LINES: usize = 8;

/// The spectrum view's content: the selected run's spectra over its
/// milestones on the current layer, or every visible run's latest one.
pub fn spectrum_plot(app: &App) -> spectrum::SpectrumPlot {
    let layer = app.current_layer().unwrap_or_default();
    if app.spectrum_all {
        let lines: Vec<spectrum::SpectrumLine> = app
            .visible_runs()
            .filter_map(|r| {
                let (step, values) = spectra(r, &layer).next_back()?;
                Some(spectrum::SpectrumLine {
                    label: format!("{} @{step}", r.info.name),
                    values: values.clone(),
                    style: spectrum::LineStyle::Run(r.colour),
                })
            })
            .collect();
        return spectrum::SpectrumPlot {
            title: format!("spectrum · layer {layer} · all runs' latest · p close"),
            lines,
            note: Some("normalised singular values of the centred embeddings".into()),
        };
    }
    let Some(run) = app.selected_run() else {
        return spectrum::SpectrumPlot {
            title: "spectrum".into(),
            lines: Vec::new(),
            note: Some("no run selected".into()),
        };
    };
    let with: Vec<(u64, &Vec<f64>)> = spectra(run, &layer).collect();
    // Evenly spread picks, the first and the newest included.
    let n = with.len();
    let mut picks: Vec<usize> = if n <= SPECTRUM_LINES {
        (0..n).collect()
    } else {
        (0..SPECTRUM_LINES)
            .map(|i| i * (n - 1) / (SPECTRUM_LINES - 1))
            .collect()
    };
    picks.dedup();
    let of = picks.len();
    let lines = picks
        .iter()
        .enumerate()
        .map(|(rank, &i)| spectrum::SpectrumLine {
            label: format!("step {}", with[i].0),
            values: with[i].1.clone(),
            style: spectrum::LineStyle::Age { rank, of },
        })
        .collect();
    spectrum::SpectrumPlot {
        title: format!("spectrum · {} · layer {layer} · p all runs", run.info.name),
        lines,
        note: Some(format!(
            "normalised singular values of the centred embeddings; {of} of {n} milestones"
        )),
    }
}

/// The run's milestones that have a spectrum on `layer`, in step order.
fn spectra<'a>(
    run: &'a crate::tui::app::RunState,
    layer: &'a str,
) -> impl DoubleEndedIterator<Item = (u64, &'a Vec<f64>)> + 'a {
    run.milestones
        .iter()
        .filter_map(move |(step, m)| match m.layers.get(layer) {
            Some(Ok(lm)) if !lm.spectrum.is_empty() => Some((*step, &lm.spectrum)),
            _ => None,
        })
}

/// The embedding map view's content: the selected run's newest map on the
/// current layer.
pub fn map_plot(app: &App) -> map::MapPlot {
    let layer = app.current_layer().unwrap_or_default();
    let empty = |title: String, note: &str| map::MapPlot {
        title,
        xy: Vec::new(),
        class: Vec::new(),
        class_names: Vec::new(),
        coloured_by: String::new(),
        explained: [0.0; 2],
        note: Some(note.to_string()),
    };
    let Some(run) = app.selected_run() else {
        return empty("embedding map".into(), "no run selected");
    };
    let title = |step: Option<u64>| {
        format!(
            "embedding map · {} · layer {layer}{} · m close",
            run.info.name,
            step.map_or(String::new(), |s| format!(" · step {s}"))
        )
    };
    match run.maps.get(&layer) {
        Some((step, m)) => map::MapPlot {
            title: title(Some(*step)),
            xy: m.xy.clone(),
            class: m.class.clone(),
            class_names: m.class_names.clone(),
            coloured_by: if m.by_labels {
                "labels"
            } else {
                "k-means clusters"
            }
            .into(),
            explained: m.explained,
            note: None,
        },
        None => empty(
            title(None),
            "no map yet: maps come with newly computed milestones (not from the cache)",
        ),
    }
}

/// The last line of defence: a cell holding a control, C1 or bidi
/// character (text that reached a view without
/// [`crate::text::sanitize`]) shows `?` instead, so nothing drawn can
/// change the terminal's state. ratatui writes cell symbols to the
/// terminal as they are, and appends zero-width characters to the
/// previous cell rather than dropping them.
pub fn scrub(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        if cell.symbol().chars().any(crate::text::needs_escape) {
            cell.set_symbol("?");
        }
    }
}

fn too_small(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from(format!(
            "terminal too small ({}x{})",
            area.width, area.height
        )),
        Line::from(format!("sslwatch needs {MIN_WIDTH}x{MIN_HEIGHT}; q quits")),
    ];
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
}

/// Write `text` at (x, y), at most `max` columns; nothing outside the
/// buffer (ratatui's `set_stringn` panics on a row outside it).
pub fn put(
    buf: &mut ratatui::buffer::Buffer,
    x: u16,
    y: u16,
    text: impl AsRef<str>,
    max: usize,
    style: ratatui::style::Style,
) {
    let area = buf.area;
    if y < area.top() || y >= area.bottom() || x < area.left() || x >= area.right() {
        return;
    }
    buf.set_stringn(x, y, text, max, style);
}

/// A `Rect` of at most `w` x `h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}
