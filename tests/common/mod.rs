//! Shared by the integration tests.
#![allow(dead_code)]

pub mod live;

use std::ffi::OsStr;
use std::process::Command;

/// Run the Python `script` with `args` as argv[1..]; it prints one JSON value.
pub fn python_json<I, S>(script: &str, args: I) -> serde_json::Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python prints JSON")
}

/// The reference cross-checks are `#[ignore = ...]` by default, so a plain
/// `cargo test` says in its own summary how many it did not run; `cargo test
/// -- --include-ignored` runs them, and then python3 must import numpy,
/// scipy and scikit-learn: a missing package fails the test, never passes it.
pub fn require_reference() {
    let out = Command::new("python3")
        .args(["-c", "import numpy, scipy, sklearn"])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "this reference check needs python3 with numpy, scipy and scikit-learn \
             (pip install numpy scipy scikit-learn): {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => {
            panic!("this reference check needs python3 (with numpy, scipy, scikit-learn): {e}")
        }
    }
}
