"""sslwatch: label-free, live monitoring of self-supervised training runs.

The wheel ships the ``sslwatch`` binary (the Rust monitor: ``sslwatch watch
ROOT``, ``sslwatch report ROOT``) and this module, which writes runs in the
layout it reads and reads its reports back::

    import sslwatch
    w = sslwatch.Writer("runs/cifar10/simclr-s0", meta={"method": "simclr"}, labels=y)
    w.milestone(epoch, h=feats, z=proj)          # numpy arrays or torch tensors
    w.scalars(epoch, loss=loss, probe_acc=acc)
    rows = sslwatch.report("runs")               # the metrics, as dicts

Only numpy is needed; ``sslwatch.embed`` and ``sslwatch.lightning`` import
torch / Lightning when they are used.
"""

from ._binary import SslwatchError, find_binary, report, run
from ._embed import embed
from ._writer import SslwatchWarning, Writer, rank_from_env, to_numpy

try:
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("sslwatch")
    except PackageNotFoundError:  # running from a source checkout
        __version__ = "0+unknown"
except ImportError:  # Python < 3.8
    __version__ = "0+unknown"

__all__ = [
    "Writer",
    "SslwatchWarning",
    "SslwatchError",
    "report",
    "run",
    "find_binary",
    "embed",
    "rank_from_env",
    "to_numpy",
    "__version__",
]
