//! SGD with momentum and weight decay (PyTorch's update rule), with its
//! state kept by name so checkpoints restore it exactly, and the
//! warm-up + cosine learning-rate schedule.

use tch::{nn, Tensor};

/// One trainable weight and its momentum buffer.
#[derive(Debug)]
struct Param {
    name: String,
    value: Tensor,
    buf: Tensor,
    /// SimSiam's predictor keeps the base rate (paper, section 4.2).
    fixed_lr: bool,
}

/// SGD: `buf = momentum * buf + (grad + wd * w)`, `w -= lr * buf`.
#[derive(Debug)]
pub struct Sgd {
    params: Vec<Param>,
    momentum: f64,
    weight_decay: f64,
}

impl Sgd {
    /// Optimise every trainable variable of `vs`; those whose name starts
    /// with `fixed_lr_prefix` always use the base rate.
    pub fn new(
        vs: &nn::VarStore,
        momentum: f64,
        weight_decay: f64,
        fixed_lr_prefix: Option<&str>,
    ) -> Self {
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let params = vars
            .into_iter()
            .map(|(name, value)| Param {
                fixed_lr: fixed_lr_prefix.is_some_and(|p| name.starts_with(p)),
                buf: value.zeros_like().detach(),
                name,
                value,
            })
            .collect();
        Sgd {
            params,
            momentum,
            weight_decay,
        }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.value.zero_grad();
        }
    }

    /// One update with rate `lr` (and `base_lr` for fixed-rate weights).
    pub fn step(&mut self, lr: f64, base_lr: f64) {
        tch::no_grad(|| {
            for p in &mut self.params {
                let grad = p.value.grad();
                if !grad.defined() {
                    continue;
                }
                let d = grad + &p.value * self.weight_decay;
                let _ = p.buf.g_mul_scalar_(self.momentum);
                let _ = p.buf.g_add_(&d);
                let rate = if p.fixed_lr { base_lr } else { lr };
                let _ = p.value.g_sub_(&(&p.buf * rate));
            }
        });
    }

    /// Momentum buffers by weight name.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|p| (format!("opt/{}", p.name), p.buf.shallow_clone()))
            .collect()
    }

    /// Restore the buffers saved by [`Sgd::state`].
    pub fn load_state(
        &mut self,
        get: &mut dyn FnMut(&str) -> Option<Tensor>,
    ) -> Result<(), String> {
        tch::no_grad(|| {
            for p in &mut self.params {
                let saved = get(&format!("opt/{}", p.name))
                    .ok_or(format!("missing optimizer state of {}", p.name))?;
                p.buf
                    .f_copy_(&saved)
                    .map_err(|e| format!("optimizer state of {}: {e}", p.name))?;
            }
            Ok(())
        })
    }
}

/// The learning rate at `step` (0-based) of `total` steps: linear warm-up
/// over `warmup` steps (reaching `lr` at the end of the warm-up), then a
/// cosine decay from `lr` towards 0 at `total`.
pub fn lr_at(step: usize, total: usize, warmup: usize, lr: f64) -> f64 {
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let t = ((step - warmup) as f64 / span as f64).min(1.0);
    lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    #[test]
    fn schedule_by_hand() {
        // 4 warm-up steps of 10, base 1.0
        assert_eq!(lr_at(0, 10, 4, 1.0), 0.25);
        assert_eq!(lr_at(3, 10, 4, 1.0), 1.0);
        assert_eq!(lr_at(4, 10, 4, 1.0), 1.0); // cosine starts at the top
                                               // halfway through the 6 cosine steps: 0.5 * (1 + cos(pi/2)) = 0.5
        assert!((lr_at(7, 10, 4, 1.0) - 0.5).abs() < 1e-12);
        assert!(lr_at(9, 10, 0, 1.0) > 0.0);
    }

    #[test]
    fn two_sgd_steps_by_hand() {
        // w = 1, loss = 3w (grad 3), wd 0.1, momentum 0.9, lr 0.5
        // step 1: d = 3.1, buf = 3.1, w = 1 - 1.55 = -0.55
        // step 2: d = 3 - 0.055 = 2.945, buf = 2.79 + 2.945 = 5.735,
        //         w = -0.55 - 2.8675 = -3.4175
        let vs = nn::VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[1], nn::Init::Const(1.0));
        let mut opt = Sgd::new(&vs, 0.9, 0.1, None);
        for _ in 0..2 {
            opt.zero_grad();
            (&w * 3.0).sum(Kind::Float).backward();
            opt.step(0.5, 0.5);
        }
        assert!(
            (w.double_value(&[0]) + 3.4175).abs() < 1e-5,
            "{}",
            w.double_value(&[0])
        );
    }

    #[test]
    fn fixed_lr_prefix_uses_the_base_rate() {
        let vs = nn::VarStore::new(Device::Cpu);
        let a = vs
            .root()
            .sub("predictor")
            .var("w", &[1], nn::Init::Const(0.0));
        let b = vs
            .root()
            .sub("backbone")
            .var("w", &[1], nn::Init::Const(0.0));
        let mut opt = Sgd::new(&vs, 0.0, 0.0, Some("predictor"));
        opt.zero_grad();
        (&a + &b).sum(Kind::Float).backward();
        opt.step(0.1, 1.0);
        assert!((a.double_value(&[0]) + 1.0).abs() < 1e-6);
        assert!((b.double_value(&[0]) + 0.1).abs() < 1e-6);
    }
}
