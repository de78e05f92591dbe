#!/bin/sh
# libmoek exports only moek_* symbols, all of the public header's calls, and
# none of its internals.
set -u
lib=$1
header=$2
nm=${3:-nm}
readelf=${4:-readelf}
fail=0 pass=0
syms=$("$nm" -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sort)
for s in $syms; do
  case $s in
    moek_*) pass=$((pass + 1)) ;;
    *) echo "FAIL: exported symbol without the moek_ prefix: $s"; fail=$((fail + 1)) ;;
  esac
done
for f in $(grep -o 'MOEK_API [^(]*(' "$header" | sed 's/.*[ *]\(moek_[a-z0-9_]*\)(/\1/'); do
  if echo "$syms" | grep -qx "$f"; then pass=$((pass + 1)); else echo "FAIL: $f is declared but not exported"; fail=$((fail + 1)); fi
done
for s in moek_fail moek_ref_expert_gateup moek_pool_run moek_select_table; do
  if echo "$syms" | grep -qx "$s"; then echo "FAIL: internal $s is exported"; fail=$((fail + 1)); else pass=$((pass + 1)); fi
done
"$readelf" -d "$lib" | grep -q 'SONAME.*libmoek.so.[0-9]' && pass=$((pass + 1)) || { echo "FAIL: no libmoek.so.<major> SONAME"; fail=$((fail + 1)); }
echo "check_exports: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
