-- benches/vectors: the seed's dot-product benchmark. Random float4[128] rows, a random query
-- vector, and the dot product written five ways. psql -v rows=N
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgml;
CREATE EXTENSION IF NOT EXISTS plpython3u;
DROP TABLE IF EXISTS bench_vectors;
CREATE TABLE bench_vectors AS
SELECT i AS id, ARRAY(SELECT random()::real FROM generate_series(1, 128) WHERE i > 0) AS v
  FROM generate_series(1, :rows) i;
VACUUM ANALYZE bench_vectors;
DROP TABLE IF EXISTS bench_query;
CREATE TABLE bench_query AS SELECT ARRAY(SELECT random()::real FROM generate_series(1, 128)) AS q;
-- Analyzed, so the planner knows it is one row (unanalyzed it guesses 1,360 and the join's
-- cost crosses jit_above_cost).
ANALYZE bench_query;

-- (1) SQL
CREATE OR REPLACE FUNCTION dot_sql(a real[], b real[]) RETURNS real LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT sum(x * y) FROM unnest(a, b) AS t(x, y) $$;
-- (2) PL/pgSQL
CREATE OR REPLACE FUNCTION dot_plpgsql(a real[], b real[]) RETURNS real LANGUAGE plpgsql IMMUTABLE STRICT AS
$$ DECLARE s real := 0; BEGIN
     FOR i IN 1 .. array_length(a, 1) LOOP s := s + a[i] * b[i]; END LOOP;
     RETURN s;
   END $$;
-- (3) PL/Python
CREATE OR REPLACE FUNCTION dot_plpython(a real[], b real[]) RETURNS real LANGUAGE plpython3u IMMUTABLE STRICT AS
$$ return sum(x * y for x, y in zip(a, b)) $$;
-- (4) NumPy inside PL/Python
CREATE OR REPLACE FUNCTION dot_numpy(a real[], b real[]) RETURNS real LANGUAGE plpython3u IMMUTABLE STRICT AS
$$
import numpy
return float(numpy.dot(numpy.asarray(a, dtype=numpy.float32), numpy.asarray(b, dtype=numpy.float32)))
$$;
