"""``sslwatch.report`` and ``sslwatch.run`` against a stand-in binary
(``SSLWATCH_BIN``): flags passed through, JSON lines parsed, errors raised
with the binary's stderr. The real binary is driven in test_e2e.py."""

import json
import os
import stat
import sys

import pytest

import sslwatch

FAKE = r"""#!{python}
import json, sys
args = sys.argv[1:]
if args[:1] == ["report"] and not __import__("os").path.isdir(args[1]):
    sys.stderr.write("error: %s: no such directory\n" % args[1])
    sys.exit(2)
print(json.dumps({{"run": "r", "step": 0, "layer": "h", "status": "ok", "argv": args}}))
print("")
print(json.dumps({{"event": "summary", "run": "r", "layer": "h"}}))
"""


@pytest.fixture
def fake_binary(tmp_path, monkeypatch):
    path = tmp_path / "sslwatch"
    path.write_text(FAKE.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("SSLWATCH_BIN", str(path))
    return path


def test_report_passes_flags_and_returns_the_json_lines(fake_binary, tmp_path):
    rows = sslwatch.report(
        tmp_path, layer="h", n_init=5, silhouette_sample=100, no_cache=True, cache_dir=None, seed=0
    )
    assert [r.get("event") for r in rows] == [None, "summary"]
    assert rows[0]["argv"] == [
        "report",
        str(tmp_path),
        "--format",
        "json",
        "--layer",
        "h",
        "--n-init",
        "5",
        "--silhouette-sample",
        "100",
        "--no-cache",
        "--seed",
        "0",
    ]
    assert [r["status"] for r in sslwatch.report(tmp_path, summary=False)] == ["ok"]


def test_report_raises_with_the_binarys_message(fake_binary, tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(sslwatch.SslwatchError) as info:
        sslwatch.report(missing)
    err = info.value
    assert err.returncode == 2
    assert f"{missing}: no such directory" in err.stderr
    assert f"{missing}: no such directory" in str(err)


def test_report_refuses_follow_and_format(fake_binary, tmp_path):
    for bad in ({"follow": True}, {"format": "csv"}):
        with pytest.raises(TypeError, match="--format json without --follow"):
            sslwatch.report(tmp_path, **bad)


def test_a_bad_sslwatch_bin_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("SSLWATCH_BIN", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="SSLWATCH_BIN"):
        sslwatch.find_binary()


def test_run_returns_the_completed_process(fake_binary):
    proc = sslwatch.run("metrics", "x.npy")
    assert json.loads(proc.stdout.splitlines()[0])["argv"] == ["metrics", "x.npy"]
    assert os.path.samefile(sslwatch.find_binary(), fake_binary)
