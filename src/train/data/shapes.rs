//! A procedurally generated RGB data set: 32x32 images of 10 classes of
//! shapes with random position, size, rotation, colours and background.
//!
//! Deterministic per seed: image `i` of `generate(n, seed)` depends only on
//! `seed` and `i`. The training split uses seed [`TRAIN_SEED`] and the test
//! split [`TEST_SEED`], whatever the run's own seed, so runs that differ only
//! in their seed or method see the same data and share `labels.npy`.
//!
//! The colours are drawn per image, so both views of an image would share
//! them and a network could match views by colour alone; the training
//! recipe ([`AugmentConfig::shapes`](crate::train::augment::AugmentConfig::shapes))
//! therefore repaints every view with its own random colours, and only the
//! shape (and its pose) is left in common. The evaluation embedding sees
//! these images as they are.

use super::{Dataset, Splits};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// Side of the images.
pub const SIDE: usize = 32;
/// Number of classes.
pub const CLASSES: usize = 10;
pub const TRAIN_SEED: u64 = 0x5a_0001;
pub const TEST_SEED: u64 = 0x5a_0002;

/// Class names, index = label.
pub const NAMES: [&str; CLASSES] = [
    "disk",
    "triangle",
    "square",
    "pentagon",
    "hexagon",
    "ring",
    "plus",
    "star",
    "ellipse",
    "half-disk",
];

/// `train` training images and a test split a fifth that size (at least 100).
pub fn splits(train: usize) -> Splits {
    let test = (train / 5).max(100);
    Splits {
        train: generate(train, TRAIN_SEED),
        test: generate(test, TEST_SEED),
        classes: CLASSES,
    }
}

/// `n` images `[n, 3, 32, 32]`; labels cycle through the classes.
pub fn generate(n: usize, seed: u64) -> Dataset {
    let mut pixels = vec![0u8; n * 3 * SIDE * SIDE];
    let mut labels = Vec::with_capacity(n);
    for (i, img) in pixels.chunks_exact_mut(3 * SIDE * SIDE).enumerate() {
        let label = i % CLASSES;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(i as u64);
        draw(img, label, &mut rng);
        labels.push(label as i64);
    }
    let images = Tensor::from_slice(&pixels).reshape([n as i64, 3, SIDE as i64, SIDE as i64]);
    Dataset::new(images, labels)
}

/// Whether the point (u, v) in the shape's own frame (unit size, centred)
/// is inside shape `class`.
pub fn inside(class: usize, u: f32, v: f32) -> bool {
    let r = (u * u + v * v).sqrt();
    let theta = v.atan2(u);
    match class {
        0 => r <= 1.0,
        1 => polygon(3, r, theta),
        2 => polygon(4, r, theta),
        3 => polygon(5, r, theta),
        4 => polygon(6, r, theta),
        5 => (0.55..=1.0).contains(&r),
        6 => (u.abs() <= 0.3 && v.abs() <= 1.0) || (v.abs() <= 0.3 && u.abs() <= 1.0),
        7 => {
            // five points: the radius swings between 0.4 and 1.0
            let k = (2.5 * theta).cos().abs();
            r <= 0.4 + 0.6 * k.powi(3)
        }
        8 => u * u + (v / 0.45) * (v / 0.45) <= 1.0,
        _ => r <= 1.0 && v >= 0.0,
    }
}

/// Inside a regular `n`-gon with circumradius 1 and a vertex on the x axis.
fn polygon(n: u32, r: f32, theta: f32) -> bool {
    let sector = std::f32::consts::TAU / n as f32;
    let a = theta.rem_euclid(sector) - sector / 2.0;
    r * a.cos() <= (sector / 2.0).cos()
}

/// Draw one image (channel-major) of `class` with random pose and colours.
fn draw(img: &mut [u8], class: usize, rng: &mut ChaCha8Rng) {
    let size: f32 = rng.gen_range(6.0..13.0);
    let cx: f32 = rng.gen_range(size * 0.6..SIDE as f32 - size * 0.6);
    let cy: f32 = rng.gen_range(size * 0.6..SIDE as f32 - size * 0.6);
    let angle: f32 = rng.gen_range(0.0..std::f32::consts::TAU);
    let (fg, bg) = colours(rng);
    // a gentle background gradient, so the background is not a flat colour
    let grad: [f32; 2] = [rng.gen_range(-0.15..0.15), rng.gen_range(-0.15..0.15)];
    let (s, c) = angle.sin_cos();
    let plane = SIDE * SIDE;
    for y in 0..SIDE {
        for x in 0..SIDE {
            // 2x2 supersampling for smooth edges
            let mut cover = 0.0f32;
            for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let dx = x as f32 + ox - cx;
                let dy = y as f32 + oy - cy;
                let u = (c * dx + s * dy) / size;
                let v = (-s * dx + c * dy) / size;
                if inside(class, u, v) {
                    cover += 0.25;
                }
            }
            let shade =
                grad[0] * (x as f32 / SIDE as f32 - 0.5) + grad[1] * (y as f32 / SIDE as f32 - 0.5);
            let noise: f32 = rng.gen_range(-0.02..0.02);
            for ch in 0..3 {
                let b = bg[ch] + shade;
                let value = cover * fg[ch] + (1.0 - cover) * b + noise;
                img[ch * plane + y * SIDE + x] = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
}

/// A foreground and a background colour far enough apart to see the shape.
fn colours(rng: &mut ChaCha8Rng) -> ([f32; 3], [f32; 3]) {
    loop {
        let fg: [f32; 3] = [rng.gen(), rng.gen(), rng.gen()];
        let bg: [f32; 3] = [rng.gen(), rng.gen(), rng.gen()];
        let d2: f32 = fg.iter().zip(&bg).map(|(a, b)| (a - b) * (a - b)).sum();
        if d2 >= 0.25 {
            return (fg, bg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed_and_index() {
        let a = generate(12, 7);
        let b = generate(12, 7);
        let c = generate(12, 8);
        assert!(a.images.equal(&b.images));
        assert!(!a.images.equal(&c.images));
        assert_eq!(a.images.size(), vec![12, 3, 32, 32]);
        assert_eq!(a.labels, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        // image i does not depend on how many images are generated
        let short = generate(3, 7);
        assert!(short.images.equal(&a.images.narrow(0, 0, 3)));
    }

    #[test]
    fn shape_membership_by_hand() {
        assert!(inside(0, 0.7, 0.7)); // r = 0.99
        assert!(!inside(0, 0.75, 0.75));
        assert!(!inside(5, 0.0, 0.0)); // ring has a hole
        assert!(inside(5, 0.8, 0.0));
        // square with vertices on the axes: corner at distance 1, edge
        // midpoint along the diagonal at the apothem cos(45°) = 0.707
        assert!(inside(2, 0.0, 0.99) && !inside(2, 0.0, 1.01));
        assert!(inside(2, 0.49, 0.49) && !inside(2, 0.51, 0.51));
        assert!(inside(9, 0.0, 0.5) && !inside(9, 0.0, -0.5));
        assert!(inside(6, 0.9, 0.0) && !inside(6, 0.5, 0.5));
    }

    #[test]
    fn splits_do_not_depend_on_their_size() {
        // the first images of a larger split are the smaller split's
        let (small, large) = (splits(20), splits(60));
        assert!(large
            .train
            .images
            .narrow(0, 0, 20)
            .equal(&small.train.images));
        assert!(large.test.images.equal(&small.test.images)); // both 100
        assert_eq!(&large.train.labels[..20], &small.train.labels[..]);
        // and the two splits are different images
        assert!(!small
            .test
            .images
            .narrow(0, 0, 20)
            .equal(&small.train.images));
    }

    #[test]
    fn test_split_is_a_fifth_with_a_floor() {
        let s = splits(50);
        assert_eq!((s.train.len(), s.test.len()), (50, 100));
    }
}
