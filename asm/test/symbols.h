/*
 * The link names of coframe's switch functions, for the C tests in asm/test/.
 *
 * The assembly's global symbols are hidden and versioned: COFRAME_PREFIX ##
 * name (see "Symbol names" in asm/x86_64_sysv_elf.S). run.sh passes the
 * prefix (-DCOFRAME_PREFIX=coframe_<version>_, from prefix.sh) to both the
 * assembly and the tests. The tests keep calling the functions by their
 * unversioned C names (coframe_jump_fcontext, ...): each declaration binds
 * its name to the symbol with an asm label, SWITCH_SYMBOL(jump_fcontext),
 * and inline assembly names a switch the same way.
 */
#ifndef COFRAME_TEST_SYMBOLS_H
#define COFRAME_TEST_SYMBOLS_H

#ifndef COFRAME_PREFIX
#  error "COFRAME_PREFIX is not defined: build with -DCOFRAME_PREFIX=$(asm/test/prefix.sh) (run.sh does)"
#endif
#define SWITCH_SYMBOL_STR_(x) #x
#define SWITCH_SYMBOL_STR(x) SWITCH_SYMBOL_STR_(x)
#define SWITCH_SYMBOL_PASTE_(prefix, name) prefix##name
#define SWITCH_SYMBOL_PASTE(prefix, name) SWITCH_SYMBOL_PASTE_(prefix, name)
/* The symbol of the switch function `name`, as a string literal. */
#define SWITCH_SYMBOL(name) SWITCH_SYMBOL_STR(SWITCH_SYMBOL_PASTE(COFRAME_PREFIX, name))

#endif
