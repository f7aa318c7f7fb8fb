//! Build script: only does something with the `train` feature.
//!
//! With `train`, the binary and tests get an rpath to libtorch's lib directory
//! (exported by torch-sys as `DEP_TCH_LIBTORCH_LIB`), so they run without
//! `LD_LIBRARY_PATH`. With `cuda`, libtorch is linked with `--no-as-needed`:
//! otherwise the linker drops `libtorch_cuda` (nothing references it
//! directly) and CUDA silently stays unavailable.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_TRAIN").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}
