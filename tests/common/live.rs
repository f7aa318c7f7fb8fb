//! Driving `sslwatch report --follow` as a user would: a running process
//! whose JSON lines and stderr the test waits on, with generous deadlines.
#![allow(dead_code)]

use ndarray::Array2;
use serde_json::Value;
use sslwatch::read::write::{npy_bytes_f32, npy_bytes_i64, write_atomic};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const DEADLINE: Duration = Duration::from_secs(90);
pub const BIN: &str = env!("CARGO_BIN_EXE_sslwatch");
/// Tiny, fast metric settings.
pub const FAST: [&str; 4] = ["--k", "2", "--n-init", "1"];

/// A 40 x 8 matrix in two clusters, varied by `seed`.
pub fn matrix(rows: usize, seed: u64) -> Array2<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array2::from_shape_fn((rows, 8), |(i, _)| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let noise = ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5;
        (i % 2) as f32 * 4.0 + noise
    })
}

pub fn npy(rows: usize, seed: u64) -> Vec<u8> {
    npy_bytes_f32(matrix(rows, seed).view())
}

pub fn put(path: &Path, bytes: &[u8]) {
    write_atomic(path, bytes).unwrap();
}

/// Run `sslwatch ARGS` to its end; panic with its stderr unless it exits 0.
pub fn sslwatch_ok<I, S>(args: I) -> std::process::Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(BIN).args(args).output().expect("run sslwatch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn labels(rows: usize) -> Vec<u8> {
    npy_bytes_i64(&(0..rows as i64).map(|i| i % 2).collect::<Vec<_>>())
}

/// A running `sslwatch` whose stdout lines arrive on a channel.
pub struct Proc {
    pub child: Child,
    pub lines: crossbeam_channel::Receiver<String>,
    pub stderr: Arc<Mutex<String>>,
    pub seen: Vec<Value>,
}

impl Proc {
    pub fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sslwatch");
        let (tx, lines) = crossbeam_channel::unbounded();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            child,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Read JSON lines until `done(all lines so far)` holds.
    pub fn until(&mut self, what: &str, mut done: impl FnMut(&[Value]) -> bool) {
        let end = Instant::now() + DEADLINE;
        while !done(&self.seen) {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                    self.seen.push(v);
                }
                Err(_) => panic!(
                    "timed out waiting for {what}\nstdout lines: {:#?}\nstderr:\n{}",
                    self.seen,
                    self.stderr()
                ),
            }
        }
    }

    pub fn until_stderr(&self, what: &str) {
        let end = Instant::now() + DEADLINE;
        while !self.stderr().contains(what) {
            assert!(
                Instant::now() < end,
                "timed out waiting for {what:?} on stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Send SIGINT and wait for the exit.
    pub fn interrupt(mut self) -> (ExitStatus, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, self.stderr());
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "sslwatch did not exit on SIGINT; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn results<'a>(lines: &'a [Value], run: &str, step: u64) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|v| v["run"] == run && v["step"] == step && v.get("status").is_some())
        .collect()
}

pub fn has_ok(lines: &[Value], run: &str, step: u64) -> bool {
    results(lines, run, step)
        .iter()
        .any(|v| v["status"] == "ok")
}

pub fn follow(root: &Path, extra: &[&str]) -> Proc {
    let mut args = vec![
        "report",
        root.to_str().unwrap(),
        "--follow",
        "--format",
        "json",
        "--no-cache",
    ];
    args.extend(FAST);
    args.extend(extra);
    Proc::start(&args)
}

pub fn run_dir(root: &Path, name: &str) -> PathBuf {
    let d = root.join(name).join("milestones");
    std::fs::create_dir_all(&d).unwrap();
    d
}
