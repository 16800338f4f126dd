"""Names both Python programs of benches/microservice share."""
FEATURES = ["month", "day", "hour", "minute", "sched_dep_time", "sched_arr_time",
            "distance", "carrier", "origin", "dest"]
LABEL = "dep_delay"
