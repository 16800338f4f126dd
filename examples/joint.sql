-- Multi-target regression: one model predicts several columns at once.
-- linnerud: three exercises (chins, situps, jumps) and three measurements of the same
-- 20 men (weight, waist, pulse).
CREATE EXTENSION IF NOT EXISTS pgml;
SELECT table_name FROM pgml.load_dataset('linnerud');

-- y_column_name takes an array; everything else is as in pgml.train.
SELECT * FROM pgml.train_joint('fitness', relation_name => 'pgml.linnerud',
                               y_column_name => ARRAY['weight', 'waist', 'pulse'],
                               test_size => 5, test_sampling => 'last');

-- XGBoost with vector-leaf trees (one tree predicts all three); retraining reuses the
-- relation and the targets.
SELECT * FROM pgml.train_joint('fitness', algorithm => 'xgboost',
                               hyperparams => '{"n_estimators": 30, "max_depth": 2, "nthread": 1,
                                                "multi_strategy": "multi_output_tree",
                                                "tree_method": "hist"}');

-- The metrics are means over the targets, with each target's r2 listed.
SELECT m.algorithm, m.num_targets, s.y_column_name,
       jsonb_typeof(m.metrics -> 'r2_per_target') AS per_target,
       jsonb_array_length(m.metrics -> 'r2_per_target') AS targets
  FROM pgml.models m JOIN pgml.snapshots s ON s.id = m.snapshot_id
  JOIN pgml.projects p ON p.id = m.project_id
 WHERE p.name = 'fitness' ORDER BY m.id;

-- pgml.predict_joint returns every target, in y_column_name order.
SELECT * FROM pgml.deploy('fitness', 'best_score', 'linear');
SELECT chins, situps, jumps,
       (SELECT array_agg(round(v::numeric, 1)) FROM unnest(pgml.predict_joint('fitness', ARRAY[chins, situps, jumps])) v) AS "weight, waist, pulse"
  FROM pgml.linnerud ORDER BY chins, situps, jumps LIMIT 5;

-- pgml.predict returns one value, so it refuses a joint model and says what to use.
SELECT pgml.predict('fitness', ARRAY[5, 162, 60]);
-- Only algorithms that fit several targets at once take part.
SELECT * FROM pgml.train_joint('fitness', algorithm => 'lightgbm');
