//! `sslwatch metrics FILE`: every metric of one embedding file.

use super::metric_args::MetricArgs;
use super::UsageError;
use anyhow::Context;
use sslwatch::metrics::{compute_layer, Clusterings, LayerMetrics, MetricsError};
use sslwatch::read::{self, write};
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
    #[arg(long, value_name = "DIR")]
    pub save_clusters: Option<PathBuf>,
    /// One JSON object per line, one line per layer.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let settings = args.metric.settings()?;
    let budget = args.metric.budget()?;
    let labels = args
        .labels
        .as_deref()
        .map(|p| read::read_labels(p, budget.0))
        .transpose()?;
    let layers = read::read_embeddings(&args.file)?;
    let mut failed = 0;
    for layer in &layers {
        match compute_layer(layer.data.view(), labels.as_deref(), &settings) {
            Ok((metrics, clusters)) => {
                if let Some(dir) = &args.save_clusters {
                    save_clusters(dir, &layer.name, &clusters)?;
                }
                if args.json {
                    println!("{}", json_line(&args.file, &layer.name, &metrics)?);
                } else {
                    print_table(&args.file, &layer.name, &metrics);
                }
            }
            Err(err) => {
                failed += 1;
                report_layer_error(&args.file, &layer.name, &err, args.json);
            }
        }
    }
    if failed > 0 {
        return Err(UsageError(format!(
            "{}: {failed} of {} layer(s) could not be measured",
            args.file.display(),
            layers.len()
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

fn report_layer_error(file: &Path, layer: &str, err: &MetricsError, json: bool) {
    if json {
        let line = serde_json::json!({
            "file": file.display().to_string(),
            "layer": layer,
            "error": err.to_string(),
        });
        println!("{line}");
    }
    eprintln!("sslwatch: {}: layer {layer}: {err}", file.display());
}

fn print_table(file: &Path, layer: &str, m: &LayerMetrics) {
    println!(
        "{}  layer {layer}  ({} x {}, k = {}, {:.2} s)",
        file.display(),
        m.n,
        m.dim,
        m.k,
        m.seconds
    );
    let rows: [(&str, Option<f64>); 8] = [
        ("entropy_bits", m.entropy_bits),
        ("silhouette", m.silhouette),
        ("ami_agreement", m.ami_agreement),
        ("ami_labels", m.ami_labels),
        ("probe_acc", m.probe_acc),
        ("knn_acc", m.knn_acc),
        ("rankme", m.rankme),
        ("kmeans_inertia", m.kmeans_inertia),
    ];
    for (name, value) in rows {
        let text = value.map_or_else(|| "-".to_string(), format_value);
        println!("  {name:<16}{text:>14}");
    }
    if m.nonfinite_rows > 0 {
        println!("  {:<16}{:>14}", "nonfinite_rows", m.nonfinite_rows);
    }
    for w in &m.warnings {
        println!("  warning: {w}");
    }
}

fn format_value(v: f64) -> String {
    if v.abs() >= 1e5 {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

fn save_clusters(dir: &Path, layer: &str, c: &Clusterings) -> anyhow::Result<()> {
    for (suffix, ids) in [("c1", &c.c1), ("c2", &c.c2)] {
        let path = dir.join(format!("{layer}.{suffix}.npy"));
        let ids: Vec<i64> = ids.iter().map(|&v| i64::from(v)).collect();
        write::write_atomic(&path, &write::npy_bytes_i64(&ids))
            .with_context(|| format!("{}: cannot write cluster ids", path.display()))?;
    }
    Ok(())
}
