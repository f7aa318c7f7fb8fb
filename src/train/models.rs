//! Backbones and heads.
//!
//! - `resnet18`: ResNet-18, CIFAR variant (He et al. 2016, as used by the
//!   SimCLR / SimSiam CIFAR experiments): 3x3 stride-1 stem, no max-pool,
//!   four stages of two basic blocks with 64-128-256-512 channels, global
//!   average pool; 512-d output.
//! - `small`: four 3x3 conv + BN + ReLU layers (32-64-128-256 channels, the
//!   last three with stride 2) and a global average pool; 256-d output.
//!   About 40 times cheaper than the ResNet, for CPUs.
//!
//! Heads follow the papers: SimCLR's projector is Linear-BN-ReLU-Linear to
//! 128; MoCo v2's is Linear-ReLU-Linear to 128; SimSiam's projector has three
//! layers with BN (the last BN without affine parameters) and its predictor
//! is a 2-layer bottleneck MLP.

use super::config::{Arch, Method, TrainConfig};
use tch::nn::{self, ModuleT};
use tch::Tensor;

fn bn_config(affine: bool) -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        affine,
        ws_init: nn::Init::Const(1.0),
        ..Default::default()
    }
}

fn conv3x3(p: nn::Path, cin: i64, cout: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        stride,
        padding: 1,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(p, cin, cout, 3, cfg)
}

/// A residual basic block (two 3x3 convs, projection shortcut on a change
/// of shape).
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    shortcut: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(p: nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let shortcut = (stride != 1 || cin != cout).then(|| {
            let cfg = nn::ConvConfig {
                stride,
                bias: false,
                ..Default::default()
            };
            (
                nn::conv2d(&p / "shortcut_conv", cin, cout, 1, cfg),
                nn::batch_norm2d(&p / "shortcut_bn", cout, bn_config(true)),
            )
        });
        BasicBlock {
            conv1: conv3x3(&p / "conv1", cin, cout, stride),
            bn1: nn::batch_norm2d(&p / "bn1", cout, bn_config(true)),
            conv2: conv3x3(&p / "conv2", cout, cout, 1),
            bn2: nn::batch_norm2d(&p / "bn2", cout, bn_config(true)),
            shortcut,
        }
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let out = x
            .apply(&self.conv1)
            .apply_t(&self.bn1, train)
            .relu()
            .apply(&self.conv2)
            .apply_t(&self.bn2, train);
        let short = match &self.shortcut {
            Some((conv, bn)) => x.apply(conv).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (out + short).relu()
    }
}

/// A backbone: images `[B, C, H, W]` to features `[B, out_dim]`.
#[derive(Debug)]
pub struct Backbone {
    stem: Vec<(nn::Conv2D, nn::BatchNorm)>,
    blocks: Vec<BasicBlock>,
    out_dim: i64,
}

impl Backbone {
    pub fn new(p: &nn::Path, arch: Arch, in_channels: i64) -> Self {
        match arch {
            Arch::Small => {
                let widths = [32, 64, 128, 256];
                let mut stem = Vec::new();
                let mut cin = in_channels;
                for (i, &w) in widths.iter().enumerate() {
                    let stride = if i == 0 { 1 } else { 2 };
                    stem.push((
                        conv3x3(p / format!("conv{i}"), cin, w, stride),
                        nn::batch_norm2d(p / format!("bn{i}"), w, bn_config(true)),
                    ));
                    cin = w;
                }
                Backbone {
                    stem,
                    blocks: Vec::new(),
                    out_dim: 256,
                }
            }
            Arch::Resnet18 => {
                let stem = vec![(
                    conv3x3(p / "stem_conv", in_channels, 64, 1),
                    nn::batch_norm2d(p / "stem_bn", 64, bn_config(true)),
                )];
                let mut blocks = Vec::new();
                let mut cin = 64;
                for (stage, &w) in [64i64, 128, 256, 512].iter().enumerate() {
                    for j in 0..2 {
                        let stride = if stage > 0 && j == 0 { 2 } else { 1 };
                        let name = format!("layer{}_{}", stage + 1, j);
                        blocks.push(BasicBlock::new(p / name, cin, w, stride));
                        cin = w;
                    }
                }
                Backbone {
                    stem,
                    blocks,
                    out_dim: 512,
                }
            }
        }
    }

    pub fn out_dim(&self) -> i64 {
        self.out_dim
    }
}

impl ModuleT for Backbone {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for (conv, bn) in &self.stem {
            x = x.apply(conv).apply_t(bn, train).relu();
        }
        for block in &self.blocks {
            x = block.forward_t(&x, train);
        }
        x.adaptive_avg_pool2d([1, 1]).flatten(1, -1)
    }
}

/// One layer of an MLP head.
#[derive(Debug)]
struct Layer {
    linear: nn::Linear,
    bn: Option<nn::BatchNorm>,
    relu: bool,
}

/// An MLP head (projector or predictor).
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<Layer>,
}

/// How one layer of an [`Mlp`] is built: output width, batch norm (with
/// affine parameters or not), ReLU.
#[derive(Debug, Clone, Copy)]
pub struct LayerSpec {
    pub out: i64,
    pub bn: Option<bool>,
    pub relu: bool,
}

impl Mlp {
    pub fn new(p: &nn::Path, input: i64, specs: &[LayerSpec]) -> Self {
        let mut layers = Vec::new();
        let mut cin = input;
        for (i, s) in specs.iter().enumerate() {
            let cfg = nn::LinearConfig {
                // a bias before BN is redundant
                bias: s.bn.is_none(),
                ..Default::default()
            };
            layers.push(Layer {
                linear: nn::linear(p / format!("fc{i}"), cin, s.out, cfg),
                bn: s
                    .bn
                    .map(|affine| nn::batch_norm1d(p / format!("bn{i}"), s.out, bn_config(affine))),
                relu: s.relu,
            });
            cin = s.out;
        }
        Mlp { layers }
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for l in &self.layers {
            x = x.apply(&l.linear);
            if let Some(bn) = &l.bn {
                x = x.apply_t(bn, train);
            }
            if l.relu {
                x = x.relu();
            }
        }
        x
    }
}

/// What the network computes for a batch: backbone features `h`, projector
/// output `z` and, for SimSiam, predictor output `p`.
#[derive(Debug)]
pub struct Outputs {
    pub h: Tensor,
    pub z: Tensor,
    pub p: Option<Tensor>,
}

/// Backbone + projector (+ predictor), the encoder of all three methods.
#[derive(Debug)]
pub struct Network {
    pub backbone: Backbone,
    pub projector: Mlp,
    pub predictor: Option<Mlp>,
}

/// The variable-store prefix of the predictor (SimSiam keeps its learning
/// rate fixed).
pub const PREDICTOR: &str = "predictor";

impl Network {
    pub fn new(p: &nn::Path, config: &TrainConfig, in_channels: i64) -> Self {
        let backbone = Backbone::new(&(p / "backbone"), config.arch, in_channels);
        let d = backbone.out_dim();
        let hidden = if config.proj_hidden > 0 {
            config.proj_hidden
        } else {
            d
        };
        let out = config.proj_dim;
        let spec = |out, bn, relu| LayerSpec { out, bn, relu };
        let proj_specs: Vec<LayerSpec> = match config.method {
            Method::Simclr => vec![spec(hidden, Some(true), true), spec(out, None, false)],
            Method::Moco => vec![spec(hidden, None, true), spec(out, None, false)],
            Method::Simsiam => vec![
                spec(hidden, Some(true), true),
                spec(hidden, Some(true), true),
                spec(out, Some(false), false),
            ],
        };
        let projector = Mlp::new(&(p / "projector"), d, &proj_specs);
        let predictor = (config.method == Method::Simsiam).then(|| {
            Mlp::new(
                &(p / PREDICTOR),
                out,
                &[
                    spec(config.pred_hidden, Some(true), true),
                    spec(out, None, false),
                ],
            )
        });
        Network {
            backbone,
            projector,
            predictor,
        }
    }

    /// Run the whole network on normalised images.
    pub fn forward(&self, x: &Tensor, train: bool) -> Outputs {
        let h = self.backbone.forward_t(x, train);
        let z = self.projector.forward_t(&h, train);
        let p = self.predictor.as_ref().map(|m| m.forward_t(&z, train));
        Outputs { h, z, p }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::DatasetKind;
    use tch::{Device, Kind};

    fn outputs(method: Method, arch: Arch, c: i64, side: i64) -> Outputs {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut cfg = TrainConfig::new(method, DatasetKind::Digits, arch);
        cfg.proj_dim = 16;
        cfg.proj_hidden = if method == Method::Simsiam { 32 } else { 0 };
        cfg.pred_hidden = 8;
        let net = Network::new(&vs.root(), &cfg, c);
        let x = Tensor::rand([4, c, side, side], (Kind::Float, Device::Cpu));
        net.forward(&x, true)
    }

    #[test]
    fn small_net_shapes() {
        let _rng = crate::train::rng_lock();
        let o = outputs(Method::Simclr, Arch::Small, 1, 16);
        assert_eq!(o.h.size(), vec![4, 256]);
        assert_eq!(o.z.size(), vec![4, 16]);
        assert!(o.p.is_none());
    }

    #[test]
    fn resnet18_shapes_and_size() {
        let _rng = crate::train::rng_lock();
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = TrainConfig::new(Method::Simclr, DatasetKind::Shapes, Arch::Resnet18);
        let _ = Backbone::new(&vs.root(), cfg.arch, 3);
        // CIFAR ResNet-18 backbone: 11,168,832 weights (+ BN buffers)
        let params: i64 = vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum();
        assert_eq!(params, 11_168_832);
        let o = outputs(Method::Simsiam, Arch::Resnet18, 3, 8);
        assert_eq!(o.h.size(), vec![4, 512]);
        assert_eq!(o.z.size(), vec![4, 16]);
        assert_eq!(o.p.map(|p| p.size()), Some(vec![4, 16]));
    }
}
