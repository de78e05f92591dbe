#!/bin/sh
# `pip install plugins/python` as a user runs it, offline: Debian's
# setuptools builds the package (no registry, no build isolation) into a
# scratch prefix, and the installed copy, not the source tree, is imported
# and runs one MoE layer. Exits 77 (skipped) without pip.
set -eu
py=$1 src=$2 dest=$3
if ! "$py" -m pip --version >/dev/null 2>&1; then
  echo "python_install: pip not found for $py, skipped"
  exit 77
fi
rm -rf "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/src" # pip builds in the source folder: keep the checkout clean
"$py" -m pip install --quiet --no-build-isolation --no-index --no-deps --target "$dest" "$work/src"
cd "$work"
PYTHONPATH="$dest" "$py" - <<'PY'
import numpy as np, moek, os
assert os.path.dirname(moek.__file__).startswith(os.environ["PYTHONPATH"]), moek.__file__
ctx = moek.Context(num_threads=1)
E, H, I = 4, 32, 16
rng = np.random.default_rng(1)
r = moek.Router(ctx, num_experts=E, top_k=2, w_router=rng.standard_normal((E, H)).astype(np.float32))
ex = moek.Experts(ctx, *(rng.standard_normal(s).astype(np.float32) for s in ((E, I, H), (E, I, H), (E, H, I))))
x = rng.standard_normal((3, H)).astype(np.float32)
ids, w, _, _ = r.route(x=x)
assert np.array_equal(moek.moe_layer(ctx, r, ex, x), ex.forward(x, ids, w))
print(f"python_install: moek {moek.version()} imported from {os.path.dirname(moek.__file__)}: 1 passed, 0 failed")
PY
