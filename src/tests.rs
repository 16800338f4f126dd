//! `#[pg_test]`s: each SQL function and each error, in a real backend.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn one<T: FromDatum + IntoDatum>(sql: &str) -> T {
        Spi::get_one::<T>(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: NULL"))
    }

    fn run(sql: &str) {
        Spi::run(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// (SQLSTATE, message, hint) raised by `sql`, caught in a subtransaction.
    fn error_of(sql: &str) -> (String, String, String) {
        run(
            r#"CREATE OR REPLACE FUNCTION pg_temp.err(q text, OUT state text, OUT msg text, OUT hint text)
               LANGUAGE plpgsql AS $$
               BEGIN EXECUTE q; state := 'OK'; msg := ''; hint := '';
               EXCEPTION WHEN OTHERS THEN
                 GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
               END $$"#,
        );
        let (s, m, h) = Spi::get_three_with_args::<String, String, String>(
            "SELECT state, msg, hint FROM pg_temp.err($1)",
            &[sql.into()],
        )
        .unwrap();
        (
            s.unwrap_or_default(),
            m.unwrap_or_default(),
            h.unwrap_or_default(),
        )
    }

    fn assert_error(sql: &str, state: &str, names: &str) {
        let (s, m, h) = error_of(sql);
        assert_eq!(s, state, "{sql}: {m}");
        assert!(
            m.contains(names),
            "{sql}: message {m:?} should name {names:?}"
        );
        assert!(!h.is_empty(), "{sql}: no HINT for {m}");
    }

    fn metric(project: &str, key: &str) -> f64 {
        one::<f64>(&format!(
            "SELECT (m.metrics ->> '{key}')::float8 FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id
              WHERE p.name = '{project}' ORDER BY m.id DESC LIMIT 1"
        ))
    }

    #[pg_test]
    fn version_is_the_crate_version() {
        assert_eq!(
            one::<String>("SELECT pgml.version()"),
            env!("CARGO_PKG_VERSION")
        );
    }

    #[pg_test]
    fn datasets_load_with_their_row_counts() {
        for (name, rows) in [
            ("iris", 150),
            ("diabetes", 442),
            ("digits", 1797),
            ("breast_cancer", 569),
            ("wine", 178),
            ("linnerud", 20),
        ] {
            let (table, n) =
                Spi::get_two::<String, i64>(&format!("SELECT * FROM pgml.load_dataset('{name}')"))
                    .unwrap();
            assert_eq!(n, Some(rows));
            assert_eq!(
                one::<i64>(&format!("SELECT count(*) FROM {}", table.unwrap())),
                rows
            );
        }
        // loading again refills the table rather than doubling it, and keeps views on it
        run("CREATE VIEW setosa AS SELECT * FROM pgml.iris WHERE target = 0");
        run("SELECT pgml.load_dataset('iris')");
        assert_eq!(one::<i64>("SELECT count(*) FROM pgml.iris"), 150);
        assert_eq!(one::<i64>("SELECT count(*) FROM setosa"), 50);
        assert_error("SELECT pgml.load_dataset('nope')", "42704", "nope");
    }

    #[pg_test]
    fn iris_xgboost_accuracy_and_every_predict_form() {
        run("SELECT pgml.load_dataset('iris')");
        let deployed = one::<bool>(
            "SELECT deployed FROM pgml.train('iris', 'classification', 'pgml.iris', 'target', 'xgboost', '{\"n_estimators\": 20}')",
        );
        assert!(deployed);
        assert!(
            metric("iris", "accuracy") >= 0.9,
            "accuracy {}",
            metric("iris", "accuracy")
        );
        for k in ["f1", "precision", "recall", "fit_time", "score_time"] {
            metric("iris", k);
        }
        // row form, by name, label column ignored; labels come back as the original values
        let right =
            one::<i64>("SELECT count(*) FROM pgml.iris WHERE pgml.predict('iris', iris) = target");
        assert!(right >= 140, "{right} of 150 rows right");
        assert_eq!(
            one::<i64>("SELECT count(DISTINCT pgml.predict('iris', iris)) FROM pgml.iris"),
            3
        );
        // every array overload resolves and agrees
        let v = one::<f32>("SELECT pgml.predict('iris', ARRAY[5.1, 3.5, 1.4, 0.2])");
        assert_eq!(v, 0.0);
        for lit in [
            "ARRAY[5.1, 3.5, 1.4, 0.2]::real[]",
            "ARRAY[5.1, 3.5, 1.4, 0.2]::float8[]",
        ] {
            assert_eq!(
                one::<f32>(&format!("SELECT pgml.predict('iris', {lit})")),
                v
            );
        }
        one::<f32>("SELECT pgml.predict('iris', ARRAY[6, 3, 5, 2])");
        one::<f32>("SELECT pgml.predict('iris', ARRAY[6, 3, 5, 2]::bigint[])");
        // anonymous row: by position
        assert_eq!(
            one::<f32>("SELECT pgml.predict('iris', ROW(5.1, 3.5, 1.4, 0.2))"),
            v
        );
        // probabilities
        let p = one::<Vec<f32>>("SELECT pgml.predict_proba('iris', ARRAY[5.1, 3.5, 1.4, 0.2])");
        assert_eq!(p.len(), 3);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5 && p[0] > 0.5);
        one::<Vec<f32>>("SELECT pgml.predict_proba('iris', ARRAY[5, 3, 1, 0])");
        // batch: flattened and 2-D
        assert_eq!(one::<i32>("SELECT cardinality(pgml.predict_batch('iris', ARRAY[5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]))"), 2);
        assert_eq!(
            one::<Vec<f32>>("SELECT pgml.predict_batch('iris', ARRAY[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]::real[])"),
            vec![0.0, 2.0]
        );
        assert_error(
            "SELECT pgml.predict_batch('iris', ARRAY[[1, 2, 3], [4, 5, 6]])",
            "22023",
            "expects 4 features",
        );
        assert_error(
            "SELECT pgml.predict_batch('iris', ARRAY[1, 2, 3, 4, 5])",
            "22023",
            "expects 4 features",
        );
    }

    /// The feature columns of pgml.`table` (all but `target`) as a real[] expression.
    fn features_array(table: &str) -> String {
        one::<String>(&format!(
            "SELECT 'ARRAY[' || string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) \
             || ']::real[]' FROM information_schema.columns \
             WHERE table_schema = 'pgml' AND table_name = '{table}' AND column_name <> 'target'"
        ))
    }

    #[pg_test]
    fn warm_predict_lane_agrees_with_the_general_path_and_declines_where_it_must() {
        run("SELECT pgml.load_dataset('diabetes')");
        run("SELECT pgml.load_dataset('breast_cancer')");
        for (p, task, table, algorithm) in [
            ("lane xgboost", "regression", "diabetes", "xgboost"),
            (
                "lane lightgbm",
                "classification",
                "breast_cancer",
                "lightgbm",
            ),
            ("lane linear", "regression", "diabetes", "linear"),
            ("lane logistic", "classification", "breast_cancer", "linear"),
        ] {
            run(&format!(
                "SELECT * FROM pgml.train('{p}', '{task}', 'pgml.{table}', 'target', '{algorithm}')"
            ));
            let x = features_array(table);
            let hits = crate::serve::WARM_HITS.load(std::sync::atomic::Ordering::Relaxed);
            // Row after row in one query: each predict after the first takes the warm lane;
            // predict_batch takes Model::predict, and a two-dimensional array the general
            // path (the lane reads one dimension only). All three agree bit for bit.
            let differ = one::<i64>(&format!(
                "SELECT count(*) FROM pgml.{table} \
                 WHERE pgml.predict('{p}', {x}) IS DISTINCT FROM (pgml.predict_batch('{p}', {x}))[1] \
                    OR pgml.predict('{p}', {x}) IS DISTINCT FROM pgml.predict('{p}', ARRAY[{x}])"
            ));
            assert_eq!(
                differ, 0,
                "{p}: rows where the lane and the general path differ"
            );
            let rows = one::<i64>(&format!("SELECT count(*) FROM pgml.{table}")) as u64;
            let lane = crate::serve::WARM_HITS.load(std::sync::atomic::Ordering::Relaxed) - hits;
            assert!(
                lane >= rows,
                "{p}: {lane} of {rows} rows took the warm lane"
            );
            assert_error(
                &format!("SELECT pgml.predict('{p}', ARRAY[1, 2, 3]::real[])"),
                "22023",
                "features",
            );
        }
        let x = features_array("diabetes");
        // Two projects alternating: each call finds the other as the last one looked up.
        let sum = |q: &str| one::<f64>(&format!("SELECT sum({q})::float8 FROM pgml.diabetes"));
        let alone = sum(&format!("pgml.predict('lane xgboost', {x})::float8"));
        let mixed = sum(&format!(
            "pgml.predict('lane xgboost', {x})::float8 + 0 * pgml.predict('lane linear', {x})"
        ));
        assert_eq!(alone, mixed);
        // A NaN: a missing value for XGBoost (the lane takes it), an error naming the feature
        // for the linear model (the lane declines, the general path says why).
        let nan = "ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, 'NaN']::real[]";
        assert_eq!(
            one::<f32>(&format!("SELECT pgml.predict('lane xgboost', {nan})")),
            one::<f32>(&format!(
                "SELECT (pgml.predict_batch('lane xgboost', {nan}))[1]"
            ))
        );
        assert_error(
            &format!("SELECT pgml.predict('lane linear', {nan})"),
            "22004",
            "s6",
        );
        // pgml.native_trees read on every call: off, the lane declines and the library
        // serves, as the batch form does.
        let row = "ARRAY[0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, 0.01]::real[]";
        let native = one::<f32>(&format!("SELECT pgml.predict('lane xgboost', {row})"));
        run("SET pgml.native_trees = off");
        let library = one::<f32>(&format!("SELECT pgml.predict('lane xgboost', {row})"));
        assert_eq!(
            library,
            one::<f32>(&format!(
                "SELECT (pgml.predict_batch('lane xgboost', {row}))[1]"
            ))
        );
        assert!((library - native).abs() <= 1e-4 * native.abs().max(1.0));
        run("RESET pgml.native_trees");
    }

    #[pg_test]
    fn breast_cancer_xgboost_accuracy() {
        run("SELECT pgml.load_dataset('breast_cancer')");
        run("SELECT * FROM pgml.train('bc', 'classification', 'pgml.breast_cancer', 'target', 'xgboost')");
        let acc = metric("bc", "accuracy");
        assert!(acc >= 0.93, "accuracy {acc}");
        // binary problems also get roc_auc and log_loss
        assert!(metric("bc", "roc_auc") > 0.95);
        assert!(metric("bc", "log_loss") < 0.5);
    }

    #[pg_test]
    fn diabetes_linear_r2_and_regression_predict() {
        run("SELECT pgml.load_dataset('diabetes')");
        run("SELECT * FROM pgml.train('diabetes', 'regression', 'pgml.diabetes', 'target')");
        let r2 = metric("diabetes", "r2");
        assert!(r2 >= 0.35, "r2 {r2}");
        assert!(metric("diabetes", "mse") > 0.0 && metric("diabetes", "mae") > 0.0);
        let n = one::<i64>("SELECT count(*) FROM pgml.diabetes WHERE pgml.predict('diabetes', diabetes) BETWEEN 0 AND 400");
        assert_eq!(n, 442);
        assert_error(
            "SELECT pgml.predict_proba('diabetes', ARRAY[1,2,3,4,5,6,7,8,9,10])",
            "22023",
            "diabetes",
        );
    }

    #[pg_test]
    fn joint_regression_with_linear_and_xgboost() {
        run(
            "CREATE TABLE joint AS SELECT a::real, b::real, (2 * a + 3 * b + 1)::real AS y1,
                    (a - b)::real AS y2, (a * a)::real AS y3
               FROM generate_series(1, 40) a, generate_series(1, 10) b",
        );
        run("CREATE VIEW joint_v AS SELECT a, b, y1, y2 FROM joint");
        run("SELECT * FROM pgml.train_joint('joint', relation_name => 'joint_v', y_column_name => ARRAY['y1', 'y2'],
                    hyperparams => '{\"with_intercept\": true}')");
        // exact linear relations: the mean r2 over both targets is 1
        assert!(
            metric("joint", "r2") > 0.9999,
            "r2 {}",
            metric("joint", "r2")
        );
        assert_eq!(
            one::<String>("SELECT m.metrics -> 'r2_per_target' ->> 1 FROM pgml.models m ORDER BY id DESC LIMIT 1")
                .parse::<f64>()
                .map(|v| v > 0.9999),
            Ok(true)
        );
        let p = one::<Vec<f32>>("SELECT pgml.predict_joint('joint', ARRAY[10, 2])");
        assert_eq!(p.len(), 2);
        assert!(
            (p[0] - 27.0).abs() < 1e-3 && (p[1] - 8.0).abs() < 1e-3,
            "{p:?}"
        );
        assert_eq!(
            one::<i32>("SELECT num_targets FROM pgml.models ORDER BY id DESC LIMIT 1"),
            2
        );
        assert_eq!(
            one::<Vec<String>>("SELECT y_column_name FROM pgml.snapshots ORDER BY id DESC LIMIT 1"),
            vec!["y1".to_string(), "y2".to_string()]
        );
        // XGBoost's vector-leaf trees; retraining reuses the relation and the targets
        run(
            r#"SELECT * FROM pgml.train_joint('joint', algorithm => 'xgboost',
                    hyperparams => '{"n_estimators": 50, "multi_strategy": "multi_output_tree", "tree_method": "hist"}')"#,
        );
        assert!(metric("joint", "r2") > 0.95, "r2 {}", metric("joint", "r2"));
        // the better model stays deployed; deploy the xgboost one to serve it
        run("SELECT * FROM pgml.deploy('joint', 'most_recent')");
        let p = one::<Vec<f32>>("SELECT pgml.predict_joint('joint', ARRAY[10.0, 2.0])");
        assert!(
            (p[0] - 27.0).abs() < 3.0 && (p[1] - 8.0).abs() < 3.0,
            "{p:?}"
        );
        for (sql, state, names) in [
            ("SELECT pgml.predict('joint', ARRAY[1, 2])", "42809", "2 targets"),
            ("SELECT pgml.predict_batch('joint', ARRAY[1, 2])", "42809", "joint"),
            ("SELECT pgml.predict_joint('joint', ARRAY[1, 2, 3])", "22023", "expects 2 features"),
            ("SELECT * FROM pgml.train_joint('joint', y_column_name => ARRAY['y1', 'y2', 'y3'])", "22023", "not 3"),
            ("SELECT * FROM pgml.train_joint('joint', algorithm => 'lightgbm')", "0A000", "lightgbm"),
            ("SELECT * FROM pgml.train_joint('j2', relation_name => 'joint', y_column_name => ARRAY['y1', 'nope'])", "42703", "nope"),
            ("SELECT * FROM pgml.train_joint('j3', relation_name => 'joint', y_column_name => '{}')", "22023", "y_column_name"),
            ("SELECT * FROM pgml.train_joint('j4', 'classification', 'joint', ARRAY['y1', 'y2'])", "0A000", "classification"),
        ] {
            assert_error(sql, state, names);
        }
        // a single-target regression answers predict_joint with one value
        run("SELECT * FROM pgml.train('single', 'regression', 'joint_v', 'y1')");
        assert_eq!(
            one::<Vec<f32>>("SELECT pgml.predict_joint('single', ARRAY[10, 2, 8])").len(),
            1
        );
        assert_error(
            "SELECT * FROM pgml.train_joint('single', y_column_name => ARRAY['y1', 'y2'])",
            "22023",
            "1 target",
        );
    }

    #[pg_test]
    fn enums_timestamps_labels_and_preprocess_errors() {
        run("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
        run(
            "CREATE TABLE moods AS SELECT (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::mood AS mood,
                    TIMESTAMPTZ '2025-01-01 00:00+00' + i * INTERVAL '1 hour' AS at,
                    CASE WHEN i % 5 = 0 THEN NULL ELSE ARRAY[i, i * 2] END AS pair,
                    i % 3 = 0 AS label
               FROM generate_series(1, 90) i",
        );
        run(
            "SELECT * FROM pgml.train('moods', 'classification', 'moods', 'label', 'xgboost',
                    '{\"n_estimators\": 10}', test_sampling => 'stratified')",
        );
        // boolean labels: predict gives 0/1, predict_label the boolean's text
        assert_eq!(
            one::<Vec<String>>("SELECT class_labels FROM pgml.models ORDER BY id DESC LIMIT 1"),
            vec!["false".to_string(), "true".to_string()]
        );
        let (label, value) = Spi::get_two::<String, f32>(
            "SELECT pgml.predict_label('moods', m), pgml.predict('moods', m) FROM moods m WHERE mood = 'sad' LIMIT 1",
        )
        .unwrap();
        assert_eq!((label.as_deref(), value), (Some("true"), Some(1.0)));
        // the row form reads the enum by its text, the timestamptz as epoch seconds
        // the row form reads the enum by its text and the timestamptz as epoch seconds, as
        // the array form's raw values say (categories: happy, ok, sad)
        let mismatches = one::<i64>(
            "SELECT count(*) FROM moods m WHERE pgml.predict('moods', m) IS DISTINCT FROM pgml.predict('moods',
                ARRAY[array_position(ARRAY['happy', 'ok', 'sad'], mood::text) - 1, date_part('epoch', at),
                      COALESCE(pair[1]::real, 'NaN'), COALESCE(pair[2]::real, 'NaN')]::real[])",
        );
        assert_eq!(mismatches, 0);
        // iris: numeric labels' text
        run("SELECT pgml.load_dataset('iris')");
        run("SELECT * FROM pgml.train('iris labels', 'classification', 'pgml.iris', 'target', 'linear')");
        assert_eq!(
            one::<String>("SELECT pgml.predict_label('iris labels', ARRAY[5.1, 3.5, 1.4, 0.2])"),
            "0"
        );
        run("CREATE TABLE ragged (a real[], y real)");
        run("INSERT INTO ragged VALUES (ARRAY[1, 2], 1), (ARRAY[1], 2), (ARRAY[3, 4], 3)");
        for (sql, state, names) in [
            ("SELECT * FROM pgml.train('p1', 'regression', 'moods', 'label', preprocess => '{\"nope\": {}}')", "42703", "nope"),
            ("SELECT * FROM pgml.train('p2', 'regression', 'moods', 'label', preprocess => '{\"pair\": {\"impute\": \"avg\"}}')", "22023", "avg"),
            ("SELECT * FROM pgml.train('p3', 'regression', 'moods', 'label', preprocess => '{\"pair\": {\"encode\": \"one_hot\"}}')", "22023", "pair"),
            ("SELECT * FROM pgml.train('p4', 'regression', 'moods', 'label', preprocess => '{\"pair\": {\"impute\": \"error\"}}')", "22004", "pair"),
            ("SELECT * FROM pgml.train('p5', 'regression', 'moods', 'label', preprocess => '[1]')", "22023", "preprocess"),
            ("SELECT * FROM pgml.train('p6', 'regression', 'moods', 'label', test_sampling => 'stratified')", "22023", "stratified"),
            ("SELECT * FROM pgml.train('p7', 'regression', 'ragged', 'y')", "22023", "1 to 2"),
            ("SELECT * FROM pgml.train('p8', 'regression', 'moods', 'mood')", "42804", "mood"),
            ("SELECT * FROM pgml.train('p9', 'regression', 'moods', 'label', 'linear')", "22004", "pair[1]"),
            ("SELECT pgml.predict('moods', ROW('x'::text, now(), 1))", "42804", "integer[]"),
        ] {
            assert_error(sql, state, names);
        }
    }

    #[pg_test]
    fn lightgbm_on_every_task() {
        for ds in ["iris", "breast_cancer", "diabetes", "digits"] {
            run(&format!("SELECT pgml.load_dataset('{ds}')"));
        }
        run("SELECT * FROM pgml.train('lgb_iris', 'classification', 'pgml.iris', 'target', 'lightgbm', '{\"min_data_in_leaf\": 5}')");
        assert!(
            metric("lgb_iris", "accuracy") >= 0.85,
            "{}",
            metric("lgb_iris", "accuracy")
        );
        run("SELECT * FROM pgml.train('lgb_bc', 'classification', 'pgml.breast_cancer', 'target', 'lightgbm')");
        assert!(
            metric("lgb_bc", "accuracy") >= 0.93,
            "{}",
            metric("lgb_bc", "accuracy")
        );
        run("SELECT * FROM pgml.train('lgb_digits', 'classification', 'pgml.digits', 'target', 'lightgbm', '{\"n_estimators\": 30}')");
        assert!(
            metric("lgb_digits", "accuracy") >= 0.9,
            "{}",
            metric("lgb_digits", "accuracy")
        );
        run("SELECT * FROM pgml.train('lgb_diabetes', 'regression', 'pgml.diabetes', 'target', 'lightgbm', '{\"n_estimators\": 50, \"learning_rate\": 0.05}')");
        assert!(
            metric("lgb_diabetes", "r2") >= 0.3,
            "{}",
            metric("lgb_diabetes", "r2")
        );
        // every predict form
        assert_eq!(
            one::<f32>("SELECT pgml.predict('lgb_iris', ARRAY[5.1, 3.5, 1.4, 0.2])"),
            0.0
        );
        assert!(
            one::<i64>(
                "SELECT count(*) FROM pgml.iris WHERE pgml.predict('lgb_iris', iris) = target"
            ) >= 140
        );
        assert_eq!(
            one::<Vec<f32>>("SELECT pgml.predict_proba('lgb_iris', ARRAY[5.1, 3.5, 1.4, 0.2])")
                .len(),
            3
        );
        assert_eq!(one::<i32>("SELECT cardinality(pgml.predict_batch('lgb_iris', ARRAY[[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]))"), 2);
        assert_error("SELECT * FROM pgml.train('lgb_iris', algorithm => 'lightgbm', hyperparams => '{\"num_leafs\": 3}')", "22023", "num_leafs");
    }

    /// The native tree evaluator serves covered models (the catalog says so) with the
    /// library's results; models it does not cover are served by the library, and
    /// pgml.native_trees = off sends everything through the library.
    #[pg_test]
    fn native_trees_serve_with_library_results() {
        run("SELECT pgml.load_dataset('iris')");
        run("SELECT pgml.load_dataset('diabetes')");
        for (project, task, rel, algo, hp) in [
            (
                "nt_xgb",
                "classification",
                "pgml.iris",
                "xgboost",
                "{\"n_estimators\": 20}",
            ),
            (
                "nt_lgb",
                "classification",
                "pgml.iris",
                "lightgbm",
                "{\"n_estimators\": 20, \"min_data_in_leaf\": 5}",
            ),
            (
                "nt_xgb_r",
                "regression",
                "pgml.diabetes",
                "xgboost",
                "{\"n_estimators\": 20}",
            ),
            (
                "nt_lgb_r",
                "regression",
                "pgml.diabetes",
                "lightgbm",
                "{\"n_estimators\": 20}",
            ),
            (
                "nt_dart",
                "regression",
                "pgml.diabetes",
                "xgboost",
                "{\"n_estimators\": 10, \"rate_drop\": 0.3}",
            ),
            (
                "nt_linear",
                "regression",
                "pgml.diabetes",
                "xgboost",
                "{\"n_estimators\": 5, \"booster\": \"gblinear\"}",
            ),
        ] {
            run(&format!("SELECT * FROM pgml.train('{project}', '{task}', '{rel}', 'target', '{algo}', '{hp}')"));
            let evaluator = one::<String>(&format!(
                "SELECT m.evaluator FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = '{project}'"
            ));
            let want = if project == "nt_linear" {
                "library: gblinear booster"
            } else {
                "native ("
            };
            assert!(evaluator.starts_with(want), "{project}: {evaluator}");
            // every row of the table, both ways: the same values, bit for bit
            let (x, pred) = if task == "classification" {
                (
                    "ARRAY[sepal_length, sepal_width, petal_length, petal_width]",
                    "pgml.predict_proba",
                )
            } else {
                (
                    "ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]",
                    "pgml.predict_joint",
                )
            };
            let query = format!(
                "SELECT array_agg({pred}('{project}', {x})::text ORDER BY ctid)::text FROM {rel}"
            );
            let native = one::<String>(&query);
            run("SET pgml.native_trees = off");
            let library = one::<String>(&query);
            run("RESET pgml.native_trees");
            assert_eq!(native, library, "{project}");
        }
    }

    #[pg_test]
    fn smartcore_algorithms_on_every_task() {
        for ds in ["iris", "breast_cancer", "diabetes", "digits"] {
            run(&format!("SELECT pgml.load_dataset('{ds}')"));
        }
        // (algorithm, hyperparams, minimum accuracy on iris / breast_cancer / digits, minimum r2 on diabetes)
        let cases = [
            (
                "random_forest",
                r#"{"n_trees": 20, "seed": 7}"#,
                [0.85, 0.9, 0.85],
                0.3,
            ),
            (
                "decision_tree",
                r#"{"max_depth": 8}"#,
                [0.85, 0.85, 0.7],
                -1.0,
            ),
            ("knn", r#"{"k": 5}"#, [0.85, 0.85, 0.9], 0.2),
        ];
        for (alg, hp, min_acc, min_r2) in cases {
            for (ds, min) in ["iris", "breast_cancer", "digits"].iter().zip(min_acc) {
                let project = format!("{alg}_{ds}");
                run(&format!("SELECT * FROM pgml.train('{project}', 'classification', 'pgml.{ds}', 'target', '{alg}', '{hp}')"));
                let acc = metric(&project, "accuracy");
                assert!(acc >= min, "{project}: accuracy {acc}");
                let n = one::<i64>(&format!(
                    "SELECT count(*) FROM pgml.{ds} t WHERE pgml.predict('{project}', t) = target"
                ));
                assert!(n > 0, "{project}");
                let p = one::<Vec<f32>>(&format!(
                    "SELECT pgml.predict_proba('{project}', (SELECT array_agg(v) FROM generate_series(1, (SELECT num_features FROM pgml.models WHERE id = (SELECT max(id) FROM pgml.models))) g, LATERAL (SELECT 1.0::real AS v) x))"
                ));
                assert!(
                    (p.iter().sum::<f32>() - 1.0).abs() < 1e-4,
                    "{project}: {p:?}"
                );
            }
            let project = format!("{alg}_diabetes");
            run(&format!("SELECT * FROM pgml.train('{project}', 'regression', 'pgml.diabetes', 'target', '{alg}', '{hp}')"));
            let r2 = metric(&project, "r2");
            assert!(r2 >= min_r2, "{project}: r2 {r2}");
            let n = one::<i64>(&format!("SELECT count(*) FROM pgml.diabetes d WHERE pgml.predict('{project}', d) BETWEEN 0 AND 400"));
            assert_eq!(n, 442, "{project}");
        }
        assert_error(
            "SELECT * FROM pgml.train('knn_iris', algorithm => 'knn', hyperparams => '{\"weight\": \"heavy\"}')",
            "22023",
            "heavy",
        );
    }

    #[pg_test]
    fn penalized_linear_models() {
        run("SELECT pgml.load_dataset('diabetes')");
        run("SELECT pgml.load_dataset('breast_cancer')");
        for alg in ["ridge", "lasso", "elastic_net"] {
            let project = format!("{alg}_diabetes");
            run(&format!("SELECT * FROM pgml.train('{project}', 'regression', 'pgml.diabetes', 'target', '{alg}')"));
            let r2 = metric(&project, "r2");
            assert!(r2 >= 0.35, "{project}: r2 {r2}");
            let n = one::<i64>(&format!("SELECT count(*) FROM pgml.diabetes d WHERE pgml.predict('{project}', d) BETWEEN 0 AND 400"));
            assert_eq!(n, 442);
        }
        run("SELECT * FROM pgml.train('ridge_bc', 'classification', 'pgml.breast_cancer', 'target', 'ridge', '{\"penalty\": 0.1}')");
        assert!(
            metric("ridge_bc", "accuracy") >= 0.9,
            "{}",
            metric("ridge_bc", "accuracy")
        );
        assert_eq!(one::<Vec<f32>>("SELECT pgml.predict_proba('ridge_bc', (SELECT ARRAY[mean_radius, mean_texture, mean_perimeter, mean_area, mean_smoothness, mean_compactness, mean_concavity, mean_concave_points, mean_symmetry, mean_fractal_dimension, radius_error, texture_error, perimeter_error, area_error, smoothness_error, compactness_error, concavity_error, concave_points_error, symmetry_error, fractal_dimension_error, worst_radius, worst_texture, worst_perimeter, worst_area, worst_smoothness, worst_compactness, worst_concavity, worst_concave_points, worst_symmetry, worst_fractal_dimension] FROM pgml.breast_cancer LIMIT 1))").len(), 2);
        assert_error(
            "SELECT * FROM pgml.train('lasso_bc', 'classification', 'pgml.breast_cancer', 'target', 'lasso')",
            "0A000",
            "lasso",
        );
        assert_error(
            "SELECT * FROM pgml.train('en', 'regression', 'pgml.diabetes', 'target', 'elastic_net', '{\"l1_ratio\": 3}')",
            "22023",
            "l1_ratio",
        );
    }

    #[pg_test]
    fn grid_and_random_search_with_cross_validation() {
        run("SELECT pgml.load_dataset('iris')");
        run("SELECT pgml.load_dataset('diabetes')");
        run(
            r#"SELECT * FROM pgml.train('grid', 'classification', 'pgml.iris', 'target', 'xgboost', '{"n_estimators": 10}',
                search => 'grid', search_params => '{"max_depth": [1, 3], "eta": [0.1, 0.3]}', search_args => '{"cv": 3}')"#,
        );
        let results = one::<i64>("SELECT jsonb_array_length(metrics->'search_results') FROM pgml.models ORDER BY id DESC LIMIT 1");
        assert_eq!(results, 4);
        let keys = one::<bool>(
            "SELECT bool_and(r ? 'params' AND r ? 'mean_score' AND r ? 'std_score' AND r ? 'fit_time')
               FROM pgml.models m, jsonb_array_elements(m.metrics->'search_results') r WHERE m.id = (SELECT max(id) FROM pgml.models)",
        );
        assert!(keys);
        // the winner (best mean score) is what was refit and stored, merged over the base params
        let winner_is_stored = one::<bool>(
            "WITH m AS (SELECT * FROM pgml.models ORDER BY id DESC LIMIT 1),
                  best AS (SELECT r->'params' AS p FROM m, jsonb_array_elements(m.metrics->'search_results') WITH ORDINALITY AS e(r, i)
                            ORDER BY (r->>'mean_score')::float8 DESC, i LIMIT 1)
             SELECT m.hyperparams @> best.p AND m.hyperparams->>'n_estimators' = '10' FROM m, best",
        );
        assert!(winner_is_stored);
        assert!(metric("grid", "accuracy") >= 0.85);

        // random search: seeded, so the same seed gives the same candidates
        let q = r#"SELECT * FROM pgml.train('random', 'regression', 'pgml.diabetes', 'target', 'lightgbm', '{}',
                    search => 'random', search_params => '{"learning_rate": {"log_uniform": [0.01, 0.3]}, "num_leaves": {"int": [4, 16]}, "n_estimators": [20, 40]}',
                    search_args => '{"n_iter": 4, "cv": 2, "seed": 42}')"#;
        run(q);
        run(q);
        let same = one::<bool>(
            "SELECT a.metrics->'search_results' IS NOT NULL AND
                    (SELECT jsonb_agg(r->'params') FROM jsonb_array_elements(a.metrics->'search_results') r) =
                    (SELECT jsonb_agg(r->'params') FROM jsonb_array_elements(b.metrics->'search_results') r)
               FROM (SELECT * FROM pgml.models ORDER BY id DESC LIMIT 1) a, (SELECT * FROM pgml.models ORDER BY id DESC OFFSET 1 LIMIT 1) b",
        );
        assert!(same);
        assert_eq!(
            one::<String>(
                "SELECT metrics->'search'->>'kind' FROM pgml.models ORDER BY id DESC LIMIT 1"
            ),
            "random"
        );

        for (sql, names) in [
            ("SELECT * FROM pgml.train('grid', search => 'bayesian', search_params => '{\"max_depth\": [1]}')", "bayesian"),
            ("SELECT * FROM pgml.train('grid', search => 'grid', search_params => '{\"max_depth\": 3}')", "max_depth"),
            ("SELECT * FROM pgml.train('grid', search => 'grid', search_params => '{\"depth\": [3]}')", "depth"),
            ("SELECT * FROM pgml.train('grid', search => 'grid', search_params => '{\"max_depth\": [3]}', search_args => '{\"cv\": 1}')", "cv"),
            ("SELECT * FROM pgml.train('grid', search => 'random', search_params => '{\"eta\": {\"normal\": [0, 1]}}')", "normal"),
        ] {
            assert_error(sql, "22023", names);
        }
    }

    #[pg_test]
    fn gaussian_naive_bayes_classifies() {
        for (ds, min) in [("iris", 0.85), ("breast_cancer", 0.9), ("digits", 0.7)] {
            run(&format!("SELECT pgml.load_dataset('{ds}')"));
            let project = format!("nb_{ds}");
            run(&format!("SELECT * FROM pgml.train('{project}', 'classification', 'pgml.{ds}', 'target', 'gaussian_naive_bayes')"));
            let acc = metric(&project, "accuracy");
            assert!(acc >= min, "{project}: {acc}");
        }
        assert!(
            (one::<Vec<f32>>("SELECT pgml.predict_proba('nb_iris', ARRAY[5.1, 3.5, 1.4, 0.2])")
                .iter()
                .sum::<f32>()
                - 1.0)
                .abs()
                < 1e-4
        );
        assert_eq!(
            one::<f32>("SELECT pgml.predict('nb_iris', ARRAY[5.1, 3.5, 1.4, 0.2])"),
            0.0
        );
        run("SELECT pgml.load_dataset('diabetes')");
        assert_error("SELECT * FROM pgml.train('nb_reg', 'regression', 'pgml.diabetes', 'target', 'gaussian_naive_bayes')", "0A000", "gaussian_naive_bayes");
    }

    #[pg_test]
    fn svm_on_every_task() {
        for (ds, min) in [("iris", 0.85), ("breast_cancer", 0.85), ("digits", 0.8)] {
            run(&format!("SELECT pgml.load_dataset('{ds}')"));
            let project = format!("svm_{ds}");
            run(&format!("SELECT * FROM pgml.train('{project}', 'classification', 'pgml.{ds}', 'target', 'svm')"));
            let acc = metric(&project, "accuracy");
            assert!(acc >= min, "{project}: {acc}");
        }
        assert_eq!(
            one::<Vec<f32>>("SELECT pgml.predict_proba('svm_iris', ARRAY[5.1, 3.5, 1.4, 0.2])")
                .len(),
            3
        );
        run("SELECT pgml.load_dataset('diabetes')");
        run("SELECT * FROM pgml.train('svm_diabetes', 'regression', 'pgml.diabetes', 'target', 'svm', '{\"c\": 100}')");
        assert!(
            metric("svm_diabetes", "r2") > 0.0,
            "{}",
            metric("svm_diabetes", "r2")
        );
        assert_error("SELECT * FROM pgml.train('svm_diabetes', algorithm => 'svm', hyperparams => '{\"kernel\": \"sigmoid\"}')", "22023", "sigmoid");
    }

    #[pg_test]
    fn kmeans_clustering() {
        run("SELECT pgml.load_dataset('iris')");
        run("CREATE VIEW iris_features AS SELECT sepal_length, sepal_width, petal_length, petal_width FROM pgml.iris");
        run("SELECT * FROM pgml.train('flowers', 'clustering', 'iris_features', algorithm => 'kmeans', hyperparams => '{\"n_clusters\": 3}')");
        let s = metric("flowers", "silhouette");
        assert!(s > 0.4, "silhouette {s}");
        assert_eq!(
            one::<i64>("SELECT count(DISTINCT pgml.predict('flowers', f)) FROM iris_features f"),
            3
        );
        assert_eq!(one::<i64>("SELECT count(*) FROM iris_features f WHERE pgml.predict('flowers', f) NOT IN (0, 1, 2)"), 0);
        // setosa is one cluster of its own
        assert_eq!(one::<i64>("SELECT count(DISTINCT pgml.predict('flowers', i)) FROM pgml.iris i WHERE target = 0"), 1);
        // dbscan: dense groups and noise (-1); setosa is a group of its own
        run("SELECT * FROM pgml.train('dense', 'clustering', 'iris_features', algorithm => 'dbscan', hyperparams => '{\"tolerance\": 0.5, \"min_points\": 5}')");
        assert!(one::<i64>("SELECT count(DISTINCT pgml.predict('dense', f)) FROM iris_features f WHERE pgml.predict('dense', f) >= 0") >= 2);
        assert_eq!(one::<i64>("SELECT count(DISTINCT pgml.predict('dense', i)) FROM pgml.iris i WHERE target = 0 AND pgml.predict('dense', i) >= 0"), 1);
        assert_eq!(
            one::<f32>("SELECT pgml.predict('dense', ARRAY[50, 50, 50, 50])"),
            -1.0
        );
        // retrain on the project's last relation; search scores by silhouette
        run("SELECT * FROM pgml.train('flowers', algorithm => 'kmeans', search => 'grid', search_params => '{\"n_clusters\": [2, 3, 4]}')");
        assert_eq!(one::<i64>("SELECT jsonb_array_length(metrics->'search_results') FROM pgml.models ORDER BY id DESC LIMIT 1"), 3);
        for (sql, state, names) in [
            (
                "SELECT * FROM pgml.train('c2', 'clustering', 'pgml.iris', 'target', 'kmeans')",
                "22023",
                "clustering",
            ),
            (
                "SELECT * FROM pgml.train('c3', 'clustering', 'pgml.iris', algorithm => 'xgboost')",
                "0A000",
                "xgboost",
            ),
            (
                "SELECT * FROM pgml.train('c4', 'classification', 'pgml.iris', 'target', 'kmeans')",
                "0A000",
                "kmeans",
            ),
            (
                "SELECT pgml.predict_proba('flowers', ARRAY[5.1, 3.5, 1.4, 0.2])",
                "22023",
                "classification",
            ),
        ] {
            assert_error(sql, state, names);
        }
    }

    #[pg_test]
    fn pca_decomposition() {
        run("SELECT pgml.load_dataset('digits')");
        run("CREATE VIEW pixels_only AS SELECT pixel_0_0, pixel_2_3, pixel_3_4, pixel_4_4, pixel_5_2, pixel_6_5, pixel_7_3 FROM pgml.digits");
        run("SELECT * FROM pgml.train('pixels', 'decomposition', 'pixels_only', algorithm => 'pca', hyperparams => '{\"n_components\": 3}')");
        let v = metric("pixels", "cumulative_explained_variance");
        assert!(v > 0.5 && v <= 1.0 + 1e-9, "{v}");
        let c = one::<Vec<f32>>("SELECT pgml.decompose('pixels', ARRAY[0, 10, 5, 3, 8, 1, 0])");
        assert_eq!(c.len(), 3);
        assert_eq!(one::<i64>("SELECT count(*) FROM pixels_only p WHERE array_length(pgml.decompose('pixels', ARRAY[pixel_0_0, pixel_2_3, pixel_3_4, pixel_4_4, pixel_5_2, pixel_6_5, pixel_7_3]), 1) = 3"), 1797);
        for (sql, state, names) in [
            ("SELECT pgml.predict('pixels', ARRAY[0, 10, 5, 3, 8, 1, 0])", "0A000", "decompose"),
            ("SELECT pgml.decompose('pixels', ARRAY[1, 2])", "22023", "got 2"),
            ("SELECT * FROM pgml.train('p2', 'decomposition', 'pixels_only', algorithm => 'pca', hyperparams => '{\"n_components\": 99}')", "22023", "n_components"),
            ("SELECT * FROM pgml.train('p3', 'decomposition', 'pixels_only', algorithm => 'kmeans')", "0A000", "kmeans"),
        ] {
            assert_error(sql, state, names);
        }
        run("SELECT pgml.load_dataset('iris')");
        run("SELECT * FROM pgml.train('iris_for_decompose', 'classification', 'pgml.iris', 'target', 'linear')");
        assert_error(
            "SELECT pgml.decompose('iris_for_decompose', ARRAY[1, 2, 3, 4])",
            "22023",
            "decomposition",
        );
    }

    #[pg_test]
    fn labels_are_returned_as_their_values() {
        run("CREATE TABLE pets (weight real, legs int, kind int)");
        run("INSERT INTO pets SELECT i, 4, CASE WHEN i < 50 THEN 10 ELSE 20 END FROM generate_series(1, 100) i");
        run("SELECT * FROM pgml.train('pets', 'classification', 'pets', 'kind', 'linear', test_sampling => 'random')");
        let labels = one::<Vec<f32>>("SELECT classes FROM pgml.models m JOIN pgml.projects p ON p.id = m.project_id WHERE p.name = 'pets'");
        assert_eq!(labels, vec![10.0, 20.0]);
        assert_eq!(one::<f32>("SELECT pgml.predict('pets', ARRAY[5, 4])"), 10.0);
        assert_eq!(
            one::<f32>("SELECT pgml.predict('pets', ARRAY[95, 4])"),
            20.0
        );
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
    fn deploy_strategies_and_in_session_cache_invalidation() {
        run("CREATE TABLE lin (x real, y real)");
        run("INSERT INTO lin SELECT i, 3 * i + 1 FROM generate_series(1, 100) i");
        run("SELECT * FROM pgml.train('lin', 'regression', 'lin', 'y', 'linear')");
        let linear = one::<f32>("SELECT pgml.predict('lin', ARRAY[1000])");
        assert!((linear - 3001.0).abs() < 1.0, "{linear}");
        // xgboost cannot extrapolate and scores lower: not deployed automatically
        let deployed = one::<bool>("SELECT deployed FROM pgml.train('lin', algorithm => 'xgboost', hyperparams => '{\"n_estimators\": 5}')");
        assert!(!deployed);
        assert_eq!(
            one::<f32>("SELECT pgml.predict('lin', ARRAY[1000])"),
            linear
        );
        // most_recent switches to xgboost at once in this session (relcache invalidation)
        assert_eq!(
            one::<String>("SELECT algorithm FROM pgml.deploy('lin', 'most_recent')"),
            "xgboost"
        );
        let xgb = one::<f32>("SELECT pgml.predict('lin', ARRAY[1000])");
        assert!(xgb < 400.0, "{xgb}");
        // a deploy rolled back (here a subtransaction) is not seen
        run("DO $$ BEGIN PERFORM pgml.deploy('lin', 'best_score'); RAISE EXCEPTION 'undo'; EXCEPTION WHEN raise_exception THEN END $$");
        assert_eq!(one::<f32>("SELECT pgml.predict('lin', ARRAY[1000])"), xgb);
        assert_eq!(
            one::<String>("SELECT algorithm FROM pgml.deploy('lin', 'best_score')"),
            "linear"
        );
        assert_eq!(
            one::<f32>("SELECT pgml.predict('lin', ARRAY[1000])"),
            linear
        );
        assert_eq!(
            one::<String>("SELECT algorithm FROM pgml.deploy('lin', 'rollback')"),
            "xgboost"
        );
        assert_eq!(
            one::<String>("SELECT algorithm FROM pgml.deploy('lin', 'best_score', 'xgboost')"),
            "xgboost"
        );
        let first = one::<i64>("SELECT min(id) FROM pgml.models m WHERE m.project_id = (SELECT id FROM pgml.projects WHERE name = 'lin')");
        assert_eq!(
            one::<String>(&format!("SELECT strategy FROM pgml.deploy({first})")),
            "specific"
        );
        assert_eq!(
            one::<f32>("SELECT pgml.predict('lin', ARRAY[1000])"),
            linear
        );
        assert_eq!(
            one::<String>("SELECT name FROM pgml.deployed_models WHERE name = 'lin'"),
            "lin"
        );
        assert_eq!(
            one::<String>("SELECT algorithm::text FROM pgml.overview WHERE name = 'lin'"),
            "linear"
        );
        // deleting the deployed model (cascades to deployments) also reaches the cache
        run(&format!("DELETE FROM pgml.models WHERE id = {first}"));
        assert!((one::<f32>("SELECT pgml.predict('lin', ARRAY[1000])") - linear).abs() > 1.0);
    }

    #[pg_test]
    fn hand_edits_of_served_rows_reach_the_cache() {
        run("CREATE TABLE lin (x real, y real)");
        run("INSERT INTO lin SELECT i, 3 * i + 1 FROM generate_series(1, 100) i");
        run("SELECT * FROM pgml.train('up', 'regression', 'lin', 'y', 'linear')");
        run("SELECT * FROM pgml.train('down', 'regression', 'lin', 'y', 'linear')");
        run("UPDATE lin SET y = -y");
        run("SELECT * FROM pgml.train('down', algorithm => 'linear')");
        run("SELECT pgml.deploy('down', 'most_recent')");
        let up = one::<f32>("SELECT pgml.predict('up', ARRAY[10])");
        let down = one::<f32>("SELECT pgml.predict('down', ARRAY[10])");
        assert!(
            (up - 31.0).abs() < 0.5 && (down + 31.0).abs() < 0.5,
            "{up} {down}"
        );
        // The bytes of 'down' written over those of 'up': served at once, not the cached copy.
        run("UPDATE pgml.files f SET data = d.data FROM pgml.files d
              WHERE f.model_id = (SELECT model_id FROM pgml.deployed_models WHERE name = 'up')
                AND d.model_id = (SELECT model_id FROM pgml.deployed_models WHERE name = 'down')
                AND d.path = f.path AND d.part = f.part");
        assert_eq!(one::<f32>("SELECT pgml.predict('up', ARRAY[10])"), down);
        // A renamed project answers to its new name only.
        run("UPDATE pgml.projects SET name = 'renamed' WHERE name = 'down'");
        assert_eq!(
            one::<f32>("SELECT pgml.predict('renamed', ARRAY[10])"),
            down
        );
        assert_error("SELECT pgml.predict('down', ARRAY[10])", "42704", "down");
        // Its models' number of features edited: the new value is checked on the next call.
        run("UPDATE pgml.models SET num_features = 2
              WHERE id = (SELECT model_id FROM pgml.deployed_models WHERE name = 'renamed')");
        let (state, message, _) = error_of("SELECT pgml.predict('renamed', ARRAY[10])");
        assert_ne!(state, "OK", "{message}");
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

    #[pg_test]
    fn row_form_follows_changes_to_the_row_type() {
        run("CREATE TABLE rp (a real, b real, y real)");
        run("INSERT INTO rp SELECT i % 7, i % 5, (i % 7) * 2 + (i % 5) FROM generate_series(1, 60) i");
        run("SELECT * FROM pgml.train('rowplan', 'regression', 'rp', 'y', 'xgboost', '{\"n_estimators\": 5}')");
        let agree = "SELECT count(*) FILTER (WHERE pgml.predict('rowplan', r) = pgml.predict('rowplan', ARRAY[a, b]::real[])) FROM rp r";
        assert_eq!(one::<i64>(agree), 60);
        // Each change gives the table's row type a new descriptor: the reader must follow
        // (a stale one would read the wrong attribute, or crash on a changed type).
        run("ALTER TABLE rp ADD COLUMN note text DEFAULT 'n'");
        assert_eq!(one::<i64>(agree), 60, "a column added before the row's own");
        run("ALTER TABLE rp DROP COLUMN a");
        run("ALTER TABLE rp ADD COLUMN a real");
        run("UPDATE rp SET a = b + 1");
        assert_eq!(one::<i64>(agree), 60, "a dropped and re-added column");
        run("ALTER TABLE rp ALTER COLUMN b TYPE double precision");
        assert_eq!(one::<i64>(agree), 60, "a column's type changed");
        // Anonymous records of two shapes in one query, by position.
        assert_eq!(
            one::<i64>(
                "SELECT count(DISTINCT p) FROM (VALUES (pgml.predict('rowplan', ROW(1::real, 2::real))),
                   (pgml.predict('rowplan', ROW(1::int, 2::bigint))), (pgml.predict('rowplan', ARRAY[1, 2]::real[]))) v(p)"
            ),
            1
        );
        // A retrain is a new model (features now b, a): the reader is rebuilt for it.
        run("ALTER TABLE rp DROP COLUMN note");
        run("SELECT * FROM pgml.train('rowplan', 'regression', 'rp', 'y', 'xgboost', '{\"n_estimators\": 3}')");
        run("SELECT * FROM pgml.deploy('rowplan', 'most_recent')");
        assert_eq!(
            one::<i64>("SELECT count(*) FILTER (WHERE pgml.predict('rowplan', r) = pgml.predict('rowplan', ARRAY[b, a]::real[])) FROM rp r"),
            60,
            "after a retrain"
        );
        assert_error("SELECT pgml.predict('rowplan', 42)", "42804", "integer");
        // Catalogs made by earlier builds name the row form's C symbol predict_row_wrapper.
        run(
            "CREATE FUNCTION pg_temp.old_predict(text, anyelement) RETURNS real STABLE STRICT
               LANGUAGE c AS '$libdir/pgml', 'predict_row_wrapper'",
        );
        assert_eq!(
            one::<i64>("SELECT count(*) FILTER (WHERE pg_temp.old_predict('rowplan', r) = pgml.predict('rowplan', r)) FROM rp r"),
            60
        );
        // Project names read from a table (short inline text, read in place) and a name
        // that is not ASCII.
        run("CREATE TABLE rp_names AS SELECT 'rowplan'::text AS n");
        assert_eq!(
            one::<i64>("SELECT count(*) FILTER (WHERE pgml.predict(n, r) = pgml.predict('rowplan', r)
                          AND pgml.predict(n, ARRAY[b, a]::real[]) = pgml.predict('rowplan', ARRAY[b, a]::real[]))
                        FROM rp r, rp_names"),
            60
        );
        assert_error(
            "SELECT pgml.predict('rowplän', r) FROM rp r",
            "42704",
            "rowplän",
        );
        assert_error(
            "SELECT pgml.predict('rowplän', ARRAY[1, 2]::real[])",
            "42704",
            "rowplän",
        );
    }

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
        // (src/blas.rs). This backend must be back to its one thread.
        assert_eq!(crate::blas::threads(), 1, "OpenBLAS threads");
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
