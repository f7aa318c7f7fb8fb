"""``sslwatch.embed`` and the Lightning callback with real torch. Skipped
where torch / Lightning are not installed (CI installs neither: the wheel
needs only numpy); run them in an environment that has them."""

import json
import os

import numpy as np
import pytest

import sslwatch

torch = pytest.importorskip("torch")
nn = torch.nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.backbone(x))


def loader(n=50, batch=16):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=g)
    y = torch.arange(n) % 5
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch)


def test_embed_captures_submodules_in_one_pass_and_restores_train_mode():
    net = Net()
    net.train()
    calls = []
    net.register_forward_hook(lambda *a: calls.append(1))
    arrays, y = sslwatch.embed(net, loader(), layers={"h": "backbone", "z": net.head, "out": net})
    assert net.training, "the model is put back in train mode"
    assert len(calls) == 4, "one forward pass per batch (50 rows, batches of 16)"
    assert {k: v.shape for k, v in arrays.items()} == {"h": (50, 8), "z": (50, 3), "out": (50, 3)}
    assert all(v.dtype == np.float32 for v in arrays.values())
    np.testing.assert_array_equal(y, np.arange(50) % 5)
    net.eval()
    with torch.no_grad():
        x = torch.cat([b[0] for b in loader()])
        np.testing.assert_allclose(arrays["h"], net.backbone(x).numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(arrays["z"], net(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(arrays["z"], arrays["out"])


def test_embed_with_a_callable_and_bfloat16_outputs():
    net = Net().to(torch.bfloat16)
    data = [(torch.randn(10, 6, dtype=torch.bfloat16), torch.zeros(10)) for _ in range(2)]
    arrays, y = sslwatch.embed(net, data, layers={"h": lambda x: net.backbone(x)})
    assert arrays["h"].shape == (20, 8) and arrays["h"].dtype == np.float32
    assert y.shape == (20,)


def test_writer_takes_tensors_directly(tmp_path):
    h = torch.randn(30, 4, requires_grad=True) * 2  # a non-leaf tensor with grad
    w = sslwatch.Writer(tmp_path / "run", labels=torch.arange(30) % 3, rank=0)
    info = w.milestone(torch.tensor(7), h=h, z=h.to(torch.bfloat16))
    np.testing.assert_array_equal(np.load(info["files"]["h"]), h.detach().numpy())
    assert np.load(info["files"]["z"]).dtype == np.float32
    w.scalars(7, loss=torch.tensor(1.5))
    assert json.loads((tmp_path / "run" / "scalars.jsonl").read_text()) == {"step": 7, "loss": 1.5}


def test_lightning_callback_writes_milestones_on_schedule(tmp_path):
    lightning_pkg = pytest.importorskip("sslwatch.lightning", reason="Lightning is not installed")
    pl = lightning_pkg._pl

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = Net()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _):
            x, _ = batch
            loss = self.net(x).pow(2).mean()
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    run = tmp_path / "runs" / "toy"
    cb = lightning_pkg.MilestoneCallback(
        run, loader(), every_n_epochs=2, layers={"h": "net.backbone"}, meta={"method": "toy"}
    )
    trainer = pl.Trainer(
        max_epochs=5,
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(Module(), loader())
    assert sorted(os.listdir(run / "milestones")) == ["epoch_0000", "epoch_0002", "epoch_0004", "epoch_0005"]
    assert np.load(run / "milestones" / "epoch_0005" / "h.npy").shape == (50, 8)
    np.testing.assert_array_equal(np.load(run / "labels.npy"), np.arange(50) % 5)
    assert json.loads((run / "run.json").read_text()) == {"method": "toy"}
    scalars = [json.loads(s) for s in (run / "scalars.jsonl").read_text().splitlines()]
    assert [s["step"] for s in scalars] == [2, 4, 5]
    assert all("train_loss" in s for s in scalars)
