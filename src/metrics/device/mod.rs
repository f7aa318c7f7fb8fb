//! Where the heavy metric kernels run: the native CPU kernels (the default)
//! or libtorch on a CUDA device (`--device cuda|auto`, feature `cuda`).
//!
//! At 50,000 x 2,048 the expensive parts of [`super::compute_layer`] are
//! matrix products: the k-means passes (rows x centroids, rows x k-means++
//! candidates), the silhouette's pairwise distances, the kNN similarities
//! and the D x D Gram matrix behind RankMe and the covariance spectrum.
//! [`Kernels`] runs those four on the chosen [`Device`]; everything else
//! (entropy, AMI, the probe, outliers, uniformity, the eigensolver) stays on
//! the CPU. The device versions (module `torch`, feature `train`) compute
//! the same quantities as the CPU modules, step for step, and leave the
//! decisions that need exact arithmetic (vote, per-row silhouette, the
//! k-means++ draws, empty-cluster moves) on the host; their tests hold them
//! to the CPU kernels on libtorch's CPU device.
//!
//! Device results differ from the CPU's by f32 rounding of the products
//! (another summation order), so the device is not part of the cache key:
//! a cached CPU result answers a device request and the other way round.
//!
//! A device kernel that fails (out of device memory, a driver error) falls
//! back to the CPU kernel with a warning on the layer; the metrics are
//! still computed.

#[cfg(feature = "train")]
mod torch;
#[cfg(feature = "train")]
mod torch_kmeans;

use super::kmeans::{self, KMeansParams, KMeansResult};
use super::{knn, linalg, silhouette};
use ndarray::ArrayView2;

/// Where the heavy kernels run (checked, see [`resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Device {
    /// The native kernels (faer / ndarray GEMMs, rayon).
    #[default]
    Cpu,
    /// The device kernels on libtorch's CPU device: the code path of
    /// `Cuda` without a GPU (its tests and benchmarks use it).
    TorchCpu,
    /// The device kernels on CUDA device `n`.
    Cuda(usize),
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::TorchCpu => f.write_str("torch-cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// What the user asked for (`--device`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceRequest {
    Cpu,
    /// A CUDA device, or an error naming what is missing.
    Cuda,
    /// CUDA when this build and libtorch see one, else the CPU.
    Auto,
}

/// Why `--device cuda` cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error(
        "--device cuda: built without the cuda feature: cargo build --release --features cuda \
         (after scripts/install-libtorch.sh --cuda)"
    )]
    NotBuilt,
    #[error(
        "--device cuda: libtorch sees no CUDA device (no GPU, no driver, or libtorch installed \
         without CUDA: scripts/install-libtorch.sh --cuda, then rebuild with --features cuda)"
    )]
    NoGpu,
}

/// The device a request resolves to, and a note saying what `auto` chose
/// (`None` for an explicit `cpu` or `cuda`).
pub fn resolve(req: DeviceRequest) -> Result<(Device, Option<String>), DeviceError> {
    let gpu = cuda_available();
    match req {
        DeviceRequest::Cpu => Ok((Device::Cpu, None)),
        DeviceRequest::Cuda if !cfg!(feature = "cuda") => Err(DeviceError::NotBuilt),
        DeviceRequest::Cuda if gpu => Ok((Device::Cuda(0), None)),
        DeviceRequest::Cuda => Err(DeviceError::NoGpu),
        DeviceRequest::Auto if gpu => Ok((
            Device::Cuda(0),
            Some("--device auto: metric kernels on cuda:0".into()),
        )),
        // A build without the cuda feature has no GPU to look for: quietly the CPU.
        DeviceRequest::Auto if !cfg!(feature = "cuda") => Ok((Device::Cpu, None)),
        DeviceRequest::Auto => Ok((
            Device::Cpu,
            Some("--device auto: libtorch sees no CUDA device; metric kernels on the CPU".into()),
        )),
    }
}

/// Whether this build can use a CUDA device (feature `cuda` and a GPU that
/// libtorch sees).
fn cuda_available() -> bool {
    #[cfg(feature = "cuda")]
    {
        tch::Cuda::is_available()
    }
    #[cfg(not(feature = "cuda"))]
    {
        false
    }
}

/// The heavy kernels of [`super::compute_layer`] on one device. On
/// [`Device::Cpu`] each is exactly the CPU module's function; on a device,
/// the device version, falling back to the CPU one (with a warning pushed
/// to the caller's list) when it fails.
#[derive(Debug, Clone, Copy)]
pub struct Kernels {
    pub device: Device,
}

impl Kernels {
    pub fn new(device: Device) -> Kernels {
        Kernels { device }
    }

    /// [`kmeans::kmeans_many`].
    pub fn kmeans_many<const M: usize>(
        &self,
        x: ArrayView2<f32>,
        ps: &[KMeansParams; M],
        warnings: &mut Vec<String>,
    ) -> [KMeansResult; M] {
        self.on_device("k-means", warnings, |_dev| {
            #[cfg(feature = "train")]
            {
                torch_kmeans::kmeans_many(_dev, x, ps)
            }
            #[cfg(not(feature = "train"))]
            {
                Err::<[KMeansResult; M], _>(not_built())
            }
        })
        .unwrap_or_else(|| kmeans::kmeans_many(x, ps))
    }

    /// [`silhouette::silhouette_score`].
    pub fn silhouette_score(
        &self,
        x: ArrayView2<f32>,
        labels: &[u32],
        sample: usize,
        seed: u64,
        warnings: &mut Vec<String>,
    ) -> Option<f64> {
        self.on_device("silhouette", warnings, |_dev| {
            #[cfg(feature = "train")]
            {
                torch::silhouette_score(_dev, x, labels, sample, seed)
            }
            #[cfg(not(feature = "train"))]
            {
                Err::<Option<f64>, _>(not_built())
            }
        })
        .unwrap_or_else(|| silhouette::silhouette_score(x, labels, sample, seed))
    }

    /// [`knn::knn_accuracy_sampled`]: the same seeded query rows when n is
    /// over `max_queries`, each searched against all rows on the device.
    pub fn knn_accuracy_sampled(
        &self,
        x: ArrayView2<f32>,
        labels: &[i64],
        k: usize,
        max_queries: usize,
        seed: u64,
        warnings: &mut Vec<String>,
    ) -> Option<f64> {
        self.on_device("knn_acc", warnings, |_dev| {
            #[cfg(feature = "train")]
            {
                let n = x.nrows();
                let m = max_queries.max(1);
                let q = (n > m).then(|| super::uniformity::seeded_rows(n, m, seed));
                torch::knn_accuracy(_dev, x, labels, k, q.as_deref())
            }
            #[cfg(not(feature = "train"))]
            {
                let _ = (max_queries, seed);
                Err::<Option<f64>, _>(not_built())
            }
        })
        .unwrap_or_else(|| knn::knn_accuracy_sampled(x, labels, k, max_queries, seed))
    }

    /// [`linalg::gram_lower`]`(x, None)` (the device fills both triangles).
    pub fn gram(&self, x: ArrayView2<f32>, warnings: &mut Vec<String>) -> faer::Mat<f64> {
        self.on_device("gram", warnings, |_dev| {
            #[cfg(feature = "train")]
            {
                torch::gram(_dev, x)
            }
            #[cfg(not(feature = "train"))]
            {
                Err::<faer::Mat<f64>, _>(not_built())
            }
        })
        .unwrap_or_else(|| linalg::gram_lower(x, None))
    }

    /// Run `f` on the device; `None` (the caller computes on the CPU) on
    /// `Device::Cpu` or when `f` fails, which adds a warning.
    fn on_device<T>(
        &self,
        what: &str,
        warnings: &mut Vec<String>,
        f: impl FnOnce(Device) -> Result<T, KernelError>,
    ) -> Option<T> {
        if self.device == Device::Cpu {
            return None;
        }
        match f(self.device) {
            Ok(v) => Some(v),
            Err(e) => {
                warnings.push(format!(
                    "{what} on {} failed ({e}); computed on the CPU",
                    self.device
                ));
                None
            }
        }
    }
}

/// A device kernel's failure (libtorch's message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KernelError(pub String);

#[cfg(not(feature = "train"))]
fn not_built() -> KernelError {
    KernelError("this build has no libtorch (feature train/cuda)".into())
}

/// Bytes of device memory the per-block temporaries of one kernel may
/// take (similarity or distance slabs, their f64 copies, one-hot blocks).
/// The matrix a kernel works on (n x d f32) and its outputs (the d x d
/// Gram, the k-means++ distances to the candidates) are resident on the
/// device besides, one kernel at a time: about 0.7 GiB at 50,000 x 2,048.
pub const DEVICE_BLOCK_BYTES: usize = 256 << 20;

/// Rows per block when one row of the block costs `row_bytes` of device
/// memory: at least 1, at most `n`.
#[cfg_attr(not(feature = "train"), allow(dead_code))]
pub(crate) fn rows_per_block(row_bytes: usize, n: usize) -> usize {
    (DEVICE_BLOCK_BYTES / row_bytes.max(1)).clamp(1, n.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_the_default_and_resolves_quietly() {
        assert_eq!(Device::default(), Device::Cpu);
        assert_eq!(resolve(DeviceRequest::Cpu), Ok((Device::Cpu, None)));
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn without_the_cuda_feature_cuda_is_an_error_and_auto_is_the_cpu() {
        let err = resolve(DeviceRequest::Cuda).expect_err("no cuda in this build");
        assert_eq!(err, DeviceError::NotBuilt);
        assert!(
            err.to_string()
                .contains("built without the cuda feature: cargo build --release --features cuda"),
            "{err}"
        );
        assert_eq!(resolve(DeviceRequest::Auto), Ok((Device::Cpu, None)));
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn with_the_cuda_feature_auto_follows_libtorch_and_says_so() {
        let (dev, note) = resolve(DeviceRequest::Auto).expect("auto never fails");
        let note = note.expect("auto says what it chose");
        if tch::Cuda::is_available() {
            assert_eq!(dev, Device::Cuda(0));
            assert!(note.contains("cuda:0"), "{note}");
            assert_eq!(resolve(DeviceRequest::Cuda), Ok((Device::Cuda(0), None)));
        } else {
            assert_eq!(dev, Device::Cpu);
            assert!(note.contains("no CUDA device"), "{note}");
            assert_eq!(resolve(DeviceRequest::Cuda), Err(DeviceError::NoGpu));
        }
    }

    #[test]
    fn blocks_stay_within_the_budget_and_the_rows() {
        // 50,000 columns of f32 plus an f64 copy: 600,000 bytes a row.
        assert_eq!(rows_per_block(600_000, 50_000), (256 << 20) / 600_000);
        assert_eq!(rows_per_block(12, 10), 10);
        assert_eq!(rows_per_block(usize::MAX, 10), 1);
        assert_eq!(rows_per_block(0, 0), 1);
    }

    #[cfg(not(feature = "train"))]
    #[test]
    fn a_device_without_libtorch_falls_back_to_the_cpu_with_a_warning() {
        let x = ndarray::Array2::from_shape_fn((30, 3), |(i, j)| ((i * 7 + j * 3) % 11) as f32);
        let mut warnings = Vec::new();
        let g = Kernels::new(Device::TorchCpu).gram(x.view(), &mut warnings);
        let want = linalg::gram_lower(x.view(), None);
        assert_eq!(g, want);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("gram on torch-cpu failed"),
            "{warnings:?}"
        );
        // The CPU device is the CPU kernel itself, silently.
        let mut quiet = Vec::new();
        assert_eq!(Kernels::new(Device::Cpu).gram(x.view(), &mut quiet), want);
        assert!(quiet.is_empty());
    }

    /// Overlapping blobs with labels (a fixed pattern plus seeded noise).
    #[cfg(feature = "train")]
    fn layer() -> (ndarray::Array2<f32>, Vec<i64>) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let labels: Vec<i64> = (0..400).map(|_| rng.gen_range(0..4)).collect();
        let x = ndarray::Array2::from_shape_fn((400, 24), |(i, j)| {
            let centre = if (j + labels[i] as usize * 5) % 7 < 2 {
                3.0
            } else {
                0.0
            };
            centre + rng.gen_range(-2.0f32..2.0)
        });
        (x, labels)
    }

    /// The whole metric set through the device kernels (libtorch's CPU):
    /// every metric as on the CPU kernels, within the kernels' tolerances.
    #[cfg(feature = "train")]
    #[test]
    fn compute_layer_on_the_device_kernels_matches_the_cpu() {
        use crate::metrics::{compute_layer, Metric, MetricSettings};
        let (x, labels) = layer();
        let cpu = MetricSettings::default();
        let (a, ca) = compute_layer(x.view(), Some(&labels), &cpu).expect("cpu");
        for device in torch::tests::devices() {
            let dev = MetricSettings {
                device,
                ..cpu.clone()
            };
            let (b, cb) = compute_layer(x.view(), Some(&labels), &dev).expect("device");
            assert!(
                b.warnings.iter().all(|w| !w.contains("failed")),
                "{device}: {:?}",
                b.warnings
            );
            assert_eq!(ca.c1, cb.c1, "{device}: same clusters");
            assert_eq!(ca.c2, cb.c2, "{device}");
            for m in Metric::ALL {
                let (p, q) = (a.get(m), b.get(m));
                match (p, q) {
                    (Some(p), Some(q)) => {
                        assert!(
                            (p - q).abs() <= 1e-5 * p.abs().max(1.0),
                            "{device} {}: {p} vs {q}",
                            m.key()
                        )
                    }
                    (p, q) => assert_eq!(p, q, "{device} {}", m.key()),
                }
            }
            assert_eq!(a.spectrum.len(), b.spectrum.len());
            for (p, q) in a.spectrum.iter().zip(&b.spectrum) {
                assert!((p - q).abs() <= 1e-9, "{device} spectrum {p} vs {q}");
            }
        }
    }

    /// A device libtorch cannot reach (CUDA in a CPU-only libtorch): each
    /// kernel says so once and the CPU computes it.
    #[cfg(feature = "train")]
    #[test]
    fn an_unreachable_device_falls_back_to_the_cpu_with_warnings() {
        use crate::metrics::{compute_layer, MetricSettings};
        if tch::Cuda::is_available() {
            return; // the device is reachable here: nothing to fall back from
        }
        let (x, labels) = layer();
        let cpu = MetricSettings::default();
        let dev = MetricSettings {
            device: Device::Cuda(0),
            ..cpu.clone()
        };
        let (a, _) = compute_layer(x.view(), Some(&labels), &cpu).expect("cpu");
        let (b, _) = compute_layer(x.view(), Some(&labels), &dev).expect("fallback");
        let failed: Vec<&String> = b
            .warnings
            .iter()
            .filter(|w| w.contains("on cuda:0 failed"))
            .collect();
        assert_eq!(failed.len(), 4, "{:?}", b.warnings);
        for what in ["k-means", "silhouette", "knn_acc", "gram"] {
            assert!(
                failed.iter().any(|w| w.starts_with(what)),
                "{what}: {failed:?}"
            );
        }
        assert_eq!(a.values, b.values);
        // One line each: libtorch's C++ backtrace is left out.
        assert!(
            failed.iter().all(|w| !w.contains('\n') && w.len() < 400),
            "{failed:?}"
        );
    }
}
