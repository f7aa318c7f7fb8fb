"""The milestone writer: a training loop's side of sslwatch's run layout.

::

    ROOT/<run>/run.json                       written once (metadata)
    ROOT/<run>/labels.npy                     written once (int64, shape (N,))
    ROOT/<run>/scalars.jsonl                  one JSON object per line, with "step"
    ROOT/<run>/milestones/<step>/<layer>.npy  one (N, D) float array per layer

Every ``.npy`` (and ``run.json``) is written to a hidden temporary name in
its final directory (``.h.npy.<pid>.<token>.tmp``: sslwatch ignores names
starting with ``.``), fsynced, renamed over the final name with
``os.replace`` and the directory fsynced, so a reader never sees a partial
file under a final name, and a crash leaves either the old file or the new.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Union

import numpy as np

__all__ = ["Writer", "SslwatchWarning", "rank_from_env"]

# Indirections the tests patch to pause a write between "data written" and
# "renamed" (see tests/python/test_writer.py).
_fsync = os.fsync
_replace = os.replace

_LAYER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")
_IGNORED_SUFFIXES = (".tmp", ".part", ".partial")


class SslwatchWarning(UserWarning):
    """Something sslwatch will see and report (NaN rows, float16 overflow,
    a non-finite scalar written as null, run.json left as it was)."""


def rank_from_env(environ: Optional[Mapping[str, str]] = None) -> int:
    """This process's rank as launchers say it: ``RANK`` (torchrun, Lightning,
    accelerate: the global rank), else ``LOCAL_RANK``, else 0."""
    env = os.environ if environ is None else environ
    for key in ("RANK", "LOCAL_RANK"):
        raw = env.get(key)
        if raw is None or raw.strip() == "":
            continue
        try:
            return int(raw.strip())
        except ValueError:
            raise ValueError(f"{key}={raw!r} is not an integer rank") from None
    return 0


def to_numpy(x: Any) -> np.ndarray:
    """An array from a numpy array, a torch tensor (``.detach().cpu().numpy()``,
    without importing torch; bfloat16 goes through ``.float()``), or anything
    ``np.asarray`` takes."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):
        x = x.detach()
    if hasattr(x, "cpu"):
        x = x.cpu()
    if hasattr(x, "numpy") and callable(x.numpy):
        try:
            return np.asarray(x.numpy())
        except TypeError:
            # torch refuses .numpy() for bfloat16 (numpy has no such dtype).
            if hasattr(x, "float"):
                return np.asarray(x.float().numpy())
            raise
    return np.asarray(x)


def _scalar(x: Any) -> Any:
    """A JSON-ready scalar from a Python number, a numpy scalar or a 0-d
    tensor (``.item()``); other values as they are."""
    if hasattr(x, "detach"):
        x = x.detach()
    if hasattr(x, "item") and callable(x.item):
        try:
            x = x.item()
        except (ValueError, RuntimeError) as e:
            raise ValueError(f"expected a scalar: {e}") from None
    return x


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item") and callable(o.item) and getattr(o, "ndim", None) == 0:
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _step_number(step: Any) -> int:
    step = _scalar(step)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer, float)):
        raise TypeError(f"step must be a whole number, got {step!r}")
    if isinstance(step, float):
        if not step.is_integer():
            raise ValueError(f"step must be a whole number, got {step!r}")
        step = int(step)
    step = int(step)
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    return step


def _last_digits(name: str) -> Optional[int]:
    """sslwatch's step rule: the last run of digits in the name."""
    m = re.search(r"(\d+)\D*$", name)
    return int(m.group(1)) if m else None


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        _fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(final: Path, write: Callable[[Any], None]) -> None:
    """Write ``final`` through a hidden temporary in the same directory:
    ``write(fileobj)``, flush, fsync, rename, fsync the directory."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            _fsync(f.fileno())
        _replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(final.parent)


def _makedirs(path: Path) -> None:
    """``mkdir -p`` that fsyncs the parent of each directory it creates."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        _fsync_dir(d.parent)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a directory")


def _save_npy(arr: np.ndarray) -> Callable[[Any], None]:
    def write(f: Any) -> None:
        np.lib.format.write_array(f, np.ascontiguousarray(arr), allow_pickle=False)

    return write


class Writer:
    """Writes one run in sslwatch's layout from a training loop.

    >>> w = sslwatch.Writer("runs/cifar10/simclr-s0", meta={"method": "simclr"}, labels=y)
    >>> w.milestone(epoch, h=feats, z=proj)    # (N, D) arrays or tensors
    >>> w.scalars(epoch, loss=loss, probe_acc=acc)

    Parameters
    ----------
    run_dir:
        The run's directory (``ROOT/<run>``); created if missing.
    meta:
        ``run.json``'s content (a JSON object: method, dataset, arch, ...).
        Written once: an existing ``run.json`` (a resumed run) is kept, with a
        warning when it differs.
    labels:
        Integer labels of the evaluation samples, in the order of the
        milestones' rows; written once to ``labels.npy`` (int64), and every
        milestone's N is checked against their length. An existing
        ``labels.npy`` must hold the same labels. Can also be given later
        with :meth:`set_labels`.
    half:
        Store milestones as float16 (half the disk; sslwatch reads it).
    step_name:
        Template of the milestone directory's name, formatted with ``step``;
        its last run of digits must be the step (sslwatch's rule).
    on_nonfinite:
        ``"warn"`` (default): write the milestone and warn with the number of
        rows holding NaN/Inf (sslwatch drops and counts them, and reports
        the milestone as ``diverged`` when they are more than half);
        ``"raise"``: refuse the milestone with that count.
    rank:
        The process's rank; by default from ``RANK``, else ``LOCAL_RANK``
        (else 0). On any rank but 0 every method is a no-op and nothing
        is written, so the same code runs on every rank of a DDP job.

    Methods hold a lock, so a writer can be shared by threads (a training
    loop and a background evaluation thread, say).
    """

    def __init__(
        self,
        run_dir: Union[str, os.PathLike],
        meta: Optional[Mapping[str, Any]] = None,
        labels: Any = None,
        *,
        half: bool = False,
        step_name: str = "epoch_{step:04d}",
        on_nonfinite: str = "warn",
        rank: Optional[int] = None,
    ) -> None:
        if on_nonfinite not in ("warn", "raise"):
            raise ValueError(f"on_nonfinite must be 'warn' or 'raise', got {on_nonfinite!r}")
        for probe in (0, 7, 12345):
            name = self._format_step(step_name, probe)
            if _last_digits(name) != probe:
                raise ValueError(
                    f"step_name {step_name!r} gives {name!r} for step {probe}: its last "
                    "run of digits must be the step number"
                )
        self.run_dir = Path(run_dir)
        self.half = bool(half)
        self.step_name = step_name
        self.on_nonfinite = on_nonfinite
        self.rank = rank_from_env() if rank is None else int(rank)
        self.enabled = self.rank == 0
        self._lock = threading.RLock()
        self._n_labels: Optional[int] = None
        self._scalars_fd: Optional[int] = None
        if not self.enabled:
            return
        _makedirs(self.run_dir / "milestones")
        if meta is not None:
            self._write_meta(meta)
        if labels is not None:
            self.set_labels(labels)
        else:
            existing = self.run_dir / "labels.npy"
            if existing.is_file():
                self._n_labels = int(np.load(existing, mmap_mode="r", allow_pickle=False).shape[0])

    # -- public API -------------------------------------------------------

    def set_labels(self, labels: Any) -> None:
        """Write ``labels.npy`` once (int64, shape (N,)). The same labels
        again are a no-op; different ones raise ``ValueError``."""
        if not self.enabled:
            return
        y = to_numpy(labels)
        if y.ndim != 1:
            raise ValueError(f"labels must be 1-D (N,), got shape {y.shape}")
        if y.shape[0] == 0:
            raise ValueError("labels are empty")
        if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(
                f"labels must be integers, got dtype {y.dtype} (use .astype(int) if they are whole numbers)"
            )
        y = y.astype(np.int64, copy=False)
        with self._lock:
            path = self.run_dir / "labels.npy"
            if path.is_file():
                old = np.load(path, allow_pickle=False)
                if old.shape == y.shape and np.array_equal(old, y):
                    self._n_labels = int(y.shape[0])
                    return
                raise ValueError(
                    f"{path} already holds other labels (shape {old.shape}, now {y.shape}); "
                    "labels are written once per run: remove the file or use another run directory"
                )
            _atomic_write(path, _save_npy(y))
            self._n_labels = int(y.shape[0])

    def milestone(self, step: Any, **layers: Any) -> Dict[str, Any]:
        """Write one milestone: each keyword is a layer (``h=backbone_feats,
        z=projector_out``), an (N, D) float array or tensor, all with the same
        N (= len(labels) when labels were given). Every layer is checked
        before anything is written. Returns ``{"dir": Path, "files": {layer:
        Path}, "nonfinite_rows": {layer: count}}`` (``{}`` on other ranks)."""
        if not self.enabled:
            return {}
        n_step = _step_number(step)
        if not layers:
            raise ValueError("milestone() needs at least one layer, e.g. milestone(step, h=feats)")
        name = self._format_step(self.step_name, n_step)
        arrays: Dict[str, np.ndarray] = {}
        nonfinite: Dict[str, int] = {}
        n_rows = None
        for layer, value in layers.items():
            self._check_layer_name(layer)
            arr = to_numpy(value)
            where = f"milestone {name} layer {layer!r}"
            if arr.ndim != 2:
                raise ValueError(f"{where}: embeddings must be 2-D (N, D), got shape {arr.shape}")
            if arr.shape[0] == 0 or arr.shape[1] == 0:
                raise ValueError(f"{where}: embeddings are empty, shape {arr.shape}")
            if arr.dtype.kind != "f" or arr.dtype.itemsize not in (2, 4, 8):
                raise ValueError(f"{where}: embeddings must be float16/32/64, got dtype {arr.dtype}")
            if n_rows is None:
                n_rows = arr.shape[0]
            elif arr.shape[0] != n_rows:
                raise ValueError(
                    f"{where}: {arr.shape[0]} rows, but the other layers have {n_rows} "
                    "(every layer holds the same evaluation samples)"
                )
            if self.half and arr.dtype != np.float16:
                with np.errstate(over="ignore"):
                    half = arr.astype(np.float16)
                overflow = int((np.isfinite(arr) & ~np.isfinite(half)).any(axis=1).sum())
                if overflow:
                    warnings.warn(
                        f"{where}: {overflow} of {arr.shape[0]} rows exceed float16's range "
                        "(|x| > 65504) and became Inf; write without half=True",
                        SslwatchWarning,
                        stacklevel=2,
                    )
                arr = half
            bad = int((~np.isfinite(arr)).any(axis=1).sum())
            nonfinite[layer] = bad
            if bad and self.on_nonfinite == "raise":
                raise ValueError(f"{where}: {bad} of {arr.shape[0]} rows contain NaN or Inf")
            arrays[layer] = arr
        with self._lock:
            if self._n_labels is not None and n_rows != self._n_labels:
                raise ValueError(
                    f"milestone {name}: {n_rows} rows, but labels.npy has {self._n_labels} "
                    "(one row per labelled evaluation sample, in the same order)"
                )
            for layer, bad in nonfinite.items():
                if bad:
                    verdict = (
                        "more than half: sslwatch reports the milestone as diverged"
                        if 2 * bad > n_rows
                        else "sslwatch drops them and reports the count as nonfinite_rows"
                    )
                    warnings.warn(
                        f"milestone {name} layer {layer!r}: {bad} of {n_rows} rows contain NaN "
                        f"or Inf ({verdict})",
                        SslwatchWarning,
                        stacklevel=2,
                    )
            d = self.run_dir / "milestones" / name
            _makedirs(d)
            files = {}
            for layer, arr in arrays.items():
                final = d / f"{layer}.npy"
                _atomic_write(final, _save_npy(arr))
                files[layer] = final
        return {"dir": d, "files": files, "nonfinite_rows": nonfinite}

    def scalars(self, step: Any, values: Optional[Mapping[str, Any]] = None, **kw: Any) -> None:
        """Append one line ``{"step": step, ...}`` to ``scalars.jsonl``
        (``loss=...``, ``probe_acc=...``, or a dict for keys such as
        ``"train/loss"``), in one write, unbuffered. Tensors and numpy
        scalars become numbers; NaN/Inf become null, with a warning (JSON has
        no NaN)."""
        if not self.enabled:
            return
        n_step = _step_number(step)
        items = dict(values or {})
        overlap = set(items) & set(kw)
        if overlap:
            raise ValueError(f"scalars given twice: {sorted(overlap)}")
        items.update(kw)
        if "step" in items:
            raise ValueError("'step' is the first argument, not a scalar")
        record: Dict[str, Any] = {"step": n_step}
        for key, value in items.items():
            if not isinstance(key, str):
                raise TypeError(f"scalar names must be strings, got {key!r}")
            try:
                v = _scalar(value)
                json.dumps(v, default=_json_default)
            except (TypeError, ValueError) as e:
                raise type(e)(f"scalars step {n_step}: {key}: {e}") from None
            if isinstance(v, float) and not math.isfinite(v):
                warnings.warn(
                    f"scalars step {n_step}: {key} is {v}, written as null (JSON has no NaN/Inf)",
                    SslwatchWarning,
                    stacklevel=2,
                )
                v = None
            record[key] = v
        line = (json.dumps(record, default=_json_default, allow_nan=False) + "\n").encode()
        with self._lock:
            if self._scalars_fd is None:
                self._scalars_fd = os.open(
                    self.run_dir / "scalars.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666
                )
            view = memoryview(line)
            while view:
                written = os.write(self._scalars_fd, view)
                view = view[written:]

    def close(self) -> None:
        """Close ``scalars.jsonl``. The writer can still be used (it reopens)."""
        with self._lock:
            if self._scalars_fd is not None:
                os.close(self._scalars_fd)
                self._scalars_fd = None

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        fd = getattr(self, "_scalars_fd", None)
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def __repr__(self) -> str:
        state = "" if self.enabled else f", rank {self.rank}: disabled"
        return f"sslwatch.Writer({str(self.run_dir)!r}{state})"

    # -- helpers ----------------------------------------------------------

    @staticmethod
    def _format_step(template: str, step: int) -> str:
        try:
            name = template.format(step=step)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"step_name {template!r} must be a format string using {{step}}: {e}") from None
        if (
            not name
            or "/" in name
            or "\\" in name
            or name.startswith(".")
            or name.endswith(_IGNORED_SUFFIXES + (".npz", ".npy"))
        ):
            raise ValueError(f"step_name {template!r} gives {name!r}, not a plain directory name")
        return name

    @staticmethod
    def _check_layer_name(layer: str) -> None:
        if not _LAYER_NAME.match(layer) or layer.endswith(_IGNORED_SUFFIXES):
            raise ValueError(
                f"layer name {layer!r}: use letters, digits, '_', '-', '.' "
                "(not starting with '.', as sslwatch ignores hidden files)"
            )

    def _write_meta(self, meta: Mapping[str, Any]) -> None:
        if not isinstance(meta, Mapping):
            raise TypeError(f"meta must be a dict (run.json is a JSON object), got {type(meta).__name__}")
        try:
            text = json.dumps(dict(meta), default=_json_default, allow_nan=False, indent=2)
        except ValueError as e:
            raise ValueError(f"meta cannot be written as JSON: {e} (NaN/Inf are not JSON)") from None
        except TypeError as e:
            raise TypeError(f"meta cannot be written as JSON: {e}") from None
        path = self.run_dir / "run.json"
        with self._lock:
            if path.is_file():
                try:
                    old = json.loads(path.read_text())
                except (OSError, ValueError):
                    old = None
                if old != json.loads(text):
                    warnings.warn(
                        f"{path} exists and differs from meta; it is written once and was left as it is",
                        SslwatchWarning,
                        stacklevel=3,
                    )
                return
            data = (text + "\n").encode()
            _atomic_write(path, lambda f: f.write(data))
