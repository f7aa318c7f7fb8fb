//! The three self-supervised objectives. The losses are pure functions of
//! tensors (tested against hand-computed values); [`Objective`] adds the
//! state a method carries between steps (MoCo's key encoder and queue).

pub mod moco;
pub mod simclr;
pub mod simsiam;

use super::config::{Method, TrainConfig};
use super::models::Network;
use super::TrainError;
use tch::{nn, Device, Tensor};

pub use moco::{moco_loss, Moco};
pub use simclr::nt_xent;
pub use simsiam::simsiam_loss;

/// A method and its state.
#[derive(Debug)]
pub enum Objective {
    Simclr { temperature: f64 },
    Moco(Box<Moco>),
    Simsiam,
}

impl Objective {
    /// Set up `config.method` for the online network `net` stored in `vs`.
    pub fn new(
        config: &TrainConfig,
        vs: &nn::VarStore,
        in_channels: i64,
        device: Device,
    ) -> Result<Self, TrainError> {
        Ok(match config.method {
            Method::Simclr => Objective::Simclr {
                temperature: config.temperature,
            },
            Method::Moco => Objective::Moco(Box::new(Moco::new(config, vs, in_channels, device)?)),
            Method::Simsiam => Objective::Simsiam,
        })
    }

    /// The loss of one batch of two views (normalised images); for MoCo
    /// this also updates the key encoder and, after the loss, the queue.
    pub fn loss(&mut self, net: &Network, vs: &nn::VarStore, v1: &Tensor, v2: &Tensor) -> Tensor {
        match self {
            Objective::Simclr { temperature } => {
                let z1 = net.forward(v1, true).z;
                let z2 = net.forward(v2, true).z;
                nt_xent(&z1, &z2, *temperature)
            }
            Objective::Moco(m) => m.step_loss(net, vs, v1, v2),
            Objective::Simsiam => {
                let o1 = net.forward(v1, true);
                let o2 = net.forward(v2, true);
                // the network of SimSiam always has a predictor
                match (o1.p, o2.p) {
                    (Some(p1), Some(p2)) => simsiam_loss(&p1, &p2, &o1.z, &o2.z),
                    _ => unreachable!("SimSiam network without predictor"),
                }
            }
        }
    }

    /// Named state tensors to checkpoint (beyond the online network).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        match self {
            Objective::Moco(m) => m.state(),
            _ => Vec::new(),
        }
    }

    /// Restore what [`Objective::state`] saved.
    pub fn load_state(
        &mut self,
        get: &mut dyn FnMut(&str) -> Option<Tensor>,
    ) -> Result<(), String> {
        match self {
            Objective::Moco(m) => m.load_state(get),
            _ => Ok(()),
        }
    }
}
