/*
 * Test harness for coframe's stack-switch assembly (asm/<arch>_*.S), outside
 * Rust: built natively on x86_64 and cross-built for aarch64 (run under
 * qemu-aarch64) by asm/test/run.sh.
 *
 * Checks, for the full and the lean variants:
 *   - ping-pong round trips with data both ways;
 *   - a fresh context: stack alignment and frame pointer at the entry
 *     function's first instruction, return address inside the start
 *     trampoline, a 16-byte aligned local and snprintf("%f") on the new stack,
 *     make_fcontext leaves memory at and above `sp` untouched and writes no
 *     more than the documented block below it;
 *   - a backtrace taken on a fresh stack ends cleanly at the trampoline
 *     (_Unwind_Backtrace reports end of stack; the frame-pointer chain ends
 *     in 0);
 *   - ontop onto a suspended and onto a fresh context: the function runs on
 *     the target's stack, receives the right from-context and data, and its
 *     return value is what the resumed jump (or the entry function) receives;
 *     a backtrace inside it walks the target's frames down to the trampoline;
 *   - callee-saved registers (x86_64: RBX RBP R12-R15; aarch64: X19-X29,
 *     D8-D15) planted with known values survive switches on both sides;
 *   - FP control state (rounding mode via <fenv.h>, plus MXCSR and the x87
 *     control word / FPCR read directly): full switches keep it per context,
 *     lean switches leave it to the thread (a mode set in one context is
 *     seen by the other), a fresh context starts with its creator's mode, a
 *     context suspended lean and resumed full keeps the resumer's mode, and
 *     the exception flags are thread state with both variants.
 *
 * `harness` runs everything and prints one summary line; exit status 0 means
 * every check passed. `harness gdb-probe` only runs a fresh context that
 * calls gdb_probe_here(), for the gdb backtrace check in run.sh.
 */
#define _GNU_SOURCE
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;

fcontext_t coframe_make_fcontext(void *sp, size_t size, void (*fn)(transfer_t));
transfer_t coframe_jump_fcontext(fcontext_t to, void *data);
transfer_t coframe_ontop_fcontext(fcontext_t to, void *data, transfer_t (*fn)(transfer_t));
transfer_t coframe_jump_fcontext_lean(fcontext_t to, void *data);
transfer_t coframe_ontop_fcontext_lean(fcontext_t to, void *data, transfer_t (*fn)(transfer_t));

typedef transfer_t (*jump_fn)(fcontext_t, void *);
typedef transfer_t (*ontop_fn)(fcontext_t, void *, transfer_t (*)(transfer_t));

struct variant {
    const char *name;
    int full;
    jump_fn jump;
    ontop_fn ontop;
};
static const struct variant VARIANTS[2] = {
    {"full", 1, coframe_jump_fcontext, coframe_ontop_fcontext},
    {"lean", 0, coframe_jump_fcontext_lean, coframe_ontop_fcontext_lean},
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

/* void entry_probe(transfer_t): a fresh context's entry function that
 * records SP, the frame pointer and the return address as they are at its
 * first instruction, then tail-calls probe_body(t). */
void entry_probe(transfer_t t);
void probe_body(transfer_t t);
uintptr_t probe_sp, probe_fp, probe_ra;

#if defined(__x86_64__)
#  define ARCH "x86_64"
#  define BLOCK_BYTES 0x48    /* block incl. the RIP slot */
#  define RESUME_SLOT 8       /* index of the RIP slot in uintptr_t units */
#  define FP_SLOT 0           /* 8 bytes: MXCSR | x87 CW << 32 */
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
__asm__(".text\n"
        ".globl plant_jump\n"
        ".type plant_jump, @function\n"
        "plant_jump:\n" ENDBR
        " pushq %rbp\n pushq %rbx\n pushq %r12\n pushq %r13\n"
        " pushq %r14\n pushq %r15\n"
        " subq $24, %rsp\n"        /* 6*8 + 24 + 8 (ret) = 80: aligned */
        " movq %rdi, 0(%rsp)\n"    /* to */
        " movq %rcx, 8(%rsp)\n"    /* seed */
        " movq %rdx, %rax\n"       /* jump */
        " movq (%rdi), %rdi\n"     /* *to */
        " leaq 1(%rcx), %rbx\n leaq 2(%rcx), %rbp\n leaq 3(%rcx), %r12\n"
        " leaq 4(%rcx), %r13\n leaq 5(%rcx), %r14\n leaq 6(%rcx), %r15\n"
        " call *%rax\n"
        " movq 0(%rsp), %rcx\n movq %rax, (%rcx)\n" /* *to = t.fctx */
        " movq 8(%rsp), %rcx\n"
        " xorl %eax, %eax\n"
        CHK(%rbx, 1) CHK(%rbp, 2) CHK(%r12, 3) CHK(%r13, 4) CHK(%r14, 5)
        CHK(%r15, 6)
        " addq $24, %rsp\n"
        " popq %r15\n popq %r14\n popq %r13\n popq %r12\n popq %rbx\n"
        " popq %rbp\n"
        " ret\n"
        ".size plant_jump, .-plant_jump\n"
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
/* The raw FP control state, to compare against. */
static uint64_t read_fp_control(void) {
    return (read_mxcsr() & 0xffc0) | ((uint64_t)read_x87_cw() << 32);
}
static uintptr_t strip_pac(uintptr_t ra) { return ra; }

#elif defined(__aarch64__)
#  define ARCH "aarch64"
#  define BLOCK_BYTES 0xb0
#  define RESUME_SLOT 19      /* X30 at 0x98 */
#  define FP_SLOT 20          /* FPCR at 0xa0 */
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
__asm__(".text\n"
        ".globl plant_jump\n"
        ".type plant_jump, %function\n"
        "plant_jump:\n" BTI_C
        " stp x29, x30, [sp, #-176]!\n"
        " stp x19, x20, [sp, #16]\n stp x21, x22, [sp, #32]\n"
        " stp x23, x24, [sp, #48]\n stp x25, x26, [sp, #64]\n"
        " stp x27, x28, [sp, #80]\n stp d8, d9, [sp, #96]\n"
        " stp d10, d11, [sp, #112]\n stp d12, d13, [sp, #128]\n"
        " stp d14, d15, [sp, #144]\n"
        " stp x0, x3, [sp, #160]\n"  /* to, seed */
        " mov x9, x2\n"              /* jump */
        " ldr x0, [x0]\n"            /* *to */
        " add x19, x3, #1\n add x20, x3, #2\n add x21, x3, #3\n"
        " add x22, x3, #4\n add x23, x3, #5\n add x24, x3, #6\n"
        " add x25, x3, #7\n add x26, x3, #8\n add x27, x3, #9\n"
        " add x28, x3, #10\n add x29, x3, #11\n"
        " add x10, x3, #12\n fmov d8, x10\n add x10, x3, #13\n fmov d9, x10\n"
        " add x10, x3, #14\n fmov d10, x10\n add x10, x3, #15\n fmov d11, x10\n"
        " add x10, x3, #16\n fmov d12, x10\n add x10, x3, #17\n fmov d13, x10\n"
        " add x10, x3, #18\n fmov d14, x10\n add x10, x3, #19\n fmov d15, x10\n"
        " blr x9\n"
        " ldp x9, x3, [sp, #160]\n"
        " str x0, [x9]\n"            /* *to = t.fctx */
        " mov x0, #0\n"
        CHK(x19, 1) CHK(x20, 2) CHK(x21, 3) CHK(x22, 4) CHK(x23, 5)
        CHK(x24, 6) CHK(x25, 7) CHK(x26, 8) CHK(x27, 9) CHK(x28, 10)
        CHK(x29, 11)
        CHKD(d8, 12) CHKD(d9, 13) CHKD(d10, 14) CHKD(d11, 15) CHKD(d12, 16)
        CHKD(d13, 17) CHKD(d14, 18) CHKD(d15, 19)
        " ldp x19, x20, [sp, #16]\n ldp x21, x22, [sp, #32]\n"
        " ldp x23, x24, [sp, #48]\n ldp x25, x26, [sp, #64]\n"
        " ldp x27, x28, [sp, #80]\n ldp d8, d9, [sp, #96]\n"
        " ldp d10, d11, [sp, #112]\n ldp d12, d13, [sp, #128]\n"
        " ldp d14, d15, [sp, #144]\n"
        " ldp x29, x30, [sp], #176\n"
        " ret\n"
        ".size plant_jump, .-plant_jump\n"
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
/* Stacks                                                                 */
/* ---------------------------------------------------------------------- */

#define STACK_SIZE (256 * 1024)
#define CANARY 0xa5

struct stack {
    unsigned char *base; /* lowest address */
    unsigned char *top;  /* the `sp` handed to make_fcontext */
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

/* ---------------------------------------------------------------------- */
/* 1. Ping-pong with data both ways                                       */
/* ---------------------------------------------------------------------- */

#define PINGPONG_ROUNDS 1000

static void pingpong_body(transfer_t t) {
    for (;;) {
        uintptr_t in = (uintptr_t)t.data;
        t = V->jump(t.fctx, (void *)(in * 3 + 1));
    }
}

static void test_pingpong(void) {
    struct stack s = new_stack(0);
    fcontext_t ctx = coframe_make_fcontext(s.top, STACK_SIZE - 64, pingpong_body);
    int bad = 0;
    for (uintptr_t i = 0; i < PINGPONG_ROUNDS; i++) {
        transfer_t t = V->jump(ctx, (void *)i);
        if ((uintptr_t)t.data != i * 3 + 1)
            bad++;
        if (!on_stack(&s, t.fctx))
            bad++;
        ctx = t.fctx;
    }
    CHECK(bad == 0, "%d of %d round trips returned wrong data or context", bad,
          PINGPONG_ROUNDS);
    free(s.base);
}

/* ---------------------------------------------------------------------- */
/* 2. A fresh context: entry state, alignment, libc on the new stack,     */
/*    memory written by make_fcontext, clean backtrace termination        */
/* ---------------------------------------------------------------------- */

static struct stack probe_stack;
static uintptr_t trampoline; /* resume address of a fresh block */
static fcontext_t probe_from;
static void *probe_data;
static int probe_aligned_local, probe_snprintf_ok;
static int bt_frames, bt_end_of_stack, bt_last_in_trampoline;
static int fp_chain_ok;

struct bt_state {
    int frames;
    uintptr_t last_ip;
};
static _Unwind_Reason_Code bt_cb(struct _Unwind_Context *ctx, void *arg) {
    struct bt_state *st = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    /* libgcc reports the frame above the outermost one (whose return
     * address is undefined) with IP 0 before it stops; don't count it. */
    if (ip == 0)
        return _URC_NO_REASON;
    st->frames++;
    st->last_ip = ip;
    return st->frames > 64 ? _URC_NORMAL_STOP : _URC_NO_REASON;
}

__attribute__((noinline)) void gdb_probe_here(void) { __asm__ volatile(""); }

__attribute__((noinline)) static void take_backtrace(void) {
    struct bt_state st = {0, 0};
    _Unwind_Reason_Code rc = _Unwind_Backtrace(bt_cb, &st);
    bt_frames = st.frames;
    bt_end_of_stack = rc == _URC_END_OF_STACK;
    bt_last_in_trampoline = st.last_ip >= trampoline && st.last_ip < trampoline + 64;

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
    V->jump(t.fctx, (void *)0x5eed);
    abort(); /* never resumed */
}

static void test_fresh(unsigned misalign) {
    probe_stack = new_stack(misalign);
    struct stack *s = &probe_stack;
    fcontext_t ctx = coframe_make_fcontext(s->top, STACK_SIZE - 64, entry_probe);
    uintptr_t aligned_top = (uintptr_t)s->top & ~(uintptr_t)15;
    CHECK((uintptr_t)ctx == aligned_top - BLOCK_BYTES,
          "make_fcontext returned %p, expected aligned top %#lx - %#x", ctx,
          (unsigned long)aligned_top, BLOCK_BYTES);
    CHECK(canaries_intact(s->top, s->base + STACK_SIZE),
          "make_fcontext wrote at or above sp");
    CHECK(canaries_intact(s->base, (unsigned char *)aligned_top - BLOCK_BYTES),
          "make_fcontext wrote more than %#x bytes below the aligned sp",
          BLOCK_BYTES);
    trampoline = ((uintptr_t *)ctx)[RESUME_SLOT];

    probe_sp = probe_fp = probe_ra = 1;
    transfer_t t = V->jump(ctx, (void *)0xda7a);
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
    CHECK(bt_last_in_trampoline, "last unwound frame is not the trampoline");
    CHECK(bt_frames >= 3 && bt_frames <= 8, "unexpected frame count %d", bt_frames);
    CHECK(fp_chain_ok, "frame-pointer chain does not end at the trampoline");
    CHECK(canaries_intact(s->top, s->base + STACK_SIZE),
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
    struct bt_state st = {0, 0};
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
    t = V->jump(t.fctx, (void *)1);
    body_got_from = t.fctx;
    body_got_data = t.data;
    V->jump(t.fctx, (void *)2); /* resumes main's ontop call */
    abort();
}

static void fresh_ontop_body(transfer_t t) {
    body_got_from = t.fctx;
    body_got_data = t.data;
    V->jump(t.fctx, (void *)3);
    abort();
}

static void test_ontop(void) {
    /* onto a suspended context */
    ontop_stack = new_stack(0);
    fcontext_t ctx = coframe_make_fcontext(ontop_stack.top, STACK_SIZE, ontop_body);
    trampoline = ((uintptr_t *)ctx)[RESUME_SLOT];
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
    /* ontop_backtrace, add_0x100, ontop_body, trampoline */
    CHECK(ontop_bt_end_of_stack && ontop_bt_last_in_trampoline && ontop_bt_frames == 4,
          "backtrace in an ontop fn: end %d, last in trampoline %d, %d frames",
          ontop_bt_end_of_stack, ontop_bt_last_in_trampoline, ontop_bt_frames);
    CHECK(on_stack(&ontop_stack, t.fctx), "ontop call returned fctx %p", t.fctx);
    free(ontop_stack.base);

    /* onto a fresh context: the entry function gets the fn's result */
    ontop_stack = new_stack(8);
    ctx = coframe_make_fcontext(ontop_stack.top, STACK_SIZE, fresh_ontop_body);
    trampoline = ((uintptr_t *)ctx)[RESUME_SLOT];
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
        reg_bad_masks_ctx |= plant_jump(&from, (void *)i, reg_ctx_variant->jump, seed);
    }
}

static void test_regs(const struct variant *ctx_side) {
    struct stack s = new_stack(0);
    reg_ctx_variant = ctx_side;
    reg_bad_masks_ctx = 0;
    fcontext_t ctx = coframe_make_fcontext(s.top, STACK_SIZE, regs_body);
    uintptr_t bad = 0;
    for (uintptr_t i = 0; i < REG_ROUNDS; i++) {
        uintptr_t seed = (uintptr_t)0x3a1c000000000000ull + (i << 8);
        bad |= plant_jump(&ctx, (void *)i, V->jump, seed);
    }
    CHECK(bad == 0, "main side (%s, context side %s): clobbered register mask %#lx",
          V->name, ctx_side->name, (unsigned long)bad);
    CHECK(reg_bad_masks_ctx == 0, "context side: clobbered register mask %#lx",
          (unsigned long)reg_bad_masks_ctx);
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
static uint64_t ctx_fp_control_seen;

static void fenv_body(transfer_t t) {
    for (;;) {
        switch ((uintptr_t)t.data) {
        case MSG_SET_UPWARD: /* change the mode, suspend with the variant */
            fesetround(FE_UPWARD);
#if defined(__x86_64__)
            x87_set_double_precision();
#endif
            t = V->jump(t.fctx, 0);
            break;
        case MSG_REPORT: /* what mode do I run in? */
            ctx_mode_seen = fegetround();
            ctx_round_seen = probe_round();
            ctx_fp_control_seen = read_fp_control();
            t = V->jump(t.fctx, 0);
            break;
        case MSG_SET_DOWNWARD_THEN_LEAN: /* suspend lean whatever V is */
            fesetround(FE_DOWNWARD);
            t = coframe_jump_fcontext_lean(t.fctx, 0);
            break;
        case MSG_DIVZERO: { /* raise an exception flag */
            volatile double zero = 0.0, one = 1.0;
            volatile double r = one / zero;
            (void)r;
            t = V->jump(t.fctx, 0);
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

static void test_fenv(void) {
    fesetround(FE_TONEAREST);
    uint64_t main_control = read_fp_control();
    struct stack s = new_stack(0);

    /* A fresh context starts with its creator's mode. */
    fesetround(FE_UPWARD);
    uint64_t upward_control = read_fp_control();
    fcontext_t ctx = coframe_make_fcontext(s.top, STACK_SIZE, fenv_body);
    fesetround(FE_TONEAREST);
    if (V->full) {
        ctx = V->jump(ctx, (void *)MSG_REPORT).fctx;
        CHECK(ctx_mode_seen == FE_UPWARD, "fresh context runs in mode %#x, "
              "not its creator's FE_UPWARD", ctx_mode_seen);
        CHECK(ctx_fp_control_seen == upward_control,
              "fresh context's FP control %#llx, creator's %#llx",
              (unsigned long long)ctx_fp_control_seen,
              (unsigned long long)upward_control);
        CHECK(fegetround() == FE_TONEAREST && read_fp_control() == main_control,
              "main's mode changed by a full round trip");
    } else {
        ctx = V->jump(ctx, (void *)MSG_REPORT).fctx;
        CHECK(ctx_mode_seen == FE_TONEAREST,
              "lean: fresh context entered lean runs in %#x, not the thread's",
              ctx_mode_seen);
    }

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
         * mode (no stale state is loaded). */
        ctx = V->jump(ctx, (void *)MSG_SET_DOWNWARD_THEN_LEAN).fctx;
        CHECK(fegetround() == FE_DOWNWARD,
              "lean suspension should leave the context's mode to the thread");
        reset_main_fp(main_control);
        CHECK(((uint64_t *)ctx)[FP_SLOT] == ~(uint64_t)0,
              "lean suspension did not store the no-FP-state marker");
        ctx = V->jump(ctx, (void *)MSG_REPORT).fctx;
        CHECK(ctx_mode_seen == FE_TONEAREST,
              "full resume of a lean-suspended context loaded mode %#x",
              ctx_mode_seen);
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
    for (int i = 0; i < 2; i++) {
        V = &VARIANTS[i];
        test_pingpong();
        test_fresh(0);
        test_fresh(7);
        test_fresh(8);
        test_ontop();
        test_regs(&VARIANTS[0]);
        test_regs(&VARIANTS[1]);
        test_fenv();
    }
    V = NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "gdb-probe") == 0) {
        V = &VARIANTS[0];
        test_fresh(0);
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
