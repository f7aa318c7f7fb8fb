//! MoCo v2 (Chen et al. 2020): a momentum key encoder and a queue of past
//! keys as negatives, InfoNCE with temperature 0.2.
//!
//! Single device, so no shuffling BN across GPUs: the key encoder's batch
//! statistics come from the key batch alone, as in single-GPU MoCo
//! reproductions on CIFAR.

use crate::train::config::TrainConfig;
use crate::train::models::Network;
use crate::train::TrainError;
use tch::{nn, Device, Kind, Tensor};

/// InfoNCE of queries `q` `[B, D]` against their keys `k` `[B, D]` (the
/// positives) and the queue `[K, D]` (negatives); all L2-normalised here.
/// The logit of the positive is class 0.
pub fn moco_loss(q: &Tensor, k: &Tensor, queue: &Tensor, temperature: f64) -> Tensor {
    let q = normalize(q);
    let k = normalize(k).detach();
    let l_pos = (&q * &k).sum_dim_intlist(1, true, Kind::Float);
    let l_neg = q.matmul(&normalize(queue).detach().transpose(0, 1));
    let logits = Tensor::cat(&[l_pos, l_neg], 1) / temperature;
    let targets = Tensor::zeros([q.size()[0]], (Kind::Int64, q.device()));
    logits.cross_entropy_for_logits(&targets)
}

fn normalize(x: &Tensor) -> Tensor {
    x / x.norm_scalaropt_dim(2, &[1i64][..], true).clamp_min(1e-12)
}

/// MoCo's state: the key encoder (its own variable store, never trained by
/// gradients) and the queue.
#[derive(Debug)]
pub struct Moco {
    key_vs: nn::VarStore,
    key_net: Network,
    /// `[K, D]`, L2-normalised keys.
    pub queue: Tensor,
    /// Next row of the queue to overwrite.
    pub ptr: i64,
    momentum: f64,
    temperature: f64,
}

impl Moco {
    /// A key encoder initialised as a copy of the online network in `vs`,
    /// and a queue of random unit vectors.
    pub fn new(
        config: &TrainConfig,
        vs: &nn::VarStore,
        in_channels: i64,
        device: Device,
    ) -> Result<Self, TrainError> {
        let mut key_vs = nn::VarStore::new(device);
        let key_net = Network::new(&key_vs.root(), config, in_channels);
        key_vs.copy(vs)?;
        key_vs.freeze();
        let queue = normalize(&Tensor::randn(
            [config.queue_size as i64, config.proj_dim],
            (Kind::Float, device),
        ));
        Ok(Moco {
            key_vs,
            key_net,
            queue,
            ptr: 0,
            momentum: config.moco_momentum,
            temperature: config.temperature,
        })
    }

    /// One step: momentum-update the key encoder, compute the keys of `v2`
    /// and the loss of the queries of `v1`, then enqueue the keys.
    pub fn step_loss(
        &mut self,
        net: &Network,
        vs: &nn::VarStore,
        v1: &Tensor,
        v2: &Tensor,
    ) -> Tensor {
        self.momentum_update(vs);
        let q = net.forward(v1, true).z;
        let k = tch::no_grad(|| normalize(&self.key_net.forward(v2, true).z));
        let loss = moco_loss(&q, &k, &self.queue, self.temperature);
        self.enqueue(&k);
        loss
    }

    /// key = m * key + (1 - m) * query, for every trainable weight.
    fn momentum_update(&mut self, vs: &nn::VarStore) {
        let online = vs.variables();
        let m = self.momentum;
        tch::no_grad(|| {
            for (name, mut key) in self.key_vs.variables() {
                if let Some(q) = online.get(&name) {
                    if q.requires_grad() {
                        key.copy_(&(&key * m + q * (1.0 - m)));
                    }
                }
            }
        });
    }

    /// Overwrite the oldest rows of the queue with `k` (wrapping around).
    pub fn enqueue(&mut self, k: &Tensor) {
        let kq = self.queue.size()[0];
        let b = k.size()[0];
        let idx = (Tensor::arange(b, (Kind::Int64, k.device())) + self.ptr).remainder(kq);
        tch::no_grad(|| {
            let _ = self
                .queue
                .index_copy_(0, &idx, &k.detach().to_kind(Kind::Float));
        });
        self.ptr = (self.ptr + b) % kq;
    }

    /// The key encoder's variables, the queue and its pointer.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .key_vs
            .variables()
            .into_iter()
            .map(|(n, t)| (format!("key/{n}"), t))
            .collect();
        out.push(("moco/queue".into(), self.queue.shallow_clone()));
        out.push(("moco/ptr".into(), Tensor::from(self.ptr)));
        out
    }

    /// Restore what [`Moco::state`] saved.
    pub fn load_state(
        &mut self,
        get: &mut dyn FnMut(&str) -> Option<Tensor>,
    ) -> Result<(), String> {
        tch::no_grad(|| -> Result<(), String> {
            for (name, mut key) in self.key_vs.variables() {
                let saved = get(&format!("key/{name}"))
                    .ok_or(format!("missing key encoder weight {name}"))?;
                key.f_copy_(&saved)
                    .map_err(|e| format!("key encoder weight {name}: {e}"))?;
            }
            let queue = get("moco/queue").ok_or("missing MoCo queue")?;
            if queue.size() != self.queue.size() {
                return Err(format!(
                    "MoCo queue is {:?}, the settings make {:?}",
                    queue.size(),
                    self.queue.size()
                ));
            }
            self.queue.copy_(&queue);
            self.ptr = get("moco/ptr")
                .ok_or("missing MoCo queue pointer")?
                .int64_value(&[]);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::{Arch, DatasetKind, Method};

    #[test]
    fn enqueue_wraps_around() {
        let _rng = crate::train::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let mut cfg = TrainConfig::new(Method::Moco, DatasetKind::Digits, Arch::Small);
        cfg.queue_size = 5;
        cfg.proj_dim = 2;
        let _net = Network::new(&vs.root(), &cfg, 1);
        let mut m = Moco::new(&cfg, &vs, 1, Device::Cpu).unwrap();
        let k = |v: f32| Tensor::from_slice(&[v, 0.0, v, 0.0, v, 0.0]).reshape([3, 2]);
        m.enqueue(&k(1.0));
        m.enqueue(&k(2.0));
        assert_eq!(m.ptr, 1);
        let col: Vec<f32> = Vec::try_from(m.queue.select(1, 0)).unwrap();
        assert_eq!(col, vec![2.0, 1.0, 1.0, 2.0, 2.0]);
    }

    #[test]
    fn key_encoder_starts_equal_and_follows_with_momentum() {
        let _rng = crate::train::rng_lock();
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut cfg = TrainConfig::new(Method::Moco, DatasetKind::Digits, Arch::Small);
        cfg.moco_momentum = 0.9;
        let _net = Network::new(&vs.root(), &cfg, 1);
        let mut m = Moco::new(&cfg, &vs, 1, Device::Cpu).unwrap();
        let name = "projector.fc0.weight";
        let q = vs.variables()[name].shallow_clone();
        let k0 = m.key_vs.variables()[name].copy();
        assert!(k0.equal(&q));
        tch::no_grad(|| {
            let _ = q.shallow_clone().fill_(1.0);
        });
        m.momentum_update(&vs);
        let k1 = m.key_vs.variables()[name].copy();
        assert!(k1.allclose(&(&k0 * 0.9 + 0.1), 1e-6, 1e-6, false));
    }
}
