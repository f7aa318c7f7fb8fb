//! End to end: the real `sslwatch watch` inside tmux, as a user in an SSH
//! session would run it. Start it on an empty temporary root, write
//! milestones, wait until the run names and values appear, switch views,
//! filter, open help, resize (down to "too small" and back), quit with `q`,
//! and check the shell got a sane terminal back (main screen, cooked mode).
//!
//! Skipped, with a message, only when tmux is not installed.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64, write_atomic};
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sslwatch");
/// Generous: a loaded 2-core machine may be slow, but a condition that
/// holds ends the wait at once.
const DEADLINE: Duration = Duration::from_secs(90);

/// One tmux server on a socket of its own, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn available() -> bool {
        Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn start(name: &str, width: u16, height: u16, command: &str) -> Tmux {
        let t = Tmux {
            socket: format!("sslwatch-{name}-{}", std::process::id()),
        };
        let out = t.cmd(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        t
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "send-keys {keys:?}");
    }

    fn text(&self, text: &str) {
        assert!(self.cmd(&["send-keys", "-l", text]).status.success());
    }

    fn resize(&self, width: u16, height: u16) {
        let out = self.cmd(&[
            "resize-window",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
        assert!(out.status.success(), "resize-window: {out:?}");
    }

    fn display(&self, format: &str) -> String {
        let out = self.cmd(&["display-message", "-p", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// The pid of the `sslwatch` running as a child of the pane's shell.
    fn sslwatch_pid(&self) -> String {
        let pane_pid = self.display("#{pane_pid}");
        let out = Command::new("pgrep")
            .args(["-P", &pane_pid, "-x", "sslwatch"])
            .output()
            .expect("pgrep");
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            !pid.is_empty(),
            "sslwatch process under pane pid {pane_pid}"
        );
        pid
    }

    /// After sslwatch exited: the main screen is back and the shell's
    /// terminal is in canonical mode with echo.
    fn assert_terminal_restored(&self) {
        assert_eq!(
            self.display("#{alternate_on}"),
            "0",
            "alternate screen left"
        );
        self.text("stty -a | grep -Eq '(^| )icanon( |$)' && stty -a | grep -Eq '(^| )echo( |$)' && echo TTY-SANE");
        self.keys(&["Enter"]);
        // the output line, not the typed command; on a loaded machine the
        // command can be typed ahead of the shell's prompt, which then
        // lands in front of the output ("# TTY-SANE")
        self.wait_for("a sane terminal (canonical mode, echo)", |s| {
            s.lines()
                .any(|l| l.trim().ends_with("TTY-SANE") && !l.contains("echo"))
        });
    }

    /// Wait until `ok(screen)` holds; panic with the last screen if it never does.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// A run with `steps` milestones of a 5-component Gaussian mixture whose
/// clusters separate over time, and labels.
fn write_run(root: &Path, name: &str, steps: usize, seed: u64) {
    let (n, d, k) = (300, 16, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<i64> = (0..n).map(|i| (i % k) as i64).collect();
    let centres = Array2::from_shape_fn((k, d), |_| rng.gen_range(-1.0f32..1.0));
    let dir = root.join(name);
    write_atomic(&dir.join("labels.npy"), &npy_bytes_i64(&labels)).expect("labels");
    let meta = format!(r#"{{"method": "{name}-method", "dataset": "mixture"}}"#);
    write_atomic(&dir.join("run.json"), meta.as_bytes()).expect("run.json");
    for s in 0..steps {
        let spread = 0.5 + s as f32;
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            centres[[i % k, j]] * spread + rng.gen_range(-1.0f32..1.0)
        });
        let file = dir
            .join("milestones")
            .join(format!("epoch_{:04}", (s + 1) * 10))
            .join("z.npy");
        write_atomic(&file, &npy_bytes_f32(x.view())).expect("milestone");
    }
}

#[test]
fn watch_in_tmux_shows_runs_takes_keys_and_restores_the_terminal() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux to run this test)");
        return;
    }
    let root = tempfile::tempdir().expect("temp root");
    let cache = tempfile::tempdir().expect("temp cache");
    let command = format!(
        "'{BIN}' watch '{}' --cache-dir '{}'; echo SSLWATCH-EXITED=$?; exec sh",
        root.path().display(),
        cache.path().display()
    );
    let tmux = Tmux::start("e2e", 100, 30, &command);

    tmux.wait_for("the empty-root message", |s| s.contains("Waiting for runs"));
    write_run(root.path(), "run-alpha", 3, 1);
    write_run(root.path(), "run-beta", 3, 2);
    let screen = tmux.wait_for("both runs with 3 milestones and values", |s| {
        s.contains("run-alpha") && s.contains("run-beta") && s.matches("#3").count() == 2
    });
    assert!(
        screen.contains("run-alpha-method/"),
        "run.json metadata:\n{screen}"
    );
    assert!(
        screen.contains("entropy") && screen.contains("probe acc"),
        "{screen}"
    );
    assert!(
        screen
            .lines()
            .any(|l| l.contains("run-alpha") && l.contains('.')),
        "a value on the run's row:\n{screen}"
    );

    // Compare view.
    tmux.keys(&["Tab"]);
    tmux.wait_for("the compare view", |s| {
        s.contains("all 2 runs") && s.contains("step")
    });

    // Filter (typed in the compare view, applies everywhere), back to grid.
    tmux.text("/");
    tmux.text("beta");
    tmux.wait_for("the filter being typed", |s| s.contains("filter: /beta"));
    tmux.keys(&["Enter"]);
    tmux.keys(&["Tab"]);
    let screen = tmux.wait_for("the filtered grid", |s| s.contains("1 of 2 runs"));
    assert!(
        screen.contains("run-beta") && !screen.contains("run-alpha"),
        "{screen}"
    );

    // Help, then Esc closes it.
    tmux.text("?");
    tmux.wait_for("the help overlay", |s| s.contains("select metric"));
    tmux.keys(&["Escape"]);
    tmux.wait_for("help closed", |s| {
        !s.contains("select metric") && s.contains("run-beta")
    });

    // Resizes: smaller, too small, back.
    tmux.resize(60, 16);
    tmux.wait_for("the grid at 60x16", |s| {
        s.contains("run-beta") && s.lines().all(|l| l.chars().count() <= 60)
    });
    tmux.resize(30, 6);
    tmux.wait_for("the too-small message", |s| s.contains("too small"));
    tmux.resize(120, 40);
    tmux.wait_for("the grid at 120x40", |s| {
        s.contains("run-beta") && s.contains("RankMe")
    });

    // Quit; the shell gets the main screen and a cooked terminal back.
    tmux.text("q");
    tmux.wait_for("sslwatch to exit", |s| s.contains("SSLWATCH-EXITED=0"));
    tmux.assert_terminal_restored();
}

#[test]
fn watch_exits_on_sigterm_and_restores_the_terminal() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux to run this test)");
        return;
    }
    let root = tempfile::tempdir().expect("temp root");
    let command = format!(
        "'{BIN}' watch '{}' --no-cache; echo SSLWATCH-EXITED=$?; exec sh",
        root.path().display()
    );
    let tmux = Tmux::start("sigterm", 80, 24, &command);
    tmux.wait_for("the UI", |s| s.contains("Waiting for runs"));
    let pid = tmux.sslwatch_pid();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    tmux.wait_for("sslwatch to exit cleanly", |s| {
        s.contains("SSLWATCH-EXITED=0")
    });
    tmux.assert_terminal_restored();
}

#[test]
fn demo_opens_the_ui_on_simulated_runs_and_removes_its_temporary_dir_on_quit() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux to run this test)");
        return;
    }
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("demo");
    let command = format!(
        "'{BIN}' demo --dir '{}' --interval 0.2 --steps 4; echo SSLWATCH-EXITED=$?; exec sh",
        dir.display()
    );
    let tmux = Tmux::start("demo", 120, 32, &command);
    let screen = tmux.wait_for("three simulated runs with values", |s| {
        s.contains("simclr-like") && s.contains("moco-like") && s.contains("simsiam-like")
    });
    assert!(
        screen.contains("SIMULATED"),
        "the demo is labelled as simulated:\n{screen}"
    );
    tmux.text("q");
    tmux.wait_for("the demo to exit", |s| s.contains("SSLWATCH-EXITED=0"));
    tmux.assert_terminal_restored();
    // An explicit --dir is the user's: the runs stay there.
    assert!(dir.join("simclr-like").join("milestones").is_dir());

    // Without --dir the runs go to a fresh directory under TMPDIR, removed
    // when the demo ends.
    let tmp = tempfile::tempdir().expect("temp dir");
    let command = format!(
        "TMPDIR='{}' '{BIN}' demo --interval 0.2 --steps 2; echo SSLWATCH-EXITED=$?; exec sh",
        tmp.path().display()
    );
    let tmux = Tmux::start("demo-tmp", 100, 30, &command);
    tmux.wait_for("the simulated runs", |s| s.contains("simsiam-like"));
    let made: Vec<_> = std::fs::read_dir(tmp.path()).expect("TMPDIR").collect();
    assert_eq!(made.len(), 1, "one demo directory under TMPDIR");
    tmux.text("q");
    tmux.wait_for("the demo to exit", |s| s.contains("SSLWATCH-EXITED=0"));
    let left: Vec<_> = std::fs::read_dir(tmp.path()).expect("TMPDIR").collect();
    assert!(left.is_empty(), "demo directory left behind: {left:?}");
}

/// An SSH disconnect or a killed tmux server takes the terminal away: the
/// kernel sends SIGHUP and sslwatch must exit, not linger computing on a
/// training box with nobody watching.
#[test]
fn watch_exits_when_its_terminal_goes_away() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux to run this test)");
        return;
    }
    let root = tempfile::tempdir().expect("temp root");
    write_run(root.path(), "run-alpha", 2, 1);
    let command = format!(
        "'{BIN}' watch '{}' --no-cache; exec sh",
        root.path().display()
    );
    let tmux = Tmux::start("hangup", 80, 24, &command);
    tmux.wait_for("the run", |s| s.contains("run-alpha"));
    let pid = tmux.sslwatch_pid();
    drop(tmux); // kill-server: the pane's terminal goes away
    let alive = || Path::new(&format!("/proc/{pid}")).exists();
    let start = Instant::now();
    while alive() && start.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !alive(),
        "sslwatch {pid} still running after its terminal went away"
    );
}

/// A 300 x 32 milestone of uniform noise (healthy, full rank).
fn healthy(seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((300, 32), |_| rng.gen_range(-0.5f32..0.5))
}

/// 300 x 32, every row a multiple of one vector: rank one, all spectrum
/// mass in the top component (the dimensional-collapse rule).
fn rank_one() -> Array2<f32> {
    Array2::from_shape_fn((300, 32), |(i, j)| {
        (i as f32 - 150.0) / 50.0 * (1.0 + j as f32 / 8.0)
    })
}

fn write_milestone(root: &Path, run: &str, step: usize, x: &Array2<f32>) {
    let file = root
        .join(run)
        .join("milestones")
        .join(format!("epoch_{step:04}"))
        .join("z.npy");
    write_atomic(&file, &npy_bytes_f32(x.view())).expect("milestone");
}

/// A run collapses while `watch` is open: the status line gets the alert
/// badge and the run's row its `!` mark; the healthy run stays unmarked.
/// Then `report --follow --exit-on-alert`, as a SLURM script would run it,
/// stops with exit code 3 on the same root.
#[test]
fn a_collapse_shows_the_alert_badge_in_watch_and_stops_report_with_exit_code_3() {
    if !Tmux::available() {
        eprintln!("SKIPPED: tmux is not installed (apt-get install tmux to run this test)");
        return;
    }
    let root = tempfile::tempdir().expect("temp root");
    write_milestone(root.path(), "run-ok", 10, &healthy(1));
    write_milestone(root.path(), "run-bad", 10, &healthy(2));
    let command = format!(
        "'{BIN}' watch '{}' --no-cache; echo SSLWATCH-EXITED=$?; exec sh",
        root.path().display()
    );
    let tmux = Tmux::start("alert", 100, 30, &command);
    let screen = tmux.wait_for("both runs with one milestone", |s| {
        s.contains("run-ok") && s.contains("run-bad") && s.matches("#1").count() == 2
    });
    assert!(
        !screen.contains("alert"),
        "no alert before the collapse:\n{screen}"
    );

    write_milestone(root.path(), "run-bad", 20, &rank_one());
    let screen = tmux.wait_for("the alert badge", |s| s.contains("⚠ 1 alert"));
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_string()
    };
    // The mark sits in the two columns before the name (after the
    // selection pointer `▶`).
    let marked = |name: &str| row(name).chars().take(2).any(|c| c == '!');
    assert!(marked("run-bad"), "the collapsed run is marked:\n{screen}");
    assert!(!marked("run-ok"), "the healthy run is not:\n{screen}");
    tmux.text("q");
    tmux.wait_for("sslwatch to exit", |s| s.contains("SSLWATCH-EXITED=0"));
    tmux.assert_terminal_restored();

    let command = format!(
        "'{BIN}' report '{}' --follow --exit-on-alert --no-cache --format json >/dev/null; \
         echo REPORT-EXITED=$?; exec sh",
        root.path().display()
    );
    let tmux = Tmux::start("exit-on-alert", 100, 30, &command);
    let screen = tmux.wait_for("report to exit", |s| s.contains("REPORT-EXITED="));
    assert!(screen.contains("REPORT-EXITED=3"), "{screen}");
    assert!(screen.contains("stopping at the first alert"), "{screen}");
}
