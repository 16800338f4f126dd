#!/usr/bin/env python3
"""pgml against scikit-learn / xgboost / lightgbm on the bundled datasets, same rows, same
split, same hyperparameters. Run through run.sh, which starts the demo cluster and the venv.

For each dataset the rows are shuffled once (seeded) and the last quarter is the test split:
Python slices it, and pgml trains on a table holding the rows in that order with
test_sampling => 'last' and test_size => the same row count, so both sides see exactly the
same training and test rows.

Timings, each side measured in its own process, with no network in between:
  fit     Python: estimator.fit; pgml: pgml.models.metrics->fit_time (the library's fit,
          after the snapshot is read; the snapshot's own cost is reported apart).
  batch   Python: estimator.predict(X_test); pgml: SELECT count(pgml.predict(p, ARRAY[...]))
          over a table of the test rows (one call per row, as queries do), and
          pgml.predict_batch on all test rows as one flattened array (one call).
  single  Python: estimator.predict on a one-row matrix; pgml: pgml.predict(p, real[]) from
          a PL/pgSQL loop (a cached plan; no client round trip on either side).
"""

import csv
import json
import os
import subprocess
import sys
import time

import numpy as np
import lightgbm
import sklearn
import xgboost
from sklearn import cluster, decomposition, ensemble, linear_model, naive_bayes, neighbors
from sklearn import metrics as skm
from sklearn import pipeline, preprocessing, svm, tree

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PSQL = [os.environ.get("PSQL", "psql"), "-X", "-q", "-At", "-h", "127.0.0.1",
        "-p", os.environ.get("PGML_PORT", "5433"), "-U", "pgml", "-d", "pgml",
        "-v", "ON_ERROR_STOP=1"]
SEED = 20261122
QUICK = os.environ.get("QUICK") == "1"
SINGLE_SECONDS = 0.2 if QUICK else 1.0


def sql(query):
    r = subprocess.run(PSQL + ["-c", query], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{query[:200]}\n{r.stderr}")
    return r.stdout.strip()


def load(name):
    with open(os.path.join(ROOT, "datasets", f"{name}.csv")) as f:
        rows = list(csv.reader(f))
    header, data = rows[0], np.array(rows[1:], dtype=np.float64)
    order = np.random.default_rng(SEED).permutation(len(data))
    return header, data[order]


# (algorithm, pgml hyperparams, Python estimator) per task. The estimators take the
# libraries' defaults where pgml does, and pgml's values where pgml's differ.
def logistic():
    # pgml's linear classifier is L2 logistic regression on standardized features, alpha 1.
    return pipeline.make_pipeline(preprocessing.StandardScaler(),
                                  linear_model.LogisticRegression(C=1.0, max_iter=100))


CLASSIFIERS = [
    ("linear", {}, logistic),
    ("xgboost", {"n_estimators": 100}, lambda: xgboost.XGBClassifier(n_estimators=100)),
    ("xgboost_random_forest", {"n_estimators": 100},
     lambda: xgboost.XGBRFClassifier(n_estimators=100)),
    ("lightgbm", {"n_estimators": 100},
     lambda: lightgbm.LGBMClassifier(n_estimators=100, verbose=-1)),
    ("random_forest", {"n_trees": 100, "seed": 1},
     lambda: ensemble.RandomForestClassifier(n_estimators=100, random_state=1)),
    ("decision_tree", {"seed": 1}, lambda: tree.DecisionTreeClassifier(random_state=1)),
    ("knn", {"k": 5}, lambda: neighbors.KNeighborsClassifier(5)),
    ("gaussian_naive_bayes", {}, naive_bayes.GaussianNB),
    ("svm", {"c": 1.0}, lambda: svm.SVC(C=1.0)),
]

REGRESSORS = [
    ("linear", {}, linear_model.LinearRegression),
    ("ridge", {"penalty": 1.0}, lambda: linear_model.Ridge(alpha=1.0)),
    ("lasso", {"penalty": 0.1}, lambda: linear_model.Lasso(alpha=0.1)),
    ("elastic_net", {"penalty": 0.1, "l1_ratio": 0.5},
     lambda: linear_model.ElasticNet(alpha=0.1, l1_ratio=0.5)),
    ("xgboost", {"n_estimators": 100}, lambda: xgboost.XGBRegressor(n_estimators=100)),
    ("xgboost_random_forest", {"n_estimators": 100},
     lambda: xgboost.XGBRFRegressor(n_estimators=100)),
    ("lightgbm", {"n_estimators": 100},
     lambda: lightgbm.LGBMRegressor(n_estimators=100, verbose=-1)),
    ("random_forest", {"n_trees": 100, "seed": 1},
     lambda: ensemble.RandomForestRegressor(n_estimators=100, random_state=1)),
    ("decision_tree", {"seed": 1}, lambda: tree.DecisionTreeRegressor(random_state=1)),
    ("knn", {"k": 5}, lambda: neighbors.KNeighborsRegressor(5)),
    ("svm", {"c": 1.0}, lambda: svm.SVR(C=1.0)),
]


class DbscanWithPredict:
    """scikit-learn's DBSCAN has no predict; pgml assigns a new row to the cluster of the
    nearest core point within eps, else noise (-1). The same rule here."""

    def __init__(self, eps, min_samples):
        self.model = cluster.DBSCAN(eps=eps, min_samples=min_samples)

    def fit(self, x, y=None):
        self.model.fit(x)
        core = self.model.core_sample_indices_
        self.core = x[core]
        self.labels = self.model.labels_[core]
        self.nn = neighbors.NearestNeighbors(n_neighbors=1).fit(self.core) if len(core) else None
        return self

    def predict(self, x):
        if self.nn is None:
            return np.full(len(x), -1)
        d, i = self.nn.kneighbors(x)
        return np.where(d[:, 0] <= self.model.eps, self.labels[i[:, 0]], -1)


CLUSTERERS = [
    ("kmeans", {"n_clusters": 3}, lambda: cluster.KMeans(n_clusters=3, n_init=10, random_state=1)),
    ("dbscan", {"min_points": 5, "tolerance": 0.5}, lambda: DbscanWithPredict(0.5, 5)),
]

DECOMPOSERS = [("pca", {"n_components": 10}, lambda: decomposition.PCA(n_components=10))]

PLAN = [
    # dataset, task, label column or None, algorithms
    ("iris", "classification", "target", CLASSIFIERS),
    ("breast_cancer", "classification", "target", CLASSIFIERS),
    ("digits", "classification", "target", CLASSIFIERS),
    ("diabetes", "regression", "target", REGRESSORS),
    ("iris", "clustering", None, CLUSTERERS),
    ("digits", "decomposition", None, DECOMPOSERS),
]

KEY = {"classification": "f1", "regression": "r2", "clustering": "silhouette",
       "decomposition": "cumulative_explained_variance"}


def python_metric(task, est, x_test, y_test, pred):
    if task == "classification":
        return skm.f1_score(y_test, pred, average="macro")
    if task == "regression":
        return skm.r2_score(y_test, pred)
    if task == "clustering":
        return skm.silhouette_score(x_test, pred) if len(set(pred)) > 1 else float("nan")
    return float(np.var(pred, axis=0).sum() / np.var(x_test, axis=0).sum())


def per_call(fn, seconds):
    """Mean seconds per call of fn over about `seconds` (at least 20 calls)."""
    fn()
    calls, start = 0, time.perf_counter()
    while calls < 20 or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def python_side(task, make, x_train, y_train, x_test, y_test):
    est = make()
    start = time.perf_counter()
    est.fit(x_train, y_train) if y_train is not None else est.fit(x_train)
    fit = time.perf_counter() - start
    infer = est.transform if task == "decomposition" else est.predict
    pred = infer(x_test)
    batch = float("inf")
    for _ in range(3):  # best of three, as on the pgml side
        start = time.perf_counter()
        infer(x_test)
        batch = min(batch, time.perf_counter() - start)
    one = x_test[:1]
    single = per_call(lambda: infer(one), SINGLE_SECONDS)
    return {"metric": python_metric(task, est, x_test, y_test, pred), "fit_s": fit,
            "batch_s": batch, "single_s": single}


def pgml_setup():
    sql("""CREATE EXTENSION IF NOT EXISTS pgml;
           CREATE SCHEMA IF NOT EXISTS bench;
           -- Seconds per call of f(project, x) over n calls, in one plan (no round trips).
           CREATE OR REPLACE FUNCTION bench.per_predict(p text, x real[], n int, decompose bool)
           RETURNS float8 LANGUAGE plpgsql AS $$
           DECLARE t0 timestamptz; v real; a real[];
           BEGIN
             IF decompose THEN a := pgml.decompose(p, x); ELSE v := pgml.predict(p, x); END IF;
             t0 := clock_timestamp();
             FOR i IN 1..n LOOP
               IF decompose THEN a := pgml.decompose(p, x); ELSE v := pgml.predict(p, x); END IF;
             END LOOP;
             RETURN extract(epoch FROM clock_timestamp() - t0) / n;
           END $$;
           -- Seconds of the best of three runs of q, after one that warms this session's
           -- model cache (each psql call is a new session).
           CREATE OR REPLACE FUNCTION bench.elapsed(q text) RETURNS float8 LANGUAGE plpgsql AS $$
           DECLARE t0 timestamptz; best float8 := 'Infinity';
           BEGIN
             EXECUTE q;
             FOR i IN 1..3 LOOP
               t0 := clock_timestamp();
               EXECUTE q;
               best := least(best, extract(epoch FROM clock_timestamp() - t0));
             END LOOP;
             RETURN best;
           END $$;""")


def pgml_tables(name, header, data, label, n_test):
    """The shuffled rows as a table (features, then the label if any), inserted in order so
    that test_sampling 'last' takes the same tail Python tests on; and the test rows'
    features as <table>_test, for batch prediction."""
    li = header.index("target")
    feats = [i for i in range(len(header)) if i != li]
    table = f"bench.{name}" if label else f"bench.{name}_features"
    train_cols = feats + [li] if label else feats

    def create(t, cols):
        return f"CREATE TABLE {t} ({', '.join(chr(34) + header[i] + chr(34) + ' real' for i in cols)});"

    sql(f"DROP TABLE IF EXISTS {table}, {table}_test; " + create(table, train_cols)
        + create(f"{table}_test", feats))
    for t, rows in [(table, data[:, train_cols]), (f"{table}_test", data[-n_test:, feats])]:
        path = f"/tmp/pgml-bench-{t}.csv"
        with open(path, "w") as f:
            csv.writer(f).writerows(rows.tolist())
        subprocess.run(PSQL + ["-c", f"\\copy {t} FROM '{path}' CSV"], check=True)
        os.remove(path)
    return table, [header[i] for i in feats]


def pgml_side(project, task, table, label, algorithm, params, n_test, features, x_one):
    y = f"'{label}'" if label else "NULL"
    sql(f"DELETE FROM pgml.projects WHERE name = '{project}'")
    start = time.perf_counter()
    sql(f"""SELECT * FROM pgml.train('{project}', '{task}', '{table}', {y}, '{algorithm}',
              '{json.dumps(params)}', test_size => {n_test}, test_sampling => 'last')""")
    train_wall = time.perf_counter() - start
    m = json.loads(sql(f"""SELECT m.metrics FROM pgml.models m JOIN pgml.projects p
                            ON p.id = m.project_id WHERE p.name = '{project}'"""))
    arr = "ARRAY[" + ", ".join(f'"{f}"' for f in features) + "]"
    fn = "pgml.decompose" if task == "decomposition" else "pgml.predict"
    batch = float(sql(f"""SELECT bench.elapsed($q$SELECT count({fn}('{project}', {arr}))
                           FROM {table}_test$q$)"""))
    # The whole test split in one call, as estimator.predict(X_test) does.
    one_call = None
    if task != "decomposition":
        sql(f"""DROP TABLE IF EXISTS bench.flat; CREATE TABLE bench.flat AS
                 SELECT array_agg(v) AS x FROM {table}_test t, unnest(ARRAY[{", ".join(f't."{f}"' for f in features)}]) v""")
        one_call = float(sql(f"""SELECT bench.elapsed($q$SELECT cardinality(
                               pgml.predict_batch('{project}', flat.x)) FROM bench.flat$q$)"""))
    one = "ARRAY[" + ", ".join(repr(float(v)) for v in x_one) + "]::real[]"
    n = 200 if QUICK else 2000
    single = float(sql(f"SELECT bench.per_predict('{project}', {one}, {n}, {task == 'decomposition'})"))
    return {"metric": m.get(KEY[task]), "fit_s": m["fit_time"], "train_wall_s": train_wall,
            "batch_s": batch, "batch_one_call_s": one_call, "single_s": single}


def main():
    pgml_setup()
    results = []
    for name, task, label, algorithms in PLAN:
        header, data = load(name)
        n_test = round(len(data) * 0.25)
        li = header.index("target")
        fcols = [i for i in range(len(header)) if i != li]
        x, yv = data[:, fcols], data[:, li]
        if task == "classification":
            yv = yv.astype(int)
        x_train, x_test = x[:-n_test], x[-n_test:]
        y_train, y_test = (yv[:-n_test], yv[-n_test:]) if label else (None, None)
        table, features = pgml_tables(name, header, data, label, n_test)
        for algorithm, params, make in algorithms:
            project = f"bench {name} {task} {algorithm}"
            print(f"{name:14} {task:14} {algorithm:22}", end=" ", flush=True)
            py = python_side(task, make, x_train, y_train, x_test, y_test)
            pg = pgml_side(project, task, table, label, algorithm, params, n_test, features,
                           x_test[0])
            print(f"metric pgml {pg['metric']!s:.6} python {py['metric']:.4f}  "
                  f"single pgml {pg['single_s'] * 1e6:.1f} us python {py['single_s'] * 1e6:.1f} us",
                  flush=True)
            results.append({"dataset": name, "task": task, "algorithm": algorithm,
                            "params": params, "metric_name": KEY[task], "pgml": pg, "python": py})
    versions = {"scikit-learn": sklearn.__version__, "xgboost": xgboost.__version__,
                "lightgbm": lightgbm.__version__, "numpy": np.__version__,
                "python": sys.version.split()[0], "pgml": sql("SELECT pgml.version()"),
                "postgres": sql("SHOW server_version")}
    # The bench's projects would otherwise show in the demo's overview.
    sql("DELETE FROM pgml.projects WHERE name LIKE 'bench %'")
    out = os.path.join(os.path.dirname(__file__), "results.json")
    with open(out, "w") as f:
        json.dump({"versions": versions, "quick": QUICK, "seed": SEED, "results": results}, f, indent=1)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
