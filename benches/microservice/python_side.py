"""The Python side's offline steps.

    python python_side.py model CSV MODEL.json    train the service's model (25 trees)
    python python_side.py store CSV REDIS_PORT    fill the Redis feature store
    python python_side.py train CSV               read_csv + fit, as the training-memory test:
                                                  prints {"seconds", "peak_rss_mib", "rows"}
    python python_side.py train-lean CSV          the same, float32 columns and no filter
"""
import json
import resource
import sys
import time

import pandas as pd
import xgboost as xgb

from common import FEATURES, LABEL


def fit(csv: str, lean: bool = False) -> tuple[xgb.Booster, int]:
    # What a Python user writes: the CSV into a DataFrame, the labelled rows into XGBoost
    # with its defaults (hist, all cores) and 25 trees, as pgml.train is given. A
    # QuantileDMatrix (what XGBoost's scikit-learn interface builds for hist) is the
    # lightest way in: it bins the DataFrame without a full copy of its own.
    # `lean`: what a user counting bytes writes for a file known to hold only labelled rows:
    # float32 columns, and no filter (a boolean mask copies the whole frame).
    if lean:
        flights = pd.read_csv(csv, usecols=FEATURES + [LABEL], dtype="float32")
    else:
        flights = pd.read_csv(csv, usecols=FEATURES + [LABEL])
        flights = flights[flights[LABEL].notna()]
    data = xgb.QuantileDMatrix(flights[FEATURES], flights[LABEL])
    booster = xgb.train({"objective": "reg:squarederror"}, data, num_boost_round=25)
    return booster, len(flights)


def main() -> None:
    step, csv = sys.argv[1], sys.argv[2]
    if step == "model":
        model, rows = fit(csv)
        model.save_model(sys.argv[3])
        print(f"XGBoost, 25 trees, trained on {rows} flights -> {sys.argv[3]}")
    elif step == "store":
        import redis
        store = redis.Redis(host="127.0.0.1", port=int(sys.argv[3]))
        flights = pd.read_csv(csv, usecols=["key"] + FEATURES)
        pipe = store.pipeline(transaction=False)
        for i, row in enumerate(flights.itertuples(index=False)):
            # A JSON list in the model's feature order, as the seed's store held them.
            pipe.set(f"flight:{row.key}", json.dumps([getattr(row, f) for f in FEATURES]))
            if i % 10000 == 9999:
                pipe.execute()
        pipe.execute()
        print(f"{len(flights)} flights in Redis as JSON")
    elif step in ("train", "train-lean"):
        start = time.monotonic()
        _, rows = fit(csv, lean=step == "train-lean")
        seconds = time.monotonic() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mib": round(peak), "rows": rows}))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
