//! Training: the datasets, joint (multi-target) regression, column types and preprocessing,
//! hyperparameter search, and labels.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::{assert_error, metric, one, run};
    use pgrx::prelude::*;

    #[pg_test]
    fn version_is_the_crate_version() {
        assert_eq!(
            one::<String>("SELECT pgml.version()"),
            env!("CARGO_PKG_VERSION")
        );
    }

    #[pg_test]
    fn the_library_serves_its_own_sql_and_the_releases_listed() {
        let served = crate::catalog::version::SERVED;
        assert_eq!(served.last(), Some(&env!("CARGO_PKG_VERSION")));
        assert_eq!(
            one::<String>("SELECT extension || ' ' || update_available::text FROM pgml.versions()"),
            format!("{} false", env!("CARGO_PKG_VERSION"))
        );
        // The SQL of an older release this library serves: catalog statements run.
        run("UPDATE pg_catalog.pg_extension SET extversion = '0.2.0' WHERE extname = 'pgml'");
        assert_error("SELECT pgml.deploy('nope', 'most_recent')", "42704", "nope");
        assert!(one::<bool>("SELECT update_available FROM pgml.versions()"));
    }

    #[pg_test]
    fn sql_of_a_release_not_served_is_refused_with_what_to_run() {
        // The version is read per transaction until a check passes: no catalog call before.
        // 0.1.0 and 0.2.5 have no scripts; an unserved version with a path would be told to
        // run ALTER EXTENSION pgml UPDATE (tests/upgrade.sh runs the real update).
        for (version, advice) in [
            ("0.1.0", "development build"),
            ("99.0.0", "library 99.0.0 or later"),
            ("0.2.5", "no update path"),
        ] {
            run(&format!(
                "UPDATE pg_catalog.pg_extension SET extversion = '{version}' WHERE extname = 'pgml'"
            ));
            let (state, message, hint) =
                crate::tests::error_of("SELECT pgml.deploy('nope', 'most_recent')");
            assert_eq!(state, "55000", "{version}: {message}");
            assert!(message.contains(version), "{message}");
            assert!(hint.contains(advice), "{version}: {hint}");
        }
    }

    #[pg_test]
    fn a_unique_text_column_target_encoded_does_not_lower_the_test_metric() {
        // Issue 36: a category's mean from the rows the model fits on is, for a column unique
        // per row (a name, an id), the label itself; the fit leaned on it and the test rows,
        // all unseen, got the overall mean. Cross-fitted encodings keep it out.
        run("SELECT setseed(0.36)");
        run(
            "CREATE TABLE te_rows AS SELECT x1, x2, 3 * x1 - 2 * x2 + (random() - 0.5) AS y,
                    md5(i::text) AS name
               FROM (SELECT i, random() * 10 AS x1, random() * 10 AS x2
                       FROM generate_series(1, 3000) i) s",
        );
        run("CREATE VIEW te_plain AS SELECT x1, x2, y FROM te_rows");
        run("SELECT * FROM pgml.train('te plain', 'regression', 'te_plain', 'y', 'linear')");
        run(
            r#"SELECT * FROM pgml.train('te named', 'regression', 'te_rows', 'y', 'linear',
                   preprocess => '{"name": {"encode": "target"}}')"#,
        );
        let (plain, named) = (metric("te plain", "r2"), metric("te named", "r2"));
        assert!(plain > 0.95, "{plain}");
        assert!(
            named >= plain - 0.005,
            "r2 {named} with the names, {plain} without"
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
}
