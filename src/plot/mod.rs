//! Figures for papers: one panel per metric, x = step, one line per run in
//! the TUI's run colours ([`crate::palette`]), a legend from `run.json`'s
//! method, and optionally each run's Spearman correlation with probe
//! accuracy written in the panel.
//!
//! The model ([`Figure`], [`Panel`], [`Line`]) is plain data: `sslwatch
//! plot` builds it from a report's [`crate::report::Collected`]
//! ([`Figure::from_collected`]), and any other front end can fill it
//! itself. [`render_svg`] and [`render_png`] draw it with `plotters`
//! (no system libraries: the PNG's text is drawn with the DejaVu Sans font
//! embedded in the binary); [`write`] picks the format from the file's
//! extension.
//!
//! Text in a figure (run names, methods, layer names, annotations) comes
//! from disk: every string is passed through [`crate::text::sanitize`]
//! when drawn (no control characters), and the SVG backend escapes `<`,
//! `>`, `&`, `"` and `'` for XML.

mod collect;
mod glob;
mod render;

pub use collect::{pieces, Built, Spec, DEFAULT_METRICS};
pub use glob::glob_match;
pub use render::{render_png, render_svg};

use crate::metrics::Metric;
use std::path::{Path, PathBuf};

/// Width and height a figure may have, in pixels (each).
pub const SIZE_RANGE: std::ops::RangeInclusive<u32> = 200..=6000;

/// A whole figure: a title and its panels, laid out in a grid.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figure {
    pub title: String,
    pub panels: Vec<Panel>,
}

/// One metric over steps, one line per run.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub metric: Metric,
    pub series: Vec<Line>,
    /// A line of text drawn under the panel's caption (the correlations).
    pub annotation: Option<String>,
}

/// One run's values of a panel's metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// The run's name (relative to ROOT).
    pub run: String,
    /// What the legend says (the method from `run.json`, or the name).
    pub legend: String,
    /// Index into the run palette ([`crate::palette::run_rgb`]).
    pub colour: usize,
    /// (step, value) in step order, split where a value is missing: each
    /// piece is drawn as its own polyline (a piece of one point as a dot).
    pub pieces: Vec<Vec<(f64, f64)>>,
}

impl Line {
    /// Points over all pieces.
    pub fn points(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }
}

impl Figure {
    /// The distinct runs drawn, in palette order.
    pub fn runs(&self) -> Vec<&Line> {
        let mut out: Vec<&Line> = Vec::new();
        for line in self.panels.iter().flat_map(|p| &p.series) {
            if !out.iter().any(|l| l.run == line.run) {
                out.push(line);
            }
        }
        out.sort_by_key(|l| l.colour);
        out
    }

    /// Points over all panels and lines.
    pub fn points(&self) -> usize {
        self.panels
            .iter()
            .flat_map(|p| &p.series)
            .map(Line::points)
            .sum()
    }
}

/// The file formats [`write`] knows, from the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Svg,
    Png,
}

impl FileFormat {
    /// `.svg` or `.png` (any case); anything else is
    /// [`PlotError::UnknownExtension`].
    pub fn of(path: &Path) -> Result<FileFormat, PlotError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(FileFormat::Svg),
            Some("png") => Ok(FileFormat::Png),
            _ => Err(PlotError::UnknownExtension(path.to_path_buf())),
        }
    }
}

/// What can go wrong building, drawing or writing a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("{}: unknown figure format: the file name must end in .svg or .png", .0.display())]
    UnknownExtension(PathBuf),
    #[error("figure size {width}x{height}: width and height must be between {} and {} pixels", SIZE_RANGE.start(), SIZE_RANGE.end())]
    Size { width: u32, height: u32 },
    #[error("no milestones with metrics to plot")]
    NoResults,
    #[error("--runs {pattern}: no run matches (runs: {})", .runs.join(", "))]
    NoRunMatches { pattern: String, runs: Vec<String> },
    #[error("layer {layer}: no such layer in the runs drawn{}", layers_text(.available))]
    NoLayer {
        layer: String,
        available: Vec<String>,
    },
    #[error("nothing to draw: none of the metrics asked for has values on layer {layer}")]
    Empty { layer: String },
    #[error("the embedded font could not be loaded")]
    Font,
    #[error("drawing the figure: {0}")]
    Draw(String),
    #[error("encoding the PNG: {0}")]
    Png(#[from] png::EncodingError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// " (layers: h, z)", or nothing when no layer is known.
fn layers_text(available: &[String]) -> String {
    if available.is_empty() {
        String::new()
    } else {
        format!(" (layers: {})", available.join(", "))
    }
}

impl PlotError {
    /// A problem with what the user asked for (flags, the data chosen),
    /// rather than with drawing or writing.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            PlotError::UnknownExtension(_)
                | PlotError::Size { .. }
                | PlotError::NoResults
                | PlotError::NoRunMatches { .. }
                | PlotError::NoLayer { .. }
                | PlotError::Empty { .. }
        )
    }
}

/// Check a figure size against [`SIZE_RANGE`].
pub fn check_size(width: u32, height: u32) -> Result<(), PlotError> {
    if SIZE_RANGE.contains(&width) && SIZE_RANGE.contains(&height) {
        Ok(())
    } else {
        Err(PlotError::Size { width, height })
    }
}

/// Draw `fig` at `width` x `height` pixels into `path`, as SVG or PNG by
/// its extension. The file is written next to its final name and renamed
/// into place, so a reader never sees half a figure.
pub fn write(fig: &Figure, path: &Path, width: u32, height: u32) -> Result<(), PlotError> {
    let bytes = match FileFormat::of(path)? {
        FileFormat::Svg => render_svg(fig, width, height)?.into_bytes(),
        FileFormat::Png => render_png(fig, width, height)?,
    };
    let io = |source| PlotError::Io {
        path: path.to_path_buf(),
        source,
    };
    // A sibling created fresh (never an existing file or link), with the
    // usual permissions (0666 less the umask), renamed over `path`.
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io)?;
    let written = std::io::Write::write_all(&mut file, &bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        // Ours: created above.
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
