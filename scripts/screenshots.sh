#!/usr/bin/env bash
# Regenerate assets/screenshots/{grid,compare,detail}.png (and the plain-text
# captures {grid,compare,detail}.txt beside them) from real tmux captures of
# `sslwatch demo`:
#
#   scripts/screenshots.sh
#   COLS=100 ROWS=30 RUNS=3 OUT_DIR=/tmp/caps scripts/screenshots.sh   # another size
#
# Needs tmux, cargo and python3 (Pillow is installed with pip if missing).
# Runs the demo in a detached tmux session of a fixed size (160x48, 256
# colours) on a private tmux server, waits until every simulated run has all
# its milestones, captures each screen with `capture-pane -e` and renders it
# with scripts/render_capture.py. The demo command it runs is printed first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

COLS=${COLS:-160}
ROWS=${ROWS:-48}
RUNS=${RUNS:-5}
STEPS=${STEPS:-30}
INTERVAL=${INTERVAL:-0.4}
SEED=${SEED:-0}
DEADLINE_S=${DEADLINE_S:-120}
SESSION=sslwatch-shots
SOCKET=sslwatch-shots # private tmux server: the user's sessions and config are left alone
OUT_DIR=${OUT_DIR:-assets/screenshots}

command -v tmux >/dev/null || { echo "screenshots.sh: tmux is needed" >&2; exit 1; }
python3 -c 'import PIL' 2>/dev/null || python3 -m pip install -q pillow
# The dev profile is optimised and shared with `cargo test` (see Cargo.toml).
cargo build --quiet
BIN=$ROOT/target/debug/sslwatch

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sslwatch-shots.XXXXXX")
pane_pid=""

tm() { tmux -L "$SOCKET" "$@"; }

cleanup() {
    if tm has-session -t "$SESSION" 2>/dev/null; then
        if [ "$(tm display-message -p -t "$SESSION" '#{pane_dead}' 2>/dev/null)" = 0 ]; then
            tm send-keys -t "$SESSION" q 2>/dev/null || true
            for _ in $(seq 1 50); do
                [ "$(tm display-message -p -t "$SESSION" '#{pane_dead}' 2>/dev/null || echo 1)" = 0 ] || break
                sleep 0.1
            done
        fi
        tm kill-session -t "$SESSION" 2>/dev/null || true
    fi
    tm kill-server 2>/dev/null || true
    if [ -n "$pane_pid" ] && kill -0 "$pane_pid" 2>/dev/null; then
        kill "$pane_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# A leftover session from an interrupted run.
tm kill-server 2>/dev/null || true

if infocmp tmux-256color >/dev/null 2>&1; then TERM_IN=tmux-256color; else TERM_IN=screen-256color; fi

# The runs go to $tmp/sslwatch-demo, given relative to the pane's directory
# so that the status line (which shows it) is the same from one run to the next.
# Its stderr goes to a file, shown if the demo stops early.
printf -v demo_cmd 'exec env -u NO_COLOR %q demo --dir sslwatch-demo --runs %d --steps %d --interval %s --sim-seed %d 2>demo.err' \
    "$BIN" "$RUNS" "$STEPS" "$INTERVAL" "$SEED"
echo "screenshots.sh: sslwatch demo --dir sslwatch-demo --runs $RUNS --steps $STEPS --interval $INTERVAL --sim-seed $SEED in a ${COLS}x${ROWS} tmux pane" >&2

# Options first (the server stays up with no session), then the session.
tm -f /dev/null start-server \; \
    set-option -s exit-empty off \; \
    set-option -s escape-time 0 \; \
    set-option -g default-terminal "$TERM_IN" \; \
    set-option -g default-size "${COLS}x${ROWS}" \; \
    set-option -g status off \; \
    set-option -g remain-on-exit on \; \
    new-session -d -s "$SESSION" -x "$COLS" -y "$ROWS" -c "$tmp" "$demo_cmd"
# (window-size is set once the session exists: set before it, tmux 3.3's server exited)
tm set-option -g window-size manual \; resize-window -t "$SESSION" -x "$COLS" -y "$ROWS"
size=$(tm display-message -p -t "$SESSION" '#{pane_width}x#{pane_height}')
if [ "$size" != "${COLS}x${ROWS}" ]; then
    echo "screenshots.sh: the tmux pane is $size, not ${COLS}x${ROWS}" >&2
    exit 1
fi
pane_pid=$(tm display-message -p -t "$SESSION" '#{pane_pid}')

screen() { tm capture-pane -p -t "$SESSION"; }

alive() {
    if [ "$(tm display-message -p -t "$SESSION" '#{pane_dead}')" != 0 ]; then
        echo "screenshots.sh: sslwatch demo exited early:" >&2
        cat "$tmp/demo.err" >&2 2>/dev/null || true
        screen | grep -v '^$' >&2 || true
        exit 1
    fi
}

# wait_for SECONDS DESCRIPTION CHECK...: poll the screen until CHECK succeeds.
wait_for() {
    local limit=$1 what=$2
    shift 2
    local end=$((SECONDS + limit)) s
    while :; do
        alive
        s=$(screen)
        if "$@" <<<"$s"; then
            return 0
        fi
        if [ "$SECONDS" -ge "$end" ]; then
            echo "screenshots.sh: timed out after ${limit}s waiting for $what; the screen:" >&2
            screen >&2
            exit 1
        fi
        sleep 0.25
    done
}

all_milestones() {
    # Every run shows "#STEPS" and nothing is queued any more.
    local s
    s=$(cat)
    [ "$(grep -cE "#${STEPS}( |$)" <<<"$s")" -ge "$RUNS" ] && grep -q 'queue 0 ' <<<"$s"
}

mkdir -p "$OUT_DIR"
written=()
shoot() {
    local name=$1
    sleep 0.3 # let the frame that matched settle
    tm capture-pane -p -e -t "$SESSION" >"$tmp/$name.ansi"
    tm capture-pane -p -t "$SESSION" | sed 's/[[:space:]]*$//' >"$OUT_DIR/$name.txt"
    python3 scripts/render_capture.py "$tmp/$name.ansi" "$OUT_DIR/$name.png" \
        --cols "$COLS" --rows "$ROWS" >/dev/null
    written+=("$OUT_DIR/$name.png" "$OUT_DIR/$name.txt")
}

wait_for "$DEADLINE_S" "all $RUNS runs to reach $STEPS milestones" all_milestones
shoot grid

tm send-keys -t "$SESSION" Tab
wait_for 10 "the compare view" grep -qE 'all [0-9]+ runs'
shoot compare

tm send-keys -t "$SESSION" Tab
wait_for 10 "the grid view" grep -qE '^ [0-9]+ runs'
tm send-keys -t "$SESSION" Enter
wait_for 10 "the run detail" grep -q 'milestones, steps'
shoot detail

tm send-keys -t "$SESSION" Escape
tm send-keys -t "$SESSION" q
end=$((SECONDS + 10))
while [ "$(tm display-message -p -t "$SESSION" '#{pane_dead}')" = 0 ] && [ "$SECONDS" -lt "$end" ]; do
    sleep 0.1
done

for f in "${written[@]}"; do
    echo "$f"
done
