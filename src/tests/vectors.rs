//! The vector functions and aggregates, and the Rust and BLAS kernels behind them.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::{assert_error, one, run};
    use pgrx::prelude::*;

    #[pg_test]
    fn vector_functions_compute_and_refuse_bad_input() {
        // Every function on both element types, against values worked out by hand, on
        // each side of pgml.vector_kernels.
        for (kernels, t) in ["auto", "rust", "blas"]
            .into_iter()
            .flat_map(|k| [(k, "real"), (k, "double precision")])
        {
            run(&format!("SET pgml.vector_kernels = {kernels}"));
            let eq = |sql: &str, want: &str| {
                let sql = sql.replace("FLT", t);
                assert_eq!(
                    one::<String>(&format!("SELECT ({sql})::text")),
                    want,
                    "{sql} ({kernels})"
                );
            };
            eq(
                "pgml.add(ARRAY[1,2,3]::FLT[], ARRAY[4,5,6]::FLT[])",
                "{5,7,9}",
            );
            eq("pgml.add(ARRAY[1,2]::FLT[], 1::FLT)", "{2,3}");
            eq(
                "pgml.subtract(ARRAY[1,2]::FLT[], ARRAY[4,6]::FLT[])",
                "{-3,-4}",
            );
            eq("pgml.subtract(ARRAY[1,2]::FLT[], 1::FLT)", "{0,1}");
            eq(
                "pgml.multiply(ARRAY[1,2]::FLT[], ARRAY[4,6]::FLT[])",
                "{4,12}",
            );
            eq("pgml.multiply(ARRAY[1,2]::FLT[], 3::FLT)", "{3,6}");
            eq(
                "pgml.divide(ARRAY[1,3]::FLT[], ARRAY[4,6]::FLT[])",
                "{0.25,0.5}",
            );
            eq("pgml.divide(ARRAY[1,3]::FLT[], 2::FLT)", "{0.5,1.5}");
            eq("pgml.norm_l0(ARRAY[0,2,0,-1]::FLT[])", "2");
            eq("pgml.norm_l1(ARRAY[3,-4]::FLT[])", "7");
            eq("pgml.norm_l2(ARRAY[3,-4]::FLT[])", "5");
            eq("pgml.norm_max(ARRAY[3,-4]::FLT[])", "4");
            eq("pgml.normalize_l1(ARRAY[1,-3]::FLT[])", "{0.25,-0.75}");
            eq("pgml.normalize_l2(ARRAY[3,4]::FLT[])", "{0.6,0.8}");
            eq("pgml.normalize_max(ARRAY[2,-4]::FLT[])", "{0.5,-1}");
            eq("pgml.normalize_l2(ARRAY[0,0]::FLT[])", "{0,0}");
            eq(
                "pgml.distance_l1(ARRAY[1,2]::FLT[], ARRAY[4,-2]::FLT[])",
                "7",
            );
            eq(
                "pgml.distance_l2(ARRAY[1,2]::FLT[], ARRAY[4,-2]::FLT[])",
                "5",
            );
            eq(
                "pgml.dot_product(ARRAY[1,2,3]::FLT[], ARRAY[4,5,6]::FLT[])",
                "32",
            );
            eq(
                "pgml.cosine_similarity(ARRAY[1,0]::FLT[], ARRAY[0,2]::FLT[])",
                "0",
            );
            eq(
                "pgml.cosine_similarity(ARRAY[1,2]::FLT[], ARRAY[2,4]::FLT[])",
                "1",
            );
            eq(
                "pgml.cosine_distance(ARRAY[1,0]::FLT[], ARRAY[-3,0]::FLT[])",
                "2",
            );
            eq(
                "pgml.cosine_similarity(ARRAY[0,0]::FLT[], ARRAY[1,2]::FLT[])",
                "NaN",
            );
            eq("pgml.dot_product('{}'::FLT[], '{}'::FLT[])", "0");
            eq(
                "pgml.minimum(ARRAY[1,5]::FLT[], ARRAY[2,3]::FLT[])",
                "{1,3}",
            );
            eq(
                "pgml.maximum(ARRAY[1,5]::FLT[], ARRAY[2,3]::FLT[])",
                "{2,5}",
            );
            // the aggregates, element by element, skipping NULL rows; in parallel too
            let rows = "(VALUES (ARRAY[1,10]::FLT[]), (ARRAY[3,-2]::FLT[]), (NULL), (ARRAY[2,4]::FLT[])) v(a)";
            eq(&format!("SELECT pgml.sum(a) FROM {rows}"), "{6,12}");
            eq(&format!("SELECT pgml.min(a) FROM {rows}"), "{1,-2}");
            eq(&format!("SELECT pgml.max(a) FROM {rows}"), "{3,10}");
            eq(&format!("SELECT pgml.avg(a) FROM {rows}"), "{2,4}");
            assert!(one::<bool>(&format!(
                "SELECT pgml.sum(a) IS NULL FROM (SELECT NULL::{t}[] a) v"
            )));
            // Empty arrays give Postgres's own empty array (no dimensions).
            eq("pgml.add('{}'::FLT[], '{}'::FLT[]) = '{}'", "true");
            eq(
                "array_ndims(pgml.normalize_l2('{}'::FLT[])) IS NULL",
                "true",
            );
            // The steps update their state in place: a running sum's earlier rows must keep
            // their own values, and the table's first row must stay as it is.
            eq(
                "SELECT string_agg(s::text, ' ' ORDER BY i) FROM (SELECT i, pgml.sum(a) OVER (ORDER BY i) s FROM (VALUES (1, ARRAY[1,10]::FLT[]), (2, ARRAY[3,-2]::FLT[]), (3, ARRAY[2,4]::FLT[])) v(i, a)) w",
                "{1,10} {4,8} {6,12}",
            );
            eq(
                "SELECT string_agg(m::text, ' ' ORDER BY i) FROM (SELECT i, pgml.avg(a) OVER (ORDER BY i) m FROM (VALUES (1, ARRAY[1,10]::FLT[]), (2, ARRAY[3,-2]::FLT[])) v(i, a)) w",
                "{1,10} {2,4}",
            );
            // Wrong input: SQLSTATE, the bad value named, never a crash.
            let bad = [
                (
                    "SELECT pgml.dot_product(ARRAY[1,2]::FLT[], ARRAY[1,2,3]::FLT[])",
                    "22000",
                    "2 and 3",
                ),
                (
                    "SELECT pgml.add(ARRAY[1,NULL,3]::FLT[], ARRAY[1,2,3]::FLT[])",
                    "22004",
                    "element 2",
                ),
                (
                    "SELECT pgml.norm_l2(ARRAY[[1,2],[3,4]]::FLT[])",
                    "2202E",
                    "more than one dimension",
                ),
                (
                    "SELECT pgml.divide(ARRAY[1,2]::FLT[], 0::FLT)",
                    "22012",
                    "division by zero",
                ),
                (
                    "SELECT pgml.divide(ARRAY[1,2]::FLT[], ARRAY[1,0]::FLT[])",
                    "22012",
                    "division by zero",
                ),
                (
                    "SELECT pgml.sum(a) FROM (VALUES (ARRAY[1,2]::FLT[]), (ARRAY[1]::FLT[])) v(a)",
                    "22000",
                    "2 and 1",
                ),
                (
                    "SELECT pgml.avg(a) FROM (VALUES (ARRAY[1,2]::FLT[]), (ARRAY[1]::FLT[])) v(a)",
                    "22000",
                    "2 and 1",
                ),
                (
                    "SELECT pgml.sum(a) FROM (VALUES (ARRAY[1,2]::FLT[]), (ARRAY[[1,2]]::FLT[])) v(a)",
                    "2202E",
                    "more than one dimension",
                ),
                (
                    "SELECT pgml.avg(a) FROM (VALUES (ARRAY[1,2]::FLT[]), (ARRAY[1,NULL]::FLT[])) v(a)",
                    "22004",
                    "element 2",
                ),
            ];
            for (sql, state, names) in bad {
                assert_error(&sql.replace("FLT", t), state, names);
            }
        }
        // STRICT: a NULL argument is a NULL result, not an error.
        assert!(one::<bool>(
            "SELECT pgml.dot_product(NULL::real[], ARRAY[1]::real[]) IS NULL"
        ));
        // The aggregates combine partial states from parallel workers.
        run("CREATE TABLE vec_rows AS SELECT ARRAY[i % 7, i % 5, 1]::real[] AS v FROM generate_series(1, 200000) i");
        run("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0");
        assert_eq!(
            one::<String>("SELECT pgml.sum(v)::text FROM vec_rows"),
            one::<String>(
                "SELECT ARRAY[sum(v[1]), sum(v[2]), sum(v[3])]::real[]::text FROM vec_rows"
            )
        );
        let first = one::<String>("SELECT v::text FROM vec_rows LIMIT 1");
        assert_eq!(
            one::<String>("SELECT pgml.max(v)::text FROM vec_rows"),
            "{6,4,1}"
        );
        assert_eq!(
            one::<String>("SELECT v::text FROM vec_rows LIMIT 1"),
            first,
            "an aggregate's in-place state must not write into the table's rows"
        );
        assert_eq!(
            one::<String>("SELECT pgml.avg(v)::text FROM vec_rows"),
            one::<String>(
                "SELECT ARRAY[avg(v[1]), avg(v[2]), avg(v[3])]::real[]::text FROM vec_rows"
            )
        );
    }

    #[pg_test]
    fn vector_kernels_agree_and_backend_stays_single_threaded() {
        // OpenBLAS's pthread build starts a thread per core when loaded; _PG_init stops them
        // (crates/pgml-core/src/blas.rs). This backend must be back to its one thread.
        assert_eq!(pgml_core::blas::threads(), 1, "OpenBLAS threads");
        let tasks = std::fs::read_dir("/proc/self/task").unwrap().count();
        assert_eq!(tasks, 1, "threads in this backend");
        // Rust loops and BLAS give the same results to rounding, on embedding-sized vectors.
        run("CREATE TABLE kv AS SELECT i, (SELECT array_agg(sin(i * 7 + j)::real) FROM generate_series(1, 1536) j) a, (SELECT array_agg(cos(i * 3 + j)::real) FROM generate_series(1, 1536) j) b FROM generate_series(1, 20) i");
        for (f, t) in [
            "dot_product(a, b)",
            "norm_l1(a)",
            "norm_l2(a)",
            "cosine_similarity(a, b)",
            "distance_l2(a, b)",
            "norm_l2(pgml.add(a, b))",
            "norm_l2(pgml.subtract(a, b))",
        ]
        .into_iter()
        .flat_map(|f| [(f, "real"), (f, "double precision")])
        {
            let sql = format!(
                "SELECT array_agg(pgml.{f} ORDER BY i)::float8[] FROM (SELECT i, a::{t}[] a, b::{t}[] b FROM kv) v"
            );
            run("SET pgml.vector_kernels = rust");
            let rust = one::<Vec<f64>>(&sql);
            run("SET pgml.vector_kernels = blas");
            let blas = one::<Vec<f64>>(&sql);
            assert_eq!(rust.len(), 20);
            for (r, b) in rust.iter().zip(&blas) {
                assert!(
                    // f32 sums of 1536 terms in another order: a few ulps of the terms' size
                    (r - b).abs() <= 1e-3 * (1.0 + r.abs()),
                    "{f} on {t}: rust {r}, blas {b}"
                );
            }
        }
        // add and subtract give the same bits either way (alpha·y is exact for ±1), the
        // aggregate's in-place step included.
        for q in [
            "SELECT md5(array_agg(pgml.add(a, b))::text) FROM kv",
            "SELECT md5(array_agg(pgml.subtract(a, b))::text) FROM kv",
            "SELECT md5(pgml.sum(a)::text) FROM kv",
        ] {
            run("SET pgml.vector_kernels = rust");
            let rust = one::<String>(q);
            run("SET pgml.vector_kernels = blas");
            assert_eq!(one::<String>(q), rust, "{q}");
        }
        run("RESET pgml.vector_kernels");
    }
}
