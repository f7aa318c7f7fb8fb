//! Augmentations on whole batches of tensors, each sample drawn
//! independently: random resized crop, horizontal flip, colour jitter and
//! random grayscale, as in SimCLR / MoCo v2 / SimSiam. Inputs and outputs
//! are float `[B, C, H, W]` in [0, 1]; randomness comes from libtorch's
//! generator (seeded by the trainer per step, so runs and resumptions are
//! reproducible).
//!
//! The crop and the flip are one affine resampling (`affine_grid` +
//! `grid_sample`), so they cost one pass whatever the batch.

use tch::{Kind, Tensor};

/// What to draw for each view.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentConfig {
    /// Area of the crop as a fraction of the image.
    pub crop_scale: (f64, f64),
    /// Aspect ratio (width / height) of the crop, sampled log-uniformly.
    pub crop_ratio: (f64, f64),
    /// Flip horizontally with probability 1/2.
    pub hflip: bool,
    /// Brightness, contrast, saturation, hue strengths of the colour jitter.
    pub jitter: [f64; 4],
    /// Probability that a sample is colour-jittered.
    pub p_jitter: f64,
    /// Probability that a sample is turned to gray.
    pub p_gray: f64,
}

impl AugmentConfig {
    /// The RGB recipe of SimCLR / MoCo v2 / SimSiam (CIFAR setting).
    pub fn rgb() -> Self {
        AugmentConfig {
            crop_scale: (0.2, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            hflip: true,
            jitter: [0.4, 0.4, 0.4, 0.1],
            p_jitter: 0.8,
            p_gray: 0.2,
        }
    }

    /// Single-channel digits: milder crops (a digit cropped to a fifth is
    /// often another digit), no flip (mirrored digits are not digits), and
    /// only brightness and contrast (no colour to saturate, shift or drop).
    pub fn mono() -> Self {
        AugmentConfig {
            crop_scale: (0.4, 1.0),
            crop_ratio: (3.0 / 4.0, 4.0 / 3.0),
            hflip: false,
            jitter: [0.4, 0.4, 0.0, 0.0],
            p_jitter: 0.8,
            p_gray: 0.0,
        }
    }

    /// One random view of every image of `x`.
    pub fn view(&self, x: &Tensor) -> Tensor {
        let b = x.size()[0];
        let opts = (Kind::Float, x.device());
        let mut v = random_resized_crop(x, self.crop_scale, self.crop_ratio, self.hflip);
        if self.p_jitter > 0.0 && self.jitter.iter().any(|&s| s > 0.0) {
            let on = Tensor::rand([b], opts)
                .lt(self.p_jitter)
                .to_kind(Kind::Float);
            let factor = |strength: f64| {
                // 1 + U(-s, s) where jittered, 1 elsewhere
                (Tensor::rand([b], opts) * 2.0 - 1.0) * strength * &on + 1.0
            };
            let [sb, sc, ss, sh] = self.jitter;
            let rgb = x.size()[1] == 3;
            v = adjust_brightness(&v, &factor(sb));
            v = adjust_contrast(&v, &factor(sc));
            if rgb && ss > 0.0 {
                v = adjust_saturation(&v, &factor(ss));
            }
            if rgb && sh > 0.0 {
                let shift = (Tensor::rand([b], opts) * 2.0 - 1.0) * sh * &on;
                v = adjust_hue(&v, &shift);
            }
        }
        if self.p_gray > 0.0 && x.size()[1] == 3 {
            let mask = Tensor::rand([b], opts).lt(self.p_gray);
            v = grayscale_where(&v, &mask);
        }
        v
    }
}

/// Reshape a per-sample `[B]` factor to broadcast over `[B, C, H, W]`.
fn per_sample(f: &Tensor) -> Tensor {
    f.reshape([-1, 1, 1, 1])
}

/// Crop each sample to a random box (area fraction in `scale`, aspect ratio
/// in `ratio`) and resize it back to the input size; flip half of them when
/// `hflip`.
pub fn random_resized_crop(
    x: &Tensor,
    scale: (f64, f64),
    ratio: (f64, f64),
    hflip: bool,
) -> Tensor {
    let size = x.size();
    let (b, h, w) = (size[0], size[2] as f64, size[3] as f64);
    let opts = (Kind::Float, x.device());
    let area = Tensor::rand([b], opts) * (scale.1 - scale.0) + scale.0;
    let log_r = Tensor::rand([b], opts) * (ratio.1.ln() - ratio.0.ln()) + ratio.0.ln();
    let r = log_r.exp();
    // crop width and height as fractions of the image's
    let fw = (&area * &r * (h / w)).sqrt().clamp_max(1.0);
    let fh = (&area / &r * (w / h)).sqrt().clamp_max(1.0);
    // centre, in [-1, 1] coordinates, such that the box stays inside
    let cx = (Tensor::rand([b], opts) * 2.0 - 1.0) * (1.0 - &fw);
    let cy = (Tensor::rand([b], opts) * 2.0 - 1.0) * (1.0 - &fh);
    let sign = if hflip {
        Tensor::rand([b], opts).lt(0.5).to_kind(Kind::Float) * -2.0 + 1.0
    } else {
        Tensor::ones([b], opts)
    };
    crop_boxes(x, &(&fw * sign), &fh, &cx, &cy)
}

/// Resample each sample from the box of width `fw`, height `fh` (fractions,
/// a negative width flips) centred at (`cx`, `cy`) in [-1, 1] coordinates.
pub fn crop_boxes(x: &Tensor, fw: &Tensor, fh: &Tensor, cx: &Tensor, cy: &Tensor) -> Tensor {
    let zero = fw.zeros_like();
    let theta = Tensor::stack(
        &[
            Tensor::stack(
                &[fw.shallow_clone(), zero.shallow_clone(), cx.shallow_clone()],
                1,
            ),
            Tensor::stack(&[zero, fh.shallow_clone(), cy.shallow_clone()], 1),
        ],
        1,
    );
    let grid = Tensor::affine_grid_generator(&theta, x.size(), false);
    // bilinear, border padding, align_corners = false
    x.grid_sampler(&grid, 0, 1, false)
}

/// Luma (ITU-R 601) of RGB images, `[B, 1, H, W]`; single-channel images
/// are their own luma.
pub fn gray(x: &Tensor) -> Tensor {
    if x.size()[1] == 1 {
        return x.shallow_clone();
    }
    let w = Tensor::from_slice(&[0.299f32, 0.587, 0.114])
        .to_device(x.device())
        .reshape([1, 3, 1, 1]);
    (x * w).sum_dim_intlist(1, true, Kind::Float)
}

/// Multiply by a per-sample factor.
pub fn adjust_brightness(x: &Tensor, factor: &Tensor) -> Tensor {
    (x * per_sample(factor)).clamp(0.0, 1.0)
}

/// Scale the distance to each image's mean gray by a per-sample factor.
pub fn adjust_contrast(x: &Tensor, factor: &Tensor) -> Tensor {
    let mean = gray(x).mean_dim(&[1i64, 2, 3][..], true, Kind::Float);
    ((x - &mean) * per_sample(factor) + mean).clamp(0.0, 1.0)
}

/// Scale the distance to each pixel's gray by a per-sample factor.
pub fn adjust_saturation(x: &Tensor, factor: &Tensor) -> Tensor {
    let g = gray(x);
    ((x - &g) * per_sample(factor) + g).clamp(0.0, 1.0)
}

/// Rotate the hue by a per-sample fraction of a turn (in [-0.5, 0.5]), as
/// a rotation of the chroma plane in YIQ space: a batched approximation of
/// torchvision's HSV shift that keeps luma unchanged.
pub fn adjust_hue(x: &Tensor, shift: &Tensor) -> Tensor {
    let dev = x.device();
    let to_yiq = Tensor::from_slice(&[
        0.299f32, 0.587, 0.114, 0.595_716, -0.274_453, -0.321_263, 0.211_456, -0.522_591, 0.311_135,
    ])
    .reshape([3, 3])
    .to_device(dev);
    let from_yiq = to_yiq.inverse();
    let yiq = Tensor::einsum("ij,bjhw->bihw", &[&to_yiq, x], None::<i64>);
    let angle = shift * std::f64::consts::TAU;
    let (c, s) = (per_sample(&angle.cos()), per_sample(&angle.sin()));
    let y = yiq.narrow(1, 0, 1);
    let i = yiq.narrow(1, 1, 1);
    let q = yiq.narrow(1, 2, 1);
    let i2 = &i * &c - &q * &s;
    let q2 = &i * &s + &q * &c;
    let rotated = Tensor::cat(&[y, i2, q2], 1);
    Tensor::einsum("ij,bjhw->bihw", &[&from_yiq, &rotated], None::<i64>).clamp(0.0, 1.0)
}

/// Replace the samples where `mask` (bool `[B]`) is set by their luma,
/// repeated over the channels.
pub fn grayscale_where(x: &Tensor, mask: &Tensor) -> Tensor {
    let g = gray(x).expand_as(x);
    g.where_self(&mask.reshape([-1, 1, 1, 1]), x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn ramp(b: i64, c: i64, h: i64, w: i64) -> Tensor {
        Tensor::arange(b * c * h * w, (Kind::Float, Device::Cpu)).reshape([b, c, h, w])
            / (b * c * h * w) as f64
    }

    #[test]
    fn full_box_crop_is_the_identity() {
        let x = ramp(2, 3, 4, 4);
        let ones = Tensor::ones([2], (Kind::Float, Device::Cpu));
        let zeros = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let y = crop_boxes(&x, &ones, &ones, &zeros, &zeros);
        assert!(y.allclose(&x, 1e-5, 1e-6, false));
        // a negative width mirrors: column j comes from column w-1-j
        let y = crop_boxes(&x, &-&ones, &ones, &zeros, &zeros);
        assert!(y.allclose(&x.flip([3]), 1e-5, 1e-6, false));
    }

    #[test]
    fn half_box_crop_upsamples_the_left_half() {
        // a 1x1x1x4 row [0, 1, 2, 3]; the left half stretched to 4 pixels:
        // output centres -0.75, -0.25, 0.25, 0.75 (normalised) map to
        // 0.5 x - 0.5 = -0.875 .. -0.125, i.e. input pixels -0.25, 0.25,
        // 0.75, 1.25 (align_corners = false); -0.25 clamps to the border
        // pixel 0, the others interpolate linearly: 0, 0.25, 0.75, 1.25
        let x = Tensor::from_slice(&[0f32, 1.0, 2.0, 3.0]).reshape([1, 1, 1, 4]);
        let half = Tensor::from_slice(&[0.5f32]);
        let one = Tensor::from_slice(&[1f32]);
        let left = Tensor::from_slice(&[-0.5f32]);
        let zero = Tensor::from_slice(&[0f32]);
        let y = crop_boxes(&x, &half, &one, &left, &zero);
        let want = Tensor::from_slice(&[0f32, 0.25, 0.75, 1.25]).reshape([1, 1, 1, 4]);
        assert!(y.allclose(&want, 1e-5, 1e-6, false), "{y}");
    }

    #[test]
    fn views_keep_shape_and_range() {
        let _rng = crate::train::rng_lock();
        tch::manual_seed(1);
        let x = Tensor::rand([8, 3, 12, 12], (Kind::Float, Device::Cpu));
        for cfg in [AugmentConfig::rgb(), AugmentConfig::mono()] {
            let v = cfg.view(&x);
            assert_eq!(v.size(), x.size());
            assert!(v.min().double_value(&[]) >= 0.0);
            assert!(v.max().double_value(&[]) <= 1.0);
            assert!(!v.allclose(&x, 1e-3, 1e-3, false));
        }
        let m = Tensor::rand([4, 1, 16, 16], (Kind::Float, Device::Cpu));
        let v = AugmentConfig::mono().view(&m);
        assert_eq!(v.size(), vec![4, 1, 16, 16]);
    }

    #[test]
    fn same_seed_same_views() {
        let _rng = crate::train::rng_lock();
        let x = ramp(4, 3, 8, 8);
        tch::manual_seed(5);
        let a = AugmentConfig::rgb().view(&x);
        tch::manual_seed(5);
        let b = AugmentConfig::rgb().view(&x);
        assert!(a.equal(&b));
    }

    #[test]
    fn colour_ops_by_hand() {
        // one pixel (0.5, 0.25, 0.0): luma 0.299*0.5 + 0.587*0.25 = 0.29625
        let x = Tensor::from_slice(&[0.5f32, 0.25, 0.0]).reshape([1, 3, 1, 1]);
        let f = |v: f32| Tensor::from_slice(&[v]);
        let g = gray(&x).double_value(&[0, 0, 0, 0]);
        assert!((g - 0.29625).abs() < 1e-6);
        let b = adjust_brightness(&x, &f(1.5));
        assert!((b.double_value(&[0, 0, 0, 0]) - 0.75).abs() < 1e-6);
        // saturation 0 gives the luma in every channel
        let s = adjust_saturation(&x, &f(0.0));
        for c in 0..3 {
            assert!((s.double_value(&[0, c, 0, 0]) - 0.29625).abs() < 1e-6);
        }
        // contrast 0.5 halves the distance to the image mean gray (one pixel: its luma)
        let c = adjust_contrast(&x, &f(0.5));
        let want = 0.29625 + (0.5 - 0.29625) * 0.5;
        assert!((c.double_value(&[0, 0, 0, 0]) - want).abs() < 1e-6);
        // hue: no shift is the identity, a shift keeps the luma
        assert!(adjust_hue(&x, &f(0.0)).allclose(&x, 1e-5, 1e-5, false));
        let h = adjust_hue(
            &Tensor::full([1, 3, 1, 1], 0.5, (Kind::Float, Device::Cpu)),
            &f(0.25),
        );
        assert!((gray(&h).double_value(&[0, 0, 0, 0]) - 0.5).abs() < 1e-5);
        // grayscale only where masked
        let two = Tensor::cat(&[&x, &x], 0);
        let mask = Tensor::from_slice(&[true, false]);
        let y = grayscale_where(&two, &mask);
        assert!((y.double_value(&[0, 2, 0, 0]) - 0.29625).abs() < 1e-6);
        assert!((y.double_value(&[1, 2, 0, 0])).abs() < 1e-6);
    }
}
