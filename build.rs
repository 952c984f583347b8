//! Link settings for the `odw` binary.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        // The binary is position-independent (ASLR), so the dynamic loader
        // applies ~50 000 relative relocations at every start. Packed
        // (DT_RELR, glibc 2.36+, GNU ld 2.38+ or lld) their table is 15 KB
        // instead of 1.2 MB, which every run read: 1.3 MB less resident
        // memory, and less start-up work. A loader without DT_RELR refuses
        // the binary by name (`GLIBC_ABI_DT_RELR`) rather than misrunning it.
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        link_unwinder_statically();
    }
    println!("cargo:rustc-check-cfg=cfg(odw_static_unwinder)");
    println!("cargo:rerun-if-changed=build.rs");
}

/// Links GCC's unwinder (`libgcc_eh.a`) into the binary instead of loading
/// `libgcc_s.so.1` at every start. Loading that library runs its
/// constructor, `__cpu_indicator_init`, which asks the CPU about itself with
/// a dozen `cpuid` instructions; in a virtual machine each one exits to the
/// hypervisor, and on a 2-core Firecracker VM the constructor cost every
/// process 0.1-0.2 ms of its start, for a feature table odw never reads.
/// The static unwinder is the same code, and the only one in the process:
/// Rust's panics and backtraces and wasmtime's registration of the guest's
/// unwind tables (`__register_frame`) all resolve to it, so `-lgcc_s`,
/// which `std` still names, is dropped by `--as-needed`. When the C
/// compiler has no `libgcc_eh.a` (clang without GCC's runtime), the binary
/// links `libgcc_s` as before.
fn link_unwinder_statically() {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    println!("cargo:rerun-if-env-changed=CC");
    let Ok(out) = Command::new(&cc).arg("-print-file-name=libgcc_eh.a").output() else {
        return;
    };
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // Without the library `-print-file-name` echoes the bare name back.
    let Some(dir) = path.parent().filter(|_| path.is_absolute() && path.is_file()) else {
        return;
    };
    println!("cargo:rustc-link-search=native={}", dir.display());
    // Whole: the archive comes first on the link line, before the `std`
    // that needs it, so none of its members would otherwise be taken.
    println!("cargo:rustc-link-lib=static:+whole-archive=gcc_eh");
    println!("cargo:rustc-cfg=odw_static_unwinder");
}
