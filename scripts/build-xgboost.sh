#!/usr/bin/env bash
# Build XGBoost's C++ library once, from the sources bundled in the `xgboost_lib-sys`
# crate, into a cache outside the checkout.
#
# Why not the crate's own `local_build` feature: cargo-pgrx builds the extension with
# different RUSTFLAGS for `cargo test` and for `cargo pgrx install`, so every switch between
# the two reruns the crate's build script, i.e. a 20-minute cmake build. Building here, once,
# and pointing the crate at the result with XGBOOST_LIB_DIR makes that a no-op. It also lets
# us build `Release` (the crate forces RelWithDebInfo: a 200 MB library).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PGML_CACHE:=$HOME/.cache/pgml}"
out="$PGML_CACHE/xgboost-3.4.0"
if [ -f "$out/lib/libxgboost.so" ]; then
  echo "xgboost: using cached $out/lib/libxgboost.so"
  exit 0
fi
cargo fetch --locked >/dev/null 2>&1 || cargo fetch
src=$(cargo metadata --format-version 1 --locked 2>/dev/null \
  | python3 -c 'import json,sys,os; m=json.load(sys.stdin); print([os.path.dirname(p["manifest_path"]) for p in m["packages"] if p["name"]=="xgboost_lib-sys"][0])')
echo "xgboost: building from $src/xgboost into $out (about 15-20 minutes on 2 cores)"
build="$PGML_CACHE/xgboost-build"
rm -rf "$build"
cmake -S "$src/xgboost" -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX="$out.partial" \
  -DCMAKE_INSTALL_LIBDIR=lib \
  -DUSE_OPENMP=ON -DBUILD_STATIC_LIB=OFF -DADD_PKGCONFIG=OFF >/dev/null
cmake --build "$build" --parallel "$(nproc)"
cmake --install "$build" >/dev/null
strip --strip-unneeded "$out.partial/lib/libxgboost.so"
rm -rf "$out" && mv "$out.partial" "$out" && rm -rf "$build"
ls -la "$out/lib"
