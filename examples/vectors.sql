-- Vector math on real[] and double precision[]: embeddings and feature engineering in SQL.
CREATE EXTENSION IF NOT EXISTS pgml;
CREATE TABLE embeddings (id int PRIMARY KEY, v real[]);
INSERT INTO embeddings VALUES
    (1, ARRAY[1, 0, 0]), (2, ARRAY[0.6, 0.8, 0]), (3, ARRAY[0, 0, 2]), (4, ARRAY[-1, 0.1, 0]);

-- Nearest neighbours of a query vector, three ways.
SELECT id,
       pgml.dot_product(v, ARRAY[1, 0.5, 0]::real[])       AS dot,
       pgml.cosine_similarity(v, ARRAY[1, 0.5, 0]::real[]) AS cosine,
       pgml.distance_l2(v, ARRAY[1, 0.5, 0]::real[])       AS euclidean
  FROM embeddings ORDER BY cosine DESC;

-- Norms and normalization (a zero vector stays as it is).
SELECT id, pgml.norm_l1(v) AS l1, pgml.norm_l2(v) AS l2, pgml.norm_max(v) AS max,
       pgml.norm_l0(v) AS nonzero, pgml.normalize_l2(v) AS unit
  FROM embeddings ORDER BY id;
SELECT pgml.normalize_l2(ARRAY[0, 0]::real[]) AS zero_stays_zero;

-- Element-wise arithmetic, with another array or a scalar; double precision works the same.
SELECT pgml.add(ARRAY[1, 2, 3]::real[], ARRAY[10, 20, 30]::real[])      AS add,
       pgml.subtract(ARRAY[1, 2, 3]::real[], 1)                          AS subtract_scalar,
       pgml.multiply(ARRAY[1, 2, 3]::float8[], ARRAY[2, 2, 2]::float8[]) AS multiply,
       pgml.divide(ARRAY[1, 2, 3]::float8[], 4)                          AS divide_scalar;

-- Element-wise aggregates: the centroid of a set of embeddings, and its bounding box.
SELECT pgml.avg(v) AS centroid, pgml.min(v) AS lower, pgml.max(v) AS upper, pgml.sum(v) AS total
  FROM embeddings;

-- Bad input is an ERROR naming the value, with a HINT (SQLSTATEs in the README), never a wrong answer.
SELECT pgml.dot_product(ARRAY[1, 2]::real[], ARRAY[1, 2, 3]::real[]);
SELECT pgml.norm_l2(ARRAY[1, NULL, 3]::real[]);
SELECT pgml.divide(ARRAY[1, 2]::real[], 0);
DROP TABLE embeddings;
