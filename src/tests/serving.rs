//! Serving: every predict form, the warm predict lane, the native tree evaluator, deploy
//! strategies and the cache's invalidation, and the row form's reader.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::{assert_error, error_of, metric, one, run};
    use pgrx::prelude::*;

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
            // predict_batch takes Model::predict, and a double precision array the general
            // path (the lane reads real[] only). All three agree bit for bit.
            let differ = one::<i64>(&format!(
                "SELECT count(*) FROM pgml.{table} \
                 WHERE pgml.predict('{p}', {x}) IS DISTINCT FROM (pgml.predict_batch('{p}', {x}))[1] \
                    OR pgml.predict('{p}', {x}) IS DISTINCT FROM pgml.predict('{p}', {x}::float8[])"
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
}
