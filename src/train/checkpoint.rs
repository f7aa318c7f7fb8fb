//! `checkpoints/last.ot`: the network, the optimizer's momentum buffers,
//! the method's state (MoCo's key encoder and queue) and where the loop
//! stands, as named tensors in libtorch's `.ot` format. Written to a
//! temporary name and renamed, so a crash never leaves half a checkpoint.

use super::methods::Objective;
use super::optim::Sgd;
use super::TrainError;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn, Kind, Tensor};

/// Where the training loop stands.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LoopState {
    /// Completed epochs.
    pub epoch: u32,
    /// Batches done in the current epoch.
    pub batch: usize,
    /// Optimizer steps done in total.
    pub step: usize,
    /// Sum of the losses of the current epoch's batches so far.
    pub loss_sum: f64,
    /// Seconds of training in the current epoch so far.
    pub train_secs: f64,
}

pub fn path(run: &Path) -> PathBuf {
    run.join("checkpoints").join("last.ot")
}

/// Save everything needed to continue exactly.
pub fn save(
    run: &Path,
    vs: &nn::VarStore,
    opt: &Sgd,
    obj: &Objective,
    st: &LoopState,
) -> Result<(), TrainError> {
    let target = path(run);
    let dir = run.join("checkpoints");
    std::fs::create_dir_all(&dir).map_err(|e| TrainError::io(&dir, e))?;
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (format!("net/{n}"), t))
        .collect();
    named.extend(opt.state());
    named.extend(obj.state());
    named.push(("state/epoch".into(), Tensor::from(i64::from(st.epoch))));
    named.push(("state/batch".into(), Tensor::from(st.batch as i64)));
    named.push(("state/step".into(), Tensor::from(st.step as i64)));
    named.push(("state/loss_sum".into(), Tensor::from(st.loss_sum)));
    named.push(("state/train_secs".into(), Tensor::from(st.train_secs)));
    // the .ot format stores CPU tensors most portably
    let named: Vec<(String, Tensor)> = named
        .into_iter()
        .map(|(n, t)| (n, t.to_device(tch::Device::Cpu)))
        .collect();
    let tmp = dir.join(".last.ot.tmp");
    Tensor::save_multi(&named, &tmp)?;
    std::fs::rename(&tmp, &target).map_err(|e| TrainError::io(&target, e))
}

/// Load a checkpoint into the network, optimizer and method; returns where
/// the loop stood.
pub fn load(
    run: &Path,
    vs: &nn::VarStore,
    opt: &mut Sgd,
    obj: &mut Objective,
) -> Result<LoopState, TrainError> {
    let file = path(run);
    if !file.is_file() {
        return Err(TrainError::resume(
            &file,
            "no checkpoint to resume from (a run writes one at its first milestone)",
        ));
    }
    let loaded = Tensor::load_multi(&file)
        .map_err(|e| TrainError::resume(&file, format!("cannot read the checkpoint: {e}")))?;
    // save_multi stores '.' as '|'
    let mut map: HashMap<String, Tensor> = loaded
        .into_iter()
        .map(|(n, t)| (n.replace('|', "."), t))
        .collect();
    let device = vs.device();
    let mut get = |name: &str| map.remove(name).map(|t| t.to_device(device));
    let bad = |problem: String| TrainError::resume(&file, problem);
    tch::no_grad(|| -> Result<(), TrainError> {
        for (name, mut var) in vs.variables() {
            let saved = get(&format!("net/{name}")).ok_or_else(|| {
                bad(format!(
                    "missing weight {name}: was it written with other settings?"
                ))
            })?;
            var.f_copy_(&saved)
                .map_err(|e| bad(format!("weight {name}: {e}")))?;
        }
        Ok(())
    })?;
    opt.load_state(&mut get).map_err(bad)?;
    obj.load_state(&mut get).map_err(bad)?;
    let mut scalar = |name: &str| {
        get(name)
            .map(|t| t.to_kind(Kind::Double).double_value(&[]))
            .ok_or_else(|| bad(format!("missing {name}")))
    };
    Ok(LoopState {
        epoch: scalar("state/epoch")? as u32,
        batch: scalar("state/batch")? as usize,
        step: scalar("state/step")? as usize,
        loss_sum: scalar("state/loss_sum")?,
        train_secs: scalar("state/train_secs")?,
    })
}
