//! `sslwatch study ROOT`: train each method x seed with the included
//! trainer into `ROOT/<dataset>/<method>-s<seed>` (resuming what exists),
//! then print the paper's analysis of those runs ([`sslwatch::study`]).
//! `--no-train` analyses runs trained elsewhere (every run under ROOT).

use super::out::{warn, Stdout};
use super::report::{start, EngineArgs};
use super::UsageError;
use sslwatch::report::Collected;
use sslwatch::study::{self, StudyFormat};
use sslwatch::watch::event::EngineEvent;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// Methods the study trains.
pub const METHODS: [&str; 3] = ["simclr", "moco", "simsiam"];

/// Training budgets: (epochs, milestone every). The quick one fits three
/// methods x two seeds on a 2-core CPU in under 30 minutes (see README).
pub const QUICK: (u32, u32) = (30, 2);
pub const DEFAULT: (u32, u32) = (100, 5);

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StudyFormatArg {
    Table,
    Json,
    Markdown,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The quick budget: 30 epochs, a milestone every 2 (default budget:
    /// 100 epochs, a milestone every 5).
    #[arg(long)]
    pub quick: bool,
    /// Methods to train and analyse, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "simclr,moco,simsiam", value_parser = METHODS)]
    pub methods: Vec<String>,
    /// Seeds per method (0..N).
    #[arg(long, default_value_t = 2)]
    pub seeds: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StudyFormatArg::Table)]
    pub format: StudyFormatArg,
    /// Do not train: analyse the runs already under ROOT (trained elsewhere).
    #[arg(long)]
    pub no_train: bool,
    /// Data set to train on (built in, offline).
    #[arg(long, default_value = "digits", value_parser = ["digits", "shapes"])]
    pub dataset: String,
    /// Epochs per run, overriding the budget.
    #[arg(long)]
    pub epochs: Option<u32>,
    /// A milestone every this many epochs, overriding the budget.
    #[arg(long)]
    pub milestone_every: Option<u32>,
    /// Trainer compute threads [default: the trainer's].
    #[arg(long)]
    pub threads: Option<usize>,
    /// The layer the findings are checked on [default: h, else the first].
    #[arg(long, value_name = "L")]
    pub findings_layer: Option<String>,
}

/// What to train: one entry per method x seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// `ROOT/<dataset>`.
    pub dir: PathBuf,
    pub epochs: u32,
    pub milestone_every: u32,
    /// (method, seed, run name).
    pub runs: Vec<(String, u64, String)>,
}

impl Args {
    fn plan(&self) -> Result<Plan, UsageError> {
        if !(1..=10).contains(&self.seeds) {
            return Err(UsageError(format!(
                "--seeds {}: must be between 1 and 10",
                self.seeds
            )));
        }
        let (epochs, every) = if self.quick { QUICK } else { DEFAULT };
        let epochs = self.epochs.unwrap_or(epochs);
        let every = self.milestone_every.unwrap_or(every);
        if epochs == 0 || every == 0 {
            return Err(UsageError(
                "--epochs and --milestone-every must be at least 1".into(),
            ));
        }
        let mut methods = self.methods.clone();
        methods.dedup();
        let runs = methods
            .iter()
            .flat_map(|m| (0..self.seeds).map(move |s| (m.clone(), s, format!("{m}-s{s}"))))
            .collect();
        Ok(Plan {
            dir: self.engine.root.join(&self.dataset),
            epochs,
            milestone_every: every,
            runs,
        })
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plan = args.plan()?;
    let format = match args.format {
        StudyFormatArg::Table => StudyFormat::Table,
        StudyFormatArg::Json => StudyFormat::Json,
        StudyFormatArg::Markdown => StudyFormat::Markdown,
    };
    let root = if args.no_train {
        args.engine.root.clone()
    } else {
        if !train_all(&args, &plan)? {
            return Ok(ExitCode::from(130));
        }
        plan.dir.clone()
    };

    let mut cfg = args.engine.config(false)?;
    cfg.root = root;
    let handle = start(cfg)?;
    let mut all = Collected::default();
    let mut meta_methods: BTreeMap<String, Option<String>> = BTreeMap::new();
    for ev in handle.events().iter() {
        match &ev {
            EngineEvent::RunFound(info) => {
                meta_methods.insert(info.name.clone(), info.meta.method.clone());
            }
            EngineEvent::Warning { file, message } => {
                warn(format_args!("warning: {}: {message}", file.display()))
            }
            _ => {}
        }
        all.apply(&ev);
    }
    // with training, exactly the planned runs; without, every run whose
    // method was asked for
    let planned: Vec<&str> = plan.runs.iter().map(|(_, _, n)| n.as_str()).collect();
    let methods: BTreeMap<String, String> = meta_methods
        .into_iter()
        .filter(|(run, _)| args.no_train || planned.contains(&run.as_str()))
        .map(|(run, m)| {
            let method = study::method_of(&run, m.as_deref());
            (run, method)
        })
        .filter(|(_, m)| args.methods.contains(m))
        .collect();
    if methods.is_empty() {
        return Err(UsageError(format!(
            "no runs of {} under {}",
            args.methods.join(", "),
            sslwatch::text::sanitize_display(args.engine.root.display())
        ))
        .into());
    }
    let s = study::analyse(
        &all,
        &methods,
        args.engine.opts.probe_source.into(),
        args.findings_layer.as_deref(),
    );
    let mut out = Stdout::lock();
    out.text(&study::render(&s, format))?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "train"))]
fn train_all(_args: &Args, _plan: &Plan) -> anyhow::Result<bool> {
    Err(UsageError(
        "this build of sslwatch cannot train (built without the `train` feature): \
         add --no-train to analyse runs trained elsewhere, or rebuild with \
         `cargo build --release --features train` after `scripts/install-libtorch.sh`"
            .into(),
    )
    .into())
}

/// Train (or resume) every planned run; `false` when Ctrl-C stopped it.
#[cfg(feature = "train")]
fn train_all(args: &Args, plan: &Plan) -> anyhow::Result<bool> {
    use sslwatch::train::config::RunOptions;
    use sslwatch::train::{
        checkpoint, export, train, Arch, DatasetKind, DeviceChoice, Method, Outcome, Progress,
        TrainConfig,
    };
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))?;
    }
    let dataset = match args.dataset.as_str() {
        "shapes" => DatasetKind::Shapes,
        _ => DatasetKind::Digits,
    };
    if args.threads == Some(0) {
        return Err(UsageError("--threads must be at least 1".into()).into());
    }
    warn(format_args!(
        "study: {} runs ({} x {} seed(s)) into {}, {} epochs each, a milestone every {}",
        plan.runs.len(),
        args.methods.join(", "),
        args.seeds,
        sslwatch::text::sanitize_display(plan.dir.display()),
        plan.epochs,
        plan.milestone_every
    ));
    let started = Instant::now();
    // images trained in this call by the runs before the current one, for
    // the study's ETA
    let mut images_done = 0usize;
    let total = plan.runs.len();
    for (i, (method, seed, name)) in plan.runs.iter().enumerate() {
        let out = plan.dir.join(name);
        let resume = checkpoint::path(&out).is_file();
        let mut recorded_threads = None;
        let config = if resume {
            let meta =
                export::read_run_json(&out).map_err(|e| UsageError(format!("{name}: {e}")))?;
            recorded_threads = meta.threads;
            let mut c = meta.config;
            c.epochs = c.epochs.max(plan.epochs);
            c
        } else {
            let m = match method.as_str() {
                "moco" => Method::Moco,
                "simsiam" => Method::Simsiam,
                _ => Method::Simclr,
            };
            let mut c = TrainConfig::new(m, dataset, Arch::Small);
            c.seed = *seed;
            c.epochs = plan.epochs;
            c.milestone_every = plan.milestone_every;
            c.warmup_epochs = 10.min(plan.epochs / 10);
            c
        };
        let opts = RunOptions {
            out: out.clone(),
            resume,
            device: DeviceChoice::Cpu,
            // a resumed run keeps its thread count, so it computes exactly
            // what an uninterrupted one would
            threads: args
                .threads
                .or(recorded_threads)
                .unwrap_or_else(super::train::default_threads),
            quiet: true,
        };
        let mut pace = sslwatch::train::pace::Pace::default();
        let mut announced = false;
        let outcome = train(&config, &opts, &stop, &mut |p| {
            pace.observe(&p);
            match &p {
                Progress::Start { epochs, .. } if pace.images_left() == 0 => {
                    warn(format_args!(
                        "study [{}/{total}] {name}: already trained ({epochs} epochs)",
                        i + 1
                    ));
                    announced = true;
                }
                Progress::EpochEnd { epoch, loss, .. } => {
                    // the rest of this run plus the runs after it, at this call's pace
                    let done = images_done + pace.images_done();
                    let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
                    let later = (total - i - 1) * plan.epochs as usize * pace.images_per_epoch();
                    let study_left = (pace.images_left() + later) as f64 / rate.max(1e-9);
                    warn(format_args!(
                        "study [{}/{total}] {name}: epoch {epoch}/{}, loss {loss:.3}, {}, study ETA {}",
                        i + 1,
                        config.epochs,
                        pace.status(),
                        sslwatch::train::pace::clock(study_left)
                    ));
                }
                Progress::MilestoneStart { epoch, .. } if !announced || *epoch > 0 => {
                    announced = true;
                    warn(format_args!(
                        "study [{}/{total}] {name}: milestone {} (embedding, probe)",
                        i + 1,
                        TrainConfig::milestone_name(*epoch)
                    ));
                }
                _ => {}
            }
        })
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        images_done += pace.images_done();
        if let Outcome::Interrupted { .. } = outcome {
            warn(format_args!(
                "study: interrupted during {name}; the checkpoint is saved, the same command resumes"
            ));
            return Ok(false);
        }
    }
    warn(format_args!(
        "study: training done in {}",
        sslwatch::train::pace::clock(started.elapsed().as_secs_f64())
    ));
    Ok(true)
}
