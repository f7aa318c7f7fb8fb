"""A PyTorch Lightning callback that writes sslwatch milestones.

Importing this module imports Lightning (``import sslwatch`` does not)::

    from sslwatch.lightning import MilestoneCallback
    cb = MilestoneCallback("runs/digits/simclr-s0", eval_loader,
                           layers={"h": "backbone"}, every_n_epochs=5,
                           meta={"method": "simclr"})
    trainer = lightning.Trainer(max_epochs=100, callbacks=[cb])

It uses the Lightning package your code already imported (``lightning`` or
the older ``pytorch_lightning``: a Trainer accepts only its own package's
callbacks), else whichever is installed.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Mapping, Optional, Union

from ._embed import LayerSpec, embed
from ._writer import Writer


def _lightning() -> Any:
    if "pytorch_lightning" in sys.modules and "lightning" not in sys.modules:
        return sys.modules["pytorch_lightning"]
    try:
        import lightning.pytorch as pl

        return pl
    except ImportError:
        pass
    try:
        import pytorch_lightning as pl

        return pl
    except ImportError:
        raise ImportError("sslwatch.lightning needs PyTorch Lightning: pip install lightning") from None


_pl = _lightning()

__all__ = ["MilestoneCallback"]


class MilestoneCallback(_pl.Callback):  # type: ignore[misc, name-defined]
    """Embed ``loader`` with the LightningModule and write a milestone
    before training (step 0, with ``at_start``), after every
    ``every_n_epochs``-th epoch (step = epochs done) and after the last one.

    ``run``: a run directory or a :class:`sslwatch.Writer`. ``layers``: as
    for :func:`sslwatch.embed` (default: the module's output as ``emb``);
    labels come from the loader's ``(x, y)`` batches and are written once.
    With ``log_metrics``, the trainer's ``callback_metrics`` that are
    finite scalars (``train_loss``, ...) go to ``scalars.jsonl`` at each
    milestone. Only the global-zero process embeds and writes.
    """

    def __init__(
        self,
        run: Union[str, Writer, Any],
        loader: Any,
        *,
        every_n_epochs: int = 1,
        layers: Optional[Mapping[str, LayerSpec]] = None,
        meta: Optional[Mapping[str, Any]] = None,
        half: bool = False,
        at_start: bool = True,
        log_metrics: bool = True,
    ) -> None:
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.run = run
        self.loader = loader
        self.every_n_epochs = int(every_n_epochs)
        self.layers = layers
        self.meta = meta
        self.half = half
        self.at_start = at_start
        self.log_metrics = log_metrics
        self.writer: Optional[Writer] = run if isinstance(run, Writer) else None
        self._labels_written = False
        self._last_step: Optional[int] = None

    def _writer(self) -> Writer:
        if self.writer is None:
            # The trainer decides who is rank zero; the environment may not say.
            self.writer = Writer(self.run, meta=self.meta, half=self.half, rank=0)
        return self.writer

    def _milestone(self, trainer: Any, pl_module: Any, step: int) -> None:
        if not trainer.is_global_zero or step == self._last_step:
            return
        arrays, labels = embed(pl_module, self.loader, self.layers, device=pl_module.device)
        w = self._writer()
        if labels is not None and not self._labels_written:
            w.set_labels(labels)
            self._labels_written = True
        w.milestone(step, **arrays)
        self._last_step = step
        if self.log_metrics:
            values = {}
            for key, value in trainer.callback_metrics.items():
                try:
                    v = float(value)
                except (TypeError, ValueError, RuntimeError):
                    continue
                if math.isfinite(v):
                    values[key] = v
            if values:
                w.scalars(step, values)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        if self.at_start and trainer.current_epoch == 0:
            self._milestone(trainer, pl_module, 0)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        done = trainer.current_epoch + 1
        last = trainer.max_epochs is not None and done >= trainer.max_epochs
        if done % self.every_n_epochs == 0 or last:
            self._milestone(trainer, pl_module, done)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.writer is not None:
            self.writer.close()
