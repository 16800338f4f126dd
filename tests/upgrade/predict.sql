-- Every prediction form over every upgrade-test project, one value per line (tests/upgrade.sh
-- compares the output before and after ALTER EXTENSION pgml UPDATE, and after a restore).
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only on
SELECT 'xgboost row', pgml.predict('up xgboost', d) FROM public.diabetes d ORDER BY d::text;
SELECT 'xgboost array', pgml.predict('up xgboost', ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6])
  FROM public.diabetes d ORDER BY d::text;
SELECT 'xgboost batch', pgml.predict_batch('up xgboost',
       (SELECT array_agg(v ORDER BY d::text, o) FROM public.diabetes d,
               unnest(ARRAY[age, sex, bmi, bp, s1, s2, s3, s4, s5, s6]) WITH ORDINALITY AS u(v, o)));
SELECT 'lightgbm row', pgml.predict('up lightgbm', i) FROM public.iris i ORDER BY i::text;
SELECT 'lightgbm proba', pgml.predict_proba('up lightgbm', ARRAY[sepal_length, sepal_width, petal_length, petal_width])
  FROM public.iris i ORDER BY i::text;
SELECT 'lightgbm label', pgml.predict_label('up lightgbm', ARRAY[sepal_length, sepal_width, petal_length, petal_width])
  FROM public.iris i ORDER BY i::text;
SELECT 'linear row', pgml.predict('up linear', d) FROM public.diabetes d ORDER BY d::text;
SELECT 'random_forest row', pgml.predict('up random_forest', i) FROM public.iris i ORDER BY i::text;
SELECT 'kmeans row', pgml.predict('up kmeans', m) FROM public.iris_measurements m ORDER BY m::text;
SELECT 'snapshot row', pgml.predict('up snapshot', d) FROM public.diabetes d ORDER BY d::text;
