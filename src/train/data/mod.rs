//! Data sets: images as `uint8` tensors `[N, C, H, W]` on the CPU, with
//! integer labels, split into a training and a test (evaluation) split.
//!
//! Every loader checks its files and names the file and the problem when
//! one is missing, short or malformed.

pub mod cifar;
pub mod digits;
pub mod folder;
pub mod shapes;

use super::config::{DatasetKind, TrainConfig};
use super::TrainError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::{Kind, Tensor};

/// Images and their labels.
#[derive(Debug)]
pub struct Dataset {
    /// `uint8`, `[N, C, H, W]`, on the CPU.
    pub images: Tensor,
    /// One label per image, `0..classes`.
    pub labels: Vec<i64>,
}

impl Dataset {
    /// Build a data set, checking that images and labels agree.
    pub fn new(images: Tensor, labels: Vec<i64>) -> Self {
        debug_assert_eq!(images.kind(), Kind::Uint8);
        debug_assert_eq!(images.dim(), 4);
        debug_assert_eq!(images.size()[0] as usize, labels.len());
        Dataset { images, labels }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Channels, height, width.
    pub fn chw(&self) -> (i64, i64, i64) {
        let s = self.images.size();
        (s[1], s[2], s[3])
    }

    /// The samples at `indices`, in that order.
    pub fn subset(&self, indices: &[i64]) -> Dataset {
        let idx = Tensor::from_slice(indices);
        Dataset {
            images: self.images.index_select(0, &idx),
            labels: indices.iter().map(|&i| self.labels[i as usize]).collect(),
        }
    }

    /// At most `n` samples chosen by a fixed-seed permutation (kept in their
    /// original order), so every run on the same data uses the same subset
    /// whatever its training seed.
    pub fn fixed_subset(&self, n: usize) -> Dataset {
        if n >= self.len() {
            return Dataset {
                images: self.images.shallow_clone(),
                labels: self.labels.clone(),
            };
        }
        let mut idx = self.fixed_permutation();
        idx.truncate(n);
        idx.sort_unstable();
        self.subset(&idx)
    }

    /// The first `per_class` samples of each class in the same fixed
    /// permutation as [`Dataset::fixed_subset`] (all of a class that has
    /// fewer), kept in their original order: a few-shot set that is the
    /// same for every run on the data.
    pub fn balanced_subset(&self, per_class: usize) -> Dataset {
        let mut taken: std::collections::HashMap<i64, usize> = Default::default();
        let mut idx: Vec<i64> = self
            .fixed_permutation()
            .into_iter()
            .filter(|&i| {
                let n = taken.entry(self.labels[i as usize]).or_default();
                *n += 1;
                *n <= per_class
            })
            .collect();
        idx.sort_unstable();
        self.subset(&idx)
    }

    fn fixed_permutation(&self) -> Vec<i64> {
        let mut idx: Vec<i64> = (0..self.len() as i64).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5e1ec7);
        idx.shuffle(&mut rng);
        idx
    }
}

/// A data set's two splits.
#[derive(Debug)]
pub struct Splits {
    pub train: Dataset,
    pub test: Dataset,
    pub classes: usize,
}

impl Splits {
    /// Check shapes and labels, then wrap.
    pub fn new(train: Dataset, test: Dataset, classes: usize) -> Result<Self, TrainError> {
        if train.chw() != test.chw() {
            return Err(TrainError::Config(format!(
                "training images are {:?} but test images {:?} (channels, height, width)",
                train.chw(),
                test.chw()
            )));
        }
        Ok(Splits {
            train,
            test,
            classes,
        })
    }

    /// Single-channel images (digits): the augmentations adapt to it.
    pub fn is_mono(&self) -> bool {
        self.train.chw().0 == 1
    }
}

/// Load the data set chosen in `config`.
pub fn load(config: &TrainConfig) -> Result<Splits, TrainError> {
    let dir = || {
        config
            .data_dir
            .clone()
            .ok_or_else(|| TrainError::Config("this data set needs --data-dir".into()))
    };
    match config.dataset {
        DatasetKind::Digits => digits::load(),
        DatasetKind::Shapes => Ok(shapes::splits(config.shapes_size)),
        DatasetKind::Cifar10 => cifar::load(&dir()?, cifar::Variant::Cifar10),
        DatasetKind::Cifar100 => cifar::load(&dir()?, cifar::Variant::Cifar100),
        DatasetKind::Folder => folder::load(&dir()?, config.image_size),
    }
}

/// Per-channel mean and standard deviation of `images` in [0, 1], used to
/// normalise the network's input. Shapes `[1, C, 1, 1]`.
pub fn channel_stats(images: &Tensor) -> (Tensor, Tensor) {
    let x = images.to_kind(Kind::Float) / 255.0;
    let mean = x.mean_dim(&[0i64, 2, 3][..], true, Kind::Float);
    let std = x.std_dim(&[0i64, 2, 3][..], true, true).clamp_min(1e-3);
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_subset_is_sorted_and_seed_independent() {
        let images = Tensor::zeros([10, 1, 2, 2], (Kind::Uint8, tch::Device::Cpu));
        let d = Dataset::new(images, (0..10).collect());
        let a = d.fixed_subset(4);
        let b = d.fixed_subset(4);
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.len(), 4);
        assert!(a.labels.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(d.fixed_subset(20).len(), 10);
    }

    #[test]
    fn balanced_subset_takes_the_same_few_of_each_class() {
        let images = Tensor::zeros([30, 1, 2, 2], (Kind::Uint8, tch::Device::Cpu));
        // classes 0 and 1 have 12 samples each, class 2 only 6
        let labels: Vec<i64> = (0..30).map(|i| if i < 24 { i % 2 } else { 2 }).collect();
        let d = Dataset::new(images, labels);
        let a = d.balanced_subset(4);
        let count = |c: i64| a.labels.iter().filter(|&&l| l == c).count();
        assert_eq!((count(0), count(1), count(2)), (4, 4, 4));
        assert_eq!(d.balanced_subset(4).labels, a.labels);
        // a class with fewer than asked gives all it has
        let b = d.balanced_subset(8);
        assert_eq!(b.labels.iter().filter(|&&l| l == 2).count(), 6);
        assert_eq!(b.len(), 22);
        // a larger set contains the smaller one (same permutation)
        let small = d.balanced_subset(2);
        assert_eq!(small.len(), 6);
    }

    #[test]
    fn channel_stats_of_constant_images() {
        let images = Tensor::full([3, 2, 2, 2], 51, (Kind::Uint8, tch::Device::Cpu));
        let (m, s) = channel_stats(&images);
        assert_eq!(m.size(), vec![1, 2, 1, 1]);
        assert!((m.double_value(&[0, 0, 0, 0]) - 0.2).abs() < 1e-6);
        // zero spread is clamped so normalising never divides by zero
        assert!((s.double_value(&[0, 1, 0, 0]) - 1e-3).abs() < 1e-9);
    }
}
