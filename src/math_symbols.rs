//! The math functions the binary defines itself, so that it never loads
//! glibc's `libm.so.6`.
//!
//! Of all of libm, the binary calls two functions: `pow` (indicatif's rate
//! estimates, tokio's scheduler statistics) and `log2` (num-bigint's digit
//! counts). Loading the library for them cost every process ~0.08 ms of its
//! start on a 2-core VM (opening, mapping and relocating it, for any
//! command, `--version` included). Defined here, the linker resolves the
//! calls inside the binary and `--as-needed` drops `-lm`.
//!
//! They are the `libm` crate's (musl's implementations, within an ulp of
//! the exact result, as glibc's are); none of their callers depends on the
//! last bit. Should a dependency come to call another libm function, libm
//! is loaded again: `tests/runtime.rs` checks what the binary loads.

#[unsafe(no_mangle)]
extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[unsafe(no_mangle)]
extern "C" fn log2(x: f64) -> f64 {
    libm::log2(x)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_defined_functions_agree_with_the_exact_values() {
        // Called through `std`, which is what the dependencies do.
        let pow = |x: f64, y: f64| std::hint::black_box(x).powf(std::hint::black_box(y));
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(10.0, -2.0), 0.01);
        assert!(pow(-1.0, 0.5).is_nan());
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
        let log2 = |x: f64| std::hint::black_box(x).log2();
        assert_eq!(log2(1024.0), 10.0);
        assert_eq!(log2(10.0), std::f64::consts::LOG2_10);
        assert_eq!(log2(0.0), f64::NEG_INFINITY);
    }
}
