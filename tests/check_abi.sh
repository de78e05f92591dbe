#!/bin/sh
# The exported ABI against the recorded one (api/abi/libmoek.abi, libabigail):
# any difference fails, the compatible ones too (a new function, a member
# appended at the end of a descriptor, which docs/abi.md allows), so every
# change to the ABI is a deliberate commit that re-records it:
#   abidw --no-corpus-path --headers-dir api/include/moek build/libmoek.so > api/abi/libmoek.abi
# (libabigail's "inserted at end" suppression also hid member type changes
# that move later members, so it is not used.)
set -u
lib=$1 src=$2
abidiff --headers-dir2 "$src/api/include/moek" "$src/api/abi/libmoek.abi" "$lib"
rc=$?
if [ "$rc" -ne 0 ]; then
  echo "check_abi: libmoek's ABI differs from api/abi/libmoek.abi (abidiff exit $rc; 8 and up: incompatible)."
  echo "check_abi: if the change follows docs/abi.md, re-record it (see tests/check_abi.sh); otherwise undo it"
  echo "check_abi: 0 passed, 1 failed"
  exit 1
fi
echo "check_abi: 1 passed, 0 failed"
