#!/usr/bin/env python3
"""How long a new small milestone waits while a big one computes.

Usage: scripts/small-lane-latency.py BINARY [--big 20000x512] [--small 2000x128]

Writes a big milestone into run a-big, starts `BINARY report ROOT --follow
--format json --no-cache`, waits until the big one is being computed (2 s
after start), then renames a small milestone into run b-small and prints the
seconds until the small result's line appears, and when the big one's does.
Needs numpy. Prints the machine's load average next to the numbers.
"""
import json, os, subprocess, sys, tempfile, time
import numpy as np

def shape(arg, default):
    if arg in sys.argv:
        r, c = sys.argv[sys.argv.index(arg) + 1].split("x")
        return int(r), int(c)
    return default

binary = sys.argv[1]
big = shape("--big", (20000, 512))
small = shape("--small", (2000, 128))
rng = np.random.default_rng(0)
with tempfile.TemporaryDirectory() as root:
    for run in ("a-big", "b-small"):
        os.makedirs(f"{root}/{run}/milestones")
    np.save(f"{root}/a-big/milestones/1.npy", rng.standard_normal(big, dtype=np.float32))
    p = subprocess.Popen([binary, "report", root, "--follow", "--format", "json", "--no-cache"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(3.0)
    np.save(f"{root}/.s.npy", rng.standard_normal(small, dtype=np.float32))
    t0 = time.monotonic()
    os.replace(f"{root}/.s.npy", f"{root}/b-small/milestones/1.npy")
    got = {}
    for line in p.stdout:
        v = json.loads(line)
        if v.get("status") == "ok" and v["run"] not in got:
            got[v["run"]] = time.monotonic() - t0
        if len(got) == 2:
            break
    p.terminate()
    p.wait()
    print(f"big {big[0]}x{big[1]}, small {small[0]}x{small[1]}, load average {os.getloadavg()[0]:.2f}")
    print(f"small milestone on screen {got['b-small']:.2f} s after its rename; "
          f"big one {got['a-big']:+.2f} s after that rename")
