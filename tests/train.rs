//! The trainer (feature `train`): losses against hand-computed values,
//! augmentations, every loader on tiny files in the real formats, and runs
//! end to end (layout, resume, interruption).
#![cfg(feature = "train")]

use sslwatch::train::augment::AugmentConfig;
use sslwatch::train::config::RunOptions;
use sslwatch::train::data::{cifar, folder, shapes};
use sslwatch::train::methods::{moco_loss, nt_xent, simsiam_loss};
use sslwatch::train::{
    train, Arch, DatasetKind, DeviceChoice, Method, Outcome, Progress, TrainConfig,
};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tch::{Device, Kind, Tensor};

/// libtorch's random generator is global to the process: tests that train
/// or draw augmentations take turns.
static TORCH_RNG: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn t2(rows: &[[f32; 2]]) -> Tensor {
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_slice(&flat).reshape([rows.len() as i64, 2])
}

// ---------- losses ----------

#[test]
fn nt_xent_on_two_orthogonal_pairs() {
    // four unit vectors a0 = b0 = e1, a1 = b1 = e2; t = 0.5.
    // each anchor sees its positive at cos 1 and two negatives at cos 0:
    // loss = -ln(e^2 / (e^2 + 2 e^0)) = ln(1 + 2 e^-2)
    let z = t2(&[[1.0, 0.0], [0.0, 1.0]]);
    let loss = nt_xent(&z, &z, 0.5).double_value(&[]);
    let want = (1.0 + 2.0 * (-2.0f64).exp()).ln();
    assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
    // scale does not matter (cosine similarity)
    let loss2 = nt_xent(&(&z * 3.0), &z, 0.5).double_value(&[]);
    assert!((loss2 - want).abs() < 1e-6);
}

#[test]
fn nt_xent_with_an_opposite_negative() {
    // a0 = (1,0), a1 = (-1,0), b0 = (1,0), b1 = (-1,0), t = 1:
    // anchor a0: positive b0 (cos 1), negatives a1, b1 (cos -1):
    // loss = ln(1 + 2 e^-2) again, now from -1 - 1 = -2 at t = 1
    let z = t2(&[[1.0, 0.0], [-1.0, 0.0]]);
    let loss = nt_xent(&z, &z, 1.0).double_value(&[]);
    let want = (1.0 + 2.0 * (-2.0f64).exp()).ln();
    assert!((loss - want).abs() < 1e-6);
}

#[test]
fn moco_loss_by_hand() {
    // q = k = e1; queue = {e2, -e1}; t = 0.2: logits 5 (positive), 0, -5
    // loss = ln(1 + e^-5 + e^-10)
    let q = t2(&[[1.0, 0.0]]);
    let queue = t2(&[[0.0, 1.0], [-1.0, 0.0]]);
    let loss = moco_loss(&q, &q, &queue, 0.2).double_value(&[]);
    let want = (1.0 + (-5.0f64).exp() + (-10.0f64).exp()).ln();
    assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
}

#[test]
fn simsiam_loss_by_hand_and_stop_gradient() {
    // cos((1,0), (1,1)) = 1/sqrt 2, cos((0,1), (0,-1)) = -1
    // loss = -(0.70711 - 1) / 2 = 0.146447
    let p1 = t2(&[[1.0, 0.0]]).set_requires_grad(true);
    let p2 = t2(&[[0.0, 1.0]]).set_requires_grad(true);
    let z1 = t2(&[[0.0, -1.0]]).set_requires_grad(true);
    let z2 = t2(&[[1.0, 1.0]]).set_requires_grad(true);
    let loss = simsiam_loss(&p1, &p2, &z1, &z2);
    let want = -(std::f64::consts::FRAC_1_SQRT_2 - 1.0) / 2.0;
    assert!((loss.double_value(&[]) - want).abs() < 1e-6);
    loss.backward();
    assert!(p1.grad().defined());
    // stop-gradient: nothing flows into the targets
    assert!(!z1.grad().defined() && !z2.grad().defined());
}

// ---------- augmentations ----------

#[test]
fn augmented_views_have_the_input_shape_and_range() {
    let _g = lock();
    tch::manual_seed(3);
    let x = Tensor::rand([16, 3, 32, 32], (Kind::Float, Device::Cpu));
    let a = AugmentConfig::rgb().view(&x);
    let b = AugmentConfig::rgb().view(&x);
    assert_eq!(a.size(), vec![16, 3, 32, 32]);
    for v in [&a, &b] {
        assert!(v.min().double_value(&[]) >= 0.0 && v.max().double_value(&[]) <= 1.0);
    }
    // two views of the same batch differ
    assert!(!a.allclose(&b, 1e-3, 1e-3, false));
    // grayscale p = 1 gives equal channels
    let mut gray_only = AugmentConfig::rgb();
    gray_only.p_gray = 1.0;
    let g = gray_only.view(&x);
    assert!(g.select(1, 0).allclose(&g.select(1, 2), 1e-5, 1e-6, false));
    let m = AugmentConfig::mono().view(&Tensor::rand([5, 1, 16, 16], (Kind::Float, Device::Cpu)));
    assert_eq!(m.size(), vec![5, 1, 16, 16]);
}

// ---------- loaders ----------

/// A CIFAR record: label byte(s) then 3,072 pixel bytes whose value tells
/// the record apart.
fn cifar_records(labels: &[&[u8]], fill: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, l) in labels.iter().enumerate() {
        out.extend_from_slice(l);
        for p in 0..3072usize {
            // red plane = fill + i, green = 100, blue = 200 (channel-major)
            out.push(match p / 1024 {
                0 => fill + i as u8,
                1 => 100,
                _ => 200,
            });
        }
    }
    out
}

#[test]
fn cifar10_binary_batches_load_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&root).unwrap();
    for b in 1..=5u8 {
        let recs = cifar_records(&[&[b], &[9]], 10 * b);
        std::fs::write(root.join(format!("data_batch_{b}.bin")), recs).unwrap();
    }
    std::fs::write(root.join("test_batch.bin"), cifar_records(&[&[3]], 7)).unwrap();
    // the parent directory works too
    let s = cifar::load(dir.path(), cifar::Variant::Cifar10).unwrap();
    assert_eq!(s.train.len(), 10);
    assert_eq!(s.test.len(), 1);
    assert_eq!(s.classes, 10);
    assert_eq!(s.train.labels, vec![1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
    assert_eq!(s.test.labels, vec![3]);
    let img = &s.train.images;
    assert_eq!(img.size(), vec![10, 3, 32, 32]);
    // record 1 of batch 1: red = 10 + 1, green 100, blue 200, at any pixel
    assert_eq!(img.int64_value(&[1, 0, 5, 7]), 11);
    assert_eq!(img.int64_value(&[1, 1, 0, 0]), 100);
    assert_eq!(img.int64_value(&[9, 2, 31, 31]), 200);
}

#[test]
fn cifar100_uses_the_fine_label() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("train.bin"),
        cifar_records(&[&[1, 42], &[19, 99]], 0),
    )
    .unwrap();
    std::fs::write(dir.path().join("test.bin"), cifar_records(&[&[5, 7]], 0)).unwrap();
    let s = cifar::load(dir.path(), cifar::Variant::Cifar100).unwrap();
    assert_eq!(s.train.labels, vec![42, 99]);
    assert_eq!(s.test.labels, vec![7]);
    assert_eq!(s.classes, 100);
}

#[test]
fn truncated_cifar_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut recs = cifar_records(&[&[1]], 0);
    recs.truncate(3000);
    std::fs::write(dir.path().join("test_batch.bin"), &recs).unwrap();
    std::fs::write(dir.path().join("data_batch_1.bin"), &recs).unwrap();
    let err = cifar::load(dir.path(), cifar::Variant::Cifar10)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("data_batch_1.bin") && err.contains("3073-byte records"),
        "{err}"
    );
    let bad_label = cifar_records(&[&[12]], 0);
    let err = cifar::parse(&bad_label, cifar::Variant::Cifar10).unwrap_err();
    assert!(err.contains("label 12"), "{err}");
    let err = cifar::load(&dir.path().join("nowhere"), cifar::Variant::Cifar10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("test_batch.bin"), "{err}");
}

fn write_image(path: &Path, rgb: [u8; 3], w: u32, h: u32) {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb(rgb));
    img.save(path).unwrap();
}

#[test]
fn image_folder_with_automatic_split() {
    let dir = tempfile::tempdir().unwrap();
    for (class, colour) in [("cat", [255u8, 0, 0]), ("dog", [0, 0, 255])] {
        let d = dir.path().join(class);
        std::fs::create_dir(&d).unwrap();
        for i in 0..5 {
            let ext = if i % 2 == 0 { "png" } else { "jpg" };
            write_image(&d.join(format!("{i}.{ext}")), colour, 20 + i, 10);
        }
        std::fs::write(d.join("notes.txt"), "not an image").unwrap();
    }
    let s = folder::load(dir.path(), 8).unwrap();
    // 5 images per class: the fifth (sorted name 4.png) is held out
    assert_eq!(s.train.len(), 8);
    assert_eq!(s.test.len(), 2);
    assert_eq!(s.classes, 2);
    assert_eq!(s.test.labels, vec![0, 1]);
    assert_eq!(s.train.images.size(), vec![8, 3, 8, 8]);
    // a red PNG stays red after resizing, a blue one blue
    assert_eq!(s.test.images.int64_value(&[0, 0, 4, 4]), 255);
    assert_eq!(s.test.images.int64_value(&[1, 2, 4, 4]), 255);
    assert_eq!(s.test.images.int64_value(&[1, 0, 4, 4]), 0);
}

#[test]
fn image_folder_with_train_and_val_and_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    for split in ["train", "val"] {
        for class in ["a", "b"] {
            let d = dir.path().join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            write_image(&d.join("x.png"), [10, 20, 30], 4, 4);
        }
    }
    let s = folder::load(dir.path(), 16).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (2, 2));
    assert_eq!(s.train.images.int64_value(&[0, 1, 0, 0]), 20);
    let broken = dir.path().join("train").join("a").join("broken.png");
    std::fs::write(&broken, b"\x89PNG not really").unwrap();
    let err = folder::load(dir.path(), 16).unwrap_err().to_string();
    assert!(err.contains("broken.png"), "{err}");
}

#[test]
fn shapes_are_deterministic_and_balanced() {
    let a = shapes::generate(30, 1);
    let b = shapes::generate(30, 1);
    assert!(a.images.equal(&b.images));
    for c in 0..10 {
        assert_eq!(a.labels.iter().filter(|&&l| l == c).count(), 3);
    }
}

// ---------- runs ----------

fn tiny(method: Method, epochs: u32) -> TrainConfig {
    let mut c = TrainConfig::new(method, DatasetKind::Digits, Arch::Small);
    c.epochs = epochs;
    c.batch_size = 256;
    c.warmup_epochs = 0;
    c.milestone_every = 1;
    c.eval_size = Some(100);
    c.probe_size = 200;
    c.queue_size = 512;
    c.proj_dim = 32;
    c.proj_hidden = 64;
    c.pred_hidden = 16;
    c
}

fn opts(out: &Path, resume: bool) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        resume,
        device: DeviceChoice::Cpu,
        threads: 1,
        quiet: true,
    }
}

fn milestones(run: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(run.join("milestones"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn scalar_steps(run: &Path) -> Vec<u64> {
    std::fs::read_to_string(run.join("scalars.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn run(config: &TrainConfig, o: &RunOptions) -> Outcome {
    train(config, o, &AtomicBool::new(false), &mut |_| {}).unwrap()
}

#[test]
fn simclr_run_writes_the_layout() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("simclr");
    let c = tiny(Method::Simclr, 1);
    assert_eq!(run(&c, &opts(&out, false)), Outcome::Finished { epochs: 1 });
    assert_eq!(milestones(&out), vec!["epoch_0000", "epoch_0001"]);
    let h = sslwatch::read::read_embeddings(&out.join("milestones/epoch_0001/h.npy")).unwrap();
    assert_eq!(h[0].data.dim(), (100, 256));
    let z = sslwatch::read::read_embeddings(&out.join("milestones/epoch_0001/z.npy")).unwrap();
    assert_eq!(z[0].data.dim(), (100, 32));
    assert!(!out.join("milestones/epoch_0001/p.npy").exists());
    let labels = sslwatch::read::read_labels(&out.join("labels.npy"), 1 << 30).unwrap();
    assert_eq!(labels.len(), 100);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(meta["method"], "simclr");
    assert_eq!(meta["dataset"], "digits");
    assert_eq!(meta["arch"], "small");
    assert_eq!(meta["temperature"], 0.5);
    // a resumption reuses the thread count (another one sums in another order)
    assert_eq!(meta["threads"], 1);
    // the default probe: a fixed few-shot set of 3 per class
    assert_eq!(meta["probe_per_class"], 3);
    assert!(meta["sslwatch_version"].is_string());
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out.join("scalars.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        let acc = l["probe_acc"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
    }
    assert!(lines[1]["loss"].as_f64().unwrap().is_finite());
    assert!(lines[1]["images_per_s"].as_f64().unwrap() > 0.0);
    assert!(out.join("checkpoints/last.ot").is_file());
    // a second fresh run into the same directory is refused
    let err = train(&c, &opts(&out, false), &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
}

#[test]
fn moco_and_simsiam_runs_write_their_layers() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    for (method, has_p) in [(Method::Moco, false), (Method::Simsiam, true)] {
        let out = dir.path().join(method.name());
        let mut c = tiny(method, 1);
        c.half_milestones = method == Method::Simsiam;
        run(&c, &opts(&out, false));
        let m = out.join("milestones/epoch_0001");
        assert!(m.join("h.npy").is_file() && m.join("z.npy").is_file());
        assert_eq!(m.join("p.npy").is_file(), has_p);
        let bytes = std::fs::read(m.join("z.npy")).unwrap();
        let header = String::from_utf8_lossy(&bytes[..64]);
        let want = if has_p { "<f2" } else { "<f4" };
        assert!(header.contains(want), "{header}");
    }
}

#[test]
fn resume_gives_the_same_milestones_as_one_run() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let split = dir.path().join("split");
    run(&tiny(Method::Moco, 2), &opts(&whole, false));
    run(&tiny(Method::Moco, 1), &opts(&split, false));
    assert_eq!(milestones(&split), vec!["epoch_0000", "epoch_0001"]);
    assert_eq!(
        run(&tiny(Method::Moco, 2), &opts(&split, true)),
        Outcome::Finished { epochs: 2 }
    );
    assert_eq!(milestones(&whole), milestones(&split));
    assert_eq!(
        milestones(&split),
        vec!["epoch_0000", "epoch_0001", "epoch_0002"]
    );
    assert_eq!(scalar_steps(&whole), vec![0, 1, 2]);
    assert_eq!(scalar_steps(&split), vec![0, 1, 2]);
}

#[test]
fn interrupted_mid_epoch_and_resumed_equals_uninterrupted() {
    for method in [Method::Simclr, Method::Moco, Method::Simsiam] {
        interrupted_and_resumed_equals_uninterrupted(method);
    }
}

fn interrupted_and_resumed_equals_uninterrupted(method: Method) {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let cut = dir.path().join("cut");
    let c = tiny(method, 2);
    run(&c, &opts(&whole, false));

    // stop after the 7th batch: epoch 2 (of 5 batches each), batch 2
    let stop = AtomicBool::new(false);
    let mut batches = 0;
    let outcome = train(&c, &opts(&cut, false), &stop, &mut |p| {
        if let Progress::Batch { .. } = p {
            batches += 1;
            if batches == 7 {
                stop.store(true, Ordering::SeqCst);
            }
        }
    })
    .unwrap();
    assert_eq!(outcome, Outcome::Interrupted { epoch: 1, batch: 2 });
    assert_eq!(milestones(&cut), vec!["epoch_0000", "epoch_0001"]);
    assert_eq!(run(&c, &opts(&cut, true)), Outcome::Finished { epochs: 2 });
    assert_eq!(milestones(&cut), milestones(&whole));
    assert_eq!(scalar_steps(&cut), vec![0, 1, 2]);
    // same batches, same views, same updates: the same embeddings
    for layer in ["h.npy", "z.npy"] {
        let a = std::fs::read(whole.join("milestones/epoch_0002").join(layer)).unwrap();
        let b = std::fs::read(cut.join("milestones/epoch_0002").join(layer)).unwrap();
        assert!(
            a == b,
            "{}: resumed run diverged from the uninterrupted one in {layer}",
            method.name()
        );
    }
    // and the losses logged after the resumption are the same numbers
    let losses = |run: &Path| -> Vec<f64> {
        std::fs::read_to_string(run.join("scalars.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["loss"].as_f64())
            .collect()
    };
    assert_eq!(losses(&whole), losses(&cut), "{}", method.name());
}

#[test]
fn resume_without_checkpoint_is_a_clear_error() {
    let _g = lock();
    let dir = tempfile::tempdir().unwrap();
    let err = train(
        &tiny(Method::Simclr, 1),
        &opts(dir.path(), true),
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("last.ot") && err.contains("no checkpoint"),
        "{err}"
    );
}
