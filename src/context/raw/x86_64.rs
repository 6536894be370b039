//! Calls into the compact switch functions of `asm/x86_64_sysv_elf.S`.
//!
//! The compact functions are not SysV functions (see the assembly file's
//! "compact convention"): they save only RBX, RBP, the resume address and
//! the FP control state. Each call site below is an inline `call` whose
//! operands declare everything else clobbered, R12-R15 included, so the
//! compiler keeps live values in the caller's frame around the switch and
//! nothing more:
//!
//! ```text
//!   in:  RDI = target block, RSI = data, RDX = ontop fn
//!   out: RAX = the block of the context we came from, RDX = data
//!   clobbered: the C ABI's caller-saved registers (clobber_abi) + R12-R15
//!   preserved: RBX, RBP (saved in the block), RSP, MXCSR/x87 CW (full)
//! ```
//!
//! The same function set exists for every architecture (`aarch64.rs`).

use super::{OntopFn, Transfer};
use std::arch::asm;
use std::ffi::c_void;

/// The size of a fresh compact block: `start` reads its entry function at
/// offset 0 and starts the context's stack at block + `FRESH_BLOCK`, the
/// 16-aligned top (the assembly's `make_compact`).
pub(super) const FRESH_BLOCK: usize = 0x18;

extern "C" {
    #[link_name = switch_symbol!("jump_compact")]
    fn coframe_jump_compact();
    #[link_name = switch_symbol!("jump_compact_lean")]
    fn coframe_jump_compact_lean();
    #[link_name = switch_symbol!("ontop_compact")]
    fn coframe_ontop_compact();
    #[link_name = switch_symbol!("ontop_compact_lean")]
    fn coframe_ontop_compact_lean();
    #[link_name = switch_symbol!("yield_compact")]
    fn coframe_yield_compact();
    #[link_name = switch_symbol!("yield_compact_lean")]
    fn coframe_yield_compact_lean();
    #[link_name = switch_symbol!("start_compact")]
    fn coframe_start_compact();
    #[link_name = switch_symbol!("start_compact_lean")]
    fn coframe_start_compact_lean();
}

/// One inline entry into a compact function. `call` for jump and ontop (it
/// pushes the return address that the target's `ret`, or `pop; jmp`,
/// consumes); for yield the resume address is pushed by hand and the
/// function entered by `jmp`, so the return-stack predictor gets no entry
/// and the function's `ret` pops the resumer's `call` (the assembly's
/// "Branches"). RDX carries the ontop function in, and data out.
macro_rules! compact_call {
    (call $f:ident, $to:expr, $data:expr) => {
        compact_call!(@asm ["call {f}"], $f, $to, $data, out, lateout("rdx") out)
    };
    (call $f:ident, $to:expr, $data:expr, $fn:expr) => {
        compact_call!(@asm ["call {f}"], $f, $to, $data, out, inlateout("rdx") $fn => out)
    };
    (yield $f:ident, $to:expr, $data:expr) => {
        compact_call!(
            @asm ["lea rcx, [rip + 2f]", "push rcx", "jmp {f}", "2:"],
            $f, $to, $data, out, lateout("rdx") out
        )
    };
    (@asm [$($enter:literal),+], $f:ident, $to:expr, $data:expr, $out:ident, $($rdx:tt)+) => {{
        let (ctx, $out): (*mut c_void, *mut c_void);
        // SAFETY: forwarded from the caller; the operands follow the
        // compact convention of the assembly (documented above); a yield's
        // pushed address is popped by the `ret` that resumes us.
        unsafe {
            asm!(
                $($enter,)+
                f = sym $f,
                in("rdi") $to,
                in("rsi") $data,
                $($rdx)+,
                lateout("rax") ctx,
                out("r12") _, out("r13") _, out("r14") _, out("r15") _,
                clobber_abi("C"),
            )
        };
        Transfer { ctx, data: $out }
    }};
}

/// Compact jump; `full` keeps the FP control state per context.
///
/// # Safety
///
/// `to` is a suspended compact block, resumed nowhere else.
#[inline(always)]
pub(super) unsafe fn jump(full: bool, to: *mut c_void, data: *mut c_void) -> Transfer {
    if full {
        compact_call!(call coframe_jump_compact, to, data)
    } else {
        compact_call!(call coframe_jump_compact_lean, to, data)
    }
}

/// Compact first activation of a fresh block (the assembly's "First
/// activation"); `full` saves the resumer's FP control state.
///
/// # Safety
///
/// `to` was made by `make_fresh_compact` (or the assembly's
/// `make_compact`) and never resumed.
#[inline(always)]
pub(super) unsafe fn start(full: bool, to: *mut c_void, data: *mut c_void) -> Transfer {
    if full {
        compact_call!(call coframe_start_compact, to, data)
    } else {
        compact_call!(call coframe_start_compact_lean, to, data)
    }
}

/// Compact ontop; `full` keeps the FP control state per context.
///
/// # Safety
///
/// As for [`jump`]; `f` must not unwind.
#[inline(always)]
pub(super) unsafe fn ontop(full: bool, to: *mut c_void, data: *mut c_void, f: OntopFn) -> Transfer {
    if full {
        compact_call!(call coframe_ontop_compact, to, data, f)
    } else {
        compact_call!(call coframe_ontop_compact_lean, to, data, f)
    }
}

/// Compact jump back to the resumer (entered by `jmp`, resumes by `ret`).
///
/// # Safety
///
/// As for [`jump`].
#[inline(always)]
pub(super) unsafe fn yield_to(full: bool, to: *mut c_void, data: *mut c_void) -> Transfer {
    if full {
        compact_call!(yield coframe_yield_compact, to, data)
    } else {
        compact_call!(yield coframe_yield_compact_lean, to, data)
    }
}

/// The last switch of a coroutine back to its resumer: [`yield_to`] for a
/// context that is never resumed. The block is saved as by any yield (its
/// resume address is a trap); the call site keeps nothing live across the
/// switch, so it declares no clobbers, and a function that ends with it
/// saves no registers for it (entry functions never return).
///
/// # Safety
///
/// As for [`jump`]; nothing resumes the context that calls this.
#[inline(always)]
pub(super) unsafe fn yield_final(full: bool, to: *mut c_void, data: *mut c_void) -> ! {
    macro_rules! final_yield {
        ($f:ident) => {
            // SAFETY: forwarded from the caller; the operands follow the
            // compact convention; the pushed address (a trap) is the block's
            // resume address, which nothing uses.
            unsafe {
                asm!(
                    "lea rcx, [rip + 2f]",
                    "push rcx",
                    "jmp {f}",
                    "2:",
                    "ud2",
                    f = sym $f,
                    in("rdi") to,
                    in("rsi") data,
                    options(noreturn),
                )
            }
        };
    }
    if full {
        final_yield!(coframe_yield_compact)
    } else {
        final_yield!(coframe_yield_compact_lean)
    }
}
