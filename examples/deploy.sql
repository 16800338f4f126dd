-- Deployments: strategies, and transactional visibility across sessions.
CREATE EXTENSION IF NOT EXISTS pgml;
-- The \! lines run a second psql session against the same database.
\setenv PGDATABASE :DBNAME
\setenv PGHOST :HOST
\setenv PGPORT :PORT
\setenv PGUSER :USER

CREATE TABLE line AS SELECT i::real AS x, (3 * i + 1)::real AS y FROM generate_series(1, 100) i;
SELECT project, task, algorithm, deployed FROM pgml.train('line', 'regression', 'line', 'y', 'linear');
-- XGBoost scores lower on a straight line, so it is kept but not deployed.
SELECT project, task, algorithm, deployed FROM pgml.train('line', algorithm => 'xgboost', hyperparams => '{"n_estimators": 5}');
SELECT round(pgml.predict('line', ARRAY[1000])) AS linear_prediction;

-- Another session deploys the XGBoost model: this session's next predict sees it.
\! psql -X -q -c "SELECT * FROM pgml.deploy('line', 'most_recent')" > /dev/null
SELECT pgml.predict('line', ARRAY[1000]) < 400 AS now_xgboost;

-- Another session deploys the linear model but rolls back: nobody sees it.
\! psql -X -q -c "BEGIN; SELECT * FROM pgml.deploy('line', 'best_score'); ROLLBACK;" > /dev/null
SELECT pgml.predict('line', ARRAY[1000]) < 400 AS still_xgboost;

-- Strategies, in this session.
SELECT * FROM pgml.deploy('line', 'best_score');
SELECT round(pgml.predict('line', ARRAY[1000])) AS linear_again;
SELECT * FROM pgml.deploy('line', 'rollback');
SELECT * FROM pgml.deploy('line', 'best_score', algorithm => 'linear');
SELECT strategy FROM pgml.deploy((SELECT min(id) FROM pgml.models WHERE project_id = (SELECT id FROM pgml.projects WHERE name = 'line')));
SELECT strategy, algorithm FROM pgml.deployed_models WHERE name = 'line';
