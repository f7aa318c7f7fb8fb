"""End to end, on the installed package (scripts/ci-python.sh: a fresh venv
with the wheel): a numpy-only loop writes 5 milestones through the writer,
then the installed ``sslwatch`` binary reads them, every metric numeric."""

import json
import math
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import sslwatch

REPO = Path(__file__).resolve().parents[2]
METRICS = [
    "entropy_bits",
    "silhouette",
    "ami_agreement",
    "ami_labels",
    "probe_acc",
    "knn_acc",
    "rankme",
    "kmeans_inertia",
]

# A "training loop" with numpy only: 400 evaluation samples of 5 classes whose
# embeddings separate as the epochs go, a milestone every 5 epochs.
LOOP = r"""
import sys
import numpy as np
import sslwatch

root = sys.argv[1]
rng = np.random.default_rng(0)
n, classes = 400, 5
y = rng.integers(0, classes, n)
centres = rng.standard_normal((classes, 32))
w = sslwatch.Writer(f"{root}/toy/numpy-s0", meta={"method": "toy", "dataset": "gaussians"}, labels=y)
for epoch in range(0, 25, 5):
    spread = 0.2 + epoch / 8
    h = centres[y] * spread + rng.standard_normal((n, 32))
    z = (h @ rng.standard_normal((32, 8))).astype(np.float32)
    w.milestone(epoch, h=h.astype(np.float32), z=z)
    w.scalars(epoch, loss=1.0 / (1 + epoch), lr=0.1)
w.close()
assert "torch" not in sys.modules and "lightning" not in sys.modules, sorted(sys.modules)
print("wrote 5 milestones")
"""


def installed_binary():
    """The binary pip installed with this package, or why there is none."""
    module = Path(sslwatch.__file__).resolve()
    if REPO / "python" in module.parents:
        return None, f"sslwatch is imported from the checkout ({module}), not installed"
    scripts = Path(sysconfig.get_path("scripts"))
    exe = scripts / ("sslwatch.exe" if os.name == "nt" else "sslwatch")
    if not exe.is_file():
        return None, f"no sslwatch binary in {scripts}"
    return exe, None


@pytest.fixture
def binary(monkeypatch):
    monkeypatch.delenv("SSLWATCH_BIN", raising=False)
    exe, why = installed_binary()
    if exe is None:
        if os.environ.get("SSLWATCH_REQUIRE_INSTALLED") == "1":
            pytest.fail(f"SSLWATCH_REQUIRE_INSTALLED=1 but {why}")
        pytest.skip(why)
    return exe


def test_a_numpy_loop_writes_milestones_the_installed_binary_reads(binary, tmp_path):
    assert Path(sslwatch.find_binary()) == binary
    loop = subprocess.run(
        [sys.executable, "-c", LOOP, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert loop.returncode == 0, loop.stderr
    assert "wrote 5 milestones" in loop.stdout

    proc = subprocess.run(
        [str(binary), "report", str(tmp_path), "--format", "json", "--no-cache"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(s) for s in proc.stdout.splitlines() if s.strip()]
    results = [r for r in lines if "status" in r]
    assert sorted((r["step"], r["layer"]) for r in results) == [
        (s, layer) for s in (0, 5, 10, 15, 20) for layer in ("h", "z")
    ]
    for r in results:
        assert r["run"] == "toy/numpy-s0"
        assert r["status"] == "ok", r
        assert r["n"] == 400 and r["nonfinite_rows"] == 0
        for m in METRICS:
            assert isinstance(r[m], float) and math.isfinite(r[m]), (r["step"], r["layer"], m, r[m])
    h = {r["step"]: r for r in results if r["layer"] == "h"}
    # The loop's classes separate over the epochs, and the metrics say so.
    assert h[20]["ami_labels"] > h[0]["ami_labels"] + 0.3
    assert h[20]["knn_acc"] > h[0]["knn_acc"]
    summaries = [r for r in lines if r.get("event") == "summary"]
    assert {s["layer"] for s in summaries} == {"h", "z"}

    # The same through the module, as a notebook would read it.
    rows = sslwatch.report(tmp_path, layer="h", no_cache=True, summary=False)
    assert [r["step"] for r in rows] == [0, 5, 10, 15, 20]
    assert [r["ami_labels"] for r in rows] == [h[s]["ami_labels"] for s in (0, 5, 10, 15, 20)]


def test_python_dash_m_runs_the_installed_binary(binary, tmp_path):
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60)
    via_m = subprocess.run(
        [sys.executable, "-m", "sslwatch", "--version"], capture_output=True, text=True, timeout=60
    )
    assert via_m.returncode == 0, via_m.stderr
    assert via_m.stdout == version.stdout and via_m.stdout.startswith("sslwatch ")
    bad = subprocess.run(
        [sys.executable, "-m", "sslwatch", "report", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2, "the binary's exit code comes through"
    assert "nope" in bad.stderr


def test_report_errors_carry_the_binarys_message(binary, tmp_path):
    with pytest.raises(sslwatch.SslwatchError) as info:
        sslwatch.report(tmp_path / "nope")
    assert info.value.returncode == 2
    assert "nope" in info.value.stderr
