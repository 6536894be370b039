//! Calls into the compact switch functions of `asm/aarch64_aapcs_elf.S`.
//!
//! The compact functions are not AAPCS64 functions (see the assembly file's
//! "compact convention"): they save only X19, X29, the resume address (X30)
//! and FPCR. Each call site below is an inline `bl` whose operands declare
//! everything else clobbered, X20-X28 and all of V0-V31 included, so the
//! compiler keeps live values in the caller's frame around the switch:
//!
//! ```text
//!   in:  X0 = target block, X1 = data, X2 = ontop fn
//!   out: X0 = the block of the context we came from, X1 = data
//!   clobbered: the C ABI's caller-saved registers (clobber_abi, which on
//!              AArch64 covers X30 and all of V0-V31) + X20-X28
//!   preserved: X19, X29 (saved in the block), SP, FPCR (full)
//! ```
//!
//! The same function set exists for every architecture (`x86_64.rs`).

use super::{OntopFn, Transfer};
use std::arch::asm;
use std::ffi::c_void;

/// The size of a fresh compact block: `start` reads its entry function at
/// offset 0 and starts the context's stack at block + `FRESH_BLOCK`, the
/// 16-aligned top (the assembly's `make_compact`).
pub(super) const FRESH_BLOCK: usize = 0x20;

extern "C" {
    #[link_name = switch_symbol!("jump_compact")]
    fn coframe_jump_compact();
    #[link_name = switch_symbol!("jump_compact_lean")]
    fn coframe_jump_compact_lean();
    #[link_name = switch_symbol!("ontop_compact")]
    fn coframe_ontop_compact();
    #[link_name = switch_symbol!("ontop_compact_lean")]
    fn coframe_ontop_compact_lean();
    #[link_name = switch_symbol!("start_compact")]
    fn coframe_start_compact();
    #[link_name = switch_symbol!("start_compact_lean")]
    fn coframe_start_compact_lean();
}

/// One inline `bl` into a compact function; X2 carries the ontop function.
macro_rules! compact_call {
    ($f:ident, $to:expr, $data:expr $(, $fn:expr)?) => {{
        let (ctx, data): (*mut c_void, *mut c_void);
        // SAFETY: forwarded from the caller; the operands follow the
        // compact convention of the assembly (documented above); an ontop
        // function is called on the target's stack.
        unsafe {
            asm!(
                "bl {f}",
                f = sym $f,
                inlateout("x0") $to => ctx,
                inlateout("x1") $data => data,
                $(in("x2") $fn,)?
                out("x20") _, out("x21") _, out("x22") _, out("x23") _,
                out("x24") _, out("x25") _, out("x26") _, out("x27") _,
                out("x28") _,
                clobber_abi("C"),
            )
        };
        Transfer { ctx, data }
    }};
}

/// Compact jump; `full` keeps FPCR per context.
///
/// # Safety
///
/// `to` is a suspended compact block, resumed nowhere else.
#[inline(always)]
pub(super) unsafe fn jump(full: bool, to: *mut c_void, data: *mut c_void) -> Transfer {
    if full {
        compact_call!(coframe_jump_compact, to, data)
    } else {
        compact_call!(coframe_jump_compact_lean, to, data)
    }
}

/// Compact first activation of a fresh block (see the assembly); `full`
/// saves the resumer's FPCR.
///
/// # Safety
///
/// `to` was made by `make_fresh_compact` (or the assembly's
/// `make_compact`) and never resumed.
#[inline(always)]
pub(super) unsafe fn start(full: bool, to: *mut c_void, data: *mut c_void) -> Transfer {
    if full {
        compact_call!(coframe_start_compact, to, data)
    } else {
        compact_call!(coframe_start_compact_lean, to, data)
    }
}

/// Compact ontop; `full` keeps FPCR per context.
///
/// # Safety
///
/// As for [`jump`]; `f` must not unwind.
#[inline(always)]
pub(super) unsafe fn ontop(full: bool, to: *mut c_void, data: *mut c_void, f: OntopFn) -> Transfer {
    if full {
        compact_call!(coframe_ontop_compact, to, data, f)
    } else {
        compact_call!(coframe_ontop_compact_lean, to, data, f)
    }
}

/// Compact jump back to the resumer. On AArch64 every compact switch
/// resumes with `ret` to X30 (BTI does not check `ret`), so this is
/// [`jump`]; it exists to keep the function set identical across
/// architectures.
///
/// # Safety
///
/// As for [`jump`].
#[inline(always)]
pub(super) unsafe fn yield_to(full: bool, to: *mut c_void, data: *mut c_void) -> Transfer {
    // SAFETY: forwarded contract.
    unsafe { jump(full, to, data) }
}

/// The last switch of a coroutine back to its resumer: [`yield_to`] for a
/// context that is never resumed. The block is saved as by any switch (its
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
            // compact convention; the return address `bl` leaves (a trap)
            // is the block's resume address, which nothing uses.
            unsafe {
                asm!(
                    "bl {f}",
                    "brk #0x1",
                    f = sym $f,
                    in("x0") to,
                    in("x1") data,
                    options(noreturn),
                )
            }
        };
    }
    if full {
        final_yield!(coframe_jump_compact)
    } else {
        final_yield!(coframe_jump_compact_lean)
    }
}
