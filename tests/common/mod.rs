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

/// Whether python3 can import numpy, scipy and scikit-learn. When it cannot,
/// the test is skipped with a message, unless SSLWATCH_REQUIRE_REFERENCE=1
/// (CI), where that is a failure.
pub fn reference_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import numpy, scipy, sklearn"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("SSLWATCH_REQUIRE_REFERENCE").as_deref() != Ok("1"),
            "SSLWATCH_REQUIRE_REFERENCE=1 but python3 cannot import numpy, scipy, sklearn"
        );
        println!("skipped: scikit-learn not installed");
    }
    ok
}
