/*
 * coframe stack switch for AArch64, AAPCS64, ELF (Linux, *BSD).
 *
 * The same five functions and the same semantics as asm/x86_64_sysv_elf.S
 * (read that file's header first); only the differences are explained here.
 *
 *   typedef void *fcontext_t;
 *   typedef struct { fcontext_t fctx; void *data; } transfer_t;  // in X0:X1
 *
 *   fcontext_t coframe_make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));
 *   transfer_t coframe_jump_fcontext(fcontext_t to, void *data);
 *   transfer_t coframe_ontop_fcontext(fcontext_t to, void *data,
 *                                     transfer_t (*fn)(transfer_t));
 *   transfer_t coframe_jump_fcontext_lean(fcontext_t to, void *data);
 *   transfer_t coframe_ontop_fcontext_lean(fcontext_t to, void *data,
 *                                          transfer_t (*fn)(transfer_t));
 *
 * The saved block (0xb0 bytes, 16-byte aligned like SP itself; fcontext_t
 * points at offset 0x00):
 *
 *   offset  contents
 *   ------  ----------------------------------------------------------------
 *    0x00   D8     (low 64 bits of V8; AAPCS64 preserves only those)
 *    0x08   D9
 *    0x10   D10
 *    0x18   D11
 *    0x20   D12
 *    0x28   D13
 *    0x30   D14
 *    0x38   D15
 *    0x40   X19    (fresh context: the entry function `fn`)
 *    0x48   X20
 *    0x50   X21
 *    0x58   X22
 *    0x60   X23
 *    0x68   X24
 *    0x70   X25
 *    0x78   X26
 *    0x80   X27
 *    0x88   X28
 *    0x90   X29 (FP)  (fresh context: 0, the end of the frame-record chain)
 *    0x98   X30 (LR)  = the resume address (fresh context: the trampoline)
 *    0xa0   FPCR (full variants) or -1 = "no FP state" (lean variants and
 *           fresh contexts)
 *    0xa8   unused
 *   ------
 *    0xb0   the suspended context's SP after resumption
 *
 * Difference from Boost's layout (same registers at the same offsets up to
 * 0x98): Boost keeps a copy of LR as "PC" at 0xa0 and leaves 0xa8 as
 * padding. Here LR itself is the resume address (after a `bl` to jump, X30
 * is the return address and the caller does not expect X30 preserved), so
 * 0xa0 holds FPCR instead and 0xa8 stays free.
 *
 * Register contract (AAPCS64 6.1.1, 6.1.2):
 *   - callee-saved and saved here: X19-X28, X29 (FP), X30 (LR, as the resume
 *     address), SP (it *is* the fcontext_t), D8-D15 (bits 0-63 of V8-V15);
 *   - caller-saved, not saved: X0-X17, V0-V7, V16-V31, the upper halves of
 *     V8-V15, NZCV, FPSR (cumulative exception flags: thread state);
 *   - X18 (platform register) and TPIDR_EL0 (thread pointer) are per thread,
 *     not per context: untouched.
 *
 * FPCR decision. Boost and corosensei do not save FPCR, and AAPCS64 does not
 * call it callee-saved: it treats its mode bits (rounding, flush-to-zero,
 * default-NaN, trap enables) as global state changed only by dedicated
 * support functions such as fesetround. We nevertheless make FPCR part of a
 * context in the full variants, because coframe promises one contract on
 * every architecture: with the default switch, a floating-point mode set in
 * one context never leaks into another (on x86_64 the SysV ABI requires that
 * for MXCSR and the x87 control word anyway). The cost is kept small: FPCR is
 * read with `mrs` on every full switch, but written (`msr`, which may
 * synchronise the FP pipeline) only when the target's value differs. The
 * lean variants do not touch FPCR; they store -1 in the slot (FPCR bits
 * 32-63 are RES0, so `mrs` never yields -1) and a full resumption of a block
 * carrying that marker keeps the resumer's FPCR: contexts that are switched
 * lean share the thread's FP mode, mixing the variants is memory safe, and
 * no stale value is ever loaded. FPSR (the exception flags) is never saved:
 * like the MXCSR status flags on x86_64 it is thread state.
 *
 * Fresh contexts. make_fcontext aligns `sp` down to 16 and builds the block
 * in the 0xb0 bytes below it (it writes at most 0xb0 + 15 bytes below `sp`,
 * nothing at or above it); `size` is unused. The first switch `ret`s into
 * the local trampoline `coframe_fcontext_start` with SP = the aligned top,
 * X29 = 0, X0:X1 = transfer_t{from, data} (or an ontop function's result),
 * which calls fn with `blr x19`: at fn's first instruction SP is 16-byte
 * aligned, X29 = 0 and X30 points into the trampoline, whose CFI marks X30
 * undefined, so DWARF unwinders stop there and frame-record walkers stop at
 * the zero FP. If fn returns (forbidden), the trampoline calls _exit(0), as
 * Boost does.
 *
 * Branches. Resuming a context is a `ret` (to X30, the return address of its
 * suspended `bl`); calling an ontop function is `br x16`, a tail call through
 * the register BTI lets land on a function's `bti c` (or `paciasp`), as
 * linker veneers do. BTI (__ARM_FEATURE_BTI_DEFAULT): every global entry
 * starts with `bti c`; no `bti j` is needed because no `br` lands anywhere
 * but a function entry: the trampoline and the resume points are reached by
 * `ret`, which BTI does not check. PAC (__ARM_FEATURE_PAC_DEFAULT): X30 is
 * stored as received from `bl`, unsigned; compiled functions sign and
 * authenticate their own frames' return addresses with the SP they had,
 * which a switch restores, so the code is PAC-compatible (the property note
 * says so) without signing the block's resume address itself.
 *
 * Tested under qemu-aarch64 by asm/test/run.sh (harness.c, and
 * bti_enforced.c with BTI enforced); not benchmarked (no aarch64 hardware
 * here). `ret` to a resume address other than the one the return-stack
 * predictor expects mispredicts, as in Boost; `br` would need landing pads
 * at every call site under BTI.
 *
 * Symbol names: hidden and versioned, SYM(name) = COFRAME_PREFIX ## name,
 * exactly as in the x86_64 file ("Symbol names").
 */

#ifndef COFRAME_PREFIX
#  error "COFRAME_PREFIX is not defined: build with -DCOFRAME_PREFIX=coframe_<version>_ (build.rs does)"
#endif
#define SYM_PASTE(prefix, name) prefix ## name
#define SYM_EXPAND(prefix, name) SYM_PASTE(prefix, name)
#define SYM(name) SYM_EXPAND(COFRAME_PREFIX, name)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && (__ARM_FEATURE_BTI_DEFAULT == 1)
#  define BTI_C hint #34                /* bti c                             */
#  define GNU_PROPERTY_BTI 1
#else
#  define BTI_C
#  define GNU_PROPERTY_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && (__ARM_FEATURE_PAC_DEFAULT != 0)
#  define GNU_PROPERTY_PAC 2
#else
#  define GNU_PROPERTY_PAC 0
#endif

        .file   "aarch64_aapcs_elf.S"
        .text

/*
 * Saving the caller: on entry SP is the caller's (16-aligned) and X30 its
 * resume address. Leaves X4 = SP = the caller's block. `full` = 1 stores
 * FPCR (read into X9), else the "no FP state" marker (X9 = -1).
 */
.macro SAVE_CALLER full
        sub     sp, sp, #0xb0           /* room for the block                */
        .cfi_def_cfa_offset 0xb0
        stp     d8,  d9,  [sp, #0x00]   /* 0x00, 0x08: D8, D9                */
        stp     d10, d11, [sp, #0x10]   /* 0x10, 0x18: D10, D11              */
        stp     d12, d13, [sp, #0x20]   /* 0x20, 0x28: D12, D13              */
        stp     d14, d15, [sp, #0x30]   /* 0x30, 0x38: D14, D15              */
        stp     x19, x20, [sp, #0x40]   /* 0x40, 0x48: X19, X20              */
        stp     x21, x22, [sp, #0x50]   /* 0x50, 0x58: X21, X22              */
        stp     x23, x24, [sp, #0x60]   /* 0x60, 0x68: X23, X24              */
        stp     x25, x26, [sp, #0x70]   /* 0x70, 0x78: X25, X26              */
        stp     x27, x28, [sp, #0x80]   /* 0x80, 0x88: X27, X28              */
        stp     x29, x30, [sp, #0x90]   /* 0x90, 0x98: FP, LR (resume addr)  */
        .cfi_offset d8,  -0xb0
        .cfi_offset d9,  -0xa8
        .cfi_offset d10, -0xa0
        .cfi_offset d11, -0x98
        .cfi_offset d12, -0x90
        .cfi_offset d13, -0x88
        .cfi_offset d14, -0x80
        .cfi_offset d15, -0x78
        .cfi_offset x19, -0x70
        .cfi_offset x20, -0x68
        .cfi_offset x21, -0x60
        .cfi_offset x22, -0x58
        .cfi_offset x23, -0x50
        .cfi_offset x24, -0x48
        .cfi_offset x25, -0x40
        .cfi_offset x26, -0x38
        .cfi_offset x27, -0x30
        .cfi_offset x28, -0x28
        .cfi_offset x29, -0x20
        .cfi_offset x30, -0x18
.if \full
        mrs     x9, fpcr                /* X9 = current FPCR                 */
.else
        mov     x9, #-1                 /* X9 = "no FP state" marker         */
.endif
        str     x9, [sp, #0xa0]         /* 0xa0: FPCR or marker              */
        mov     x4, sp                  /* X4 = fcontext_t of the caller     */
.endm

/*
 * Full variants, SP = the target's block: loads the target's FPCR, saved at
 * [SP + off] (0xa0 in fcontext blocks, 0x18 in compact ones), if it differs
 * from the current one (X9) and is not the "no FP state" marker. Clobbers
 * X10. `msr fpcr` may synchronise the FP pipeline: the common case, equal
 * values, skips it.
 */
.macro LOAD_TARGET_FPCR off
        ldr     x10, [sp, #\off]        /* X10 = target's FPCR (or marker)   */
        cmp     x10, x9                 /* equal to the current FPCR?        */
        b.eq    1f                      /*   yes (the common case): skip     */
        cmn     x10, #1                 /* marker (-1): suspended lean?      */
        b.eq    1f                      /*   yes: keep the current FPCR      */
        msr     fpcr, x10               /* FPCR = target's                   */
1:
.endm

/*
 * Switching to the target (X0) and restoring it. `full` = 1 also loads the
 * target's FPCR if it differs from the current one (X9) and is not the
 * marker. Leaves SP = the target's SP after its suspended call returned.
 */
.macro SWITCH_AND_RESTORE full
        mov     sp, x0                  /* switch stacks: SP = target block  */
        /* Same layout: the CFI above now describes the target's block. */
.if \full
        LOAD_TARGET_FPCR 0xa0
.endif
        ldp     d8,  d9,  [sp, #0x00]   /* D8, D9                            */
        ldp     d10, d11, [sp, #0x10]   /* D10, D11                          */
        ldp     d12, d13, [sp, #0x20]   /* D12, D13                          */
        ldp     d14, d15, [sp, #0x30]   /* D14, D15                          */
        ldp     x19, x20, [sp, #0x40]   /* X19, X20                          */
        ldp     x21, x22, [sp, #0x50]   /* X21, X22                          */
        ldp     x23, x24, [sp, #0x60]   /* X23, X24                          */
        ldp     x25, x26, [sp, #0x70]   /* X25, X26                          */
        ldp     x27, x28, [sp, #0x80]   /* X27, X28                          */
        ldp     x29, x30, [sp, #0x90]   /* FP, LR = target's resume address  */
        add     sp, sp, #0xb0           /* drop the block                    */
        /* The registers hold their values now (the slots are below SP,
         * where a signal frame may overwrite them). */
        .cfi_def_cfa_offset 0
        .cfi_restore d8
        .cfi_restore d9
        .cfi_restore d10
        .cfi_restore d11
        .cfi_restore d12
        .cfi_restore d13
        .cfi_restore d14
        .cfi_restore d15
        .cfi_restore x19
        .cfi_restore x20
        .cfi_restore x21
        .cfi_restore x22
        .cfi_restore x23
        .cfi_restore x24
        .cfi_restore x25
        .cfi_restore x26
        .cfi_restore x27
        .cfi_restore x28
        .cfi_restore x29
        .cfi_restore x30
.endm

/*
 * transfer_t jump(fcontext_t to = X0, void *data = X1): suspends the caller,
 * resumes `to`, whose pending jump returns transfer_t{X0 = caller's block,
 * X1 = data}.
 */
.macro JUMP name, full
        .globl  \name
        .hidden \name
        .type   \name, %function
        .p2align 4
\name:
        .cfi_startproc
        BTI_C
        SAVE_CALLER \full
        SWITCH_AND_RESTORE \full
        mov     x0, x4                  /* X0:X1 = transfer_t{from, data}    */
        ret                             /* resume at X30                     */
        .cfi_endproc
        .size   \name, .-\name
.endm

/*
 * transfer_t ontop(fcontext_t to = X0, void *data = X1,
 *                  transfer_t (*fn)(transfer_t) = X2): like jump, but calls
 * fn(transfer_t{X0 = caller's block, X1 = data}) on the target's stack with
 * X30 = the target's resume address, so fn's result (X0:X1) is what the
 * target's pending jump returns.
 */
.macro ONTOP name, full
        .globl  \name
        .hidden \name
        .type   \name, %function
        .p2align 4
\name:
        .cfi_startproc
        BTI_C
        SAVE_CALLER \full
        SWITCH_AND_RESTORE \full
        mov     x0, x4                  /* X0:X1 = transfer_t{from, data}    */
        mov     x16, x2                 /* X16: BTI-compatible tail call     */
        br      x16                     /* fn, returning into the target     */
        .cfi_endproc
        .size   \name, .-\name
.endm

        JUMP    SYM(jump_fcontext), 1
        JUMP    SYM(jump_fcontext_lean), 0
        ONTOP   SYM(ontop_fcontext), 1
        ONTOP   SYM(ontop_fcontext_lean), 0

/*
 * ---------------------------------------------------------------------------
 * The compact convention (coroutines); see the x86_64 file for the idea
 * ---------------------------------------------------------------------------
 *
 *   fcontext_t coframe_make_compact(void *sp, size_t size, void (*fn)(transfer_t));
 *   coframe_jump_compact[_lean]    (X0 = to, X1 = data) -> X0:X1
 *   coframe_ontop_compact[_lean]   (X0 = to, X1 = data, X2 = fn) -> X0:X1
 *   coframe_start_compact[_lean]   (X0 = to, X1 = data) -> X0:X1
 *
 * Not AAPCS64 functions: called only by `bl` from Rust inline assembly that
 * declares every register of the C ABI (X0-X17, X30, all of V0-V31)
 * and X20-X28 clobbered. What a caller cannot declare clobbered (X19:
 * reserved by LLVM; X29: the frame pointer) and the resume address are
 * saved here, with FPCR:
 *
 *   offset  contents (compact block, 0x20 bytes, 16-byte aligned)
 *   ------  ----------------------------------------------------------------
 *    0x00   X19    (fresh context: the entry function `fn`)
 *    0x08   X29    (fresh context: 0)
 *    0x10   X30    the resume address (fresh context: the trampoline)
 *    0x18   FPCR (full) or -1, "no FP state" (lean, fresh), as in fcontext
 *   ------
 *    0x20   the suspended context's SP after resumption
 *
 * Register contract of the six switches: X19, X29, SP and FPCR (full) are
 * preserved, X0:X1 = transfer_t{from, data}, X16 = fn in ontop; everything
 * else is clobbered (X4, X9, X10, X16, X30 are written). A compact block is
 * resumed only by a compact function.
 *
 * `start` is `jump` for a fresh block only (made by make_compact, never
 * resumed): it loads the entry function and branches to the trampoline
 * directly, so `jump`'s loads only ever read words a switch stored (see
 * "First activation" in the x86_64 file); a full `start` saves the
 * resumer's FPCR and loads none (a fresh context has none of its own).
 * `start` reads only the fresh block's 0x00 word, fn: coframe's coroutines
 * write just that word, in Rust (raw::make_fresh_compact, same geometry).
 */
/*
 * Suspends the caller into a compact block on its own stack (shared by
 * every compact switch): X19, FP, LR and the FP state word (FPCR, or the
 * "no FP state" marker when lean); X4 = the block.
 */
.macro SAVE_COMPACT full
        sub     sp, sp, #0x20           /* room for the compact block        */
        .cfi_def_cfa_offset 0x20
        stp     x19, x29, [sp, #0x00]   /* 0x00, 0x08: X19, FP               */
.if \full
        mrs     x9, fpcr                /* X9 = current FPCR                 */
.else
        mov     x9, #-1                 /* X9 = "no FP state" marker         */
.endif
        stp     x30, x9,  [sp, #0x10]   /* 0x10: LR (resume addr); 0x18: FP state */
        .cfi_offset x19, -0x20
        .cfi_offset x29, -0x18
        .cfi_offset x30, -0x10
        mov     x4, sp                  /* X4 = the caller's compact block   */
.endm

.macro SWITCH_COMPACT name, full, ontop
        .globl  \name
        .hidden \name
        .type   \name, %function
        .p2align 4
\name:
        .cfi_startproc
        BTI_C
        SAVE_COMPACT \full
        mov     sp, x0                  /* switch stacks: SP = target block  */
.if \full
        LOAD_TARGET_FPCR 0x18
.endif
        ldp     x19, x29, [sp, #0x00]   /* X19, FP                           */
        ldr     x30, [sp, #0x10]        /* LR = the target's resume address  */
        add     sp, sp, #0x20           /* drop the block                    */
        .cfi_def_cfa_offset 0
        .cfi_restore x19
        .cfi_restore x29
        .cfi_restore x30
        mov     x0, x4                  /* X0:X1 = transfer_t{from, data}    */
.if \ontop
        mov     x16, x2                 /* X16: BTI-compatible tail call     */
        br      x16                     /* fn, returning into the target     */
.else
        ret                             /* resume at X30                     */
.endif
        .cfi_endproc
        .size   \name, .-\name
.endm

        SWITCH_COMPACT  SYM(jump_compact), 1, 0
        SWITCH_COMPACT  SYM(jump_compact_lean), 0, 0
        SWITCH_COMPACT  SYM(ontop_compact), 1, 1
        SWITCH_COMPACT  SYM(ontop_compact_lean), 0, 1

/*
 * transfer_t start(fcontext_t to = X0, void *data = X1), compact: saves the
 * caller's compact block as `jump` does, then enters the fresh context's
 * trampoline with X19 = fn (the block's 0x00 word), X29 = 0, SP = the
 * aligned top (block + 0x20), X0:X1 = transfer_t{caller's block, data}.
 */
.macro START_COMPACT name, full
        .globl  \name
        .hidden \name
        .type   \name, %function
        .p2align 4
\name:
        .cfi_startproc
        BTI_C
        SAVE_COMPACT \full
        ldr     x19, [x0, #0x00]        /* X19 = fn, the fresh block's 0x00  */
        mov     x29, #0                 /* FP = 0: the frame chain ends      */
        add     sp, x0, #0x20           /* switch stacks: SP = aligned top   */
        .cfi_def_cfa_offset 0
        .cfi_restore x19
        .cfi_restore x29
        .cfi_undefined x30              /* a fresh stack: unwinding ends     */
        mov     x0, x4                  /* X0:X1 = transfer_t{from, data}    */
        b       .Lcoframe_compact_entry /* the trampoline (direct branch)    */
        .cfi_endproc
        .size   \name, .-\name
.endm

        START_COMPACT SYM(start_compact), 1
        START_COMPACT SYM(start_compact_lean), 0

/*
 * fcontext_t coframe_make_compact(void *sp = X0, size_t size = X1,
 *                                 void (*fn)(transfer_t) = X2)
 * An AAPCS64 function: a fresh compact block below the 16-aligned `sp`,
 * with the "no FP state" marker for FPCR: the first full switch into it
 * keeps the resumer's FPCR (see the x86_64 file, "Fresh contexts").
 */
        .globl  SYM(make_compact)
        .hidden SYM(make_compact)
        .type   SYM(make_compact), %function
        .p2align 4
SYM(make_compact):
        .cfi_startproc
        BTI_C
        and     x0, x0, #~0xf           /* top of stack, 16-aligned          */
        sub     x0, x0, #0x20           /* X0 = block (fcontext_t)           */
        stp     x2, xzr, [x0, #0x00]    /* 0x00: X19 = fn; 0x08: FP = 0      */
        adr     x9, .Lcoframe_compact_entry
        mov     x10, #-1                /* "no FP state" marker              */
        stp     x9, x10, [x0, #0x10]    /* 0x10: LR = trampoline; 0x18: -1   */
        ret
        .cfi_endproc
        .size   SYM(make_compact), .-SYM(make_compact)

/*
 * fcontext_t coframe_make_fcontext(void *sp = X0, size_t size = X1,
 *                                  void (*fn)(transfer_t) = X2)
 */
        .globl  SYM(make_fcontext)
        .hidden SYM(make_fcontext)
        .type   SYM(make_fcontext), %function
        .p2align 4
SYM(make_fcontext):
        .cfi_startproc
        BTI_C
        and     x0, x0, #~0xf           /* top of stack, 16-aligned          */
        sub     x0, x0, #0xb0           /* X0 = block (fcontext_t)           */
        str     x2, [x0, #0x40]         /* 0x40: X19 = fn, for the trampoline*/
        adr     x9, .Lcoframe_start_entry
        stp     xzr, x9, [x0, #0x90]    /* 0x90: FP = 0; 0x98: LR = trampoline */
        mov     x9, #-1                 /* "no FP state" marker: the first   */
        str     x9, [x0, #0xa0]         /* 0xa0: full switch keeps the FPCR  */
        ret                             /* D8-D15, X20-X28: don't care       */
        .cfi_endproc
        .size   SYM(make_fcontext), .-SYM(make_fcontext)

/*
 * The base frame of every fresh context (file-local symbols):
 * coframe_fcontext_start for fcontext blocks, coframe_compact_start for
 * compact ones. Entered by the `ret` of a jump or of an ontop function,
 * with SP = the aligned top of the stack, X19 = fn, X29 = 0, X0:X1 = the
 * transfer_t for fn. As on x86_64, the entry point is one instruction into
 * the function, so that (entry - 1), which unwinders look up when an ontop
 * function on a fresh context has the entry point as its return address,
 * still lies in this FDE.
 *
 * `call` = 0 (compact): fn is entered by `br` with X30 set by hand, not by
 * `blr`, which would push a return-predictor entry that no `ret` ever pops
 * (fn never returns; see the x86_64 file). X16 makes the branch land on
 * fn's `bti c`.
 *
 * Backtraces (`link` = 1, the compact trampoline; see "Backtraces" in the
 * x86_64 file): the word at the trampoline's SP is the address of the
 * resumer's compact block, or of a block of zeros. Its CFI describes that
 * resumer as the caller:
 *
 *   CFA = link + 0x20 (the resumer's SP once its switch returns),
 *   X30 = [CFA - 0x10], X29 = [CFA - 0x18], X19 = [CFA - 0x20] (the block's
 *   resume address, FP and X19); a zero block gives X30 = 0: the walk ends.
 *
 * As a DWARF expression (DW_CFA_def_cfa_expression, 5 bytes):
 *   DW_OP_breg31 0, DW_OP_deref, DW_OP_plus_uconst 0x20
 * The resumer's saved X30 is unsigned (the switches do not sign it), as
 * the rules' default return-address sign state says.
 */
.macro START name, entry, call, link
        .type   \name, %function
        .p2align 4
\name:
        .cfi_startproc
.if \link
        .cfi_escape 0x0f, 0x05, 0x8f, 0x00, 0x06, 0x23, 0x20
        .cfi_offset x19, -0x20          /* the resumer's frame: see above    */
        .cfi_offset x29, -0x18
        .cfi_offset x30, -0x10
.else
        .cfi_undefined x30              /* outermost frame: unwinders stop   */
.endif
        nop                             /* keeps entry - 1 inside this FDE   */
\entry:
        mov     x29, #0                 /* FP = 0: the frame chain ends      */
.if \call
        blr     x19                     /* fn(t); SP 16-aligned, LR = here   */
.else
        adr     x30, .L\name\()_ret     /* fn's return address               */
        mov     x16, x19                /* X16: BTI-compatible branch        */
        br      x16                     /* fn(t), no predictor entry         */
.L\name\()_ret:
.endif
        /* fn returned, which the contract forbids: end the process as
         * Boost does. */
        mov     x0, #0
        bl      _exit
        brk     #0
        .cfi_endproc
        .size   \name, .-\name
.endm

        START   coframe_fcontext_start, .Lcoframe_start_entry, 1, 0
        START   coframe_compact_start, .Lcoframe_compact_entry, 0, 1

#if GNU_PROPERTY_BTI || GNU_PROPERTY_PAC
/* GNU property note, as gcc emits it for -mbranch-protection. */
        .pushsection .note.gnu.property, "a"
        .p2align 3
        .long   4                       /* n_namesz                          */
        .long   16                      /* n_descsz                          */
        .long   5                       /* NT_GNU_PROPERTY_TYPE_0            */
        .asciz  "GNU"                   /* n_name                            */
        .long   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
        .long   4                       /* pr_datasz                         */
        .long   GNU_PROPERTY_BTI | GNU_PROPERTY_PAC
        .long   0                       /* pad the descriptor to 8 bytes     */
        .popsection
#endif

        .section .note.GNU-stack, "", %progbits
