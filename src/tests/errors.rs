//! Bad input of every kind is a clean error (SQLSTATE, message naming the culprit, HINT):
//! relation names, arguments, corrupt model bytes.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::{assert_error, error_of, one, run};
    use pgrx::prelude::*;

    /// pgml's utility hook (serve::shared, for COMMIT PREPARED) passes a utility statement's
    /// ERROR on as an ERROR: a guard around pgrx's own guarded call once aborted the backend
    /// on any failing DDL or SET.
    #[pg_test]
    fn a_failing_utility_statement_is_an_error_not_a_crash() {
        run("CREATE TABLE utility_twice ()");
        assert_eq!(error_of("CREATE TABLE utility_twice ()").0, "42P07");
        assert_eq!(error_of("SET pgml.predict_scan = 'maybe'").0, "22023");
        assert_eq!(one::<i32>("SELECT 1"), 1);
    }

    #[pg_test]
    fn relation_names_are_resolved_and_quoted_safely() {
        run(r#"CREATE SCHEMA "Odd Schema""#);
        run(r#"CREATE TABLE "Odd Schema"."My Table" ("X value" real, "Y" real)"#);
        run(r#"INSERT INTO "Odd Schema"."My Table" SELECT i, 2 * i FROM generate_series(1, 20) i"#);
        run(r#"SELECT * FROM pgml.train('odd', 'regression', '"Odd Schema"."My Table"', 'Y')"#);
        assert!((one::<f32>("SELECT pgml.predict('odd', ARRAY[10])") - 20.0).abs() < 0.01);
        run(r#"SET search_path TO "Odd Schema", public"#);
        run("SELECT * FROM pgml.train('odd', relation_name => 'My Table', y_column_name => 'Y')");
        run("RESET search_path");
        run("CREATE TABLE lower_case (a real, b real)");
        run("INSERT INTO lower_case SELECT i, i FROM generate_series(1, 10) i");
        run("CREATE VIEW v AS SELECT a, b FROM lower_case");
        run("CREATE MATERIALIZED VIEW mv AS SELECT a, b FROM lower_case");
        for rel in ["LOWER_CASE", "public.lower_case", "v", "mv"] {
            run(&format!(
                "SELECT * FROM pgml.train('rel_{rel}', 'regression', '{rel}', 'B')"
            ));
        }
        // injection attempts are just names that do not exist
        let (s, _, _) = error_of("SELECT * FROM pgml.train('inj', 'regression', 'lower_case; DROP TABLE lower_case', 'b')");
        assert!(s == "42P01" || s == "42602", "{s}");
        assert_error(
            r#"SELECT * FROM pgml.train('inj', 'regression', 'lower_case', 'b"; DROP TABLE lower_case; --')"#,
            "42703",
            "DROP TABLE",
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM lower_case"), 10);
        assert_error(
            "SELECT * FROM pgml.train('idx', 'regression', 'lower_case_pkey_nope', 'b')",
            "42P01",
            "lower_case_pkey_nope",
        );
        run("CREATE SEQUENCE seq");
        assert_error(
            "SELECT * FROM pgml.train('seq', 'regression', 'seq', 'b')",
            "42809",
            "seq",
        );
    }

    #[pg_test]
    fn every_bad_input_is_a_clean_error() {
        run("SELECT pgml.load_dataset('diabetes')");
        run("SELECT * FROM pgml.train('d', 'regression', 'pgml.diabetes', 'target')");
        run("CREATE TABLE empty (x real, y real)");
        run("CREATE TABLE one_row (x real, y real)");
        run("INSERT INTO one_row VALUES (1, 1)");
        run("CREATE TABLE texty (name jsonb, x real, y real)");
        run("INSERT INTO texty VALUES ('{}', 1, 1), ('[]', 2, 2)");
        run("CREATE TABLE nulls (x real, y real)");
        run("INSERT INTO nulls SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE i END, i FROM generate_series(1, 20) i");
        run("CREATE TABLE null_label (x real, y real)");
        run("INSERT INTO null_label VALUES (1, NULL), (2, 1), (3, 2)");
        run("CREATE TABLE one_class (x real, y int)");
        run("INSERT INTO one_class SELECT i, 1 FROM generate_series(1, 10) i");
        let cases = [
            ("SELECT pgml.predict('nope', ARRAY[1.0])", "42704", "nope"),
            ("SELECT * FROM pgml.train('e', 'regression', 'no_such_table', 'y')", "42P01", "no_such_table"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'no_such_col')", "42703", "no_such_col"),
            ("SELECT * FROM pgml.train('e', 'regression', 'texty', 'y')", "42804", "name"),
            ("SELECT * FROM pgml.train('e', 'regression', 'empty', 'y')", "22023", "no rows"),
            ("SELECT * FROM pgml.train('e', 'regression', 'one_row', 'y')", "22023", "1 row"),
            ("SELECT pgml.predict('d', ARRAY[1.0, 2.0])", "22023", "got 2"),
            ("SELECT pgml.predict('d', ARRAY[1,2,3,4,5,6,7,8,9,NULL])", "22004", "feature 10"),
            // real[] has its own entry point (api::predict::pgml_predict_real)
            ("SELECT pgml.predict('nope', ARRAY[1.0]::real[])", "42704", "nope"),
            ("SELECT pgml.predict('d', ARRAY[1.0, 2.0]::real[])", "22023", "got 2"),
            ("SELECT pgml.predict('d', '{}'::real[])", "22023", "got 0"),
            ("SELECT pgml.predict('d', ARRAY[1,2,3,4,5,6,7,8,9,NULL]::real[])", "22004", "feature 10"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'target', 'nope_algo')", "22023", "nope_algo"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'target', 'xgboost', '[1, 2]')", "22023", "[1,2]"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{\"depth\": 3}')", "22023", "depth"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{\"max_depth\": \"deep\"}')", "22023", "max_depth"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'target', 'xgboost', '{\"n_estimators\": -1}')", "22023", "n_estimators"),
            ("SELECT pgml.predict_proba('d', ARRAY[1,2,3,4,5,6,7,8,9,10])", "22023", "classification"),
            ("SELECT * FROM pgml.train('d', 'classification', 'pgml.diabetes', 'target')", "22023", "classification"),
            ("SELECT * FROM pgml.train('brand_new', relation_name => 'pgml.diabetes', y_column_name => 'target')", "22023", "brand_new"),
            ("SELECT * FROM pgml.train('e', 'bogus_task', 'pgml.diabetes', 'target')", "22023", "bogus_task"),
            ("SELECT * FROM pgml.train('fresh', 'regression')", "22023", "relation_name"),
            ("SELECT * FROM pgml.train('fresh', 'regression', 'pgml.diabetes')", "22023", "y_column_name"),
            ("SELECT * FROM pgml.train(NULL, 'regression', 'pgml.diabetes', 'target')", "22004", "project_name is NULL"),
            ("SELECT * FROM pgml.train('', 'regression', 'pgml.diabetes', 'target')", "22023", "project_name is empty"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'target', test_size => 1.5)", "22023", "1.5"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'target', test_size => 0)", "22023", "test_size 0"),
            ("SELECT * FROM pgml.train('e', 'regression', 'pgml.diabetes', 'target', test_sampling => 'sideways')", "22023", "sideways"),
            ("SELECT * FROM pgml.deploy('d', 'sideways')", "22023", "sideways"),
            ("SELECT * FROM pgml.deploy('nope', 'best_score')", "42704", "nope"),
            ("SELECT * FROM pgml.deploy(999999)", "42704", "999999"),
            ("SELECT * FROM pgml.deploy('d', 'rollback')", "42704", "rollback"),
            ("SELECT pgml.predict('d', 5)", "42804", "integer"),
            ("SELECT * FROM pgml.train('e', 'regression', 'nulls', 'y', 'linear')", "22004", "\"x\""),
            ("SELECT * FROM pgml.train('e', 'regression', 'null_label', 'y')", "22004", "NULL"),
            ("SELECT * FROM pgml.train('e', 'classification', 'one_class', 'y')", "22023", "single class"),
        ];
        for (sql, state, names) in cases {
            assert_error(sql, state, names);
        }
        // xgboost takes the NULLs as missing values
        run("SELECT * FROM pgml.train('nulls_ok', 'regression', 'nulls', 'y', 'xgboost', '{\"n_estimators\": 3}')");
        // a failed train leaves nothing behind
        assert_eq!(
            one::<i64>("SELECT count(*) FROM pgml.projects WHERE name IN ('e', 'brand_new')"),
            0
        );
    }

    #[pg_test]
    fn corrupt_model_bytes_are_an_error_not_a_crash() {
        run("CREATE TABLE c (x real, y real)");
        run("INSERT INTO c SELECT i, i FROM generate_series(1, 30) i");
        for (project, algorithm) in [("cx", "xgboost"), ("cl", "linear")] {
            run(&format!(
                "SELECT * FROM pgml.train('{project}', 'regression', 'c', 'y', '{algorithm}')"
            ));
            run("UPDATE pgml.files SET data = '\\xdeadbeef' WHERE model_id = (SELECT max(id) FROM pgml.models)");
            // a redeploy forces a reload of the tampered bytes
            run(&format!(
                "SELECT * FROM pgml.deploy('{project}', 'most_recent')"
            ));
            assert_error(
                &format!("SELECT pgml.predict('{project}', ARRAY[1.0])"),
                "XX001",
                "corrupt",
            );
        }
    }
}
