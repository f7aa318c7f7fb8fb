//! `sslwatch metrics FILE`: every metric of one embedding file.

use super::metric_args::MetricArgs;
use super::out::{warn, Stdout};
use super::UsageError;
use anyhow::Context;
use sslwatch::memory::LayerNeed;
use sslwatch::metrics::{compute_layer_prescaled, Clusterings, LayerMetrics, MetricsError};
use sslwatch::read::{self, write};
use sslwatch::text;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Embedding file: .npy (one layer) or .npz (one array per layer).
    pub file: PathBuf,
    /// Integer labels (.npy, one per row) for ami_labels, probe_acc and knn_acc.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[command(flatten)]
    pub metric: MetricArgs,
    /// Write DIR/<layer>.c1.npy and DIR/<layer>.c2.npy (int64 cluster ids of the finite rows).
    /// A layer name that is not a safe file name is made one (or becomes
    /// layer_<index>), and stderr says so.
    #[arg(long, value_name = "DIR")]
    pub save_clusters: Option<PathBuf>,
    /// One JSON object per line, one line per layer.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.metric.settings()?;
    let budget = args.metric.budget()?;
    if let Some(note) = args.metric.device_note()? {
        warn(format_args!("sslwatch: note: {note}"));
    }
    let labels = args
        .labels
        .as_deref()
        .map(|p| read::read_labels(p, budget.0))
        .transpose()?;
    // Headers first: each layer is checked against the budget before it is
    // read, and read (then dropped) one at a time.
    let mut file = read::EmbeddingFile::open(&args.file)?;
    let names: Vec<String> = file.arrays().iter().map(|a| a.name.clone()).collect();
    let stems = cluster_stems(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let mut out = Stdout::lock();
    let mut failed = 0;
    let classes = labels.as_deref().map(sslwatch::metrics::distinct);
    for (i, (name, stem)) in names.iter().zip(&stems).enumerate() {
        let (rows, cols) = file.arrays()[i].matrix_dims().unwrap_or((usize::MAX, 1));
        let need = LayerNeed::of(rows, cols, classes, &settings);
        let computed = match budget.check(need) {
            Err(why) => Err(format!("{rows} x {cols} {why}")),
            Ok(()) => {
                let layer = file.read_layer(i)?;
                compute_layer_prescaled(
                    layer.data.view(),
                    layer.log2_scale,
                    labels.as_deref(),
                    &settings,
                )
                .map_err(|e: MetricsError| e.to_string())
            }
        };
        match computed {
            Ok((metrics, clusters)) => {
                if let Some(dir) = &args.save_clusters {
                    save_clusters(dir, &args.file, name, stem, &clusters)?;
                }
                if args.json {
                    out.line(json_line(&args.file, name, &metrics)?)?;
                } else {
                    out.text(&table(&args.file, name, &metrics))?;
                }
            }
            Err(err) => {
                failed += 1;
                if args.json {
                    out.line(error_json_line(&args.file, name, &err))?;
                }
                warn(format_args!(
                    "sslwatch: {}: layer {name}: {err}",
                    args.file.display()
                ));
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        return Err(UsageError(format!(
            "{}: {failed} of {} layer(s) could not be measured",
            args.file.display(),
            names.len()
        ))
        .into());
    }
    Ok(ExitCode::SUCCESS)
}

/// The JSON line of one layer: `file`, `layer`, then every metric (null where it does not apply).
fn json_line(file: &Path, layer: &str, m: &LayerMetrics) -> anyhow::Result<String> {
    let mut obj = serde_json::Map::new();
    obj.insert("file".into(), file.display().to_string().into());
    obj.insert("layer".into(), layer.into());
    match serde_json::to_value(m)? {
        serde_json::Value::Object(fields) => obj.extend(fields),
        other => anyhow::bail!("metrics serialised to {other}, not an object"),
    }
    Ok(serde_json::Value::Object(obj).to_string())
}

/// The JSON line of a layer that could not be measured.
fn error_json_line(file: &Path, layer: &str, err: &str) -> String {
    serde_json::json!({
        "file": file.display().to_string(),
        "layer": layer,
        "error": err,
    })
    .to_string()
}

/// One layer's metrics as a small table; the file, layer and warnings are
/// sanitised (they come from disk).
fn table(file: &Path, layer: &str, m: &LayerMetrics) -> String {
    let mut out = format!(
        "{}  layer {}  ({} x {}, k = {}, {:.2} s)\n",
        text::sanitize_display(file.display()),
        text::sanitize(layer),
        m.n,
        m.dim,
        m.k,
        m.seconds
    );
    for (metric, value) in m.values.iter() {
        let text = value.map_or_else(|| "-".to_string(), format_value);
        let _ = writeln!(out, "  {:<16}{text:>14}", metric.key());
    }
    if let Some(top) = m.spectrum.first() {
        let _ = writeln!(
            out,
            "  {:<16}{:>14}  (top normalised singular value of {})",
            "spectrum[0]",
            format_value(*top),
            m.spectrum.len()
        );
    }
    if !m.outlier_idx.is_empty() {
        let idx: Vec<String> = m.outlier_idx.iter().map(u32::to_string).collect();
        let _ = writeln!(out, "  {:<16}{}", "outlier rows", idx.join(" "));
    }
    if m.nonfinite_rows > 0 {
        let _ = writeln!(out, "  {:<16}{:>14}", "nonfinite_rows", m.nonfinite_rows);
    }
    for w in &m.warnings {
        let _ = writeln!(out, "  warning: {}", text::sanitize(w));
    }
    out
}

fn format_value(v: f64) -> String {
    text::metric(v)
}

/// Why a layer's cluster files are not named after the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renamed {
    /// The name had to be made safe (separators, `..`, control characters).
    Unsafe,
    /// The safe name is another layer's too.
    Collides,
}

/// The file stem of each layer's `--save-clusters` files, and why it is
/// not the layer's own name when it is not. Every stem is one safe path
/// component ([`text::file_component`]) and no two are equal, even on a
/// case-insensitive filesystem. Layers whose name is already safe keep it
/// first; then the sanitised names; what is left (nothing usable, or a
/// collision) is `layer_<index>`.
fn cluster_stems(names: &[&str]) -> Vec<(String, Option<Renamed>)> {
    let mut taken: HashSet<String> = HashSet::new();
    let mut stems: Vec<Option<(String, Option<Renamed>)>> = vec![None; names.len()];
    let safe: Vec<Option<String>> = names.iter().map(|n| text::file_component(n)).collect();
    // Names that are already safe, then the sanitised ones.
    for exact in [true, false] {
        for (i, name) in names.iter().enumerate() {
            let Some(c) = &safe[i] else { continue };
            if stems[i].is_some() || (c == name) != exact {
                continue;
            }
            if taken.insert(c.to_lowercase()) {
                stems[i] = Some((c.clone(), (!exact).then_some(Renamed::Unsafe)));
            }
        }
    }
    names
        .iter()
        .enumerate()
        .zip(stems)
        .map(|((i, _), stem)| {
            stem.unwrap_or_else(|| {
                let why = if safe[i].is_some() {
                    Renamed::Collides
                } else {
                    Renamed::Unsafe
                };
                let mut candidate = format!("layer_{i}");
                let mut k = 2;
                while !taken.insert(candidate.to_lowercase()) {
                    candidate = format!("layer_{i}_{k}");
                    k += 1;
                }
                (candidate, Some(why))
            })
        })
        .collect()
}

fn save_clusters(
    dir: &Path,
    file: &Path,
    layer: &str,
    (stem, renamed): &(String, Option<Renamed>),
    c: &Clusterings,
) -> anyhow::Result<()> {
    if let Some(why) = renamed {
        let why = match why {
            Renamed::Unsafe => "the name is not a safe file name",
            Renamed::Collides => "its safe name is another layer's",
        };
        warn(format_args!(
            "sslwatch: {}: layer {layer}: cluster ids saved as {stem}.c1.npy and {stem}.c2.npy ({why})",
            file.display()
        ));
    }
    for (suffix, ids) in [("c1", &c.c1), ("c2", &c.c2)] {
        let path = dir.join(format!("{stem}.{suffix}.npy"));
        let ids: Vec<i64> = ids.iter().map(|&v| i64::from(v)).collect();
        write::write_atomic(&path, &write::npy_bytes_i64(&ids))
            .with_context(|| format!("{}: cannot write cluster ids", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(names: &[&str]) -> Vec<String> {
        cluster_stems(names).into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn safe_names_are_kept_and_unsafe_ones_made_safe() {
        assert_eq!(stems(&["h", "z"]), ["h", "z"]);
        assert_eq!(
            cluster_stems(&["../../x", "/abs/evil", "h"]),
            [
                ("_.._x".to_string(), Some(Renamed::Unsafe)),
                ("_abs_evil".to_string(), Some(Renamed::Unsafe)),
                ("h".to_string(), None),
            ]
        );
        assert_eq!(
            cluster_stems(&[".."]),
            [("layer_0".to_string(), Some(Renamed::Unsafe))]
        );
    }

    #[test]
    fn collisions_after_sanitising_get_an_index_name() {
        // "a_b" is safe as it is and keeps its name; "a/b" would become it too.
        assert_eq!(
            cluster_stems(&["a/b", "a_b"]),
            [
                ("layer_0".to_string(), Some(Renamed::Collides)),
                ("a_b".to_string(), None),
            ]
        );
        // Case-insensitive filesystems: "H" and "h" are one file.
        assert_eq!(stems(&["h", "H"]), ["h", "layer_1"]);
        // A layer really named like a fallback keeps it; the fallback moves.
        assert_eq!(stems(&["..", "layer_0"]), ["layer_0_2", "layer_0"]);
    }
}
