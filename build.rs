//! Tells the kernel tests which CPU levels the build machine has, so a test
//! that needs a level this machine lacks is reported as ignored instead of
//! passing without testing anything. (`cargo test` runs where it builds;
//! the kernels themselves choose their level at run time, in
//! `src/kernels/cpu.rs`, and never look at these flags.)

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=src/kernels/cpu_levels.rs");
    for level in ["avx512", "vnni", "amx"] {
        println!("cargo::rustc-check-cfg=cfg(test_cpu_{level})");
    }
    let target = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    #[cfg(target_arch = "x86_64")]
    if target == "x86_64" {
        for level in x86::levels() {
            println!("cargo::rustc-cfg=test_cpu_{level}");
        }
    }
    let _ = target;
}

#[cfg(target_arch = "x86_64")]
#[allow(unused_macros)] // the feature list for reports is the crate's
mod x86 {
    include!("src/kernels/cpu_levels.rs");

    /// The levels above AVX2 this machine has, as `src/kernels/cpu.rs`
    /// defines them (AMX by CPUID alone: the OS's permission is asked at
    /// run time).
    pub fn levels() -> Vec<&'static str> {
        let present = x86_level_features!(x86_levels_present);
        let mut levels: Vec<&'static str> = ["avx512", "vnni"]
            .into_iter()
            .take(present.saturating_sub(1))
            .collect();
        if present >= 3 && amx_in_cpuid() {
            levels.push("amx");
        }
        levels
    }
    fn amx_in_cpuid() -> bool {
        use std::arch::x86_64::__cpuid_count;
        // SAFETY: CPUID is a read-only query, present on every x86_64 CPU
        // (a safe function from Rust 1.94 on; `unsafe` for older ones).
        #[allow(unused_unsafe)]
        unsafe {
            __cpuid_count(0, 0).eax >= 7 && {
                let edx = __cpuid_count(7, 0).edx;
                edx & (1 << 24) != 0 && edx & (1 << 25) != 0
            }
        }
    }
}
