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
    /// Training samples the linear probe learns from [default: 5000].
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
    /// Compute threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar and no per-epoch lines.
    #[arg(long)]
    pub quiet: bool,
}

#[cfg(not(feature = "train"))]
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    Err(super::UsageError(
        "sslwatch was built without the `train` feature; rebuild with \
         `cargo build --release --features train` after `scripts/install-libtorch.sh`"
            .into(),
    )
    .into())
}

#[cfg(feature = "train")]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    enabled::run(args)
}

#[cfg(feature = "train")]
mod enabled {
    use super::Args;
    use crate::cmd::UsageError;
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use sslwatch::train::config::RunOptions;
    use sslwatch::train::{
        export, train, Arch, DatasetKind, DeviceChoice, Method, Outcome, Progress, TrainConfig,
        TrainError,
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
        c.half_milestones = a.half_milestones;
        c.validate().map_err(|e| UsageError(e.to_string()))?;
        Ok(c)
    }

    pub fn run(args: Args) -> anyhow::Result<ExitCode> {
        let config = config_from(&args)?;
        let device = match args.device.as_str() {
            "cpu" => DeviceChoice::Cpu,
            "cuda" => DeviceChoice::Cuda,
            _ => DeviceChoice::Auto,
        };
        let threads = args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
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

    /// Progress on stderr: one bar per epoch and a line per epoch and milestone.
    struct View {
        quiet: bool,
        epochs: u32,
        bar: Option<ProgressBar>,
    }

    impl View {
        fn new(quiet: bool, epochs: u32) -> Self {
            View {
                quiet,
                epochs,
                bar: None,
            }
        }

        fn line(&self, text: String) {
            match &self.bar {
                Some(bar) => bar.println(text),
                None => eprintln!("{text}"),
            }
        }

        fn show(&mut self, p: Progress) {
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
                    if let Ok(style) = ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {pos}/{len} {per_sec} {msg} (eta {eta})",
                    ) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
                    bar.set_position(done as u64);
                    self.bar = Some(bar);
                }
                Progress::Batch { loss } => {
                    if let Some(bar) = &self.bar {
                        bar.set_message(format!("loss {loss:.4}"));
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
                        "epoch {epoch}/{}: loss {loss:.4}, lr {lr:.4}, {images_per_s:.0} images/s",
                        self.epochs
                    ));
                }
                Progress::Milestone { epoch, probe_acc } => {
                    let acc = probe_acc.map_or("n/a".to_string(), |a| format!("{a:.3}"));
                    self.line(format!(
                        "milestone {}: probe accuracy {acc}",
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
