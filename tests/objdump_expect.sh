# Sourced by check_avx512_objects.sh and check_arm_objects.sh: counts of
# disassembled instructions in the kernel objects, each within a range.
# Needs $objdump and $dir set; updates $passed and $failed.
passed=0 failed=0
big=1000000000
count() { "$objdump" -d --no-show-raw-insn "$dir/$1" | grep -cE "$2"; }
expect() { # object, what, regex, min, max
  n=$(count "$1" "$3")
  if [ "$n" -ge "$4" ] && [ "$n" -le "$5" ]; then
    passed=$((passed + 1)); s=ok
  else
    failed=$((failed + 1)); s="FAIL (want $4..$5)"
  fi
  printf '%-30s %-26s %6d  %s\n' "$1" "$2" "$n" "$s"
}
