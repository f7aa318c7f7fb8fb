"""Finding and running the ``sslwatch`` binary the wheel installs, and
``report()``, which reads its JSON Lines into dicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

__all__ = ["SslwatchError", "find_binary", "run", "report"]

_EXE = "sslwatch" + (".exe" if sys.platform == "win32" else "")


class SslwatchError(RuntimeError):
    """The binary exited with an error: ``returncode``, ``stderr`` (its
    message, which names the file and the problem) and ``args``."""

    def __init__(self, message: str, returncode: int, stderr: str, args: Sequence[str]):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr
        self.cmd = list(args)


def _scripts_dirs() -> List[Path]:
    """Where pip puts a wheel's scripts: this interpreter's scheme, the user
    scheme, and the ``bin`` next to a ``--target`` / ``--prefix`` install."""
    dirs = [Path(sysconfig.get_path("scripts"))]
    user_scheme = {"nt": "nt_user", "posix": "posix_user"}.get(os.name)
    if sys.platform == "darwin" and sys._framework:  # type: ignore[attr-defined]
        user_scheme = "osx_framework_user"
    if user_scheme and user_scheme in sysconfig.get_scheme_names():
        dirs.append(Path(sysconfig.get_path("scripts", scheme=user_scheme)))
    pkg_root = Path(__file__).resolve().parent.parent  # site-packages or --target dir
    dirs.append(pkg_root / "bin")
    dirs.append(pkg_root.parent.parent.parent / "bin")  # <prefix>/lib/pythonX.Y/site-packages
    return dirs


def find_binary() -> str:
    """The ``sslwatch`` executable: ``$SSLWATCH_BIN`` if set, else the one
    installed with this package, else the first on ``PATH``."""
    override = os.environ.get("SSLWATCH_BIN")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise FileNotFoundError(f"SSLWATCH_BIN={override!r} is not an executable file")
        return override
    for d in _scripts_dirs():
        candidate = d / _EXE
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which(_EXE)
    if on_path:
        return on_path
    raise FileNotFoundError(
        "the sslwatch binary was not found next to this Python package or on PATH; "
        "install the wheel (pip install sslwatch) or set SSLWATCH_BIN"
    )


def _flag_args(flags: Dict[str, Any]) -> List[str]:
    """``n_init=5`` -> ``--n-init 5``; ``no_cache=True`` -> ``--no-cache``;
    ``False``/``None`` -> nothing."""
    out: List[str] = []
    for key, value in flags.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        else:
            out.extend([flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)])
    return out


def run(
    *args: Union[str, os.PathLike], check: bool = True, timeout: Optional[float] = None
) -> subprocess.CompletedProcess:
    """Run ``sslwatch ARGS...`` and capture its output (text). With ``check``,
    a non-zero exit raises :class:`SslwatchError` carrying stderr."""
    cmd = [find_binary()] + [os.fspath(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        err = proc.stderr.strip()
        raise SslwatchError(
            f"sslwatch {' '.join(cmd[1:])} exited with {proc.returncode}: {err}",
            proc.returncode,
            proc.stderr,
            cmd,
        )
    return proc


def report(
    root: Union[str, os.PathLike],
    *,
    summary: bool = True,
    timeout: Optional[float] = None,
    **flags: Any,
) -> List[Dict[str, Any]]:
    """Run ``sslwatch report ROOT --format json`` and return its lines as
    dicts: one per (run, step, layer) result (``status`` ``"ok"`` with every
    metric, null where it does not apply, or ``"error"`` with ``error``),
    then, with ``summary``, one ``{"event": "summary", ...}`` per run and
    layer (latest values, Spearman correlations with probe accuracy).

    Keywords become flags: ``layer="h"``, ``k=10``, ``n_init=5``,
    ``seed=1``, ``entropy="gauss"``, ``entropy_bins=32``,
    ``silhouette_sample=5000``, ``no_cache=True``, ``cache_dir=...``.
    A non-zero exit raises :class:`SslwatchError` with the binary's stderr.
    """
    for reserved in ("format", "follow"):
        if reserved in flags:
            raise TypeError(f"report() always uses --format json without --follow; drop {reserved}=")
    proc = run("report", os.fspath(root), "--format", "json", *_flag_args(flags), timeout=timeout)
    rows: List[Dict[str, Any]] = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        obj = json.loads(line)
        if not summary and obj.get("event") == "summary":
            continue
        rows.append(obj)
    return rows
