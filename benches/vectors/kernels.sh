#!/usr/bin/env bash
# Rust loops against OpenBLAS for each vector function that has a BLAS form (issue 7):
# builds and runs crates/pgml-core/benches/kernels.rs, writes benches/vectors/KERNELS.md.
#   benches/vectors/kernels.sh        (after scripts/setup.sh; a few minutes of build)
# What it finds is written into src/api/vector.rs (`on_blas(...)` per function); rerun it on
# new hardware before trusting `pgml.vector_kernels = auto` there.
source "$(dirname "$0")/../../scripts/common.sh"
cd "$ROOT"
XGB_LIB="$PGML_CACHE/xgboost-3.4.0/lib"
log "cargo bench -p pgml-core --bench kernels"
out=$(LD_LIBRARY_PATH="$XGB_LIB" cargo bench -p pgml-core --locked --bench kernels 2>/dev/null)
echo "$out"
{
  echo "# Vector kernels: Rust loops against OpenBLAS"
  echo
  echo "Rerun: \`benches/vectors/kernels.sh\`. Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)."
  echo "Nanoseconds per call, warm caches, median of 15 rounds with Rust and BLAS alternated"
  echo "(crates/pgml-core/benches/kernels.rs). \"BLAS form\" is how the function is computed on BLAS;"
  echo "a buffer copy is counted where the SQL function would make one."
  echo
  echo "$out"
  echo
  echo "What src/api/vector.rs runs under \`pgml.vector_kernels = auto\` (from these runs):"
  echo "BLAS for dot_product (dot), norm_l1 (asum), norm_l2 and normalize_l2 (√dot, not nrm2,"
  echo "which rescales element by element), cosine_similarity / distance (3 dots), add and"
  echo "subtract of two arrays and pgml.sum's step (axpy; the same bits as the Rust loop);"
  echo "Rust for distance_l2 (BLAS needs a buffer for the difference), multiplying by a scalar"
  echo "(a tie) and every function without a BLAS form. Both sides run single-threaded, as in a"
  echo "backend. The Rust reductions are LLVM-vectorized two lanes at a time; OpenBLAS's kernels"
  echo "are wider (AVX2 on this CPU), which is most of the difference at 1536 dimensions."
} > benches/vectors/KERNELS.md
log "wrote benches/vectors/KERNELS.md"
