// The x86-64 features behind each CPU level, listed once. Both the crate
// (`cpu.rs`, at run time) and `build.rs` (which tells the tests what the
// build machine runs) `include!` this file, so the two cannot disagree.

/// Calls `$then!` with the features of each level above `portable`, in
/// level order (AMX, the top level, also needs the OS's permission, which
/// `cpu.rs` asks for at run time).
macro_rules! x86_level_features {
    ($then:ident) => {
        $then! {
            avx2: ["avx2", "fma", "f16c", "popcnt"],
            avx512: ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"],
            vnni: ["avx512vnni", "avx512vpopcntdq", "avx512bitalg"],
        }
    };
}

/// How many levels of [`x86_level_features`] this CPU has in a row: 0 for
/// none (portable), 1 for AVX2, 2 for AVX-512, 3 for VNNI.
macro_rules! x86_levels_present {
    ($($level:ident: [$($name:tt),*],)*) => {{
        let mut present = 0usize;
        let mut all = true;
        $(
            all = all $(&& std::arch::is_x86_feature_detected!($name))*;
            present += usize::from(all);
        )*
        present
    }};
}

/// Every feature of [`x86_level_features`] this CPU has, in level order.
macro_rules! x86_features_present {
    ($($level:ident: [$($name:tt),*],)*) => {{
        let mut found: Vec<&'static str> = Vec::new();
        $($(
            if std::arch::is_x86_feature_detected!($name) {
                found.push($name);
            }
        )*)*
        found
    }};
}
