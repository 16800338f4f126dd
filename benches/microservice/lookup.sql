\set k random(1, 336776)
SELECT ARRAY[month, day, hour, minute, sched_dep_time, sched_arr_time, distance, carrier, origin, dest] FROM flights WHERE key = :k;
