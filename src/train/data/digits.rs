//! scikit-learn's digits (UCI Optical Recognition of Handwritten Digits,
//! CC BY 4.0, see `assets/DIGITS-LICENSE.md`), compiled into the binary so
//! training works offline.
//!
//! The 1,797 8x8 images (values 0..16) are scaled to 0..255 and upsampled
//! to 16x16 (bilinear), so random crops keep enough of each digit. Every
//! fifth image goes to the test split (359 images), the rest (1,438) train.

use super::{Dataset, Splits};
use crate::train::TrainError;
use tch::{Kind, Tensor};

const IMAGES: &[u8] = include_bytes!("../../../assets/digits_images.npy");
const LABELS: &[u8] = include_bytes!("../../../assets/digits_labels.npy");
const ASSET: &str = "assets/digits_images.npy (built in)";

/// Side of the upsampled digit images.
pub const SIDE: i64 = 16;

/// Load the built-in digits.
pub fn load() -> Result<Splits, TrainError> {
    let (pixels, shape) = read_npy_u8(IMAGES, ASSET)?;
    if shape.len() != 3 || shape[1] != 8 || shape[2] != 8 {
        return Err(TrainError::data(
            ASSET,
            format!("expected shape (N, 8, 8), got {shape:?}"),
        ));
    }
    let labels = read_labels(LABELS, "assets/digits_labels.npy (built in)")?;
    if labels.len() as u64 != shape[0] {
        return Err(TrainError::data(
            ASSET,
            format!("{} images but {} labels", shape[0], labels.len()),
        ));
    }
    let images = upsample(&pixels, shape[0] as i64);
    let (mut tr, mut te) = (Vec::new(), Vec::new());
    for i in 0..labels.len() as i64 {
        if i % 5 == 4 {
            te.push(i);
        } else {
            tr.push(i);
        }
    }
    let all = Dataset::new(images, labels);
    Splits::new(all.subset(&tr), all.subset(&te), 10)
}

/// 8x8 pixels in 0..16 to `[N, 1, 16, 16]` uint8 in 0..255.
fn upsample(pixels: &[u8], n: i64) -> Tensor {
    let x = Tensor::from_slice(pixels)
        .to_kind(Kind::Float)
        .reshape([n, 1, 8, 8])
        * (255.0 / 16.0);
    x.upsample_bilinear2d([SIDE, SIDE], false, None, None)
        .round()
        .clamp(0.0, 255.0)
        .to_kind(Kind::Uint8)
}

fn read_npy_u8(bytes: &[u8], name: &str) -> Result<(Vec<u8>, Vec<u64>), TrainError> {
    let npy = npyz::NpyFile::new(bytes).map_err(|e| TrainError::data(name, e.to_string()))?;
    let shape = npy.shape().to_vec();
    let data = npy
        .into_vec::<u8>()
        .map_err(|e| TrainError::data(name, format!("expected uint8 pixels: {e}")))?;
    Ok((data, shape))
}

fn read_labels(bytes: &[u8], name: &str) -> Result<Vec<i64>, TrainError> {
    let npy = npyz::NpyFile::new(bytes).map_err(|e| TrainError::data(name, e.to_string()))?;
    let labels = npy
        .into_vec::<i64>()
        .map_err(|e| TrainError::data(name, format!("expected int64 labels: {e}")))?;
    if let Some(bad) = labels.iter().find(|&&l| !(0..10).contains(&l)) {
        return Err(TrainError::data(name, format!("label {bad} outside 0..9")));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_load_with_expected_splits() {
        let s = load().unwrap();
        assert_eq!(s.train.len(), 1438);
        assert_eq!(s.test.len(), 359);
        assert_eq!(s.train.chw(), (1, 16, 16));
        assert_eq!(s.classes, 10);
        // the first images of sklearn's digits are 0, 1, 2, 3, then 4 goes to test
        assert_eq!(&s.train.labels[..4], &[0, 1, 2, 3]);
        assert_eq!(s.test.labels[0], 4);
        let max = s.train.images.max().int64_value(&[]);
        assert!(max > 200 && max <= 255, "{max}");
    }
}
