//! Link settings for the `odw` binary.

fn main() {
    // The binary is position-independent (ASLR), so the dynamic loader
    // applies ~50 000 relative relocations at every start. Packed (DT_RELR,
    // glibc 2.36+, GNU ld 2.38+ or lld) their table is 15 KB instead of
    // 1.2 MB, which every run read: 1.3 MB less resident memory, and less
    // start-up work. A loader without DT_RELR refuses the binary by name
    // (`GLIBC_ABI_DT_RELR`) rather than misrunning it.
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os == "linux" && target_env == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
