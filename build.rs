//! Build script: tells the tests whether the building processor has
//! AVX512-BF16 (`cfg(sslwatch_host_bf16)`: the bf16 kernel's test is listed
//! as ignored where it cannot run); the rest only with the `train` feature.
//!
//! With `train`, the binary and tests get an rpath to libtorch's lib directory
//! (exported by torch-sys as `DEP_TCH_LIBTORCH_LIB`), so they run without
//! `LD_LIBRARY_PATH`. With `cuda`, libtorch is linked with `--no-as-needed`:
//! otherwise the linker drops `libtorch_cuda` (nothing references it
//! directly) and CUDA silently stays unavailable.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    host_features();
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

/// `cfg(sslwatch_host_bf16)` when this build runs on the processor it
/// builds for (no cross build) and that processor has AVX512-BF16.
fn host_features() {
    println!("cargo:rustc-check-cfg=cfg(sslwatch_host_bf16)");
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    #[cfg(target_arch = "x86_64")]
    if native
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bf16")
    {
        println!("cargo:rustc-cfg=sslwatch_host_bf16");
    }
    let _ = native;
}
