//! SimSiam's symmetric negative cosine loss with stop-gradient (Chen & He
//! 2021, eq. 3-4).

use tch::Tensor;

/// `-(cos(p1, sg(z2)) + cos(p2, sg(z1))) / 2`, averaged over the batch; no
/// gradient flows into `z1` or `z2`.
pub fn simsiam_loss(p1: &Tensor, p2: &Tensor, z1: &Tensor, z2: &Tensor) -> Tensor {
    let d = |p: &Tensor, z: &Tensor| {
        -Tensor::cosine_similarity(p, &z.detach(), 1, 1e-8).mean(tch::Kind::Float)
    };
    (d(p1, z2) + d(p2, z1)) * 0.5
}
