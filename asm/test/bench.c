/*
 * Micro-bench of the x86_64 switch: ns per round trip (two switches: there
 * and back) between the main stack and a context, for
 *   full            the default switch, both sides in the same FP mode
 *   full, modes differ  the default switch, the context runs FE_UPWARD, so
 *                   every switch reloads MXCSR and the x87 control word
 *   lean            no FP control state
 *   boost-style     reference: Boost.Context's algorithm (save MXCSR and x87
 *                   CW, reload both unconditionally, mov-based block)
 *   lean, ret       reference: lean, but resuming with `ret` instead of
 *                   `jmp *%r8` (the return-stack buffer always mispredicts)
 * the cost of creating a context (make_fcontext + first switch in and
 * back out), and what the FP control instructions cost alone on this CPU
 * (the floor under the default switch: it must read MXCSR to save it).
 * Best of several runs. Build/run: `asm/test/run.sh bench`.
 */
#define _GNU_SOURCE
#include <fenv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "symbols.h"

typedef void *fcontext_t;
typedef struct {
    fcontext_t fctx;
    void *data;
} transfer_t;
typedef transfer_t (*jump_fn)(fcontext_t, void *);

fcontext_t coframe_make_fcontext(void *sp, size_t size, void (*fn)(transfer_t))
    __asm__(SWITCH_SYMBOL(make_fcontext));
transfer_t coframe_jump_fcontext(fcontext_t to, void *data)
    __asm__(SWITCH_SYMBOL(jump_fcontext));
transfer_t coframe_jump_fcontext_lean(fcontext_t to, void *data)
    __asm__(SWITCH_SYMBOL(jump_fcontext_lean));
transfer_t ref_boost_style_jump(fcontext_t to, void *data);
transfer_t ref_lean_ret_jump(fcontext_t to, void *data);

/* Reference switches, same block layout as asm/x86_64_sysv_elf.S. */
__asm__(".text\n"
        ".globl ref_boost_style_jump\n"
        "ref_boost_style_jump:\n"
        " leaq -0x40(%rsp), %rsp\n"
        " stmxcsr (%rsp)\n fnstcw 0x4(%rsp)\n"
        " movq %r12, 0x10(%rsp)\n movq %r13, 0x18(%rsp)\n"
        " movq %r14, 0x20(%rsp)\n movq %r15, 0x28(%rsp)\n"
        " movq %rbx, 0x30(%rsp)\n movq %rbp, 0x38(%rsp)\n"
        " movq %rsp, %rax\n movq %rdi, %rsp\n"
        " movq 0x40(%rsp), %r8\n"
        " ldmxcsr (%rsp)\n fldcw 0x4(%rsp)\n"
        " movq 0x10(%rsp), %r12\n movq 0x18(%rsp), %r13\n"
        " movq 0x20(%rsp), %r14\n movq 0x28(%rsp), %r15\n"
        " movq 0x30(%rsp), %rbx\n movq 0x38(%rsp), %rbp\n"
        " leaq 0x48(%rsp), %rsp\n"
        " movq %rsi, %rdx\n"
        " jmp *%r8\n"
        ".globl ref_lean_ret_jump\n"
        "ref_lean_ret_jump:\n"
        " pushq %rbp\n pushq %rbx\n pushq %r15\n pushq %r14\n"
        " pushq %r13\n pushq %r12\n"
        " leaq -0x10(%rsp), %rax\n"
        " movq $-1, (%rax)\n"
        " leaq 0x10(%rdi), %rsp\n"
        " popq %r12\n popq %r13\n popq %r14\n popq %r15\n"
        " popq %rbx\n popq %rbp\n"
        " movq %rsi, %rdx\n"
        " ret\n");

#define STACK_SIZE (64 * 1024)
static _Alignas(16) char stack[STACK_SIZE];
static jump_fn J;
static int ctx_round_upward;

static void pingpong(transfer_t t) {
    if (ctx_round_upward)
        fesetround(FE_UPWARD);
    for (;;)
        t = J(t.fctx, t.data);
}

/* make_fcontext stores the "no FP state" marker (-1) as a fresh block's FP
 * word, which coframe's switches recognise; Boost's make records the
 * creator's MXCSR and x87 control word instead, and its switch loads them
 * unconditionally (ldmxcsr of -1 faults). Give the Boost-style reference a
 * block as Boost's make would build it. */
static fcontext_t make_for(jump_fn j, void (*fn)(transfer_t)) {
    fcontext_t c = coframe_make_fcontext(stack + STACK_SIZE, STACK_SIZE, fn);
    if (j == ref_boost_style_jump) {
        __asm__ volatile("stmxcsr (%0)\n fnstcw 4(%0)" : : "r"(c) : "memory");
    }
    return c;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double bench_switch(jump_fn j, int upward, long n) {
    J = j;
    ctx_round_upward = upward;
    transfer_t t = {make_for(j, pingpong), 0};
    t = j(t.fctx, 0);
    double best = 1e18;
    for (int r = 0; r < 7; r++) {
        double a = now_ns();
        for (long i = 0; i < n; i++)
            t = j(t.fctx, (void *)i);
        double d = (now_ns() - a) / n;
        if (d < best)
            best = d;
    }
    return best;
}

static void finish_at_once(transfer_t t) {
    for (;;)
        t = J(t.fctx, 0);
}

static double bench_create(jump_fn j, long n) {
    J = j;
    double best = 1e18;
    for (int r = 0; r < 7; r++) {
        double a = now_ns();
        for (long i = 0; i < n; i++) {
            fcontext_t c = make_for(j, finish_at_once);
            j(c, 0);
        }
        double d = (now_ns() - a) / n;
        if (d < best)
            best = d;
    }
    return best;
}

/* Sixteen independent adds: work a CPU can overlap with a slow instruction. */
#define ADDS4 "addq $1, %%rcx\n addq $1, %%rdx\n addq $1, %%rsi\n addq $1, %%rdi\n"
#define ADDS16 ADDS4 ADDS4 ADDS4 ADDS4

/* ns per iteration of a loop around one FP control instruction (which = 0
 * stmxcsr, 1 fnstcw, 2 ldmxcsr, 3 fldcw, 4 stmxcsr amid 64 independent adds,
 * 5 the 64 adds alone), best of 7. */
static double bench_fp_insn(int which, long n) {
    uint32_t m;
    uint16_t c;
    __asm__ volatile("stmxcsr %0\n fnstcw %1" : "=m"(m), "=m"(c));
    double best = 1e18;
    for (int r = 0; r < 7; r++) {
        double a = now_ns();
        for (long i = 0; i < n; i++) {
            switch (which) {
            case 0: __asm__ volatile("stmxcsr %0" : "=m"(m)); break;
            case 1: __asm__ volatile("fnstcw %0" : "=m"(c)); break;
            case 2: __asm__ volatile("ldmxcsr %0" : : "m"(m)); break;
            case 3: __asm__ volatile("fldcw %0" : : "m"(c)); break;
            case 4:
                __asm__ volatile("stmxcsr %0\n" ADDS16 ADDS16 ADDS16 ADDS16
                                 : "=m"(m) : : "rcx", "rdx", "rsi", "rdi");
                break;
            default:
                __asm__ volatile(ADDS16 ADDS16 ADDS16 ADDS16 : : : "rcx", "rdx", "rsi", "rdi");
            }
        }
        double d = (now_ns() - a) / n;
        if (d < best)
            best = d;
    }
    return best;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    printf("round trip (ns), best of 7 x %ld:\n", n);
    printf("  %-22s %6.2f\n", "full", bench_switch(coframe_jump_fcontext, 0, n));
    printf("  %-22s %6.2f\n", "full, modes differ", bench_switch(coframe_jump_fcontext, 1, n));
    fesetround(FE_TONEAREST);
    printf("  %-22s %6.2f\n", "lean", bench_switch(coframe_jump_fcontext_lean, 0, n));
    printf("  %-22s %6.2f\n", "boost-style (ref)", bench_switch(ref_boost_style_jump, 0, n));
    printf("  %-22s %6.2f\n", "lean, ret (ref)", bench_switch(ref_lean_ret_jump, 0, n));
    printf("create: make_fcontext + switch in and out (ns):\n");
    printf("  %-22s %6.2f\n", "full", bench_create(coframe_jump_fcontext, n / 4));
    printf("  %-22s %6.2f\n", "lean", bench_create(coframe_jump_fcontext_lean, n / 4));
    static const char *insn[] = {"stmxcsr", "fnstcw", "ldmxcsr", "fldcw",
                                 "stmxcsr + 64 adds", "64 adds alone"};
    printf("FP control instructions, back to back (ns each):\n");
    for (int w = 0; w < 6; w++)
        printf("  %-22s %6.2f\n", insn[w], bench_fp_insn(w, n));
    return 0;
}
