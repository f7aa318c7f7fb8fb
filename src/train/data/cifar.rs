//! CIFAR-10 and CIFAR-100 in their official binary format.
//!
//! CIFAR-10 (`cifar-10-batches-bin`): `data_batch_1.bin` .. `data_batch_5.bin`
//! and `test_batch.bin`, records of 1 label byte + 3,072 pixel bytes.
//! CIFAR-100 (`cifar-100-binary`): `train.bin` and `test.bin`, records of a
//! coarse and a fine label byte + 3,072 pixel bytes; the fine label is used.
//! Pixels are stored channel-major (1,024 red, then green, then blue), which
//! is already the `[3, 32, 32]` layout.
//!
//! `--data-dir` may point at the extracted directory or at its parent.

use super::{Dataset, Splits};
use crate::train::TrainError;
use std::path::{Path, PathBuf};
use tch::Tensor;

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Cifar10,
    Cifar100,
}

impl Variant {
    fn dir_name(self) -> &'static str {
        match self {
            Variant::Cifar10 => "cifar-10-batches-bin",
            Variant::Cifar100 => "cifar-100-binary",
        }
    }

    fn label_bytes(self) -> usize {
        match self {
            Variant::Cifar10 => 1,
            Variant::Cifar100 => 2,
        }
    }

    pub fn classes(self) -> usize {
        match self {
            Variant::Cifar10 => 10,
            Variant::Cifar100 => 100,
        }
    }

    fn train_files(self) -> Vec<String> {
        match self {
            Variant::Cifar10 => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Variant::Cifar100 => vec!["train.bin".into()],
        }
    }

    fn test_file(self) -> &'static str {
        match self {
            Variant::Cifar10 => "test_batch.bin",
            Variant::Cifar100 => "test.bin",
        }
    }
}

/// Load both splits from `dir` (or `dir/cifar-10-batches-bin` etc.).
pub fn load(dir: &Path, variant: Variant) -> Result<Splits, TrainError> {
    let dir = resolve_dir(dir, variant)?;
    let mut train = Vec::new();
    for name in variant.train_files() {
        train.push(read_file(&dir.join(name), variant)?);
    }
    let train = concat(train);
    let test = read_file(&dir.join(variant.test_file()), variant)?;
    Splits::new(train, test, variant.classes())
}

fn resolve_dir(dir: &Path, variant: Variant) -> Result<PathBuf, TrainError> {
    let nested = dir.join(variant.dir_name());
    if dir.join(variant.test_file()).is_file() {
        Ok(dir.to_path_buf())
    } else if nested.join(variant.test_file()).is_file() {
        Ok(nested)
    } else {
        Err(TrainError::data(
            dir,
            format!(
                "no {} here or in {}/ (expected the extracted binary version of {})",
                variant.test_file(),
                variant.dir_name(),
                match variant {
                    Variant::Cifar10 => "CIFAR-10",
                    Variant::Cifar100 => "CIFAR-100",
                }
            ),
        ))
    }
}

/// Read one binary batch file.
pub fn read_file(path: &Path, variant: Variant) -> Result<Dataset, TrainError> {
    let bytes = std::fs::read(path).map_err(|e| TrainError::data(path, e.to_string()))?;
    parse(&bytes, variant).map_err(|problem| TrainError::data(path, problem))
}

/// Parse the records of one batch file.
pub fn parse(bytes: &[u8], variant: Variant) -> Result<Dataset, String> {
    let record = variant.label_bytes() + PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(format!(
            "{} bytes is not a whole number of {record}-byte records; is this the binary version of the data set?",
            bytes.len()
        ));
    }
    let n = bytes.len() / record;
    let mut pixels = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[variant.label_bytes() - 1] as usize;
        if label >= variant.classes() {
            return Err(format!(
                "record {i}: label {label} is not below {}",
                variant.classes()
            ));
        }
        labels.push(label as i64);
        pixels.extend_from_slice(&rec[variant.label_bytes()..]);
    }
    let images = Tensor::from_slice(&pixels).reshape([n as i64, 3, 32, 32]);
    Ok(Dataset::new(images, labels))
}

fn concat(parts: Vec<Dataset>) -> Dataset {
    let images: Vec<Tensor> = parts.iter().map(|d| d.images.shallow_clone()).collect();
    let labels = parts
        .iter()
        .flat_map(|d| d.labels.iter().copied())
        .collect();
    Dataset::new(Tensor::cat(&images, 0), labels)
}
