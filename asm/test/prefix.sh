#!/usr/bin/env bash
# Prints the prefix of the switch assembly's global symbols, `coframe_<version>_`
# (e.g. coframe_0_1_0_), for the shell side: asm/test/run.sh passes it to the C
# tests as -DCOFRAME_PREFIX, .ci/run checks the built symbols with it. It is
# derived from the [package] version in Cargo.toml exactly as build.rs derives
# the prefix it hands the assembler and the crate from CARGO_PKG_VERSION: every
# character that is not an ASCII letter or digit becomes `_`. (.ci/run finds
# these names in the test binary, so the two derivations cannot drift apart.)
set -euo pipefail
toml="$(cd "$(dirname "$0")/../.." && pwd)/Cargo.toml"
version="$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$toml")"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] ||
    { echo "asm/test/prefix.sh: no package version found in $toml (got '$version')" >&2; exit 1; }
printf 'coframe_%s_\n' "$(printf %s "$version" | LC_ALL=C tr -c 'A-Za-z0-9' '_')"
