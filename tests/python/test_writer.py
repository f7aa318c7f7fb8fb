"""The writer: atomic files, labels and run.json written once, torch-like
inputs, refused shapes, NaN counts, float16, scalars, ranks, threads."""

import io
import json
import os
import threading
import time
import warnings

import numpy as np
import pytest

import sslwatch
from conftest import FakeTensor
from sslwatch import _writer

# -- atomicity ------------------------------------------------------------


class Poller(threading.Thread):
    """A reader that lists ``run/milestones`` over and over and loads every
    file under a final name (not starting with '.'), as sslwatch would. A
    file that does not load or whose content differs from what the test
    wrote is recorded as partial."""

    def __init__(self, milestones, expected):
        super().__init__(daemon=True)
        self.milestones = milestones
        self.expected = expected  # {(step_name, file name): array}
        self.partial = []
        self.saw_hidden = 0
        self.scans = 0
        self.stop = threading.Event()
        self.cond = threading.Condition()

    def run(self):
        while not self.stop.is_set():
            for step in sorted(os.listdir(self.milestones)) if os.path.isdir(self.milestones) else []:
                d = os.path.join(self.milestones, step)
                try:
                    names = os.listdir(d)
                except FileNotFoundError:
                    continue
                for name in names:
                    if name.startswith("."):
                        self.saw_hidden += 1
                        continue
                    with open(os.path.join(d, name), "rb") as f:
                        data = f.read()
                    try:
                        arr = np.load(io.BytesIO(data), allow_pickle=False)
                        ok = np.array_equal(arr, self.expected[(step, name)])
                    except Exception as e:  # a torn header or short data
                        ok = False
                        arr = e
                    if not ok:
                        self.partial.append((step, name, len(data)))
            with self.cond:
                self.scans += 1
                self.cond.notify_all()

    def wait_scans(self, n, deadline_s=60.0):
        """Block until ``n`` more full scans have completed."""
        end = time.monotonic() + deadline_s
        with self.cond:
            target = self.scans + n
            while self.scans < target:
                left = end - time.monotonic()
                assert left > 0, "the poller stopped scanning"
                self.cond.wait(left)


def slow_save(poller):
    """Replace ``_save_npy`` with one that writes half the bytes, waits
    until the poller has scanned the directory three times, then writes the
    rest: the window in which a non-atomic writer shows a partial file."""
    original = _writer._save_npy

    def save(arr):
        buf = io.BytesIO()
        original(arr)(buf)
        data = buf.getvalue()

        def write(f):
            f.write(data[: len(data) // 2])
            f.flush()
            poller.wait_scans(3)
            f.write(data[len(data) // 2 :])

        return write

    return save


def write_while_polling(tmp_path, monkeypatch, rng):
    run = tmp_path / "run"
    expected = {}
    poller = Poller(str(run / "milestones"), expected)
    monkeypatch.setattr(_writer, "_save_npy", slow_save(poller))
    w = sslwatch.Writer(run, rank=0)
    poller.start()
    try:
        for step in range(3):
            h = rng.standard_normal((300, 32)).astype(np.float32)
            z = rng.standard_normal((300, 16)).astype(np.float32)
            expected[(f"epoch_{step:04d}", "h.npy")] = h
            expected[(f"epoch_{step:04d}", "z.npy")] = z
            w.milestone(step, h=h, z=z)
        poller.wait_scans(2)
    finally:
        poller.stop.set()
        poller.join(10)
    return run, poller


def test_a_reader_polling_during_writes_never_sees_a_partial_file(tmp_path, monkeypatch, rng):
    run, poller = write_while_polling(tmp_path, monkeypatch, rng)
    assert poller.partial == []
    # It did look while the data was half written: under the hidden name.
    assert poller.saw_hidden >= 6
    for step in range(3):
        names = sorted(os.listdir(run / "milestones" / f"epoch_{step:04d}"))
        assert names == ["h.npy", "z.npy"], "no temporary file is left behind"


def test_the_poller_catches_a_writer_that_writes_under_the_final_name(tmp_path, monkeypatch, rng):
    # The check above would fail for the README's old `np.save(final)`:
    # the same scenario with a direct write is caught.
    def direct_write(final, write):
        with open(final, "wb") as f:
            write(f)

    monkeypatch.setattr(_writer, "_atomic_write", direct_write)
    _, poller = write_while_polling(tmp_path, monkeypatch, rng)
    assert poller.partial, "a half-written file under the final name must be seen"


def test_free_running_reader_sees_only_complete_files(tmp_path, rng):
    run = tmp_path / "run"
    expected = {}
    poller = Poller(str(run / "milestones"), expected)
    w = sslwatch.Writer(run, rank=0)
    poller.start()
    try:
        for step in range(25):
            h = rng.standard_normal((1000, 64)).astype(np.float32)
            expected[(f"epoch_{step:04d}", "h.npy")] = h
            w.milestone(step, h=h)
        poller.wait_scans(2)
    finally:
        poller.stop.set()
        poller.join(10)
    assert poller.partial == []
    assert poller.scans > 2


def test_a_failed_write_leaves_no_file_under_either_name(tmp_path, monkeypatch, rng):
    w = sslwatch.Writer(tmp_path / "run", rank=0)

    def broken(arr):
        def write(f):
            f.write(b"\x93NUMPY")
            raise OSError(28, "No space left on device")

        return write

    monkeypatch.setattr(_writer, "_save_npy", broken)
    with pytest.raises(OSError, match="No space left"):
        w.milestone(1, h=rng.standard_normal((10, 4)))
    assert os.listdir(tmp_path / "run" / "milestones" / "epoch_0001") == []


# -- layout ----------------------------------------------------------------


def test_milestones_follow_the_layout_with_float_dtypes_kept(tmp_path, rng):
    w = sslwatch.Writer(tmp_path / "runs" / "cifar10" / "simclr-s0", rank=0)
    h = rng.standard_normal((50, 8)).astype(np.float32)
    z = rng.standard_normal((50, 3))  # float64
    info = w.milestone(20, h=h, z=z)
    d = tmp_path / "runs" / "cifar10" / "simclr-s0" / "milestones" / "epoch_0020"
    assert info["dir"] == d
    assert info["files"] == {"h": d / "h.npy", "z": d / "z.npy"}
    assert info["nonfinite_rows"] == {"h": 0, "z": 0}
    assert np.load(d / "h.npy").dtype == np.float32
    np.testing.assert_array_equal(np.load(d / "z.npy"), z)


def test_step_names_follow_the_template_and_sslwatch_rule(tmp_path, rng):
    w = sslwatch.Writer(tmp_path / "r", step_name="step{step:07d}", rank=0)
    w.milestone(np.int64(12000), h=rng.standard_normal((5, 2)))
    assert os.listdir(tmp_path / "r" / "milestones") == ["step0012000"]
    with pytest.raises(ValueError, match="last run of digits"):
        sslwatch.Writer(tmp_path / "s", step_name="e{step}_v2", rank=0)
    with pytest.raises(ValueError, match="not a plain directory name"):
        sslwatch.Writer(tmp_path / "s", step_name="../e{step}", rank=0)
    with pytest.raises(ValueError, match="format string"):
        sslwatch.Writer(tmp_path / "s", step_name="e{epoch}", rank=0)
    for bad in (-1, 2.5, "3", True, float("nan")):
        with pytest.raises((TypeError, ValueError), match="step"):
            w.milestone(bad, h=rng.standard_normal((5, 2)))


def test_labels_are_written_once_as_int64_and_checked_for_length(tmp_path, rng):
    run = tmp_path / "run"
    y = np.arange(40, dtype=np.int32) % 4
    w = sslwatch.Writer(run, labels=y, rank=0)
    labels = run / "labels.npy"
    saved = np.load(labels)
    assert saved.dtype == np.int64 and saved.shape == (40,)
    np.testing.assert_array_equal(saved, y)
    before = os.stat(labels)
    for step in range(3):
        w.milestone(step, h=rng.standard_normal((40, 4)))
    w.set_labels(y.astype(np.int64))  # the same labels: nothing rewritten
    sslwatch.Writer(run, labels=y, rank=0)  # a resumed run with the same labels
    after = os.stat(labels)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    with pytest.raises(ValueError, match="41 rows, but labels.npy has 40"):
        w.milestone(3, h=rng.standard_normal((41, 4)))
    assert not (run / "milestones" / "epoch_0003").exists(), "a refused milestone writes nothing"
    with pytest.raises(ValueError, match="already holds other labels"):
        w.set_labels(y[::-1])
    with pytest.raises(ValueError, match="already holds other labels"):
        sslwatch.Writer(run, labels=np.zeros(40, dtype=int), rank=0)
    # A resumed run without labels= still checks against the labels on disk.
    resumed = sslwatch.Writer(run, rank=0)
    with pytest.raises(ValueError, match="39 rows, but labels.npy has 40"):
        resumed.milestone(9, h=rng.standard_normal((39, 4)))


def test_bad_labels_are_refused(tmp_path):
    with pytest.raises(ValueError, match="1-D"):
        sslwatch.Writer(tmp_path / "a", labels=np.zeros((4, 2), dtype=int), rank=0)
    with pytest.raises(ValueError, match="integers"):
        sslwatch.Writer(tmp_path / "b", labels=np.array([0.0, 1.0]), rank=0)
    with pytest.raises(ValueError, match="empty"):
        sslwatch.Writer(tmp_path / "c", labels=np.array([], dtype=int), rank=0)
    assert not (tmp_path / "b" / "labels.npy").exists()


def test_run_json_is_written_once(tmp_path):
    run = tmp_path / "run"
    meta = {"method": "simclr", "lr": np.float32(0.5), "epochs": np.int64(100), "dataset": "cifar10"}
    w = sslwatch.Writer(run, meta=meta, rank=0)
    path = run / "run.json"
    assert json.loads(path.read_text()) == {
        "method": "simclr",
        "lr": 0.5,
        "epochs": 100,
        "dataset": "cifar10",
    }
    before = os.stat(path)
    w.milestone(0, h=np.ones((3, 2)))
    w.scalars(0, loss=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sslwatch.Writer(run, meta=dict(meta), rank=0)  # same meta: silent
    with pytest.warns(sslwatch.SslwatchWarning, match="written once"):
        sslwatch.Writer(run, meta={"method": "moco"}, rank=0)
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert json.loads(path.read_text())["method"] == "simclr"


def test_meta_that_is_not_json_is_refused(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        sslwatch.Writer(tmp_path / "a", meta={"lr": float("nan")}, rank=0)
    with pytest.raises(TypeError, match="JSON"):
        sslwatch.Writer(tmp_path / "b", meta={"f": object()}, rank=0)
    with pytest.raises(TypeError, match="dict"):
        sslwatch.Writer(tmp_path / "c", meta=["simclr"], rank=0)
    assert not (tmp_path / "a" / "run.json").exists()


# -- inputs ----------------------------------------------------------------


def test_torch_like_objects_are_accepted_through_detach_cpu_numpy(tmp_path, rng):
    calls = []
    feats = rng.standard_normal((12, 5)).astype(np.float32)
    y = np.arange(12) % 3
    w = sslwatch.Writer(tmp_path / "run", labels=FakeTensor(y, calls, grad=False), rank=0)
    assert calls == ["detach", "cpu", "numpy"]
    calls.clear()
    w.milestone(FakeTensor(np.int64(4), calls), h=FakeTensor(feats, calls))
    assert calls == ["detach", "item", "detach", "cpu", "numpy"]
    np.testing.assert_array_equal(np.load(tmp_path / "run" / "milestones" / "epoch_0004" / "h.npy"), feats)
    w.scalars(FakeTensor(4), loss=FakeTensor(np.float32(2.5)), probe_acc=FakeTensor([0.75]))
    line = json.loads((tmp_path / "run" / "scalars.jsonl").read_text())
    assert line == {"step": 4, "loss": 2.5, "probe_acc": 0.75}
    with pytest.raises(ValueError, match="loss"):
        w.scalars(5, loss=FakeTensor([1.0, 2.0]))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros(10), r"2-D \(N, D\), got shape \(10,\)"),
        (np.zeros((10, 3, 2)), r"2-D \(N, D\), got shape \(10, 3, 2\)"),
        (np.zeros((0, 4)), "empty"),
        (np.zeros((10, 0)), "empty"),
        (np.zeros((10, 4), dtype=np.int64), "float16/32/64, got dtype int64"),
        (np.zeros((10, 4), dtype=bool), "float16/32/64, got dtype bool"),
        (np.zeros((10, 4), dtype=np.complex64), "float16/32/64, got dtype complex64"),
        (np.array([[object()]]), "float16/32/64, got dtype object"),
    ],
)
def test_bad_shapes_and_dtypes_are_refused_and_write_nothing(tmp_path, bad, message):
    w = sslwatch.Writer(tmp_path / "run", rank=0)
    with pytest.raises(ValueError, match=message):
        w.milestone(1, h=np.ones((10, 4)), z=bad)
    assert os.listdir(tmp_path / "run" / "milestones") == []


def test_layers_must_agree_on_n_and_have_safe_names(tmp_path):
    w = sslwatch.Writer(tmp_path / "run", rank=0)
    with pytest.raises(ValueError, match="7 rows, but the other layers have 10"):
        w.milestone(1, h=np.ones((10, 4)), z=np.ones((7, 4)))
    for name in (".h", "a/b", "h.tmp", ""):
        with pytest.raises(ValueError, match="layer name"):
            w.milestone(1, **{name: np.ones((10, 4))})
    with pytest.raises(ValueError, match="at least one layer"):
        w.milestone(1)
    assert os.listdir(tmp_path / "run" / "milestones") == []


def test_nan_rows_are_counted_and_reported_not_hidden(tmp_path, rng):
    w = sslwatch.Writer(tmp_path / "run", rank=0)
    h = rng.standard_normal((20, 4))
    h[[2, 5, 7], 1] = np.nan
    h[9, 0] = np.inf
    with pytest.warns(sslwatch.SslwatchWarning, match=r"4 of 20 rows contain NaN or Inf.*nonfinite_rows"):
        info = w.milestone(1, h=h)
    assert info["nonfinite_rows"] == {"h": 4}
    saved = np.load(info["files"]["h"])
    assert np.isnan(saved[2, 1]) and np.isinf(saved[9, 0]), "the data is written as it is"
    h[:15] = np.nan
    with pytest.warns(sslwatch.SslwatchWarning, match=r"15 of 20 rows .*diverged"):
        w.milestone(2, h=h)
    strict = sslwatch.Writer(tmp_path / "strict", on_nonfinite="raise", rank=0)
    with pytest.raises(ValueError, match="15 of 20 rows contain NaN or Inf"):
        strict.milestone(1, h=h)
    assert os.listdir(tmp_path / "strict" / "milestones") == []


def test_half_writes_float16_and_warns_about_overflow(tmp_path, rng):
    w = sslwatch.Writer(tmp_path / "run", half=True, rank=0)
    h = rng.standard_normal((30, 6))
    info = w.milestone(1, h=h)
    saved = np.load(info["files"]["h"])
    assert saved.dtype == np.float16
    np.testing.assert_allclose(saved, h, rtol=1e-3, atol=1e-3)
    h[3, 2] = 1e6
    with pytest.warns(sslwatch.SslwatchWarning) as caught:
        info = w.milestone(2, h=h)
    messages = [str(c.message) for c in caught]
    assert any("1 of 30 rows exceed float16's range" in m for m in messages)
    assert any("1 of 30 rows contain NaN or Inf" in m for m in messages)
    assert info["nonfinite_rows"] == {"h": 1}


# -- scalars ---------------------------------------------------------------


def test_scalars_are_one_json_line_each_readable_at_once(tmp_path):
    run = tmp_path / "run"
    w = sslwatch.Writer(run, rank=0)
    w.scalars(1, loss=4.0, lr=np.float64(0.1))
    # No close/flush needed: the line is in the file as soon as the call returns.
    assert (run / "scalars.jsonl").read_text() == '{"step": 1, "loss": 4.0, "lr": 0.1}\n'
    w.scalars(2, {"train/loss": 3.5, "probe_acc": 0.5}, note="warm")
    with pytest.warns(sslwatch.SslwatchWarning) as caught:
        w.scalars(3, loss=float("nan"), acc=np.float32(np.inf))
    assert [str(c.message) for c in caught] == [
        "scalars step 3: loss is nan, written as null (JSON has no NaN/Inf)",
        "scalars step 3: acc is inf, written as null (JSON has no NaN/Inf)",
    ]
    lines = [json.loads(s) for s in (run / "scalars.jsonl").read_text().splitlines()]
    assert lines[1:] == [
        {"step": 2, "train/loss": 3.5, "probe_acc": 0.5, "note": "warm"},
        {"step": 3, "loss": None, "acc": None},
    ]
    with pytest.raises(ValueError, match="given twice"):
        w.scalars(4, {"loss": 1.0}, loss=2.0)
    with pytest.raises(ValueError, match="first argument"):
        w.scalars(4, {"step": 1})
    with pytest.raises(TypeError, match="obj"):
        w.scalars(4, obj=object())
    w.close()
    w.scalars(5, loss=1.0)  # reopens after close
    assert len((run / "scalars.jsonl").read_text().splitlines()) == 4


# -- ranks and threads -----------------------------------------------------


@pytest.mark.parametrize(
    "env, writes",
    [
        ({}, True),
        ({"RANK": "0", "LOCAL_RANK": "0"}, True),
        ({"RANK": "3", "LOCAL_RANK": "1"}, False),
        ({"RANK": "2", "LOCAL_RANK": "0"}, False),  # global rank decides
        ({"LOCAL_RANK": "1"}, False),
        ({"LOCAL_RANK": "0"}, True),
    ],
)
def test_other_ranks_are_a_no_op(tmp_path, monkeypatch, env, writes):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    run = tmp_path / "run"
    w = sslwatch.Writer(run, meta={"method": "simclr"}, labels=np.arange(4))
    assert w.enabled is writes
    info = w.milestone(0, h=np.ones((4, 2)))
    assert bool(info) is writes
    w.scalars(0, loss=1.0)
    assert run.exists() is writes


def test_an_unreadable_rank_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("RANK", "zero")
    with pytest.raises(ValueError, match="RANK='zero' is not an integer rank"):
        sslwatch.Writer(tmp_path / "run")


def test_threads_share_a_writer(tmp_path, rng):
    run = tmp_path / "run"
    w = sslwatch.Writer(run, labels=np.arange(64) % 4, rank=0)
    feats = rng.standard_normal((8, 64, 16)).astype(np.float32)
    errors = []

    def work(t):
        try:
            for i in range(200):
                w.scalars(t * 1000 + i, loss=float(i), thread=t, pad="x" * 200)
            w.milestone(t, h=feats[t])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    lines = (run / "scalars.jsonl").read_text().splitlines()
    assert len(lines) == 1600
    assert sorted(json.loads(s)["step"] for s in lines) == sorted(
        t * 1000 + i for t in range(8) for i in range(200)
    )
    for t in range(8):
        np.testing.assert_array_equal(np.load(run / "milestones" / f"epoch_{t:04d}" / "h.npy"), feats[t])
