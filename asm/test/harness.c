/*
 * Test harness for coframe's stack-switch assembly (asm/<arch>_*.S), outside
 * Rust: built natively on x86_64 and cross-built for aarch64 (run under
 * qemu-aarch64) by asm/test/run.sh.
 *
 * Every test runs once per entry of VARIANTS: the fcontext functions (full
 * and lean, C-ABI functions called directly) and the compact functions
 * (full and lean; on x86_64 once with the coroutine pairing "resumer calls
 * jump, context enters yield" and once with jump both ways). The compact
 * switches are not C functions (see "compact convention" in the .S files):
 * the tests reach them through small wrappers below (wrap_*) that save what
 * the compact convention clobbers but the C ABI preserves, so that the same
 * C test code drives both conventions. Checks:
 *   - ping-pong round trips with data both ways; suspended blocks have the
 *     documented alignment;
 *   - a fresh context: stack alignment and frame pointer at the entry
 *     function's first instruction, return address inside the start
 *     trampoline, a 16-byte aligned local and snprintf("%f") on the new stack,
 *     make leaves memory at and above `sp` untouched, writes no more than the
 *     documented bytes below it, and stores the "no FP state" marker;
 *   - a backtrace taken on a fresh stack ends cleanly at the trampoline
 *     (_Unwind_Backtrace reports end of stack; the frame-pointer chain ends
 *     in 0);
 *   - what a suspension writes: nothing below its block except (x86_64
 *     compact, full) the documented FP word; the FP word holds the control
 *     state (full) or the "no FP state" marker (lean, where the block has
 *     one); a lean resumption never reads the FP word (a poisoned one is
 *     ignored);
 *   - ontop onto a suspended and onto a fresh context: the function runs on
 *     the target's stack, receives the right from-context and data, and its
 *     return value is what the resumed jump (or the entry function) receives;
 *     a backtrace inside it walks the target's frames down to the trampoline;
 *   - callee-saved registers (x86_64: RBX RBP R12-R15; aarch64: X19-X29,
 *     D8-D15) planted with known values survive switches on both sides (for
 *     the compact variants R12-R15 / X20-X28, D8-D15 are kept by the wrapper,
 *     RBX RBP / X19 X29 by the compact function itself); and, without any
 *     wrapper, a compact switch called the way Rust calls it preserves RBX
 *     and RBP / X19 and X29;
 *   - FP control state (rounding mode via <fenv.h>, plus MXCSR and the x87
 *     control word / FPCR read directly): full switches keep it per context
 *     and store it in the suspended block, lean switches leave it to the
 *     thread (a mode set in one context is seen by the other), a fresh
 *     context starts with its first resumer's mode (not its creator's),
 *     (fcontext only, since compact flavours must not be mixed) a context suspended lean and resumed full
 *     keeps the resumer's mode, and the exception flags are thread state with
 *     every variant.
 *
 * `harness` runs everything and prints one summary line; exit status 0 means
 * every check passed. `harness gdb-probe [variant]` only runs a fresh context
 * (of the named variant, default "full") that calls gdb_probe_here(), for the
 * gdb backtrace check in run.sh.
 */
#define _GNU_SOURCE
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

#include "symbols.h"

typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;

fcontext_t coframe_make_fcontext(void *sp, size_t size, void (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(make_fcontext));
transfer_t coframe_jump_fcontext(fcontext_t to, void *data)
    __asm__(SWITCH_SYMBOL(jump_fcontext));
transfer_t coframe_ontop_fcontext(fcontext_t to, void *data, transfer_t (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(ontop_fcontext));
transfer_t coframe_jump_fcontext_lean(fcontext_t to, void *data)
    __asm__(SWITCH_SYMBOL(jump_fcontext_lean));
transfer_t coframe_ontop_fcontext_lean(fcontext_t to, void *data, transfer_t (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(ontop_fcontext_lean));

/* The compact convention: make is a C function; the switches are not (they
 * are declared as opaque code addresses and reached only from assembly). */
fcontext_t coframe_make_compact(void *sp, size_t size, void (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(make_compact));
void coframe_jump_compact(void) __asm__(SWITCH_SYMBOL(jump_compact));
void coframe_jump_compact_lean(void) __asm__(SWITCH_SYMBOL(jump_compact_lean));
void coframe_ontop_compact(void) __asm__(SWITCH_SYMBOL(ontop_compact));
void coframe_ontop_compact_lean(void) __asm__(SWITCH_SYMBOL(ontop_compact_lean));
void coframe_start_compact(void) __asm__(SWITCH_SYMBOL(start_compact));
void coframe_start_compact_lean(void) __asm__(SWITCH_SYMBOL(start_compact_lean));
#if defined(__x86_64__)
void coframe_yield_compact(void) __asm__(SWITCH_SYMBOL(yield_compact));
void coframe_yield_compact_lean(void) __asm__(SWITCH_SYMBOL(yield_compact_lean));
#endif

typedef fcontext_t (*make_fn)(void *, size_t, void (*)(transfer_t));
typedef transfer_t (*jump_fn)(fcontext_t, void *);
typedef transfer_t (*ontop_fn)(fcontext_t, void *, transfer_t (*)(transfer_t));

/* C-ABI wrappers around the compact switches (defined per architecture
 * below): wrap_jump_* calls the compact jump, wrap_start_* the compact
 * start, wrap_ontop_* the compact ontop, wrap_yield_* (x86_64) enters the
 * compact yield by push + jmp. */
transfer_t wrap_jump_compact(fcontext_t to, void *data);
transfer_t wrap_jump_compact_lean(fcontext_t to, void *data);
transfer_t wrap_start_compact(fcontext_t to, void *data);
transfer_t wrap_start_compact_lean(fcontext_t to, void *data);
transfer_t wrap_ontop_compact(fcontext_t to, void *data, transfer_t (*fn)(transfer_t));
transfer_t wrap_ontop_compact_lean(fcontext_t to, void *data, transfer_t (*fn)(transfer_t));
#if defined(__x86_64__)
transfer_t wrap_yield_compact(fcontext_t to, void *data);
transfer_t wrap_yield_compact_lean(fcontext_t to, void *data);
#endif

struct variant {
    const char *name;
    int full;          /* FP control state per context (vs. thread state) */
    int compact;       /* compact convention (vs. fcontext) */
    make_fn make;
    jump_fn jump;      /* the resumer's switch into a context */
    jump_fn yield;     /* a context's switch back to its resumer */
    ontop_fn ontop;
    int block_bytes;   /* a fresh block is at the aligned top - block_bytes */
    int make_bytes;    /* make writes only [aligned top - make_bytes, top) */
    int resume_slot;   /* resume address, in 8-byte units from the block */
    int fp_slot;       /* FP word, in 8-byte units from the block (may be < 0) */
    int fp_below;      /* bytes a suspension writes below its block */
    int lean_marker;   /* a lean suspension stores -1 as its FP word */
    int wrapper_frames; /* frames a suspended context has above its caller */
    /* the raw compact switches, for the wrapper-free register check */
    void (*direct_jump)(void);
    void (*direct_yield)(void);
    int yield_by_jmp;  /* direct_yield is entered by push + jmp (x86_64) */
    /* the first switch into a fresh context: `start` for compact blocks
     * (made for it), `jump` for fcontext ones */
    jump_fn start;
    void (*direct_start)(void);
};
static const struct variant *V; /* the variant under test */

static int checks, failures;
#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        checks++;                                                             \
        if (!(cond)) {                                                        \
            failures++;                                                       \
            fprintf(stderr, "FAIL [%s] %s:%d: %s: ", V ? V->name : "-",      \
                    __FILE__, __LINE__, #cond);                               \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* ---------------------------------------------------------------------- */
/* Per-architecture knowledge and helpers                                 */
/* ---------------------------------------------------------------------- */

/* uintptr_t plant_jump(fcontext_t *to, void *data, jump_fn jump,
 *                      uintptr_t seed):
 * loads seed+1, seed+2, ... into every callee-saved register, calls
 * jump(*to, data), stores the returned fctx into *to, and returns a bit mask
 * of the registers that no longer hold their planted value (0 = all
 * survived). It saves and restores the callee-saved registers for its own
 * caller, as the ABI requires. */
uintptr_t plant_jump(fcontext_t *to, void *data, jump_fn jump, uintptr_t seed);

/* uintptr_t plant_compact(fcontext_t *to, void *data, void (*sw)(void),
 *                         uintptr_t seed, int by_jmp):
 * the same for a raw compact switch `sw`, entered as Rust enters it (x86_64:
 * `call`, or with by_jmp a pushed return address and `jmp`; aarch64: `bl`),
 * with no wrapper in between: plants seed+1 and seed+2 in RBX and RBP (X19
 * and X29), the registers the compact switch itself must preserve, and
 * returns the mask of those that did not survive (bit 1: RBX/X19, bit 2:
 * RBP/X29). It treats every other register as clobbered and keeps its own
 * caller's callee-saved registers. */
uintptr_t plant_compact(fcontext_t *to, void *data, void (*sw)(void), uintptr_t seed,
                        int by_jmp);

/* void entry_probe(transfer_t): a fresh context's entry function that
 * records SP, the frame pointer and the return address as they are at its
 * first instruction, then tail-calls probe_body(t). */
void entry_probe(transfer_t t);
void probe_body(transfer_t t);
uintptr_t probe_sp, probe_fp, probe_ra;

#if defined(__x86_64__)
#  define ARCH "x86_64"
#  define FC_BLOCK_BYTES 0x48 /* fcontext block incl. the RIP slot */
#  define FC_RESUME_SLOT 8    /* index of the RIP slot in uintptr_t units */
#  define FC_FP_SLOT 0        /* 8 bytes: MXCSR | x87 CW << 32 */
#  define CP_BLOCK_BYTES 0x18 /* compact block: RBX, RBP, RIP */
#  define CP_MAKE_BYTES 0x20  /* ... and the FP word below it */
#  define CP_RESUME_SLOT 2
#  define CP_FP_SLOT (-1)     /* the FP word lies below the block */
#  define CP_FP_BELOW_FULL 8  /* a full suspension writes it, a lean one not */
#  define CP_LEAN_MARKER 0    /* no FP word, so no marker */
#  define FP_WORD_MASK 0x0000ffff0000ffc0ull /* MXCSR control bits, x87 CW */
/* An FP word with a different rounding mode in both MXCSR and the x87 CW
 * (toward zero), valid for ldmxcsr/fldcw: if it were loaded, the mode
 * would change (and not crash the harness). */
#  define FP_POISON 0x00000f7f00007f80ull
#  define SUSPENDED_ALIGN 8   /* a suspended block is 8 mod 16 (below a call) */
#  define SP_ENTRY_OK(sp) ((((sp) + 8) & 15) == 0) /* as after a call */
#  define ENTRY_SP_BELOW_TOP 8 /* the trampoline's return address */
#  if defined(__CET__) && (__CET__ & 1)
#    define ENDBR "endbr64\n"
#  else
#    define ENDBR ""
#  endif
#  define CHK(reg, k)                                                         \
    "leaq " #k "(%rcx), %rdx\n cmpq %rdx, " #reg "\n je 1f\n"                 \
    " orl $(1 << " #k "), %eax\n1:\n"
/* Saving/restoring the SysV callee-saved registers for the plant_* caller;
 * with the return address, 6*8 + 24 + 8 = 80: RSP is 16-aligned after. */
#  define PLANT_PROLOGUE                                                      \
    " pushq %rbp\n pushq %rbx\n pushq %r12\n pushq %r13\n"                    \
    " pushq %r14\n pushq %r15\n"                                              \
    " subq $24, %rsp\n"                                                       \
    " movq %rdi, 0(%rsp)\n"    /* to */                                       \
    " movq %rcx, 8(%rsp)\n"    /* seed */                                     \
    " movq %rdx, %rax\n"       /* jump */                                     \
    " movq (%rdi), %rdi\n"     /* *to */
#  define PLANT_EPILOGUE                                                      \
    " addq $24, %rsp\n"                                                       \
    " popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rbx\n"            \
    " popq %rbp\n"                                                            \
    " ret\n"
/* The C-ABI wrappers. A compact switch preserves RBX and RBP itself and
 * clobbers R12-R15, which the C ABI preserves: the wrapper keeps those on
 * its own stack, across the suspension. RSP is 16-aligned at the switch
 * (as at any call site, and as Rust's inline asm guarantees), so the
 * compact block is 8 mod 16 as documented. The CFI describes the wrapper
 * frame, so that an unwinder can walk through a suspended context's
 * wrapper (a backtrace from an ontop function does). `enter` is the entry
 * into the switch: */
#  define CFI_PUSH(reg)                                                       \
    " pushq " reg "\n .cfi_adjust_cfa_offset 8\n .cfi_rel_offset " reg ", 0\n"
#  define CFI_POP(reg)                                                        \
    " popq " reg "\n .cfi_adjust_cfa_offset -8\n .cfi_restore " reg "\n"
#  define WRAP(name, enter)                                                   \
    ".globl " name "\n.type " name ", @function\n" name ":\n"                 \
    " .cfi_startproc\n" ENDBR                                                 \
    CFI_PUSH("%r12") CFI_PUSH("%r13") CFI_PUSH("%r14") CFI_PUSH("%r15")       \
    " subq $8, %rsp\n .cfi_adjust_cfa_offset 8\n"                             \
    enter                                                                     \
    " addq $8, %rsp\n .cfi_adjust_cfa_offset -8\n"                            \
    CFI_POP("%r15") CFI_POP("%r14") CFI_POP("%r13") CFI_POP("%r12")           \
    " ret\n .cfi_endproc\n.size " name ", .-" name "\n"
/* jump, ontop: a plain call (RDI, RSI, RDX pass through untouched). */
#  define ENTER_CALL(f) " call " f "\n"
/* yield: exactly Rust's sequence, the resume address pushed by hand, then
 * jmp. No CFI adjustment for the push: as for a `call`, whose pushed return
 * address the caller's CFI does not describe either; an unwinder looks up
 * (resume address - 1), the jmp, where RSP is what it is again after the
 * yield's `ret` (or any other resumption) popped that address. */
#  define ENTER_PUSH_JMP(f) " leaq 1f(%rip), %rcx\n pushq %rcx\n jmp " f "\n1:\n"
__asm__(".text\n"
        ".globl plant_jump\n"
        ".type plant_jump, @function\n"
        "plant_jump:\n" ENDBR
        PLANT_PROLOGUE
        " leaq 1(%rcx), %rbx\n leaq 2(%rcx), %rbp\n leaq 3(%rcx), %r12\n"
        " leaq 4(%rcx), %r13\n leaq 5(%rcx), %r14\n leaq 6(%rcx), %r15\n"
        " call *%rax\n"
        " movq 0(%rsp), %rcx\n movq %rax, (%rcx)\n" /* *to = t.fctx */
        " movq 8(%rsp), %rcx\n"
        " xorl %eax, %eax\n"
        CHK(%rbx, 1) CHK(%rbp, 2) CHK(%r12, 3) CHK(%r13, 4) CHK(%r14, 5)
        CHK(%r15, 6)
        PLANT_EPILOGUE
        ".size plant_jump, .-plant_jump\n"
        /* plant_compact: RDI = to, RSI = data, RDX = sw, RCX = seed,
         * R8 = by_jmp. Only RBX and RBP are planted and checked; R12-R15
         * are clobbered (and restored for our caller by the epilogue). */
        ".globl plant_compact\n"
        ".type plant_compact, @function\n"
        "plant_compact:\n" ENDBR
        PLANT_PROLOGUE
        " leaq 1(%rcx), %rbx\n leaq 2(%rcx), %rbp\n"
        " testl %r8d, %r8d\n jnz 2f\n"
        " call *%rax\n"            /* jump: entered by call */
        " jmp 3f\n"
        "2: leaq 3f(%rip), %rcx\n pushq %rcx\n jmp *%rax\n" /* yield */
        "3: movq 0(%rsp), %rcx\n movq %rax, (%rcx)\n" /* *to = t.fctx */
        " movq 8(%rsp), %rcx\n"
        " xorl %eax, %eax\n"
        CHK(%rbx, 1) CHK(%rbp, 2)
        PLANT_EPILOGUE
        ".size plant_compact, .-plant_compact\n"
        WRAP("wrap_jump_compact", ENTER_CALL(SWITCH_SYMBOL(jump_compact)))
        WRAP("wrap_jump_compact_lean", ENTER_CALL(SWITCH_SYMBOL(jump_compact_lean)))
        WRAP("wrap_start_compact", ENTER_CALL(SWITCH_SYMBOL(start_compact)))
        WRAP("wrap_start_compact_lean", ENTER_CALL(SWITCH_SYMBOL(start_compact_lean)))
        WRAP("wrap_ontop_compact", ENTER_CALL(SWITCH_SYMBOL(ontop_compact)))
        WRAP("wrap_ontop_compact_lean", ENTER_CALL(SWITCH_SYMBOL(ontop_compact_lean)))
        WRAP("wrap_yield_compact", ENTER_PUSH_JMP(SWITCH_SYMBOL(yield_compact)))
        WRAP("wrap_yield_compact_lean", ENTER_PUSH_JMP(SWITCH_SYMBOL(yield_compact_lean)))
        ".globl entry_probe\n"
        ".type entry_probe, @function\n"
        "entry_probe:\n" ENDBR
        " movq %rsp, probe_sp(%rip)\n"
        " movq %rbp, probe_fp(%rip)\n"
        " movq (%rsp), %r11\n"
        " movq %r11, probe_ra(%rip)\n"
        " jmp probe_body\n"
        ".size entry_probe, .-entry_probe\n");

static uint32_t read_mxcsr(void) {
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}
static void write_mxcsr(uint32_t v) { __asm__ volatile("ldmxcsr %0" : : "m"(v)); }
static uint16_t read_x87_cw(void) {
    uint16_t v;
    __asm__ volatile("fnstcw %0" : "=m"(v));
    return v;
}
static void write_x87_cw(uint16_t v) { __asm__ volatile("fldcw %0" : : "m"(v)); }
/* x87 precision control (bits 8-9) to double: a control-word change that
 * fesetround does not make. */
static void x87_set_double_precision(void) {
    write_x87_cw((uint16_t)((read_x87_cw() & ~0x0300) | 0x0200));
}
/* The raw FP control state, to compare against (the layout of the FP word
 * masked with FP_WORD_MASK). */
static uint64_t read_fp_control(void) {
    return (read_mxcsr() & 0xffc0) | ((uint64_t)read_x87_cw() << 32);
}
static void write_fp_control(uint64_t c) {
    write_mxcsr((read_mxcsr() & 0x3f) | (uint32_t)(c & 0xffc0));
    write_x87_cw((uint16_t)(c >> 32));
}
static uintptr_t strip_pac(uintptr_t ra) { return ra; }

#elif defined(__aarch64__)
#  define ARCH "aarch64"
#  define FC_BLOCK_BYTES 0xb0
#  define FC_RESUME_SLOT 19   /* X30 at 0x98 */
#  define FC_FP_SLOT 20       /* FPCR at 0xa0 */
#  define CP_BLOCK_BYTES 0x20 /* compact block: X19, X29, X30, FPCR */
#  define CP_MAKE_BYTES 0x20
#  define CP_RESUME_SLOT 2    /* X30 at 0x10 */
#  define CP_FP_SLOT 3        /* FPCR or -1 at 0x18 */
#  define CP_FP_BELOW_FULL 0  /* nothing below the block */
#  define CP_LEAN_MARKER 1
#  define FP_WORD_MASK (~0ull)
#  define FP_POISON 0x00c00000ull /* FPCR.RMode = toward zero */
#  define SUSPENDED_ALIGN 0
#  define SP_ENTRY_OK(sp) (((sp) & 15) == 0)
#  define ENTRY_SP_BELOW_TOP 0 /* blr pushes nothing */
#  if defined(__ARM_FEATURE_BTI_DEFAULT) && (__ARM_FEATURE_BTI_DEFAULT == 1)
#    define BTI_C "hint #34\n"
#  else
#    define BTI_C ""
#  endif
#  define CHK(reg, k)                                                         \
    "add x10, x3, #" #k "\n cmp " #reg ", x10\n b.eq 1f\n"                   \
    " orr x0, x0, #(1 << " #k ")\n1:\n"
#  define CHKD(reg, k)                                                        \
    "fmov x11, " #reg "\n add x10, x3, #" #k "\n cmp x11, x10\n b.eq 1f\n"   \
    " orr x0, x0, #(1 << " #k ")\n1:\n"
/* Saving/restoring the AAPCS64 callee-saved registers for the plant_*
 * caller; [sp, #160] = to, [sp, #168] = seed, X9 = the switch. */
#  define PLANT_PROLOGUE                                                      \
    " stp x29, x30, [sp, #-176]!\n"                                           \
    " stp x19, x20, [sp, #16]\n stp x21, x22, [sp, #32]\n"                    \
    " stp x23, x24, [sp, #48]\n stp x25, x26, [sp, #64]\n"                    \
    " stp x27, x28, [sp, #80]\n stp d8, d9, [sp, #96]\n"                      \
    " stp d10, d11, [sp, #112]\n stp d12, d13, [sp, #128]\n"                  \
    " stp d14, d15, [sp, #144]\n"                                             \
    " stp x0, x3, [sp, #160]\n"  /* to, seed */                               \
    " mov x9, x2\n"              /* jump */                                   \
    " ldr x0, [x0]\n"            /* *to */
#  define PLANT_AFTER                                                         \
    " ldp x9, x3, [sp, #160]\n"                                               \
    " str x0, [x9]\n"            /* *to = t.fctx */                           \
    " mov x0, #0\n"
#  define PLANT_EPILOGUE                                                      \
    " ldp x19, x20, [sp, #16]\n ldp x21, x22, [sp, #32]\n"                    \
    " ldp x23, x24, [sp, #48]\n ldp x25, x26, [sp, #64]\n"                    \
    " ldp x27, x28, [sp, #80]\n ldp d8, d9, [sp, #96]\n"                      \
    " ldp d10, d11, [sp, #112]\n ldp d12, d13, [sp, #128]\n"                  \
    " ldp d14, d15, [sp, #144]\n"                                             \
    " ldp x29, x30, [sp], #176\n"                                             \
    " ret\n"
/* The C-ABI wrappers. A compact switch preserves X19 and X29 itself and
 * clobbers X20-X28 and all of V0-V31 (of which the C ABI preserves D8-D15),
 * and X30 (the `bl`): the wrapper keeps those in its own frame, across the
 * suspension. The frame is a normal frame record (X29 = SP, so frame-pointer
 * walkers can pass through it) with CFI, so that an unwinder walks through
 * a suspended context's wrapper (a backtrace from an ontop function does).
 * Registers are not signed (no PAC in hand-written frames, as plant_jump). */
#  define WRAP(name, target)                                                  \
    ".globl " name "\n.type " name ", %function\n" name ":\n"                 \
    " .cfi_startproc\n" BTI_C                                                 \
    " stp x29, x30, [sp, #-160]!\n .cfi_def_cfa_offset 160\n"                 \
    " .cfi_offset x29, -160\n .cfi_offset x30, -152\n"                        \
    " mov x29, sp\n"                                                          \
    " stp x20, x21, [sp, #16]\n stp x22, x23, [sp, #32]\n"                    \
    " stp x24, x25, [sp, #48]\n stp x26, x27, [sp, #64]\n"                    \
    " str x28, [sp, #80]\n"                                                   \
    " stp d8, d9, [sp, #96]\n stp d10, d11, [sp, #112]\n"                     \
    " stp d12, d13, [sp, #128]\n stp d14, d15, [sp, #144]\n"                  \
    " .cfi_offset x20, -144\n .cfi_offset x21, -136\n"                        \
    " .cfi_offset x22, -128\n .cfi_offset x23, -120\n"                        \
    " .cfi_offset x24, -112\n .cfi_offset x25, -104\n"                        \
    " .cfi_offset x26, -96\n .cfi_offset x27, -88\n .cfi_offset x28, -80\n"   \
    " .cfi_offset d8, -64\n .cfi_offset d9, -56\n .cfi_offset d10, -48\n"     \
    " .cfi_offset d11, -40\n .cfi_offset d12, -32\n .cfi_offset d13, -24\n"   \
    " .cfi_offset d14, -16\n .cfi_offset d15, -8\n"                           \
    " bl " target "\n"           /* X0, X1, X2 pass through */               \
    " ldp x20, x21, [sp, #16]\n ldp x22, x23, [sp, #32]\n"                    \
    " ldp x24, x25, [sp, #48]\n ldp x26, x27, [sp, #64]\n"                    \
    " ldr x28, [sp, #80]\n"                                                   \
    " ldp d8, d9, [sp, #96]\n ldp d10, d11, [sp, #112]\n"                     \
    " ldp d12, d13, [sp, #128]\n ldp d14, d15, [sp, #144]\n"                  \
    " ldp x29, x30, [sp], #160\n .cfi_def_cfa_offset 0\n"                     \
    " ret\n .cfi_endproc\n.size " name ", .-" name "\n"
__asm__(".text\n"
        ".globl plant_jump\n"
        ".type plant_jump, %function\n"
        "plant_jump:\n" BTI_C
        PLANT_PROLOGUE
        " add x19, x3, #1\n add x20, x3, #2\n add x21, x3, #3\n"
        " add x22, x3, #4\n add x23, x3, #5\n add x24, x3, #6\n"
        " add x25, x3, #7\n add x26, x3, #8\n add x27, x3, #9\n"
        " add x28, x3, #10\n add x29, x3, #11\n"
        " add x10, x3, #12\n fmov d8, x10\n add x10, x3, #13\n fmov d9, x10\n"
        " add x10, x3, #14\n fmov d10, x10\n add x10, x3, #15\n fmov d11, x10\n"
        " add x10, x3, #16\n fmov d12, x10\n add x10, x3, #17\n fmov d13, x10\n"
        " add x10, x3, #18\n fmov d14, x10\n add x10, x3, #19\n fmov d15, x10\n"
        " blr x9\n"
        PLANT_AFTER
        CHK(x19, 1) CHK(x20, 2) CHK(x21, 3) CHK(x22, 4) CHK(x23, 5)
        CHK(x24, 6) CHK(x25, 7) CHK(x26, 8) CHK(x27, 9) CHK(x28, 10)
        CHK(x29, 11)
        CHKD(d8, 12) CHKD(d9, 13) CHKD(d10, 14) CHKD(d11, 15) CHKD(d12, 16)
        CHKD(d13, 17) CHKD(d14, 18) CHKD(d15, 19)
        PLANT_EPILOGUE
        ".size plant_jump, .-plant_jump\n"
        /* plant_compact: X0 = to, X1 = data, X2 = sw, X3 = seed, X4 (by_jmp)
         * ignored: every aarch64 compact switch is entered by `bl` (here
         * blr). Only X19 and X29 are planted and checked; X20-X28, D8-D15
         * are clobbered (and restored for our caller by the epilogue). */
        ".globl plant_compact\n"
        ".type plant_compact, %function\n"
        "plant_compact:\n" BTI_C
        PLANT_PROLOGUE
        " add x19, x3, #1\n add x29, x3, #2\n"
        " blr x9\n"
        PLANT_AFTER
        CHK(x19, 1) CHK(x29, 2)
        PLANT_EPILOGUE
        ".size plant_compact, .-plant_compact\n"
        WRAP("wrap_jump_compact", SWITCH_SYMBOL(jump_compact))
        WRAP("wrap_jump_compact_lean", SWITCH_SYMBOL(jump_compact_lean))
        WRAP("wrap_start_compact", SWITCH_SYMBOL(start_compact))
        WRAP("wrap_start_compact_lean", SWITCH_SYMBOL(start_compact_lean))
        WRAP("wrap_ontop_compact", SWITCH_SYMBOL(ontop_compact))
        WRAP("wrap_ontop_compact_lean", SWITCH_SYMBOL(ontop_compact_lean))
        ".globl entry_probe\n"
        ".type entry_probe, %function\n"
        "entry_probe:\n" BTI_C
        " mov x9, sp\n"
        " adrp x10, probe_sp\n str x9, [x10, :lo12:probe_sp]\n"
        " adrp x10, probe_fp\n str x29, [x10, :lo12:probe_fp]\n"
        " adrp x10, probe_ra\n str x30, [x10, :lo12:probe_ra]\n"
        " b probe_body\n"
        ".size entry_probe, .-entry_probe\n");

static uint64_t read_fpcr(void) {
    uint64_t v;
    __asm__ volatile("mrs %0, fpcr" : "=r"(v));
    return v;
}
static uint64_t read_fp_control(void) { return read_fpcr(); }
static void write_fp_control(uint64_t c) { __asm__ volatile("msr fpcr, %0" : : "r"(c)); }
/* Return addresses saved in frame records are signed under PAC
 * (-mbranch-protection): strip the signature (xpaclri, a NOP without PAuth). */
static uintptr_t strip_pac(uintptr_t ra) {
    register uintptr_t lr __asm__("x30") = ra;
    __asm__("hint #7" : "+r"(lr));
    return lr;
}

#else
#  error "harness.c: no register helpers for this architecture"
#endif

/* ---------------------------------------------------------------------- */
/* The variants                                                           */
/* ---------------------------------------------------------------------- */

#define FCONTEXT(name, full, jump, ontop)                                     \
    {name, full, 0, coframe_make_fcontext, jump, jump, ontop, FC_BLOCK_BYTES,  \
     FC_BLOCK_BYTES, FC_RESUME_SLOT, FC_FP_SLOT, 0, 1, 0, NULL, NULL, 0,       \
     jump, NULL}
#define COMPACT(name, full, jump, yield, ontop, djump, dyield, by_jmp)         \
    {name, full, 1, coframe_make_compact, jump, yield, ontop, CP_BLOCK_BYTES,  \
     CP_MAKE_BYTES, CP_RESUME_SLOT, CP_FP_SLOT, (full) ? CP_FP_BELOW_FULL : 0, \
     CP_LEAN_MARKER, 1, djump, dyield, by_jmp,                                 \
     (full) ? wrap_start_compact : wrap_start_compact_lean,                    \
     (full) ? coframe_start_compact : coframe_start_compact_lean}
static const struct variant VARIANTS[] = {
    FCONTEXT("full", 1, coframe_jump_fcontext, coframe_ontop_fcontext),
    FCONTEXT("lean", 0, coframe_jump_fcontext_lean, coframe_ontop_fcontext_lean),
#if defined(__x86_64__)
    /* the coroutine pairing: the resumer calls jump, the context yields */
    COMPACT("compact-full", 1, wrap_jump_compact, wrap_yield_compact, wrap_ontop_compact,
            coframe_jump_compact, coframe_yield_compact, 1),
    COMPACT("compact-lean", 0, wrap_jump_compact_lean, wrap_yield_compact_lean,
            wrap_ontop_compact_lean, coframe_jump_compact_lean,
            coframe_yield_compact_lean, 1),
    /* jump both ways (any compact function may resume any block) */
    COMPACT("compact-full-jj", 1, wrap_jump_compact, wrap_jump_compact, wrap_ontop_compact,
            coframe_jump_compact, coframe_jump_compact, 0),
    COMPACT("compact-lean-jj", 0, wrap_jump_compact_lean, wrap_jump_compact_lean,
            wrap_ontop_compact_lean, coframe_jump_compact_lean,
            coframe_jump_compact_lean, 0),
#else
    /* no yield on aarch64: every compact switch resumes with `ret` */
    COMPACT("compact-full", 1, wrap_jump_compact, wrap_jump_compact, wrap_ontop_compact,
            coframe_jump_compact, coframe_jump_compact, 0),
    COMPACT("compact-lean", 0, wrap_jump_compact_lean, wrap_jump_compact_lean,
            wrap_ontop_compact_lean, coframe_jump_compact_lean,
            coframe_jump_compact_lean, 0),
#endif
};
#define N_VARIANTS ((int)(sizeof VARIANTS / sizeof VARIANTS[0]))

/* May a context of variant `a` be switched by `b` on the other side? The
 * fcontext functions mix freely; compact blocks are resumed by compact
 * functions only, and by the flavour that suspended them. */
static int compatible(const struct variant *a, const struct variant *b) {
    return a->compact == b->compact && (!a->compact || a->full == b->full);
}

/* The FP word of a block (fp_slot may be negative: below the block). */
static uint64_t *fp_word(fcontext_t ctx) { return (uint64_t *)ctx + V->fp_slot; }

/* ---------------------------------------------------------------------- */
/* Stacks                                                                 */
/* ---------------------------------------------------------------------- */

#define STACK_SIZE (256 * 1024)
#define CANARY 0xa5

struct stack {
    unsigned char *base; /* lowest address */
    unsigned char *top;  /* the `sp` handed to make */
};

/* A stack whose `sp` is `misalign` bytes below a 16-aligned address, with
 * 64 canary bytes at and above sp. */
static struct stack new_stack(unsigned misalign) {
    struct stack s;
    s.base = aligned_alloc(16, STACK_SIZE);
    if (!s.base) {
        perror("aligned_alloc");
        exit(2);
    }
    memset(s.base, CANARY, STACK_SIZE);
    s.top = s.base + STACK_SIZE - 64 - misalign;
    return s;
}
static int on_stack(const struct stack *s, const void *p) {
    return (const unsigned char *)p >= s->base && (const unsigned char *)p < s->top;
}
static int canaries_intact(const unsigned char *from, const unsigned char *to) {
    for (const unsigned char *p = from; p < to; p++)
        if (*p != CANARY)
            return 0;
    return 1;
}

/* The compact trampoline's CFI link (see "Backtraces" in the .S files):
 * the word at a fresh context's aligned top names the block of the
 * context's resumer, or a block of zeros, whose resume address 0 ends a
 * walk at the trampoline. Every compact context here starts with the
 * zeros (make_ctx); probe_body writes its resumer's block there, as
 * coframe's Coroutine does, so that walks from it go on into the resumer's
 * stack. */
#define LINKS (V->compact)
static const _Alignas(16) uintptr_t no_resumer[4];
static uintptr_t *link_word(fcontext_t fresh) {
    return (uintptr_t *)((unsigned char *)fresh + V->block_bytes);
}
static fcontext_t make_ctx(void *sp, size_t size, void (*fn)(transfer_t)) {
    fcontext_t ctx = V->make(sp, size, fn);
    if (LINKS)
        *link_word(ctx) = (uintptr_t)no_resumer;
    return ctx;
}
/* canaries_intact over [from, to) but for the link word at `link`. */
static int canaries_but_link(const unsigned char *from, const unsigned char *to,
                             const void *link) {
    const unsigned char *l = link;
    if (!LINKS || l + sizeof(uintptr_t) <= from || l >= to)
        return canaries_intact(from, to);
    return canaries_intact(from, l) && canaries_intact(l + sizeof(uintptr_t), to);
}

/* ---------------------------------------------------------------------- */
/* 1. Ping-pong with data both ways                                       */
/* ---------------------------------------------------------------------- */

#define PINGPONG_ROUNDS 1000
static int pingpong_misaligned; /* resumer blocks the context received */

static void pingpong_body(transfer_t t) {
    for (;;) {
        uintptr_t in = (uintptr_t)t.data;
        pingpong_misaligned += ((uintptr_t)t.fctx & 15) != SUSPENDED_ALIGN;
        t = V->yield(t.fctx, (void *)(in * 3 + 1));
    }
}

static void test_pingpong(void) {
    struct stack s = new_stack(0);
    fcontext_t ctx = make_ctx(s.top, STACK_SIZE - 64, pingpong_body);
    int bad = 0, misaligned = 0;
    pingpong_misaligned = 0;
    for (uintptr_t i = 0; i < PINGPONG_ROUNDS; i++) {
        transfer_t t = V->jump(ctx, (void *)i);
        if ((uintptr_t)t.data != i * 3 + 1)
            bad++;
        if (!on_stack(&s, t.fctx))
            bad++;
        misaligned += ((uintptr_t)t.fctx & 15) != SUSPENDED_ALIGN;
        ctx = t.fctx;
    }
    CHECK(bad == 0, "%d of %d round trips returned wrong data or context", bad,
          PINGPONG_ROUNDS);
    /* Both sides' suspended blocks sit where the layout says (x86_64: right
     * below a call's return address, 8 mod 16; aarch64: 16-aligned). */
    CHECK(misaligned == 0 && pingpong_misaligned == 0,
          "suspended blocks not %d mod 16: %d context, %d resumer blocks",
          SUSPENDED_ALIGN, misaligned, pingpong_misaligned);
    free(s.base);
}

/* ---------------------------------------------------------------------- */
/* 2. A fresh context: entry state, alignment, libc on the new stack,     */
/*    memory written by make, clean backtrace termination                 */
/* ---------------------------------------------------------------------- */

static struct stack probe_stack;
static uintptr_t trampoline; /* resume address of a fresh block */
static fcontext_t probe_from;
static void *probe_data;
static int probe_aligned_local, probe_snprintf_ok;
static int bt_frames, bt_end_of_stack, bt_last_in_trampoline, bt_beyond_trampoline;
static uintptr_t *probe_link; /* the fresh probe context's link word */
static int fp_chain_ok;

struct bt_state {
    int frames;
    uintptr_t last_ip;
    int after_trampoline; /* frames after the trampoline's (0: none seen) */
};
static _Unwind_Reason_Code bt_cb(struct _Unwind_Context *ctx, void *arg) {
    struct bt_state *st = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    /* libgcc reports the frame above the outermost one (whose return
     * address is undefined) with IP 0 before it stops; don't count it. */
    if (ip == 0)
        return _URC_NO_REASON;
    st->frames++;
    if (st->after_trampoline > 0 || (ip >= trampoline && ip < trampoline + 64))
        st->after_trampoline++;
    st->last_ip = ip;
    return st->frames > 64 ? _URC_NORMAL_STOP : _URC_NO_REASON;
}

__attribute__((noinline)) void gdb_probe_here(void) { __asm__ volatile(""); }

__attribute__((noinline)) static void take_backtrace(void) {
    struct bt_state st = {0, 0, 0};
    _Unwind_Reason_Code rc = _Unwind_Backtrace(bt_cb, &st);
    bt_frames = st.frames;
    bt_end_of_stack = rc == _URC_END_OF_STACK;
    bt_last_in_trampoline = st.last_ip >= trampoline && st.last_ip < trampoline + 64;
    bt_beyond_trampoline = st.after_trampoline - 1;

    /* Frame-pointer walk (built with -fno-omit-frame-pointer): every frame
     * record on this stack, ending in a zero frame pointer whose record's
     * return address lies in the trampoline. */
    void **fp = __builtin_frame_address(0);
    int steps = 0;
    fp_chain_ok = 0;
    while (fp && steps < 16 && on_stack(&probe_stack, fp)) {
        void **next = fp[0];
        uintptr_t ra = strip_pac((uintptr_t)fp[1]);
        if (!next) {
            fp_chain_ok = ra >= trampoline && ra < trampoline + 64;
            break;
        }
        fp = next;
        steps++;
    }
}

void probe_body(transfer_t t) {
    if (LINKS)
        *probe_link = (uintptr_t)t.fctx; /* the resumer, for the CFI */
    probe_from = t.fctx;
    probe_data = t.data;
    _Alignas(16) volatile unsigned char simd[16];
    probe_aligned_local = ((uintptr_t)simd & 15) == 0;
    simd[0] = 1;
    char buf[64];
    snprintf(buf, sizeof buf, "%f|%.3e", 3.25, 1.0 / 3.0);
    probe_snprintf_ok = strcmp(buf, "3.250000|3.333e-01") == 0;
    take_backtrace();
    gdb_probe_here();
    V->yield(t.fctx, (void *)0x5eed);
    abort(); /* never resumed */
}

/* `by_start`: enter the fresh context by V->start (compact: the switch made
 * for fresh blocks) rather than V->jump. */
static void test_fresh(unsigned misalign, int by_start) {
    probe_stack = new_stack(misalign);
    struct stack *s = &probe_stack;
    fcontext_t ctx = make_ctx(s->top, STACK_SIZE - 64, entry_probe);
    probe_link = link_word(ctx);
    uintptr_t aligned_top = (uintptr_t)s->top & ~(uintptr_t)15;
    CHECK((uintptr_t)ctx == aligned_top - V->block_bytes,
          "make returned %p, expected aligned top %#lx - %#x", ctx,
          (unsigned long)aligned_top, V->block_bytes);
    CHECK(canaries_but_link(s->top, s->base + STACK_SIZE, probe_link),
          "make wrote at or above sp");
    CHECK(canaries_intact(s->base, (unsigned char *)aligned_top - V->make_bytes),
          "make wrote more than %#x bytes below the aligned sp", V->make_bytes);
    /* The fresh block has no FP control state of its own (a full first
     * switch keeps the resumer's, see test_fenv). */
    CHECK(*fp_word(ctx) == ~(uint64_t)0,
          "make stored FP word %#llx, not the no-FP-state marker",
          (unsigned long long)*fp_word(ctx));
    trampoline = ((uintptr_t *)ctx)[V->resume_slot];

    probe_sp = probe_fp = probe_ra = 1;
    transfer_t t = (by_start ? V->start : V->jump)(ctx, (void *)0xda7a);
    CHECK((uintptr_t)t.data == 0x5eed, "fresh context answered %p", t.data);
    CHECK(on_stack(s, t.fctx), "fresh context's fctx %p not on its stack", t.fctx);
    CHECK(probe_data == (void *)0xda7a, "entry got data %p", probe_data);
    CHECK(probe_from != NULL && !on_stack(s, probe_from),
          "entry got from-context %p", probe_from);
    CHECK(SP_ENTRY_OK(probe_sp), "stack pointer %#lx at entry is misaligned",
          (unsigned long)probe_sp);
    CHECK(probe_sp == aligned_top - ENTRY_SP_BELOW_TOP,
          "entry SP %#lx, expected the aligned top %#lx - %d",
          (unsigned long)probe_sp, (unsigned long)aligned_top, ENTRY_SP_BELOW_TOP);
    CHECK(probe_fp == 0, "frame pointer at entry is %#lx, not 0",
          (unsigned long)probe_fp);
    CHECK(probe_ra >= trampoline && probe_ra < trampoline + 64,
          "return address %#lx at entry is not in the trampoline (%#lx)",
          (unsigned long)probe_ra, (unsigned long)trampoline);
    CHECK(probe_aligned_local, "16-byte aligned local is misaligned");
    CHECK(probe_snprintf_ok, "snprintf(\"%%f\") on the fiber stack failed");
    CHECK(bt_end_of_stack, "_Unwind_Backtrace did not end with END_OF_STACK");
    if (LINKS) {
        /* On through the trampoline into the resumer's frames: at least
         * the switch's caller, test_fresh and main. */
        CHECK(bt_beyond_trampoline >= 3,
              "backtrace stopped %d frames after the trampoline (linked to the resumer)",
              bt_beyond_trampoline);
    } else {
        CHECK(bt_last_in_trampoline, "last unwound frame is not the trampoline");
        CHECK(bt_frames >= 3 && bt_frames <= 8, "unexpected frame count %d", bt_frames);
    }
    CHECK(fp_chain_ok, "frame-pointer chain does not end at the trampoline");
    CHECK(canaries_but_link(s->top, s->base + STACK_SIZE, probe_link),
          "running the context wrote at or above sp");
    free(s->base);
}

/* ---------------------------------------------------------------------- */
/* 3. ontop                                                               */
/* ---------------------------------------------------------------------- */

static struct stack ontop_stack;
static fcontext_t ontop_seen_from;
static void *ontop_seen_data;
static int ontop_on_target_stack, ontop_calls;

static int ontop_bt_end_of_stack, ontop_bt_frames, ontop_bt_last_in_trampoline;

/* A backtrace from inside an ontop function walks the *target's* stack:
 * fn's return address is the target's resume point. */
__attribute__((noinline)) static void ontop_backtrace(void) {
    struct bt_state st = {0, 0, 0};
    ontop_bt_end_of_stack = _Unwind_Backtrace(bt_cb, &st) == _URC_END_OF_STACK;
    ontop_bt_frames = st.frames;
    ontop_bt_last_in_trampoline = st.last_ip >= trampoline && st.last_ip < trampoline + 64;
}

static transfer_t add_0x100(transfer_t t) {
    volatile int local = 0;
    ontop_backtrace();
    ontop_calls++;
    ontop_seen_from = t.fctx;
    ontop_seen_data = t.data;
    ontop_on_target_stack = on_stack(&ontop_stack, (const void *)&local);
    return (transfer_t){t.fctx, (void *)((uintptr_t)t.data + 0x100)};
}

static fcontext_t body_got_from;
static void *body_got_data;

static void ontop_body(transfer_t t) {
    /* First entry: plain jump from main. Suspend; the ontop function runs
     * on top of this suspension and its result is what the jump returns. */
    t = V->yield(t.fctx, (void *)1);
    body_got_from = t.fctx;
    body_got_data = t.data;
    V->yield(t.fctx, (void *)2); /* resumes main's ontop call */
    abort();
}

static void fresh_ontop_body(transfer_t t) {
    body_got_from = t.fctx;
    body_got_data = t.data;
    V->yield(t.fctx, (void *)3);
    abort();
}

static void test_ontop(void) {
    /* onto a suspended context */
    ontop_stack = new_stack(0);
    fcontext_t ctx = make_ctx(ontop_stack.top, STACK_SIZE, ontop_body);
    trampoline = ((uintptr_t *)ctx)[V->resume_slot];
    transfer_t t = V->jump(ctx, 0);
    CHECK(t.data == (void *)1, "body answered %p", t.data);
    ontop_calls = 0;
    t = V->ontop(t.fctx, (void *)0x40, add_0x100);
    CHECK(ontop_calls == 1, "ontop fn ran %d times", ontop_calls);
    CHECK(ontop_on_target_stack, "ontop fn did not run on the target's stack");
    CHECK(ontop_seen_data == (void *)0x40, "ontop fn got data %p", ontop_seen_data);
    CHECK(ontop_seen_from != NULL && !on_stack(&ontop_stack, ontop_seen_from),
          "ontop fn got from %p", ontop_seen_from);
    CHECK(body_got_data == (void *)0x140, "resumed jump returned data %p",
          body_got_data);
    CHECK(body_got_from == ontop_seen_from,
          "resumed jump returned fctx %p, ontop fn returned %p", body_got_from,
          ontop_seen_from);
    CHECK(t.data == (void *)2, "ontop call returned %p", t.data);
    /* ontop_backtrace, add_0x100, [the wrapper whose switch suspended the
     * context, for compact variants: fn returns into it], ontop_body,
     * trampoline */
    CHECK(ontop_bt_end_of_stack && ontop_bt_last_in_trampoline &&
              ontop_bt_frames == 4 + V->wrapper_frames,
          "backtrace in an ontop fn: end %d, last in trampoline %d, %d frames (want %d)",
          ontop_bt_end_of_stack, ontop_bt_last_in_trampoline, ontop_bt_frames,
          4 + V->wrapper_frames);
    CHECK(on_stack(&ontop_stack, t.fctx), "ontop call returned fctx %p", t.fctx);
    free(ontop_stack.base);

    /* onto a fresh context: the entry function gets the fn's result */
    ontop_stack = new_stack(8);
    ctx = make_ctx(ontop_stack.top, STACK_SIZE, fresh_ontop_body);
    trampoline = ((uintptr_t *)ctx)[V->resume_slot];
    ontop_calls = 0;
    body_got_data = NULL;
    t = V->ontop(ctx, (void *)0x50, add_0x100);
    CHECK(ontop_calls == 1, "ontop fn ran %d times", ontop_calls);
    CHECK(ontop_on_target_stack, "ontop fn did not run on the fresh stack");
    CHECK(body_got_data == (void *)0x150, "entry fn got data %p", body_got_data);
    CHECK(body_got_from == ontop_seen_from, "entry fn got fctx %p, fn returned %p",
          body_got_from, ontop_seen_from);
    CHECK(t.data == (void *)3, "ontop call returned %p", t.data);
    /* ontop_backtrace, add_0x100, trampoline */
    CHECK(ontop_bt_end_of_stack && ontop_bt_last_in_trampoline && ontop_bt_frames == 3,
          "backtrace in an ontop fn on a fresh stack: end %d, last in trampoline %d, "
          "%d frames", ontop_bt_end_of_stack, ontop_bt_last_in_trampoline, ontop_bt_frames);
    free(ontop_stack.base);
}

/* ---------------------------------------------------------------------- */
/* 4. Callee-saved registers                                              */
/* ---------------------------------------------------------------------- */

#define REG_ROUNDS 200
static uintptr_t reg_bad_masks_ctx;
static const struct variant *reg_ctx_variant;

static void regs_body(transfer_t t) {
    fcontext_t from = t.fctx;
    for (uintptr_t i = 0;; i++) {
        uintptr_t seed = (uintptr_t)0x7e57000000000000ull + (i << 8);
        reg_bad_masks_ctx |= plant_jump(&from, (void *)i, reg_ctx_variant->yield, seed);
    }
}

static void test_regs(const struct variant *ctx_side) {
    struct stack s = new_stack(0);
    reg_ctx_variant = ctx_side;
    reg_bad_masks_ctx = 0;
    fcontext_t ctx = make_ctx(s.top, STACK_SIZE, regs_body);
    uintptr_t bad = 0;
    for (uintptr_t i = 0; i < REG_ROUNDS; i++) {
        uintptr_t seed = (uintptr_t)0x3a1c000000000000ull + (i << 8);
        /* the first round enters the fresh context as coframe does */
        bad |= plant_jump(&ctx, (void *)i, i == 0 ? V->start : V->jump, seed);
    }
    CHECK(bad == 0, "main side (%s, context side %s): clobbered register mask %#lx",
          V->name, ctx_side->name, (unsigned long)bad);
    CHECK(reg_bad_masks_ctx == 0, "context side: clobbered register mask %#lx",
          (unsigned long)reg_bad_masks_ctx);
    free(s.base);
}

/* The compact switches without the wrappers, called as Rust calls them:
 * both sides plant RBX and RBP (X19 and X29) with values unique to side
 * and round and enter the raw switch (the context side by push + jmp into
 * yield where the variant pairs jump with yield). A switch that failed to
 * restore either register would hand over the other side's value. */
static uintptr_t direct_bad_ctx;

static void direct_regs_body(transfer_t t) {
    fcontext_t from = t.fctx;
    for (uintptr_t i = 0;; i++) {
        uintptr_t seed = (uintptr_t)0x6b1d000000000000ull + (i << 8);
        direct_bad_ctx |=
            plant_compact(&from, (void *)i, V->direct_yield, seed, V->yield_by_jmp);
    }
}

static void test_regs_direct(void) {
    struct stack s = new_stack(0);
    direct_bad_ctx = 0;
    fcontext_t ctx = make_ctx(s.top, STACK_SIZE, direct_regs_body);
    uintptr_t bad = 0;
    for (uintptr_t i = 0; i < REG_ROUNDS; i++) {
        uintptr_t seed = (uintptr_t)0x5c0f000000000000ull + (i << 8);
        bad |= plant_compact(&ctx, (void *)i, i == 0 ? V->direct_start : V->direct_jump,
                             seed, 0);
    }
    CHECK(bad == 0, "raw compact switch, resumer side: RBX/RBP (X19/X29) mask %#lx",
          (unsigned long)bad);
    CHECK(direct_bad_ctx == 0,
          "raw compact switch, context side: RBX/RBP (X19/X29) mask %#lx",
          (unsigned long)direct_bad_ctx);
    free(s.base);
}

/* ---------------------------------------------------------------------- */
/* 4b. What a suspension writes; lean resumptions ignore the FP word       */
/* ---------------------------------------------------------------------- */

/* A fresh context whose only call is the switch: everything below its
 * suspended block is memory no code has touched since new_stack() filled
 * it with canaries, so the canaries show what the switch wrote there. */
static uint64_t footprint_control_seen; /* by the context, once resumed */

static void footprint_body(transfer_t t) {
    for (;;) {
        footprint_control_seen = read_fp_control(); /* inline: no call */
        t = V->yield(t.fctx, (void *)((uintptr_t)t.data + 1));
    }
}

static void test_footprint(void) {
    struct stack s = new_stack(0);
    uint64_t control = read_fp_control();
    fcontext_t ctx = make_ctx(s.top, STACK_SIZE, footprint_body);
    transfer_t t = V->jump(ctx, (void *)1);
    ctx = t.fctx;
    CHECK(t.data == (void *)2 && on_stack(&s, ctx), "footprint context answered %p, %p",
          t.data, ctx);
    /* Nothing below the block but the documented FP word (x86_64 compact,
     * full: the 8 bytes below the block; lean: nothing, so a lean compact
     * suspension on x86_64 writes no FP word at all). */
    CHECK(canaries_intact(s.base, (unsigned char *)ctx - V->fp_below),
          "a suspension wrote more than %d bytes below its block", V->fp_below);
    if (V->full)
        CHECK((*fp_word(ctx) & FP_WORD_MASK) == control,
              "full suspension stored FP word %#llx, the control state is %#llx",
              (unsigned long long)*fp_word(ctx), (unsigned long long)control);
    else if (V->lean_marker)
        CHECK(*fp_word(ctx) == ~(uint64_t)0,
              "lean suspension stored FP word %#llx, not the no-FP-state marker",
              (unsigned long long)*fp_word(ctx));
    if (!V->full) {
        /* A lean resumption must not read the FP word: poison it with a
         * valid, different mode; if it were loaded, the context would run
         * in it (and leave it to the thread). */
        uint64_t *poisoned = fp_word(ctx);
        *poisoned = FP_POISON;
        footprint_control_seen = 0;
        t = V->jump(ctx, (void *)5);
        CHECK(t.data == (void *)6, "footprint context answered %p", t.data);
        CHECK(footprint_control_seen == control && read_fp_control() == control,
              "lean resumption loaded the poisoned FP word: the context ran in "
              "%#llx, then the thread had %#llx, expected %#llx",
              (unsigned long long)footprint_control_seen,
              (unsigned long long)read_fp_control(), (unsigned long long)control);
        write_fp_control(control);
        /* The context suspended lean again, at the same place: it stored
         * the marker again, or (no marker) did not touch the FP word. */
        CHECK(t.fctx == ctx, "second suspension at %p, first at %p", t.fctx, ctx);
        CHECK(*poisoned == (V->lean_marker ? ~(uint64_t)0 : FP_POISON),
              "second lean suspension left FP word %#llx",
              (unsigned long long)*poisoned);
        if (V->fp_slot < 0) /* below the block: give the canaries back */
            memset(poisoned, CANARY, sizeof *poisoned);
        ctx = t.fctx;
    } else {
        t = V->jump(ctx, (void *)5);
        CHECK(t.data == (void *)6, "footprint context answered %p", t.data);
        ctx = t.fctx;
    }
    /* The same holds after a resumption (the block is at the same place). */
    CHECK(canaries_intact(s.base, (unsigned char *)ctx - V->fp_below),
          "the second suspension wrote more than %d bytes below its block",
          V->fp_below);
    free(s.base);
}

/* ---------------------------------------------------------------------- */
/* 5. FP control state                                                    */
/* ---------------------------------------------------------------------- */

static volatile double two_and_half = 2.5;
/* lrint uses the current rounding mode: 2.5 -> 2 (nearest), 3 (upward). */
static long probe_round(void) { return lrint(two_and_half); }

enum { MSG_SET_UPWARD = 1, MSG_REPORT, MSG_SET_DOWNWARD_THEN_LEAN, MSG_DIVZERO };
static int ctx_mode_seen;
static long ctx_round_seen;
static uint64_t ctx_fp_control_seen, ctx_fp_control_set;

static void fenv_body(transfer_t t) {
    for (;;) {
        switch ((uintptr_t)t.data) {
        case MSG_SET_UPWARD: /* change the mode, suspend with the variant */
            fesetround(FE_UPWARD);
#if defined(__x86_64__)
            x87_set_double_precision();
#endif
            ctx_fp_control_set = read_fp_control();
            t = V->yield(t.fctx, 0);
            break;
        case MSG_REPORT: /* what mode do I run in? */
            ctx_mode_seen = fegetround();
            ctx_round_seen = probe_round();
            ctx_fp_control_seen = read_fp_control();
            t = V->yield(t.fctx, 0);
            break;
        case MSG_SET_DOWNWARD_THEN_LEAN: /* suspend lean whatever V is
                                            (fcontext only) */
            fesetround(FE_DOWNWARD);
            t = coframe_jump_fcontext_lean(t.fctx, 0);
            break;
        case MSG_DIVZERO: { /* raise an exception flag */
            volatile double zero = 0.0, one = 1.0;
            volatile double r = one / zero;
            (void)r;
            t = V->yield(t.fctx, 0);
            break;
        }
        default:
            abort();
        }
    }
}

/* Back to the mode main started in. */
static void reset_main_fp(uint64_t main_control) {
    fesetround(FE_TONEAREST);
#if defined(__x86_64__)
    write_x87_cw((uint16_t)(main_control >> 32));
#else
    (void)main_control;
#endif
}

static void test_fenv(int by_start) {
    fesetround(FE_TONEAREST);
    uint64_t main_control = read_fp_control();
    struct stack s = new_stack(0);

    /* A fresh context has no FP control state of its own: with every
     * variant it starts in the mode of whoever first resumes it, not its
     * creator's (as a called closure would). */
    fcontext_t ctx = make_ctx(s.top, STACK_SIZE, fenv_body);
    fesetround(FE_UPWARD);
    uint64_t upward_control = read_fp_control();
    CHECK(upward_control != main_control, "fesetround(FE_UPWARD) had no effect");
    ctx = (by_start ? V->start : V->jump)(ctx, (void *)MSG_REPORT).fctx;
    CHECK(ctx_mode_seen == FE_UPWARD, "fresh context runs in mode %#x, "
          "not its first resumer's FE_UPWARD", ctx_mode_seen);
    CHECK(ctx_fp_control_seen == upward_control,
          "fresh context's FP control %#llx, its first resumer's %#llx",
          (unsigned long long)ctx_fp_control_seen,
          (unsigned long long)upward_control);
    CHECK(fegetround() == FE_UPWARD && read_fp_control() == upward_control,
          "main's mode changed by the first round trip");
    reset_main_fp(main_control);

    /* The context changes its mode and suspends. */
    ctx = V->jump(ctx, (void *)MSG_SET_UPWARD).fctx;
    if (V->full) {
        CHECK(fegetround() == FE_TONEAREST, "full: mode leaked out (%#x)",
              fegetround());
        CHECK(probe_round() == 2, "full: lrint(2.5) = %ld after switch back",
              probe_round());
        CHECK(read_fp_control() == main_control,
              "full: FP control %#llx leaked out (main had %#llx)",
              (unsigned long long)read_fp_control(),
              (unsigned long long)main_control);
        /* ... because the context's mode went into its block. */
        CHECK((*fp_word(ctx) & FP_WORD_MASK) == ctx_fp_control_set,
              "full: suspended block's FP word %#llx, the context ran in %#llx",
              (unsigned long long)*fp_word(ctx), (unsigned long long)ctx_fp_control_set);
        /* Main changes its own mode; the context still sees its own. */
        fesetround(FE_TOWARDZERO);
        uint64_t main_tz = read_fp_control();
        ctx = V->jump(ctx, (void *)MSG_REPORT).fctx;
        CHECK(ctx_mode_seen == FE_UPWARD && ctx_round_seen == 3,
              "full: context lost its mode (%#x, lrint(2.5) = %ld)",
              ctx_mode_seen, ctx_round_seen);
        CHECK(fegetround() == FE_TOWARDZERO && read_fp_control() == main_tz,
              "full: main's FE_TOWARDZERO not restored");
        reset_main_fp(main_control);
        /* A context suspended lean and resumed full keeps the resumer's
         * mode (no stale state is loaded). Mixing flavours is not allowed
         * for compact blocks: fcontext only. */
        if (!V->compact) {
            ctx = V->jump(ctx, (void *)MSG_SET_DOWNWARD_THEN_LEAN).fctx;
            CHECK(fegetround() == FE_DOWNWARD,
                  "lean suspension should leave the context's mode to the thread");
            reset_main_fp(main_control);
            CHECK(*fp_word(ctx) == ~(uint64_t)0,
                  "lean suspension did not store the no-FP-state marker");
            ctx = V->jump(ctx, (void *)MSG_REPORT).fctx;
            CHECK(ctx_mode_seen == FE_TONEAREST,
                  "full resume of a lean-suspended context loaded mode %#x",
                  ctx_mode_seen);
        }
    } else {
        /* Lean: the mode is thread state and is seen by the other side. */
        CHECK(fegetround() == FE_UPWARD && probe_round() == 3,
              "lean: expected the context's FE_UPWARD to be visible (%#x)",
              fegetround());
        reset_main_fp(main_control);
        ctx = V->jump(ctx, (void *)MSG_REPORT).fctx;
        CHECK(ctx_mode_seen == FE_TONEAREST,
              "lean: context should see main's mode, saw %#x", ctx_mode_seen);
    }
    CHECK(read_fp_control() == main_control, "FP control not back to the start");

    /* Exception flags are thread state with both variants. */
    feclearexcept(FE_ALL_EXCEPT);
    ctx = V->jump(ctx, (void *)MSG_DIVZERO).fctx;
    CHECK(fetestexcept(FE_DIVBYZERO) != 0,
          "exception flag raised in the context not visible after the switch");
    feclearexcept(FE_ALL_EXCEPT);

    fesetround(FE_TONEAREST);
    free(s.base);
}

/* ---------------------------------------------------------------------- */

static void run_all(void) {
    for (int i = 0; i < N_VARIANTS; i++) {
        V = &VARIANTS[i];
        test_pingpong();
        test_fresh(0, 0);
        test_fresh(7, 0);
        test_fresh(8, 0);
        if (V->compact) {
            test_fresh(0, 1);
            test_fresh(7, 1);
            test_fresh(8, 1);
        }
        test_footprint();
        test_ontop();
        for (int j = 0; j < N_VARIANTS; j++) /* every allowed other side */
            if (compatible(V, &VARIANTS[j]))
                test_regs(&VARIANTS[j]);
        if (V->compact)
            test_regs_direct();
        test_fenv(0);
        if (V->compact)
            test_fenv(1);
    }
    V = NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "gdb-probe") == 0) {
        V = &VARIANTS[0];
        for (int i = 0; argc > 2 && i < N_VARIANTS; i++)
            if (strcmp(argv[2], VARIANTS[i].name) == 0)
                V = &VARIANTS[i];
        if (argc > 2 && strcmp(argv[2], V->name) != 0) {
            fprintf(stderr, "harness: no variant %s\n", argv[2]);
            return 2;
        }
        /* gdb-probe VARIANT [start]: enter by the variant's start switch */
        test_fresh(0, argc > 3 && strcmp(argv[3], "start") == 0);
        return failures != 0;
    }
    run_all();
    printf("coframe asm harness [%s%s]: %d checks, %d failed: %s\n", ARCH,
#if defined(__CET__)
           " cet",
#elif defined(__ARM_FEATURE_BTI_DEFAULT)
           " bti+pac",
#else
           "",
#endif
           checks, failures, failures ? "FAIL" : "ok");
    return failures != 0;
}
