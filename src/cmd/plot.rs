//! `sslwatch plot ROOT`: compute (or load from the cache) every milestone
//! under ROOT once, as `report` does, and draw the runs' metrics over steps
//! as a figure file (SVG or PNG, see [`sslwatch::plot`]).

use super::out::warn;
use super::report::{start, EngineArgs};
use super::UsageError;
use sslwatch::metrics::Metric;
use sslwatch::plot::{self, Figure, FileFormat, PlotError, Spec};
use sslwatch::report::Collected;
use sslwatch::runs::RunMeta;
use sslwatch::watch::event::EngineEvent;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The figure file: .svg or .png. Never inside ROOT (sslwatch only reads
    /// the training directory).
    #[arg(
        short = 'o',
        long,
        value_name = "FILE",
        default_value = "sslwatch-plot.svg"
    )]
    pub output: PathBuf,
    /// The panels, one per metric (registry keys, comma-separated; panels
    /// without values are skipped).
    #[arg(
        long,
        value_name = "KEYS",
        value_delimiter = ',',
        default_value = "entropy_bits,silhouette,ami_agreement,probe_acc"
    )]
    pub metrics: Vec<String>,
    /// Only runs whose name matches GLOB (`*` any characters, `/` included;
    /// `?` one character), e.g. `'simclr*'` or `'cifar10/*'`.
    #[arg(long, value_name = "GLOB")]
    pub runs: Option<String>,
    /// Write each run's Spearman correlation with probe accuracy (over its
    /// milestones, `--probe-source`) in the panels of the label-free metrics.
    #[arg(long)]
    pub annotate: bool,
    /// Figure width in pixels (200 to 6000).
    #[arg(long, value_name = "PX", default_value_t = 1200)]
    pub width: u32,
    /// Figure height in pixels (200 to 6000).
    #[arg(long, value_name = "PX", default_value_t = 800)]
    pub height: u32,
}

/// `--metrics` keys as metrics; an unknown key names the valid ones.
fn metrics(keys: &[String]) -> Result<Vec<Metric>, UsageError> {
    let mut out = Vec::new();
    for key in keys.iter().map(|k| k.trim()) {
        let Some(m) = Metric::from_key(key) else {
            let valid: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
            return Err(UsageError(format!(
                "--metrics: unknown metric {key:?} (valid: {})",
                valid.join(", ")
            )));
        };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    if out.is_empty() {
        return Err(UsageError("--metrics: name at least one metric".into()));
    }
    Ok(out)
}

/// `path` made absolute with symlinks resolved as far as it exists (the
/// rest appended as given); None when that cannot be worked out.
fn resolve(path: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(path).ok()?;
    let mut base = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(mut real) = base.canonicalize() {
            real.extend(rest.iter().rev());
            return Some(real);
        }
        rest.push(base.file_name()?);
        base = base.parent()?;
    }
}

/// Refuse an output file inside ROOT: the training directory is read-only
/// to sslwatch (and a figure there would look like a run's file).
fn check_outside(root: &Path, output: &Path) -> Result<(), UsageError> {
    // A ROOT that does not resolve is reported by the engine.
    let Ok(root) = root.canonicalize() else {
        return Ok(());
    };
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    match resolve(dir) {
        Some(dir) if dir.starts_with(&root) => Err(UsageError(format!(
            "-o {}: inside ROOT {}: sslwatch never writes into the training directory; write the figure elsewhere",
            output.display(),
            root.display()
        ))),
        _ => Ok(()),
    }
}

/// Like `report`'s warnings: the file, then the message (which may name it already).
fn warning_text(file: &Path, message: &str) -> String {
    let f = file.display().to_string();
    if message.starts_with(&f) {
        format!("warning: {message}")
    } else {
        format!("warning: {f}: {message}")
    }
}

fn usage_or(e: PlotError) -> anyhow::Error {
    if e.is_usage() {
        UsageError(e.to_string()).into()
    } else {
        e.into()
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let spec = Spec {
        metrics: metrics(&args.metrics)?,
        layer: args.engine.opts.layer.clone(),
        runs: args.runs.clone(),
        probe: args.engine.opts.probe_source.into(),
        annotate: args.annotate,
    };
    plot::check_size(args.width, args.height).map_err(usage_or)?;
    FileFormat::of(&args.output).map_err(usage_or)?;
    if let Some(r) = &spec.runs {
        if r.is_empty() {
            return Err(UsageError("--runs must not be empty".into()).into());
        }
    }
    check_outside(&args.engine.root, &args.output)?;

    let handle = start(args.engine.config(false)?)?;
    let mut all = Collected::default();
    let mut meta: BTreeMap<String, RunMeta> = BTreeMap::new();
    let mut root = args.engine.root.clone();
    for ev in handle.events().iter() {
        match &ev {
            EngineEvent::Started { root: r, .. } => root = r.clone(),
            EngineEvent::RunFound(info) => {
                meta.insert(info.name.clone(), info.meta.clone());
            }
            EngineEvent::RunRemoved { run } => {
                meta.remove(run);
            }
            EngineEvent::Warning { file, message } => warn(warning_text(file, message)),
            _ => {}
        }
        all.apply(&ev);
    }
    if all.errors > 0 {
        warn(format_args!(
            "sslwatch: {} milestone file(s) could not be read (gaps in the lines; `sslwatch report` names them)",
            all.errors
        ));
    }

    let built = Figure::from_collected(&all, &meta, &spec).map_err(usage_or)?;
    let mut figure = built.figure;
    let name = root.file_name().map_or_else(
        || root.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    figure.title = format!("{name} · {}", figure.title);
    plot::write(&figure, &args.output, args.width, args.height)?;

    for m in &built.skipped {
        warn(format_args!(
            "sslwatch: no values of {} on layer {}: no panel",
            m.key(),
            built.layer
        ));
    }
    warn(format_args!(
        "sslwatch: wrote {}: {} run(s), {} panel(s) ({}), {} point(s), layer {}",
        args.output.display(),
        figure.runs().len(),
        figure.panels.len(),
        figure
            .panels
            .iter()
            .map(|p| p.metric.key())
            .collect::<Vec<_>>()
            .join(", "),
        figure.points(),
        built.layer
    ));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_metric_keys_list_the_valid_ones() {
        let err = metrics(&["entropy_bits".into(), "entropy".into()]).unwrap_err();
        assert!(err.0.contains("unknown metric \"entropy\""), "{}", err.0);
        assert!(err.0.contains("silhouette") && err.0.contains("kmeans_inertia"));
        let ok = metrics(&[
            "silhouette".into(),
            " probe_acc".into(),
            "silhouette".into(),
        ]);
        assert_eq!(ok.unwrap(), vec![Metric::Silhouette, Metric::ProbeAcc]);
    }

    #[test]
    fn outputs_below_root_are_refused_even_through_dotdot_or_a_new_directory() {
        let root = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let r = root.path();
        assert!(check_outside(r, &r.join("fig.svg")).is_err());
        assert!(check_outside(r, &r.join("new/dir/fig.svg")).is_err());
        assert!(check_outside(r, &other.path().join("x/../fig.svg")).is_ok());
        assert!(check_outside(r, &other.path().join("fig.svg")).is_ok());
        let sub = r.join("run");
        std::fs::create_dir(&sub).unwrap();
        assert!(check_outside(r, &sub.join("../fig.png")).is_err());
    }
}
