//! The device kernels on libtorch (feature `train`): tensors on the chosen
//! [`super::Device`], every product computed a row block at a time so the
//! temporaries stay under [`super::DEVICE_BLOCK_BYTES`], and the small
//! per-row results brought back for the CPU modules' own reductions.

use super::{rows_per_block, Device, KernelError};
use crate::metrics::knn::{dense_classes, normalise_rows, vote};
use crate::metrics::pairwise::Centered;
use crate::metrics::silhouette::{row_silhouette, Grouped};
use ndarray::ArrayView2;
use tch::{Kind, Tensor};

/// libtorch's messages carry a C++ backtrace after the first line: a
/// layer's warning keeps the first line (at most 300 characters).
impl From<tch::TchError> for KernelError {
    fn from(e: tch::TchError) -> Self {
        let text = e.to_string();
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("libtorch error");
        KernelError(first.chars().take(300).collect())
    }
}

pub(super) type Result<T> = std::result::Result<T, KernelError>;

/// libtorch's device for a [`Device`] (the native CPU kernels never get here).
pub(super) fn tch_device(dev: Device) -> tch::Device {
    match dev {
        Device::Cuda(n) => tch::Device::Cuda(n),
        Device::Cpu | Device::TorchCpu => tch::Device::Cpu,
    }
}

/// Host rows copied to the device at a time (64 MiB of f32), so that an
/// upload never holds a second host copy of the whole matrix.
const UPLOAD_BYTES: usize = 64 << 20;

/// Rows `s..e` of the row-major `data` (d columns) as an (e - s) x d tensor
/// on `td`.
pub(super) fn rows_tensor(
    data: &[f32],
    d: usize,
    (s, e): (usize, usize),
    td: tch::Device,
) -> Result<Tensor> {
    Ok(Tensor::f_from_slice(&data[s * d..e * d])?
        .f_view([(e - s) as i64, d as i64])?
        .f_to_device(td)?)
}

/// The whole row-major n x d matrix on `td`, copied a block at a time.
pub(super) fn upload(data: &[f32], n: usize, d: usize, td: tch::Device) -> Result<Tensor> {
    let out = Tensor::f_zeros([n as i64, d as i64], (Kind::Float, td))?;
    let step = (UPLOAD_BYTES / (4 * d.max(1))).max(1);
    for s in (0..n).step_by(step) {
        let e = (s + step).min(n);
        let mut dst = out.f_narrow(0, s as i64, (e - s) as i64)?;
        // Host block straight into its rows (one host-to-device copy).
        dst.f_copy_(&rows_tensor(data, d, (s, e), tch::Device::Cpu)?)?;
    }
    Ok(out)
}

/// A 1-D tensor on `td`.
pub(super) fn vector<T: tch::kind::Element>(v: &[T], td: tch::Device) -> Result<Tensor> {
    Ok(Tensor::f_from_slice(v)?.f_to_device(td)?)
}

/// Any tensor's elements, row-major, as a host vector of `T`.
pub(super) fn download<T: tch::kind::Element + Copy>(t: &Tensor) -> Result<Vec<T>> {
    let flat = t.f_contiguous()?.f_view([-1])?;
    Ok(Vec::<T>::try_from(&flat)?)
}

/// Row block boundaries of `n` rows, `rows` at a time.
pub(super) fn row_blocks(n: usize, rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(rows.max(1))
        .map(move |s| (s, (s + rows.max(1)).min(n)))
}

/// `x^T x` in f64 (as [`crate::metrics::linalg::gram_lower`]`(x, None)`,
/// both triangles filled): each row block converted to f64 on the device
/// and its product added, so the sum carries f64 rounding only.
pub fn gram(dev: Device, x: ArrayView2<f32>) -> Result<faer::Mat<f64>> {
    let td = tch_device(dev);
    let (n, d) = x.dim();
    let x = x.as_standard_layout();
    let data = x
        .as_slice()
        .ok_or_else(|| KernelError("rows are not contiguous".into()))?;
    let mut g = Tensor::f_zeros([d as i64, d as i64], (Kind::Double, td))?;
    // An f32 block and its f64 copy.
    for (s, e) in row_blocks(n, rows_per_block(12 * d, n)) {
        let b = rows_tensor(data, d, (s, e), td)?.f_to_kind(Kind::Double)?;
        let _ = g.f_add_(&b.f_tr()?.f_mm(&b)?)?;
    }
    let v: Vec<f64> = download(&g)?;
    // Both triangles from the lower one: a BLAS may sum (i, j) and (j, i)
    // of x^T x in different orders (libtorch's CPU dgemm does on some
    // processors), and the result must be symmetric to the bit.
    Ok(faer::Mat::from_fn(d, d, |i, j| v[i.max(j) * d + i.min(j)]))
}

/// [`crate::metrics::knn::knn_accuracy`] with the cosine similarities and
/// each query's top k on the device: a block of queries against all rows,
/// self excluded, `topk` there, and only the neighbour ids come back for
/// the CPU module's vote. `queries`: the rows whose votes are averaged
/// (each still searched against all n rows); `None` is every row. Equal
/// similarities may be ordered differently from the CPU's (lower row
/// first); with real-valued embeddings exact ties are rare and only
/// reorder a vote's tie-break.
pub fn knn_accuracy(
    dev: Device,
    x: ArrayView2<f32>,
    labels: &[i64],
    k: usize,
    queries: Option<&[usize]>,
) -> Result<Option<f64>> {
    let (n, d) = x.dim();
    if n <= 1 || k == 0 || labels.len() != n {
        return Ok(None);
    }
    let all: Vec<usize>;
    let queries = match queries {
        Some(q) => q,
        None => {
            all = (0..n).collect();
            &all
        }
    };
    if queries.is_empty() || queries.iter().any(|&q| q >= n) {
        return Ok(None);
    }
    let k = k.min(n - 1);
    let td = tch_device(dev);
    let classes = dense_classes(labels);
    let unit = normalise_rows(x);
    let data = unit
        .as_slice()
        .ok_or_else(|| KernelError("rows are not contiguous".into()))?;
    let xs = upload(data, n, d, td)?;
    let xt = xs.f_tr()?;
    let q_all = vector(&queries.iter().map(|&q| q as i64).collect::<Vec<_>>(), td)?;
    let m = queries.len();
    let mut correct = 0usize;
    // The similarity slab, topk's copy of it, and its selection.
    for (s, e) in row_blocks(m, rows_per_block(12 * n, m)) {
        let len = (e - s) as i64;
        let q = q_all.f_narrow(0, s as i64, len)?;
        let mut sim = xs.f_index_select(0, &q)?.f_mm(&xt)?;
        // A row is not its own neighbour.
        let _ = sim.f_scatter_value_(1, &q.f_unsqueeze(1)?, f64::NEG_INFINITY)?;
        let (_, idx) = sim.f_topk(k as i64, 1, true, true)?;
        let idx: Vec<i64> = download(&idx)?;
        let mut row = Vec::with_capacity(k);
        for (r, nb) in idx.chunks_exact(k).enumerate() {
            row.clear();
            row.extend(nb.iter().map(|&j| j as u32));
            correct += usize::from(vote(&row, &classes) == classes[queries[s + r]]);
        }
    }
    Ok(Some(correct as f64 / m as f64))
}

/// [`crate::metrics::silhouette::silhouette_score`] with the pairwise
/// distances on the device: the same seeded sample, sorted by label so each
/// cluster is a contiguous range of columns; a block of rows' distances to
/// all rows (the GEMM expansion, self exactly 0), their running sum in f64,
/// and each cluster's sum as the difference of the running sum at its
/// range's ends. The per-row silhouettes are the CPU module's.
pub fn silhouette_score(
    dev: Device,
    x: ArrayView2<f32>,
    labels: &[u32],
    sample: usize,
    seed: u64,
) -> Result<Option<f64>> {
    // The CPU module's sample and order.
    let Some(Grouped {
        rows,
        cluster,
        ranges,
    }) = Grouped::sample(labels, x.nrows(), sample, seed)
    else {
        return Ok(None);
    };
    let (m, n_clusters) = (rows.len(), ranges.len());

    let td = tch_device(dev);
    let data = Centered::gather(x, &rows);
    let d = data.d;
    let xs = upload(&data.data, m, d, td)?;
    let xt = xs.f_tr()?;
    let norms = vector(&data.norms, td)?;
    let starts = vector(&ranges.iter().map(|r| r.0 as i64).collect::<Vec<_>>(), td)?;
    let ends = vector(&ranges.iter().map(|r| r.1 as i64).collect::<Vec<_>>(), td)?;
    let mut total = 0f64;
    // Products and distances (f32), the f64 copy, its running sum and the
    // padded running sum.
    for (s, e) in row_blocks(m, rows_per_block(32 * (m + 1), m)) {
        let len = (e - s) as i64;
        let dots = xs.f_narrow(0, s as i64, len)?.f_mm(&xt)?;
        let ni = norms.f_narrow(0, s as i64, len)?.f_unsqueeze(1)?;
        // (|x_i|² + |x_j|²) - 2 x_i·x_j, as the CPU's `distances_from_dots`.
        let dist = ni
            .f_add(&norms.f_unsqueeze(0)?)?
            .f_sub(&dots.f_mul_scalar(2.0)?)?
            .f_clamp_min(0.0)?
            .f_sqrt()?;
        drop(dots);
        let mut own = dist.f_narrow(1, s as i64, len)?;
        let _ = own.f_fill_diagonal_(0.0, false)?;
        let run = dist.f_to_kind(Kind::Double)?.f_cumsum(1, Kind::Double)?;
        drop(dist);
        let zero = Tensor::f_zeros([len, 1], (Kind::Double, td))?;
        let run = Tensor::f_cat(&[zero, run], 1)?;
        let sums = run
            .f_index_select(1, &ends)?
            .f_sub(&run.f_index_select(1, &starts)?)?;
        let sums: Vec<f64> = download(&sums)?;
        for (li, row) in sums.chunks_exact(n_clusters).enumerate() {
            total += row_silhouette(cluster[s + li] as usize, row.iter().copied(), &ranges);
        }
    }
    Ok(Some(total / m as f64))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::metrics::{knn, linalg, silhouette};
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::{Distribution, StandardNormal};

    /// The devices the comparison tests run on: libtorch's CPU always,
    /// and cuda:0 when libtorch sees one (`scripts/gpu-check.sh` runs these
    /// tests on a GPU box), each held to the CPU kernels.
    pub(crate) fn devices() -> Vec<Device> {
        let mut v = vec![Device::TorchCpu];
        if tch::Cuda::is_available() {
            v.push(Device::Cuda(0));
        }
        v
    }

    /// `n` rows around `c` centres (normal with standard deviation
    /// `spread` around centres drawn with 3): `spread` 0.5 separates them
    /// (stable clusters), 6 makes them overlap.
    pub(crate) fn blobs(
        n: usize,
        d: usize,
        c: usize,
        spread: f32,
        seed: u64,
    ) -> (Array2<f32>, Vec<i64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let centres: Vec<Vec<f32>> = (0..c)
            .map(|_| {
                (0..d)
                    .map(|_| {
                        let z: f32 = StandardNormal.sample(&mut rng);
                        3.0 * z
                    })
                    .collect()
            })
            .collect();
        let labels: Vec<i64> = (0..n).map(|_| rng.gen_range(0..c) as i64).collect();
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            let z: f32 = StandardNormal.sample(&mut rng);
            centres[labels[i] as usize][j] + spread * z
        });
        (x, labels)
    }

    #[test]
    fn gram_matches_the_cpu_gram_to_relative_1e_12() {
        // f64 products of f32 data: the only difference is the f64
        // summation order, far inside the 1e-6 that RankMe needs.
        let (x, _) = blobs(300, 17, 3, 0.5, 1);
        let want = linalg::gram_lower(x.view(), None);
        let scale = (0..17).map(|j| want[(j, j)]).fold(0f64, f64::max);
        for dev in devices() {
            let got = gram(dev, x.view()).expect("gram");
            for i in 0..17 {
                for j in 0..=i {
                    let (g, w) = (got[(i, j)], want[(i, j)]);
                    assert!(
                        (g - w).abs() <= 1e-12 * scale,
                        "{dev} ({i}, {j}): {g} vs {w}"
                    );
                    // The device fills both triangles.
                    assert_eq!(g, got[(j, i)]);
                }
            }
        }
    }

    #[test]
    fn gram_of_a_hand_computed_matrix() {
        // x = [[1, 2], [3, 4]]: x^T x = [[10, 14], [14, 20]].
        let x = ndarray::array![[1.0f32, 2.0], [3.0, 4.0]];
        let g = gram(Device::TorchCpu, x.view()).expect("gram");
        assert_eq!(
            (g[(0, 0)], g[(1, 0)], g[(0, 1)], g[(1, 1)]),
            (10.0, 14.0, 14.0, 20.0)
        );
    }

    #[test]
    fn knn_accuracy_equals_the_cpu_value() {
        // Overlapping blobs, so some rows are misclassified and the
        // accuracy is a real test (not 1).
        let (x, labels) = blobs(700, 24, 6, 6.0, 2);
        let want = knn::knn_accuracy(x.view(), &labels, 20).expect("cpu");
        assert!(
            want < 0.99 && want > 0.3,
            "a discriminating data set: {want}"
        );
        for dev in devices() {
            let got = knn_accuracy(dev, x.view(), &labels, 20, None)
                .expect("device")
                .expect("defined");
            assert_eq!(got, want, "{dev}");
        }
    }

    /// With a query list, the accuracy is the mean over those rows of
    /// "the vote of its k nearest among all other rows is its label",
    /// here with the neighbours found by brute force in f64.
    #[test]
    fn knn_accuracy_over_queries_is_the_mean_over_those_rows() {
        let (x, labels) = blobs(300, 12, 4, 4.0, 6);
        let k = 7;
        let classes = dense_classes(&labels);
        let unit = normalise_rows(x.view());
        let right = |i: usize| {
            let mut sims: Vec<(f64, usize)> = (0..300)
                .filter(|&j| j != i)
                .map(|j| {
                    let dot: f64 = unit
                        .row(i)
                        .iter()
                        .zip(unit.row(j).iter())
                        .map(|(&a, &b)| f64::from(a) * f64::from(b))
                        .sum();
                    (dot, j)
                })
                .collect();
            sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let nb: Vec<u32> = sims[..k].iter().map(|&(_, j)| j as u32).collect();
            vote(&nb, &classes) == classes[i]
        };
        let queries: Vec<usize> = (0..300).step_by(7).collect();
        let want = queries.iter().filter(|&&i| right(i)).count() as f64 / queries.len() as f64;
        assert!(want > 0.2 && want < 0.99, "a discriminating set: {want}");
        for dev in devices() {
            let got = knn_accuracy(dev, x.view(), &labels, k, Some(&queries))
                .expect("device")
                .expect("defined");
            assert_eq!(got, want, "{dev}");
        }
        // Every row as a query is the exact metric.
        let every: Vec<usize> = (0..300).collect();
        let exact = crate::metrics::knn::knn_accuracy(x.view(), &labels, k).expect("cpu");
        let got =
            knn_accuracy(Device::TorchCpu, x.view(), &labels, k, Some(&every)).expect("device");
        assert_eq!(got, Some(exact));
    }

    #[test]
    fn knn_accuracy_by_hand_and_when_undefined() {
        // Rows on two rays: cosine puts each row's nearest neighbour on its
        // ray. Rows 0 and 1 share a label; rows 2 and 3 do not, so each is
        // voted the other's label: 2 of 4 rows are right.
        let x = ndarray::array![[1.0f32, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 2.0]];
        let got = knn_accuracy(Device::TorchCpu, x.view(), &[0, 0, 1, 7], 1, None).expect("device");
        assert_eq!(got, Some(0.5));
        assert_eq!(
            knn_accuracy(Device::TorchCpu, x.view(), &[0, 0, 1], 1, None).expect("ok"),
            None
        );
        assert_eq!(
            knn_accuracy(Device::TorchCpu, x.view(), &[0, 0, 1, 1], 0, None).expect("ok"),
            None
        );
    }

    #[test]
    fn silhouette_matches_the_cpu_value_within_1e_5() {
        // f32 distances from another GEMM summation order differ in about
        // the 7th digit; sums of thousands of them and the ratio keep that.
        let (x, labels) = blobs(900, 32, 5, 2.0, 3);
        let ids: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
        for sample in [2_000, 500] {
            let want = silhouette::silhouette_score(x.view(), &ids, sample, 9).expect("cpu");
            assert!(
                want > 0.05 && want < 0.95,
                "a non-trivial silhouette: {want}"
            );
            for dev in devices() {
                let got = silhouette_score(dev, x.view(), &ids, sample, 9)
                    .expect("device")
                    .expect("defined");
                assert!(
                    (got - want).abs() < 1e-5,
                    "{dev} sample {sample}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn silhouette_by_hand_and_when_undefined() {
        // Two clusters on a line: {0, 1} and {10}. Row 0: a = 1, b = 10,
        // s = 0.9; row 1: a = 1, b = 9, s = 8/9; row 2 is alone: 0.
        let x = ndarray::array![[0.0f32], [1.0], [10.0]];
        let got = silhouette_score(Device::TorchCpu, x.view(), &[0, 0, 1], 10, 0)
            .expect("device")
            .expect("defined");
        let want = (0.9 + 8.0 / 9.0) / 3.0;
        assert!((got - want).abs() < 1e-7, "{got} vs {want}");
        // One cluster, or a label per row: undefined.
        let one = silhouette_score(Device::TorchCpu, x.view(), &[4, 4, 4], 10, 0).expect("ok");
        assert_eq!(one, None);
        let each = silhouette_score(Device::TorchCpu, x.view(), &[0, 1, 2], 10, 0).expect("ok");
        assert_eq!(each, None);
    }
}
