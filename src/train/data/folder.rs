//! Image folders (torchvision's ImageFolder layout): one subdirectory of
//! PNG/JPEG images per class, class names sorted to give labels 0, 1, ...
//!
//! With `train/` and `val/` (or `test/`) subdirectories, those are the
//! splits; otherwise every fifth image of each class (by sorted file name)
//! goes to the test split. Images are converted to RGB and resized to
//! `side` x `side` (bilinear).

use super::{Dataset, Splits};
use crate::train::TrainError;
use image::imageops::FilterType;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Load an image folder.
pub fn load(dir: &Path, side: i64) -> Result<Splits, TrainError> {
    if !dir.is_dir() {
        return Err(TrainError::data(dir, "not a directory"));
    }
    let train_dir = dir.join("train");
    let test_dir = ["val", "test"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_dir());
    if let (true, Some(test_dir)) = (train_dir.is_dir(), test_dir) {
        let classes = class_dirs(&train_dir)?;
        let names: Vec<String> = classes.iter().map(|(n, _)| n.clone()).collect();
        let train = list_split(&train_dir, &names)?;
        let test = list_split(&test_dir, &names)?;
        let train = decode_all(&train, side)?;
        let test = decode_all(&test, side)?;
        return Splits::new(train, test, names.len());
    }
    let classes = class_dirs(dir)?;
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (label, (_, path)) in classes.iter().enumerate() {
        for (i, file) in image_files(path)?.into_iter().enumerate() {
            let item = (file, label as i64);
            if i % 5 == 4 {
                test.push(item);
            } else {
                train.push(item);
            }
        }
    }
    if test.is_empty() {
        return Err(TrainError::data(
            dir,
            "too few images to hold out a test split (every fifth image of a class is held out)",
        ));
    }
    Splits::new(
        decode_all(&train, side)?,
        decode_all(&test, side)?,
        classes.len(),
    )
}

/// Sorted class subdirectories (name, path); hidden ones are skipped.
fn class_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, TrainError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| TrainError::data(dir, e.to_string()))? {
        let entry = entry.map_err(|e| TrainError::data(dir, e.to_string()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !name.starts_with('.') {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    if out.len() < 2 {
        return Err(TrainError::data(
            dir,
            format!(
                "found {} class subdirectories; an image folder needs one subdirectory of images per class, at least 2",
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// The images of one split directory whose classes must be `names`.
fn list_split(dir: &Path, names: &[String]) -> Result<Vec<(PathBuf, i64)>, TrainError> {
    let mut out = Vec::new();
    for (name, path) in class_dirs(dir)? {
        let Some(label) = names.iter().position(|n| *n == name) else {
            return Err(TrainError::data(
                &path,
                "this class is not among the training classes",
            ));
        };
        out.extend(image_files(&path)?.into_iter().map(|f| (f, label as i64)));
    }
    if out.is_empty() {
        return Err(TrainError::data(dir, "no PNG or JPEG images"));
    }
    Ok(out)
}

/// Sorted PNG/JPEG files of a class directory.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| TrainError::data(dir, e.to_string()))? {
        let path = entry
            .map_err(|e| TrainError::data(dir, e.to_string()))?
            .path();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if path.is_file() && matches!(ext.as_str(), "png" | "jpg" | "jpeg") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Decode, convert to RGB and resize every image.
fn decode_all(items: &[(PathBuf, i64)], side: i64) -> Result<Dataset, TrainError> {
    let s = side as u32;
    let mut pixels: Vec<u8> = Vec::with_capacity(items.len() * 3 * (s * s) as usize);
    for (path, _) in items {
        let img = image::ImageReader::open(path)
            .map_err(|e| TrainError::data(path, e.to_string()))?
            .with_guessed_format()
            .map_err(|e| TrainError::data(path, e.to_string()))?
            .decode()
            .map_err(|e| TrainError::data(path, format!("cannot decode image: {e}")))?;
        let rgb = img.resize_exact(s, s, FilterType::Triangle).to_rgb8();
        // HWC -> CHW
        let raw = rgb.as_raw();
        for ch in 0..3 {
            pixels.extend(raw.iter().skip(ch).step_by(3));
        }
    }
    let labels = items.iter().map(|(_, l)| *l).collect();
    let images = Tensor::from_slice(&pixels).reshape([items.len() as i64, 3, side, side]);
    Ok(Dataset::new(images, labels))
}
