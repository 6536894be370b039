#!/usr/bin/env bash
# Tests coframe's stack-switch assembly outside Rust (called from .ci/run).
#
#   asm/test/run.sh          harness natively (x86_64), with CET, gdb check,
#                            then cross-built for aarch64 under qemu-aarch64,
#                            also with BTI+PAC (-mbranch-protection=standard)
#   asm/test/run.sh bench    additionally the x86_64 full-vs-lean bench
#
# The switch symbols are hidden and versioned (coframe_<version>_<name>):
# prefix.sh derives the prefix from Cargo.toml as build.rs does, and every
# build below passes it as -DCOFRAME_PREFIX.
#
# Installs qemu-user and gcc-aarch64-linux-gnu (apt) when missing. Builds into
# asm/test/build (gitignored). Exits non-zero on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
asm="$here/.."
out="$here/build"
mkdir -p "$out"
cd "$here"

step() { echo "--- asm: $*"; }
fail() { echo "asm/test/run.sh: FAILED: $*" >&2; exit 1; }

prefix="$(bash "$here/prefix.sh")"
CFLAGS=(-std=gnu11 -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror
    "-DCOFRAME_PREFIX=$prefix")

# The global symbols each switch object defines, without the prefix.
X86_64_SYMBOLS=(make_fcontext jump_fcontext ontop_fcontext jump_fcontext_lean
    ontop_fcontext_lean make_compact jump_compact jump_compact_lean yield_compact
    yield_compact_lean ontop_compact ontop_compact_lean start_compact
    start_compact_lean)
AARCH64_SYMBOLS=(make_fcontext jump_fcontext ontop_fcontext jump_fcontext_lean
    ontop_fcontext_lean make_compact jump_compact jump_compact_lean ontop_compact
    ontop_compact_lean start_compact start_compact_lean)

# check_symbols READELF OBJECT NAME...: the object's defined global symbols
# are exactly $prefix + each NAME, and every one of them is hidden.
check_symbols() {
    local readelf="$1" obj="$2"; shift 2
    local want got
    want="$(printf 'HIDDEN %s\n' "${@/#/$prefix}" | sort)"
    got="$("$readelf" -sW "$obj" | awk '$5 == "GLOBAL" && $7 != "UND" { print $6, $8 }' | sort)"
    [[ "$got" == "$want" ]] ||
        fail "$obj: defined global symbols (visibility, name) are not the expected hidden, versioned set:
$(diff <(echo "$want") <(echo "$got") || true)"
    echo "--- asm: $(basename "$obj"): $# global symbols, all ${prefix}*, all hidden"
}

[[ "$(uname -m)" == x86_64 ]] || fail "run.sh expects an x86_64 host (got $(uname -m))"

# --- x86_64, native ---------------------------------------------------------
step "x86_64 harness"
gcc "${CFLAGS[@]}" harness.c "$asm/x86_64_sysv_elf.S" -lm -o "$out/harness-x86_64"
gcc "${CFLAGS[@]}" -c "$asm/x86_64_sysv_elf.S" -o "$out/switch-x86_64.o"
check_symbols readelf "$out/switch-x86_64.o" "${X86_64_SYMBOLS[@]}"
"$out/harness-x86_64"

step "x86_64 harness, -fcf-protection=full (endbr64, IBT property note)"
gcc "${CFLAGS[@]}" -fcf-protection=full -c "$asm/x86_64_sysv_elf.S" -o "$out/switch-x86_64-cet.o"
gcc "${CFLAGS[@]}" -fcf-protection=full harness.c "$out/switch-x86_64-cet.o" -lm -o "$out/harness-x86_64-cet"
readelf -n "$out/switch-x86_64-cet.o" | grep -q "x86 feature: IBT" ||
    fail "no IBT property note in the CET build of the x86_64 switch"
if readelf -n "$out/switch-x86_64-cet.o" | grep -q SHSTK; then
    fail "the x86_64 switch must not claim shadow-stack (SHSTK) compatibility"
fi
for sym in "${X86_64_SYMBOLS[@]/#/$prefix}"; do
    objdump -d --no-show-raw-insn "$out/switch-x86_64-cet.o" |
        grep -A1 "<$sym>:" | grep -q endbr64 || fail "$sym does not start with endbr64"
done
"$out/harness-x86_64-cet"

# .note.GNU-stack: without it the linker would make every binary that links
# the switch ask for an executable stack.
step "x86_64 .note.GNU-stack (non-executable stack)"
readelf -SW "$out/switch-x86_64-cet.o" | grep -q '\.note\.GNU-stack' ||
    fail "the x86_64 switch object has no .note.GNU-stack section"
readelf -lW "$out/harness-x86_64-cet" | grep GNU_STACK | grep -q ' RW ' ||
    fail "the x86_64 harness asks for an executable stack"

# --- gdb: a backtrace on a fresh stack --------------------------------------
# An fcontext (fiber) stack's trampoline is the outermost frame. A compact
# (coroutine) stack's trampoline links to the resumer (the .S file's
# "Backtraces"): bt shows both stacks, the context's frames, the
# trampoline, then the resumer's (test_fresh, main).
if command -v gdb >/dev/null; then
    for variant in full compact-full compact-full:start; do
        start=coframe_fcontext_start
        [[ "$variant" == compact-* ]] && start=coframe_compact_start
        step "gdb backtrace inside a fresh context ($variant)"
        bt="$(timeout 120 gdb -q -batch -ex 'break gdb_probe_here' -ex run -ex bt \
            -ex "frame function $start" -ex 'info frame' \
            --args "$out/harness-x86_64" gdb-probe ${variant/:/ } 2>&1)" || true
        frames="$(echo "$bt" | grep -E '^#[0-9]+ ' | awk '!seen[$0]++')"
        echo "$frames"
        if [[ "$variant" == compact-* ]]; then
            echo "$frames" | grep -A100 "$start" | grep -q ' test_fresh ' ||
                fail "gdb bt ($variant) does not go on from $start into the resumer"
            [[ "$(echo "$frames" | tail -n1)" == *" main "* ]] ||
                fail "gdb bt ($variant) does not end at main"
        else
            [[ "$(echo "$frames" | tail -n1)" == *"$start"* ]] ||
                fail "gdb bt ($variant) does not end at $start"
            echo "$bt" | grep -q 'Outermost frame' ||
                fail "gdb does not see the trampoline as the outermost frame ($variant)"
        fi
        if echo "$bt" | grep -qiE 'backtrace stopped|corrupt stack'; then
            fail "gdb backtrace ($variant) did not end cleanly"
        fi
    done
else
    echo "--- asm: gdb not installed, skipping the gdb backtrace check"
fi

if [[ "${1:-}" == bench ]]; then
    step "x86_64 bench (full vs lean round trip)"
    gcc -std=gnu11 -O2 -Wall -Wextra -Werror "-DCOFRAME_PREFIX=$prefix" bench.c \
        "$asm/x86_64_sysv_elf.S" -lm -o "$out/bench-x86_64"
    "$out/bench-x86_64"
fi

# --- aarch64, cross-built, under qemu ----------------------------------------
if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
    step "installing qemu-user gcc-aarch64-linux-gnu"
    apt-get update -qq && apt-get install -y -qq qemu-user gcc-aarch64-linux-gnu >/dev/null
fi

step "aarch64 harness (qemu-aarch64)"
aarch64-linux-gnu-gcc "${CFLAGS[@]}" -static harness.c "$asm/aarch64_aapcs_elf.S" -lm \
    -o "$out/harness-aarch64"
timeout 300 qemu-aarch64 "$out/harness-aarch64"

step "aarch64 harness, -mbranch-protection=standard (bti c, BTI/PAC property note)"
aarch64-linux-gnu-gcc "${CFLAGS[@]}" -mbranch-protection=standard \
    -c "$asm/aarch64_aapcs_elf.S" -o "$out/switch-aarch64-bti.o"
aarch64-linux-gnu-readelf -n "$out/switch-aarch64-bti.o" | grep -q "AArch64 feature: BTI, PAC" ||
    fail "no BTI/PAC property note in the branch-protection build of the aarch64 switch"
check_symbols aarch64-linux-gnu-readelf "$out/switch-aarch64-bti.o" "${AARCH64_SYMBOLS[@]}"
for sym in "${AARCH64_SYMBOLS[@]/#/$prefix}"; do
    aarch64-linux-gnu-objdump -d --no-show-raw-insn "$out/switch-aarch64-bti.o" |
        grep -A1 "<$sym>:" | grep -q "bti\s*c" || fail "$sym does not start with bti c"
done
aarch64-linux-gnu-gcc "${CFLAGS[@]}" -mbranch-protection=standard -static harness.c \
    "$out/switch-aarch64-bti.o" -lm -o "$out/harness-aarch64-bti"
aarch64-linux-gnu-readelf -SW "$out/switch-aarch64-bti.o" | grep -q '\.note\.GNU-stack' ||
    fail "the aarch64 switch object has no .note.GNU-stack section"
aarch64-linux-gnu-readelf -lW "$out/harness-aarch64-bti" | grep GNU_STACK | grep -q ' RW ' ||
    fail "the aarch64 harness asks for an executable stack"
# qemu's "max" CPU implements BTI and PAuth; BTI is enforced when the whole
# executable carries the BTI property (i.e. when the C library does too).
if aarch64-linux-gnu-readelf -n "$out/harness-aarch64-bti" | grep -q "AArch64 feature: BTI"; then
    echo "--- asm: executable is BTI-marked: qemu enforces landing pads"
else
    echo "--- asm: note: the static C library is not BTI-marked, so BTI is not enforced in this run (the freestanding check below is enforced)"
fi
timeout 300 qemu-aarch64 -cpu max "$out/harness-aarch64-bti"

step "aarch64 switch under enforced BTI (freestanding, qemu-aarch64 -cpu max)"
FREE=(-std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -static
    -fno-stack-protector -mbranch-protection=standard "-DCOFRAME_PREFIX=$prefix")
aarch64-linux-gnu-gcc "${FREE[@]}" -DNEGATIVE_CONTROL bti_enforced.c \
    "$out/switch-aarch64-bti.o" -o "$out/bti-negative-control"
aarch64-linux-gnu-gcc "${FREE[@]}" bti_enforced.c "$out/switch-aarch64-bti.o" -o "$out/bti-enforced"
neg="$( { timeout 60 qemu-aarch64 -cpu max "$out/bti-negative-control" >/dev/null 2>&1; echo $?; } 2>/dev/null)"
[[ $neg -eq 132 ]] ||
    fail "negative control: a br to a non-landing pad exited $neg, not SIGILL: BTI is not enforced"
timeout 60 qemu-aarch64 -cpu max "$out/bti-enforced" ||
    fail "switch paths failed under enforced BTI (exit $?)"
echo "BTI enforced (negative control died with SIGILL); make/jump/ontop/start, fcontext and compact, full and lean: ok"

echo "--- asm: all stack-switch checks passed"
