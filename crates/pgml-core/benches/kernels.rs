//! Rust loops (pgml_core::vector) against OpenBLAS (pgml_core::blas) for each vector function, at the
//! seed's 128 dimensions and at 1536 (a common embedding size), f32 and f64: which is faster
//! per function decides what src/api/vector.rs calls (issue 7).
//!
//!   benches/vectors/kernels.sh   (runs `cargo bench --bench kernels`, writes KERNELS.md)
//!
//! Each case runs as many calls as fit in ~20 ms, Rust and BLAS alternated, 15 rounds; the
//! median ns per call of each side is printed. The data stays in L1/L2 between calls, as
//! the query vector and the current row do in a scan: what differs between the two sides is
//! the call and the loop, not memory. A case that needs a buffer (BLAS's axpy and scal work
//! in place) copies into one allocated once, as the SQL function copies into the array it
//! returns.

use pgml_core::blas::Blas;
use pgml_core::vector;
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: usize = 15;

/// Median ns per call of `f` and `g`, alternated round by round.
fn race(mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    let calls = {
        let t = Instant::now();
        let mut n = 0u64;
        while t.elapsed().as_millis() < 20 {
            f();
            n += 1;
        }
        n
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for (side, h) in [
            (&mut a, &mut f as &mut dyn FnMut()),
            (&mut b, &mut g as &mut dyn FnMut()),
        ] {
            let t = Instant::now();
            for _ in 0..calls {
                h();
            }
            side.push(t.elapsed().as_nanos() as f64 / calls as f64);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    (median(&mut a), median(&mut b))
}

fn cases<T: Blas + std::fmt::Debug + From<f32>>(ty: &str, n: usize) {
    let x: Vec<T> = (0..n).map(|i| T::from(((i as f32) * 0.37).sin())).collect();
    let y: Vec<T> = (0..n)
        .map(|i| T::from(((i as f32) * 0.11).cos() - 0.5))
        .collect();
    let mut out = vec![T::ZERO; n];
    let two = T::from(2.0);
    let one = T::from(1.0);
    let minus_one = T::from(-1.0);
    let (x, y) = (&x[..], &y[..]);
    let row = |name: &str, (r, b): (f64, f64)| {
        let winner = if b < r { "BLAS" } else { "Rust" };
        println!(
            "| {name} | {ty} | {n} | {r:.1} | {b:.1} | {:.2} | {winner} |",
            b / r
        );
    };
    // A number from both vectors, each side a plain function of (x, y).
    let reduction = |name: &str, rust: fn(&[T], &[T]) -> T, blas: fn(&[T], &[T]) -> T| {
        row(
            name,
            race(
                || {
                    black_box(rust(black_box(x), black_box(y)));
                },
                || {
                    black_box(blas(black_box(x), black_box(y)));
                },
            ),
        )
    };
    reduction("dot_product (dot)", vector::dot, T::dot);
    reduction(
        "norm_l1 (asum)",
        |x, _| vector::norm_l1(x),
        |x, _| T::asum(x),
    );
    reduction(
        "norm_l2 (nrm2)",
        |x, _| vector::norm_l2(x),
        |x, _| T::nrm2(x),
    );
    reduction(
        "norm_l2 (√dot)",
        |x, _| vector::norm_l2(x),
        |x, _| T::dot(x, x).sqrt(),
    );
    reduction(
        "cosine_similarity (dot, nrm2, nrm2)",
        vector::cosine_similarity,
        |x, y| T::dot(x, y) / (T::nrm2(x) * T::nrm2(y)),
    );
    reduction(
        "cosine_similarity (3 dots)",
        vector::cosine_similarity,
        |x, y| vector::cosine(T::dot(x, y), T::dot(x, x), T::dot(y, y)),
    );
    let mut buf = out.clone();
    // The difference into a buffer, then its length by √dot or by nrm2.
    let root_dot: fn(&[T]) -> T = |d| T::dot(d, d).sqrt();
    for (name, length) in [
        ("distance_l2 (axpy, √dot)", root_dot),
        ("distance_l2 (axpy, nrm2)", T::nrm2),
    ] {
        row(
            name,
            race(
                || {
                    black_box(vector::distance_l2(black_box(x), black_box(y)));
                },
                || {
                    buf.copy_from_slice(black_box(x));
                    T::axpy(minus_one, black_box(y), &mut buf);
                    black_box(length(&buf));
                },
            ),
        );
    }
    let mut out2 = out.clone();
    row(
        "add / subtract (axpy)",
        race(
            || {
                out.copy_from_slice(black_box(x));
                vector::zip_with(&mut out, black_box(y), |p, q| p + q);
                black_box(&out);
            },
            || {
                out2.copy_from_slice(black_box(x));
                T::axpy(one, black_box(y), &mut out2);
                black_box(&out2);
            },
        ),
    );
    row(
        "multiply by a scalar (scal)",
        race(
            || {
                out.copy_from_slice(black_box(x));
                vector::map_with(&mut out, |p| p * two);
                black_box(&out);
            },
            || {
                out2.copy_from_slice(black_box(x));
                T::scal(two, &mut out2);
                black_box(&out2);
            },
        ),
    );
    row(
        "pgml.sum step, in place (axpy)",
        race(
            || {
                vector::zip_with(&mut out, black_box(y), |p, q| p + q);
                black_box(&out);
            },
            || {
                T::axpy(one, black_box(y), &mut out2);
                black_box(&out2);
            },
        ),
    );
}

fn main() {
    // As in a backend (_PG_init): OpenBLAS on this thread only.
    pgml_core::blas::single_threaded();
    println!("OpenBLAS threads: {}", pgml_core::blas::threads());
    println!();
    println!("| function (BLAS form) | type | dims | Rust ns | BLAS ns | BLAS / Rust | faster |");
    println!("|---|---|---|---|---|---|---|");
    for n in [128, 1536] {
        cases::<f32>("real", n);
        cases::<f64>("double", n);
    }
}
