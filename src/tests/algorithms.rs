//! Each algorithm family on the tasks it supports, and the SQL enum of algorithms against the
//! backend registry.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::{assert_error, metric, one, run};
    use pgrx::prelude::*;
    use std::collections::BTreeSet;

    /// The trainable values of the SQL enum `pgml.algorithm` (sql/schema.sql) are exactly
    /// the algorithms of the backend registry (`pgml_core::bindings::BACKENDS`): an algorithm
    /// added on one side only is either refused by the catalog after training or offered in
    /// SQL with nothing to train it.
    #[pg_test]
    fn algorithm_enum_matches_the_backend_registry() {
        // Later issues may add enum values for imported models, which no backend trains.
        // Such values must then be listed here explicitly as non-trainable, so that every
        // other value is still checked against the registry and the check stays meaningful.
        const NOT_TRAINABLE: &[&str] = &[];
        let labels = one::<Vec<String>>(
            "SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_enum
              WHERE enumtypid = 'pgml.algorithm'::regtype",
        );
        for name in NOT_TRAINABLE {
            assert!(
                labels.iter().any(|l| l == name),
                "{name} is listed as non-trainable but is not a value of pgml.algorithm"
            );
            assert!(
                pgml_core::bindings::find(name).is_none(),
                "{name} is listed as non-trainable but the registry trains it"
            );
        }
        let in_sql: BTreeSet<&str> = labels
            .iter()
            .map(String::as_str)
            .filter(|l| !NOT_TRAINABLE.contains(l))
            .collect();
        let in_registry: BTreeSet<&str> = pgml_core::bindings::BACKENDS
            .iter()
            .map(|b| b.name())
            .collect();
        let only_sql: Vec<&str> = in_sql.difference(&in_registry).copied().collect();
        let only_registry: Vec<&str> = in_registry.difference(&in_sql).copied().collect();
        assert!(
            only_sql.is_empty() && only_registry.is_empty(),
            "pgml.algorithm and pgml_core::bindings::BACKENDS differ: in the enum but not \
             the registry {only_sql:?}; in the registry but not the enum {only_registry:?}"
        );
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
}
