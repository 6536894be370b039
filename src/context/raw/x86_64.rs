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

extern "C" {
    fn coframe_jump_compact();
    fn coframe_jump_compact_lean();
    fn coframe_ontop_compact();
    fn coframe_ontop_compact_lean();
    fn coframe_yield_compact();
    fn coframe_yield_compact_lean();
}

macro_rules! compact_yield {
    ($f:ident, $to:expr, $data:expr) => {{
        let (ctx, data): (*mut c_void, *mut c_void);
        // SAFETY: forwarded from the caller; the operands follow the
        // compact convention; the pushed address is popped by the `ret`
        // that resumes us.
        unsafe {
            asm!(
                "lea rcx, [rip + 2f]",
                "push rcx",
                "jmp {f}",
                "2:",
                f = sym $f,
                in("rdi") $to,
                in("rsi") $data,
                lateout("rax") ctx,
                lateout("rdx") data,
                out("r12") _, out("r13") _, out("r14") _, out("r15") _,
                clobber_abi("C"),
            )
        };
        Transfer { ctx, data }
    }};
}

macro_rules! compact_call {
    ($f:ident, $to:expr, $data:expr) => {{
        let (ctx, data): (*mut c_void, *mut c_void);
        // SAFETY: forwarded from the caller; the operands follow the
        // compact convention of the assembly (documented above).
        unsafe {
            asm!(
                "call {f}",
                f = sym $f,
                in("rdi") $to,
                in("rsi") $data,
                lateout("rax") ctx,
                lateout("rdx") data,
                out("r12") _, out("r13") _, out("r14") _, out("r15") _,
                clobber_abi("C"),
            )
        };
        Transfer { ctx, data }
    }};
    ($f:ident, $to:expr, $data:expr, $fn:expr) => {{
        let (ctx, data): (*mut c_void, *mut c_void);
        // SAFETY: as above; `$fn` is called on the target's stack.
        unsafe {
            asm!(
                "call {f}",
                f = sym $f,
                in("rdi") $to,
                in("rsi") $data,
                inlateout("rdx") $fn => data,
                lateout("rax") ctx,
                out("r12") _, out("r13") _, out("r14") _, out("r15") _,
                clobber_abi("C"),
            )
        };
        Transfer { ctx, data }
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
        compact_call!(coframe_jump_compact, to, data)
    } else {
        compact_call!(coframe_jump_compact_lean, to, data)
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
        compact_call!(coframe_ontop_compact, to, data, f)
    } else {
        compact_call!(coframe_ontop_compact_lean, to, data, f)
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
        compact_yield!(coframe_yield_compact, to, data)
    } else {
        compact_yield!(coframe_yield_compact_lean, to, data)
    }
}
