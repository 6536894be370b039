//! Builds the stack-switch assembly for the target with `cc`.
//!
//! One file per architecture and ABI lives in `asm/`; each provides the
//! fcontext functions (`coframe_make_fcontext`, and `coframe_jump_fcontext`
//! and `coframe_ontop_fcontext`, each also as a `_lean` variant that leaves
//! the floating-point control state alone) and the compact ones for
//! coroutines (`coframe_make_compact`, and `coframe_jump_compact`,
//! `coframe_ontop_compact` and `coframe_start_compact`, each also `_lean`;
//! x86_64 adds `coframe_yield_compact` and its `_lean` variant): 12 global
//! symbols on aarch64, 14 on x86_64. An unsupported target fails here, with
//! a message, rather than at link time.

use std::env;

fn main() {
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let family = env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    let file = match (arch.as_str(), family.as_str(), os.as_str()) {
        ("x86_64", "unix", os) if os != "macos" && os != "ios" => "asm/x86_64_sysv_elf.S",
        ("aarch64", "unix", os) if os != "macos" && os != "ios" => "asm/aarch64_aapcs_elf.S",
        _ => panic!(
            "coframe: no stack-switch assembly for target arch `{arch}`, os `{os}`; \
             supported: x86_64 and aarch64 ELF (Linux, *BSD). \
             Add asm/<arch>_<abi>_<format>.S and select it in build.rs."
        ),
    };
    println!("cargo:rerun-if-changed={file}");
    println!("cargo:rerun-if-changed=build.rs");
    let mut build = cc::Build::new();
    build.file(file);
    // Branch protection (BTI/PAC) and CET are announced to the assembler by the
    // same macros the C compiler would define; the .S files test them.
    if let Ok(flags) = env::var("CARGO_ENCODED_RUSTFLAGS") {
        if flags.contains("branch-protection") && arch == "aarch64" {
            build.define("__ARM_FEATURE_BTI_DEFAULT", "1");
        }
        if flags.contains("cf-protection") && arch == "x86_64" {
            build.define("__CET__", "3");
        }
    }
    build.compile("coframe_switch");
}
