//! Builds the stack-switch assembly for the target with `cc`, under symbol
//! names that belong to this version of coframe alone.
//!
//! One file per architecture and ABI lives in `asm/`; each provides the
//! fcontext functions (`make_fcontext`, and `jump_fcontext` and
//! `ontop_fcontext`, each also as a `_lean` variant that leaves the
//! floating-point control state alone) and the compact ones for coroutines
//! (`make_compact`, and `jump_compact`, `ontop_compact` and `start_compact`,
//! each also `_lean`; x86_64 adds `yield_compact` and its `_lean`
//! variant): 12 global symbols on aarch64, 14 on x86_64. An unsupported
//! target fails here, with a message, rather than at link time.
//!
//! Symbol names. This script is their one source: every global symbol is
//! `coframe_<version>_<function>`, where `<version>` is the package version
//! with every character that is not an ASCII letter or digit replaced by `_`
//! (0.1.0: `coframe_0_1_0_jump_fcontext`). The prefix reaches the assembler
//! as `-DCOFRAME_PREFIX=coframe_<version>_` and the crate as the compile-time
//! variable `COFRAME_SYMBOL_PREFIX`, from which `src/context/raw.rs` builds
//! the link names of its declarations; `asm/test/prefix.sh` derives the same
//! prefix for the C harness. The assembly marks every global symbol
//! `.hidden`, and the static library is `coframe_switch_<version>`, so two
//! coframe versions in one binary each link their own switch code and no
//! switch symbol is ever exported from a binary or shared object.

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
    let version: String = env!("CARGO_PKG_VERSION")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let prefix = format!("coframe_{version}_");
    println!("cargo:rustc-env=COFRAME_SYMBOL_PREFIX={prefix}");
    let mut build = cc::Build::new();
    build.file(file);
    build.define("COFRAME_PREFIX", prefix.as_str());
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
    build.compile(&format!("coframe_switch_{version}"));
}
