"""``sslwatch.embed``: a model's embeddings of a fixed evaluation loader,
ready for ``Writer.milestone``. Imports torch only when called."""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

import numpy as np

__all__ = ["embed"]

LayerSpec = Union[str, Callable[[Any], Any]]


def _first(out: Any) -> Any:
    """A module's output, or the first element of a tuple/list output."""
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def embed(
    model: Any,
    loader: Any,
    layers: Optional[Mapping[str, LayerSpec]] = None,
    *,
    device: Any = None,
    max_batches: Optional[int] = None,
) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
    """Embed every batch of ``loader`` (fixed order, no augmentation) with
    ``model`` in eval mode under ``torch.no_grad()``, then put the model
    back in the mode it was in.

    ``layers`` maps a layer name to what produces it:

    * a submodule (or its dotted name, ``"backbone"``, ``"encoder.layer4"``):
      its output is captured with a forward hook during one ``model(x)`` per
      batch, so several layers cost one forward pass;
    * any other callable, called as ``fn(x)`` (``lambda x: model.backbone(x)``).

    Default: ``{"emb": model}`` (the model's output). Each output is
    flattened to (B, -1) and stored as float32 (bfloat16/float16 outputs
    included). A batch that is a tuple/list is ``(x, y, ...)``: ``y``
    becomes the returned labels; otherwise the batch is ``x`` and the
    labels are None.

    Returns ``(arrays, labels)``: ``arrays`` is ``{layer: (N, D) ndarray}``,
    so ``writer.milestone(step, **arrays)`` writes them.
    """
    import torch

    if layers is None:
        layers = {"emb": model}
    if not layers:
        raise ValueError("embed() needs at least one layer")
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")

    hooked: Dict[str, Any] = {}
    direct: Dict[str, Callable[[Any], Any]] = {}
    for name, spec in layers.items():
        if isinstance(spec, str):
            hooked[name] = model.get_submodule(spec)
        elif isinstance(spec, torch.nn.Module):
            hooked[name] = spec
        elif callable(spec):
            direct[name] = spec
        else:
            raise TypeError(f"layer {name!r}: expected a submodule, its name or a callable, got {spec!r}")

    captured: Dict[str, Any] = {}
    handles = []
    for name, module in hooked.items():
        if module is model:
            continue  # the model's own output is read from model(x)

        def hook(_m: Any, _inp: Any, out: Any, name: str = name) -> None:
            captured[name] = _first(out)

        handles.append(module.register_forward_hook(hook))

    chunks: Dict[str, list] = {name: [] for name in layers}
    labels: list = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i, batch in enumerate(loader):
                if max_batches is not None and i >= max_batches:
                    break
                if isinstance(batch, (tuple, list)):
                    x = batch[0]
                    if len(batch) > 1:
                        labels.append(np.asarray(batch[1].cpu() if hasattr(batch[1], "cpu") else batch[1]))
                else:
                    x = batch
                x = x.to(device)
                captured.clear()
                if hooked:
                    out = _first(model(x))
                    for name, module in hooked.items():
                        if module is model:
                            captured[name] = out
                for name, fn in direct.items():
                    captured[name] = _first(fn(x))
                for name in layers:
                    if name not in captured:
                        raise RuntimeError(f"layer {name!r}: the submodule did not run in model(x)")
                    t = captured[name]
                    chunks[name].append(t.detach().flatten(1).float().cpu().numpy())
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    if not any(chunks.values()):
        raise ValueError("the loader yielded no batches")
    arrays = {name: np.concatenate(parts, axis=0) for name, parts in chunks.items()}
    y = np.concatenate(labels, axis=0) if labels else None
    return arrays, y
