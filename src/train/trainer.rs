//! The training loop.
//!
//! Reproducibility: the model is initialised from `seed`; each epoch's
//! shuffle comes from a ChaCha8 stream of (`seed`, epoch) and each step's
//! augmentations from libtorch's generator reseeded with (`seed`, step). So
//! a run stopped anywhere and resumed from its checkpoint draws exactly the
//! batches and views it would have drawn without stopping.

use super::augment::AugmentConfig;
use super::checkpoint::{self, LoopState};
use super::config::{DeviceChoice, Method, RunJson, RunOptions, TrainConfig};
use super::data::{self, Dataset};
use super::export::{self, Embeddings};
use super::methods::Objective;
use super::models::{Network, PREDICTOR};
use super::optim::{lr_at, Sgd};
use super::TrainError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::{nn, Device, Kind, Tensor};

/// Batch size for embedding the evaluation and probe sets.
const EMBED_BATCH: i64 = 512;

/// What the loop reports as it goes (the CLI draws progress from it).
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// The run starts or resumes.
    Start {
        device: String,
        train_size: usize,
        eval_size: usize,
        batches_per_epoch: usize,
        batch_size: usize,
        epoch: u32,
        epochs: u32,
    },
    /// An epoch starts (`done` of its `batches` already done on resume).
    EpochStart {
        epoch: u32,
        batches: usize,
        done: usize,
    },
    /// A batch is done.
    Batch { loss: f64 },
    /// An epoch is done (`epoch` = completed epochs).
    EpochEnd {
        epoch: u32,
        loss: f64,
        lr: f64,
        images_per_s: f64,
    },
    /// A milestone starts: the evaluation and probe sets are embedded and
    /// the probe is fitted (no batches meanwhile).
    MilestoneStart {
        epoch: u32,
        eval_size: usize,
        probe_size: usize,
    },
    /// A milestone is written.
    Milestone { epoch: u32, probe_acc: Option<f64> },
    /// At the last milestone: why the run's probe accuracies may not carry
    /// a correlation (also in that milestone's `scalars.jsonl` line).
    ProbeWarning(String),
}

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All epochs done.
    Finished { epochs: u32 },
    /// Stopped by the caller's flag; the checkpoint holds the position.
    Interrupted { epoch: u32, batch: usize },
}

/// Pick the device.
pub fn resolve_device(choice: DeviceChoice) -> Result<Device, TrainError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(TrainError::Config(
            "--device cuda: libtorch sees no CUDA device (a GPU needs sslwatch built with \
             `--features cuda` and libtorch installed with `scripts/install-libtorch.sh --cuda`)"
                .into(),
        )),
    }
}

/// A 63-bit seed mixing `seed` and `n` (SplitMix64 finaliser).
fn mix(seed: u64, n: u64) -> i64 {
    let mut z = seed
        .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// The order of the training samples in `epoch`.
fn epoch_order(seed: u64, epoch: u32, n: usize) -> Vec<i64> {
    let mut idx: Vec<i64> = (0..n as i64).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(epoch));
    idx.shuffle(&mut rng);
    idx
}

/// Everything the loop works with.
struct Session<'a> {
    config: &'a TrainConfig,
    opts: &'a RunOptions,
    device: Device,
    train: Dataset,
    eval: Dataset,
    probe_train: Dataset,
    mean: Tensor,
    std: Tensor,
    augment: AugmentConfig,
    vs: nn::VarStore,
    net: Network,
    objective: Objective,
    opt: Sgd,
    batches_per_epoch: usize,
}

impl Session<'_> {
    /// Images `uint8` -> normalised float on the device.
    fn normalise(&self, x: &Tensor) -> Tensor {
        (x - &self.mean) / &self.std
    }

    fn to_float(&self, images: &Tensor) -> Tensor {
        images.to_device(self.device).to_kind(Kind::Float) / 255.0
    }

    /// Embed a data set without augmentation, network in eval mode.
    fn embed(&self, d: &Dataset) -> Result<Embeddings, TrainError> {
        let n = d.len() as i64;
        let (mut hs, mut zs, mut ps) = (Vec::new(), Vec::new(), Vec::new());
        tch::no_grad(|| {
            let mut start = 0;
            while start < n {
                let len = EMBED_BATCH.min(n - start);
                let x = self.normalise(&self.to_float(&d.images.narrow(0, start, len)));
                let o = self.net.forward(&x, false);
                hs.push(o.h.to_device(Device::Cpu));
                zs.push(o.z.to_device(Device::Cpu));
                if let Some(p) = o.p {
                    ps.push(p.to_device(Device::Cpu));
                }
                start += len;
            }
        });
        Ok(Embeddings {
            h: export::to_array(&Tensor::cat(&hs, 0))?,
            z: export::to_array(&Tensor::cat(&zs, 0))?,
            p: if ps.is_empty() {
                None
            } else {
                Some(export::to_array(&Tensor::cat(&ps, 0))?)
            },
        })
    }

    /// Write milestone `epoch` and return the probe accuracy.
    fn milestone(&self, epoch: u32) -> Result<Option<f64>, TrainError> {
        let e = self.embed(&self.eval)?;
        export::write_milestone(&self.opts.out, epoch, &e, self.config.half_milestones)?;
        let train_h = self.embed(&self.probe_train)?.h;
        Ok(super::probe::accuracy(
            train_h.view(),
            &self.probe_train.labels,
            e.h.view(),
            &self.eval.labels,
        ))
    }

    fn save(&self, st: &LoopState) -> Result<(), TrainError> {
        checkpoint::save(&self.opts.out, &self.vs, &self.opt, &self.objective, st)
    }

    /// One optimisation step on the batch `idx`; returns the loss.
    fn step(&mut self, idx: &[i64], st: &LoopState) -> f64 {
        tch::manual_seed(mix(self.config.seed, st.step as u64));
        let x = self.to_float(&self.train.images.index_select(0, &Tensor::from_slice(idx)));
        let v1 = self.normalise(&self.augment.view(&x));
        let v2 = self.normalise(&self.augment.view(&x));
        let total = self.batches_per_epoch * self.config.epochs as usize;
        let warmup = self.batches_per_epoch * self.config.warmup_epochs as usize;
        let lr = lr_at(st.step, total, warmup, self.config.lr());
        let loss = self.objective.loss(&self.net, &self.vs, &v1, &v2);
        self.opt.zero_grad();
        loss.backward();
        self.opt.step(lr, self.config.lr());
        loss.double_value(&[])
    }
}

/// Train `config` into `opts.out`, reporting through `progress`, until done
/// or until `stop` is set (then a checkpoint is saved and
/// [`Outcome::Interrupted`] returned).
pub fn train(
    config: &TrainConfig,
    opts: &RunOptions,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, TrainError> {
    config.validate()?;
    let device = resolve_device(opts.device)?;
    if opts.threads > 0 {
        tch::set_num_threads(opts.threads as i32);
    }
    if !opts.resume {
        check_fresh(&opts.out)?;
    }
    let splits = data::load(config)?;
    let mono = splits.is_mono();
    let (channels, _, _) = splits.train.chw();
    let batches_per_epoch = splits.train.len() / config.batch_size;
    if batches_per_epoch == 0 {
        return Err(TrainError::Config(format!(
            "--batch-size {} is larger than the training split ({} images)",
            config.batch_size,
            splits.train.len()
        )));
    }
    let eval = splits
        .test
        .fixed_subset(config.eval_size.unwrap_or(usize::MAX));
    let probe_train = match config.probe_per_class {
        Some(k) => splits.train.balanced_subset(k),
        None => splits.train.fixed_subset(config.probe_size),
    };
    let (mean, std) = data::channel_stats(&splits.train.images);

    tch::manual_seed(mix(config.seed, u64::MAX));
    let vs = nn::VarStore::new(device);
    let net = Network::new(&vs.root(), config, channels);
    let mut objective = Objective::new(config, &vs, channels, device)?;
    let fixed = (config.method == Method::Simsiam).then_some(PREDICTOR);
    let mut opt = Sgd::new(&vs, config.momentum, config.weight_decay, fixed);

    let mut st = LoopState::default();
    if opts.resume {
        st = checkpoint::load(&opts.out, &vs, &mut opt, &mut objective)?;
        export::trim_scalars(&opts.out, st.epoch)?;
    }
    let meta = RunJson {
        sslwatch_version: env!("CARGO_PKG_VERSION").to_string(),
        lr: config.lr(),
        train_size: splits.train.len(),
        eval_size_used: eval.len(),
        classes: splits.classes,
        threads: Some(opts.threads),
        config: config.clone(),
    };
    export::write_run_json(&opts.out, &meta)?;
    if !opts.resume {
        export::write_labels(&opts.out, &eval.labels)?;
    }

    let mut s = Session {
        config,
        opts,
        device,
        train: splits.train,
        eval,
        probe_train,
        mean: mean.to_device(device),
        std: std.to_device(device),
        augment: AugmentConfig::for_dataset(config.dataset, mono),
        vs,
        net,
        objective,
        opt,
        batches_per_epoch,
    };
    progress(Progress::Start {
        device: format!("{device:?}"),
        train_size: s.train.len(),
        eval_size: s.eval.len(),
        batches_per_epoch,
        batch_size: config.batch_size,
        epoch: st.epoch,
        epochs: config.epochs,
    });
    let milestone_start = |epoch: u32, s: &Session| Progress::MilestoneStart {
        epoch,
        eval_size: s.eval.len(),
        probe_size: s.probe_train.len(),
    };

    if !opts.resume {
        progress(milestone_start(0, &s));
        let probe_acc = s.milestone(0)?;
        export::append_scalars(
            &opts.out,
            &serde_json::json!({"step": 0, "epoch": 0, "probe_acc": probe_acc}),
        )?;
        s.save(&st)?;
        progress(Progress::Milestone {
            epoch: 0,
            probe_acc,
        });
    }

    let batch = config.batch_size;
    while st.epoch < config.epochs {
        let order = epoch_order(config.seed, st.epoch, s.train.len());
        progress(Progress::EpochStart {
            epoch: st.epoch + 1,
            batches: batches_per_epoch,
            done: st.batch,
        });
        while st.batch < batches_per_epoch {
            if stop.load(Ordering::SeqCst) {
                s.save(&st)?;
                return Ok(Outcome::Interrupted {
                    epoch: st.epoch,
                    batch: st.batch,
                });
            }
            let t0 = Instant::now();
            let idx = &order[st.batch * batch..(st.batch + 1) * batch];
            let loss = s.step(idx, &st);
            st.train_secs += t0.elapsed().as_secs_f64();
            if !loss.is_finite() {
                return Err(TrainError::Config(format!(
                    "the loss diverged to {loss} at epoch {}, batch {}; try a lower --lr",
                    st.epoch + 1,
                    st.batch + 1
                )));
            }
            st.loss_sum += loss;
            st.batch += 1;
            st.step += 1;
            progress(Progress::Batch { loss });
        }
        st.epoch += 1;
        let total = batches_per_epoch * config.epochs as usize;
        let warmup = batches_per_epoch * config.warmup_epochs as usize;
        let lr = lr_at(st.step - 1, total, warmup, config.lr());
        let loss = st.loss_sum / batches_per_epoch as f64;
        let images_per_s = (batches_per_epoch * batch) as f64 / st.train_secs.max(1e-9);
        let mut record = serde_json::json!({
            "step": st.epoch,
            "epoch": st.epoch,
            "loss": loss,
            "lr": lr,
            "epoch_time_s": st.train_secs,
            "images_per_s": images_per_s,
        });
        progress(Progress::EpochEnd {
            epoch: st.epoch,
            loss,
            lr,
            images_per_s,
        });
        st.batch = 0;
        st.loss_sum = 0.0;
        st.train_secs = 0.0;
        if config.is_milestone(st.epoch) {
            progress(milestone_start(st.epoch, &s));
            let probe_acc = s.milestone(st.epoch)?;
            record["probe_acc"] = serde_json::json!(probe_acc);
            let mut warnings = Vec::new();
            if st.epoch == config.epochs {
                let mut history = export::probe_history(&opts.out)?;
                if let Some(p) = probe_acc {
                    history.push((u64::from(st.epoch), p));
                }
                warnings = crate::runs::analysis::probe_warnings(history.len(), &history);
                if !warnings.is_empty() {
                    record["probe_warnings"] = serde_json::json!(warnings);
                }
            }
            export::append_scalars(&opts.out, &record)?;
            s.save(&st)?;
            progress(Progress::Milestone {
                epoch: st.epoch,
                probe_acc,
            });
            for w in warnings {
                progress(Progress::ProbeWarning(w));
            }
        } else {
            export::append_scalars(&opts.out, &record)?;
        }
    }
    Ok(Outcome::Finished { epochs: st.epoch })
}

/// A fresh run must not overwrite another one.
fn check_fresh(out: &std::path::Path) -> Result<(), TrainError> {
    for existing in ["milestones", "checkpoints", "scalars.jsonl"] {
        if out.join(existing).exists() {
            return Err(TrainError::Config(format!(
                "{} already holds a run ({existing} exists); continue it with --resume or choose another --out",
                out.display()
            )));
        }
    }
    std::fs::create_dir_all(out).map_err(|e| TrainError::io(out, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let a = epoch_order(3, 1, 10);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<i64>>());
        assert_eq!(a, epoch_order(3, 1, 10));
        assert_ne!(a, epoch_order(3, 2, 10));
    }

    #[test]
    fn mixed_seeds_are_positive_and_distinct() {
        let s: Vec<i64> = (0..4).map(|n| mix(7, n)).collect();
        assert!(s.iter().all(|&v| v >= 0));
        assert_ne!(s[0], s[1]);
    }
}
