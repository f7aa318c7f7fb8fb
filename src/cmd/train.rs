//! `sslwatch train`: flags, then the trainer of the library (feature
//! `train`). The flags exist in every build so `sslwatch train --help`
//! works; without the feature, running it explains how to get it.

use std::path::PathBuf;
use std::process::ExitCode;

/// Train SimCLR, MoCo-v2 or SimSiam and write a run the watcher reads.
#[derive(clap::Args, Debug)]
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub struct Args {
    /// Self-supervised method (required unless --resume).
    #[arg(long, value_parser = ["simclr", "moco", "simsiam"])]
    pub method: Option<String>,
    /// Run directory to write (ROOT/RUN); must not hold a run unless --resume.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint, with the settings
    /// in its run.json (only --epochs may change, to train longer).
    #[arg(long)]
    pub resume: bool,
    /// Data set [default: digits, built in].
    #[arg(long, value_parser = ["digits", "shapes", "cifar10", "cifar100", "folder"])]
    pub dataset: Option<String>,
    /// Data directory: extracted cifar-10-batches-bin / cifar-100-binary, or an
    /// image folder (one subdirectory of PNG/JPEG images per class).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Backbone: resnet18 (CIFAR variant) or small (4-layer conv net, for CPUs) [default: small].
    #[arg(long, value_parser = ["resnet18", "small"])]
    pub arch: Option<String>,
    /// Seed of the initialisation, shuffling and augmentations [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Epochs to train [default: 100].
    #[arg(long)]
    pub epochs: Option<u32>,
    /// Batch size [default: 256].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate for a batch of 256, scaled by batch/256 [default: 0.06].
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum [default: 0.9].
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay [default: 5e-4].
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Linear warm-up epochs before the cosine decay [default: 10, or a tenth of --epochs if less].
    #[arg(long)]
    pub warmup_epochs: Option<u32>,
    /// Softmax temperature [default: 0.5 for simclr, 0.2 for moco].
    #[arg(long)]
    pub temperature: Option<f64>,
    /// MoCo: momentum of the key encoder [default: 0.99].
    #[arg(long)]
    pub moco_momentum: Option<f64>,
    /// MoCo: keys in the queue [default: 4096].
    #[arg(long)]
    pub queue: Option<usize>,
    /// Projector output width [default: 128; simsiam 2048].
    #[arg(long)]
    pub proj_dim: Option<i64>,
    /// Projector hidden width, 0 = the backbone's width [default: 0; simsiam 2048].
    #[arg(long)]
    pub proj_hidden: Option<i64>,
    /// SimSiam: predictor bottleneck width [default: 512].
    #[arg(long)]
    pub pred_hidden: Option<i64>,
    /// Write a milestone every this many epochs (and at epoch 0 and the last) [default: 10].
    #[arg(long)]
    pub milestone_every: Option<u32>,
    /// Evaluation samples embedded per milestone [default: the whole test split].
    #[arg(long)]
    pub eval_size: Option<usize>,
    /// Training samples per class the linear probe learns from: a fixed
    /// few-shot set, so random features stay far from the ceiling [default: 3].
    #[arg(long, conflicts_with = "probe_size")]
    pub probe_per_class: Option<usize>,
    /// Train the probe on this many training samples drawn regardless of
    /// class instead of --probe-per-class.
    #[arg(long)]
    pub probe_size: Option<usize>,
    /// Write milestones as float16.
    #[arg(long)]
    pub half_milestones: bool,
    /// shapes: number of training images to generate [default: 10000].
    #[arg(long)]
    pub shapes_size: Option<usize>,
    /// folder: side in pixels images are resized to [default: 32].
    #[arg(long)]
    pub image_size: Option<i64>,
    /// Where to compute: auto uses CUDA when present.
    #[arg(long, default_value = "auto", value_parser = ["auto", "cpu", "cuda"])]
    pub device: String,
    /// Compute threads [default: half the cores, 1 to 8].
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar and no per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
}

#[cfg(not(feature = "train"))]
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::UsageError(
        "this build has no trainer (it was built without the `train` feature); rebuild with \
         `cargo build --release --features train` after `scripts/install-libtorch.sh`"
            .into(),
    )
    .into())
}

#[cfg(feature = "train")]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    enabled::run(args)
}

/// The trainer's default compute threads: half the cores (at least 1, at
/// most 8). libtorch's OpenMP workers spin while they wait, so on a box
/// whose cores are busy with other work (data loaders, other runs, the
/// watcher) a thread per core is slower than fewer (measured in the
/// README's trainer section).
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / 2).clamp(1, 8)
}

#[cfg(feature = "train")]
mod enabled {
    use super::Args;
    use crate::cmd::UsageError;
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use sslwatch::train::config::RunOptions;
    use sslwatch::train::{
        export, pace::Pace, train, Arch, DatasetKind, DeviceChoice, Method, Outcome, Progress,
        TrainConfig, TrainError,
    };
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn usage(e: TrainError) -> anyhow::Error {
        if e.is_bad_input() {
            UsageError(e.to_string()).into()
        } else {
            e.into()
        }
    }

    /// Flags that shape the result: fixed by run.json on --resume.
    fn settings_given(a: &Args) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut flag = |given: bool, name: &'static str| {
            if given {
                out.push(name);
            }
        };
        flag(a.method.is_some(), "--method");
        flag(a.dataset.is_some(), "--dataset");
        flag(a.arch.is_some(), "--arch");
        flag(a.seed.is_some(), "--seed");
        flag(a.batch_size.is_some(), "--batch-size");
        flag(a.lr.is_some(), "--lr");
        flag(a.momentum.is_some(), "--momentum");
        flag(a.weight_decay.is_some(), "--weight-decay");
        flag(a.warmup_epochs.is_some(), "--warmup-epochs");
        flag(a.temperature.is_some(), "--temperature");
        flag(a.moco_momentum.is_some(), "--moco-momentum");
        flag(a.queue.is_some(), "--queue");
        flag(a.proj_dim.is_some(), "--proj-dim");
        flag(a.proj_hidden.is_some(), "--proj-hidden");
        flag(a.pred_hidden.is_some(), "--pred-hidden");
        flag(a.milestone_every.is_some(), "--milestone-every");
        flag(a.eval_size.is_some(), "--eval-size");
        flag(a.probe_per_class.is_some(), "--probe-per-class");
        flag(a.probe_size.is_some(), "--probe-size");
        flag(a.half_milestones, "--half-milestones");
        flag(a.shapes_size.is_some(), "--shapes-size");
        flag(a.image_size.is_some(), "--image-size");
        out
    }

    /// Raw flags to checked settings.
    fn config_from(a: &Args) -> Result<TrainConfig, UsageError> {
        if a.resume {
            let given = settings_given(a);
            if !given.is_empty() {
                return Err(UsageError(format!(
                    "with --resume the settings come from {}/run.json; drop {} (only --epochs, --data-dir, --device, --threads and --quiet may be given)",
                    a.out.display(),
                    given.join(", ")
                )));
            }
            let mut c = export::read_run_json(&a.out)
                .map_err(|e| UsageError(e.to_string()))?
                .config;
            if let Some(e) = a.epochs {
                c.epochs = e;
            }
            if a.data_dir.is_some() {
                c.data_dir = a.data_dir.clone();
            }
            return Ok(c);
        }
        let method = match a.method.as_deref() {
            Some("simclr") => Method::Simclr,
            Some("moco") => Method::Moco,
            Some("simsiam") => Method::Simsiam,
            _ => {
                return Err(UsageError(
                    "--method simclr|moco|simsiam is required (unless --resume)".into(),
                ))
            }
        };
        let dataset = match a.dataset.as_deref().unwrap_or("digits") {
            "shapes" => DatasetKind::Shapes,
            "cifar10" => DatasetKind::Cifar10,
            "cifar100" => DatasetKind::Cifar100,
            "folder" => DatasetKind::Folder,
            _ => DatasetKind::Digits,
        };
        let arch = match a.arch.as_deref() {
            Some("resnet18") => Arch::Resnet18,
            _ => Arch::Small,
        };
        let mut c = TrainConfig::new(method, dataset, arch);
        c.data_dir = a.data_dir.clone();
        macro_rules! set {
            ($($field:ident = $flag:expr),* $(,)?) => {
                $(if let Some(v) = $flag { c.$field = v; })*
            };
        }
        set!(
            seed = a.seed,
            epochs = a.epochs,
            batch_size = a.batch_size,
            base_lr = a.lr,
            momentum = a.momentum,
            weight_decay = a.weight_decay,
            temperature = a.temperature,
            moco_momentum = a.moco_momentum,
            queue_size = a.queue,
            proj_dim = a.proj_dim,
            proj_hidden = a.proj_hidden,
            pred_hidden = a.pred_hidden,
            milestone_every = a.milestone_every,
            probe_size = a.probe_size,
            shapes_size = a.shapes_size,
            image_size = a.image_size,
        );
        c.warmup_epochs = a.warmup_epochs.unwrap_or(10.min(c.epochs / 10));
        c.eval_size = a.eval_size;
        if a.probe_size.is_some() {
            c.probe_per_class = None;
        } else if a.probe_per_class.is_some() {
            c.probe_per_class = a.probe_per_class;
        }
        c.half_milestones = a.half_milestones;
        c.validate().map_err(|e| UsageError(e.to_string()))?;
        Ok(c)
    }

    /// The threads of a run: `--threads`, else on `--resume` those the run
    /// used so far (so a resumed run computes exactly what an uninterrupted
    /// one would), else the default.
    fn threads_for(a: &Args) -> usize {
        let recorded = if a.resume {
            export::read_run_json(&a.out).ok().and_then(|r| r.threads)
        } else {
            None
        };
        match (a.threads, recorded) {
            (Some(t), Some(r)) if t != r && !a.quiet => {
                eprintln!(
                    "note: the run used --threads {r} so far; with --threads {t} libtorch sums in another order, so the results differ from an uninterrupted run in about the 7th digit"
                );
                t
            }
            (Some(t), _) => t,
            (None, Some(r)) => r,
            (None, None) => super::default_threads(),
        }
    }

    pub fn run(args: Args) -> anyhow::Result<ExitCode> {
        let config = config_from(&args)?;
        let device = match args.device.as_str() {
            "cpu" => DeviceChoice::Cpu,
            "cuda" => DeviceChoice::Cuda,
            _ => DeviceChoice::Auto,
        };
        let threads = threads_for(&args);
        if threads == 0 {
            return Err(UsageError("--threads must be at least 1".into()).into());
        }
        let opts = RunOptions {
            out: args.out.clone(),
            resume: args.resume,
            device,
            threads,
            quiet: args.quiet,
        };
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = Arc::clone(&stop);
            ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))?;
        }
        let mut view = View::new(args.quiet, config.epochs);
        let outcome = train(&config, &opts, &stop, &mut |p| view.show(p)).map_err(usage)?;
        view.finish();
        match outcome {
            Outcome::Finished { epochs } => {
                if !args.quiet {
                    eprintln!("done: {epochs} epochs in {}", args.out.display());
                }
                Ok(ExitCode::SUCCESS)
            }
            Outcome::Interrupted { epoch, batch } => {
                eprintln!(
                    "interrupted at epoch {}, batch {batch}; checkpoint saved. Continue with: sslwatch train --resume --out {}",
                    epoch + 1,
                    args.out.display()
                );
                Ok(ExitCode::from(130))
            }
        }
    }

    /// Progress on stderr: one bar per epoch (images/s and the run's ETA)
    /// and a line per epoch and milestone.
    struct View {
        quiet: bool,
        epochs: u32,
        pace: Pace,
        bar: Option<ProgressBar>,
        milestone_started: Option<std::time::Instant>,
    }

    impl View {
        fn new(quiet: bool, epochs: u32) -> Self {
            View {
                quiet,
                epochs,
                pace: Pace::default(),
                bar: None,
                milestone_started: None,
            }
        }

        fn line(&self, text: String) {
            match &self.bar {
                Some(bar) => bar.println(text),
                None => eprintln!("{text}"),
            }
        }

        fn show(&mut self, p: Progress) {
            self.pace.observe(&p);
            if self.quiet {
                return;
            }
            match p {
                Progress::Start {
                    device,
                    train_size,
                    eval_size,
                    batches_per_epoch,
                    epoch,
                    epochs,
                    ..
                } => {
                    self.epochs = epochs;
                    eprintln!(
                        "training on {device}: {train_size} training images ({batches_per_epoch} batches/epoch), {eval_size} evaluation images, epoch {epoch} of {epochs} done"
                    );
                }
                Progress::EpochStart {
                    epoch,
                    batches,
                    done,
                } => {
                    let bar = ProgressBar::with_draw_target(
                        Some(batches as u64),
                        ProgressDrawTarget::stderr(),
                    );
                    if let Ok(style) =
                        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
                    bar.set_position(done as u64);
                    self.bar = Some(bar);
                }
                Progress::Batch { loss } => {
                    if let Some(bar) = &self.bar {
                        bar.set_message(format!("loss {loss:.4} · {}", self.pace.status()));
                        bar.inc(1);
                    }
                }
                Progress::EpochEnd {
                    epoch,
                    loss,
                    lr,
                    images_per_s,
                } => {
                    if let Some(bar) = self.bar.take() {
                        bar.finish_and_clear();
                    }
                    self.line(format!(
                        "epoch {epoch}/{}: loss {loss:.4}, lr {lr:.4}, {images_per_s:.0} images/s, {}",
                        self.epochs,
                        self.pace.eta_text()
                    ));
                }
                Progress::MilestoneStart {
                    epoch,
                    eval_size,
                    probe_size,
                } => {
                    self.milestone_started = Some(std::time::Instant::now());
                    self.line(format!(
                        "milestone {}: embedding {eval_size} evaluation and {probe_size} probe images, fitting the probe ...",
                        TrainConfig::milestone_name(epoch)
                    ));
                }
                Progress::ProbeWarning(w) => self.line(format!("warning: {w}")),
                Progress::Milestone { epoch, probe_acc } => {
                    let acc = probe_acc.map_or("n/a".to_string(), |a| format!("{a:.3}"));
                    let took = self.milestone_started.take().map_or(String::new(), |t| {
                        format!(" ({:.1} s)", t.elapsed().as_secs_f64())
                    });
                    self.line(format!(
                        "milestone {}: probe accuracy {acc}{took}",
                        TrainConfig::milestone_name(epoch)
                    ));
                }
            }
        }

        fn finish(&mut self) {
            if let Some(bar) = self.bar.take() {
                bar.finish_and_clear();
            }
        }
    }
}
