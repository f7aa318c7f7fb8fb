//! SimCLR's NT-Xent loss (Chen et al. 2020, eq. 1).

use tch::{Kind, Tensor};

/// Normalised-temperature cross entropy of two views `[B, D]`: each of the
/// 2B embeddings must pick its other view among the 2B - 1 others by cosine
/// similarity / `temperature`; the mean over all 2B anchors.
pub fn nt_xent(z1: &Tensor, z2: &Tensor, temperature: f64) -> Tensor {
    let b = z1.size()[0];
    let z = Tensor::cat(&[z1, z2], 0);
    let z = &z / z.norm_scalaropt_dim(2, &[1i64][..], true).clamp_min(1e-12);
    let sim = z.matmul(&z.transpose(0, 1)) / temperature;
    // an embedding is not its own candidate
    let eye = Tensor::eye(2 * b, (Kind::Bool, z.device()));
    let sim = sim.masked_fill(&eye, f64::NEG_INFINITY);
    // anchor i's positive is i + B (and i + B's is i)
    let idx = Tensor::arange(b, (Kind::Int64, z.device()));
    let targets = Tensor::cat(&[&idx + b, idx], 0);
    sim.cross_entropy_for_logits(&targets)
}
