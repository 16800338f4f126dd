"""The Python microservice, as the seed built it: Flask behind Gunicorn, each flight's
features in a Redis feature store as a JSON list, XGBoost.
POST /predict {"key": K} -> {"key": K, "dep_delay": y}.

Environment: MODEL (an XGBoost JSON model), REDIS_PORT, and PREDICT:
  seed     (default) the seed's call: XGBRegressor.predict on a list of one row
  inplace  the fastest single-row call XGBoost has: Booster.inplace_predict on a float32
           array, one thread per call (the workers' threads are the parallelism)
"""
import json
import os

import numpy as np
import redis
import xgboost as xgb
from flask import Flask, jsonify, request

store = redis.Redis(host="127.0.0.1", port=int(os.environ["REDIS_PORT"]))
if os.environ.get("PREDICT", "seed") == "seed":
    model = xgb.XGBRegressor()
    model.load_model(os.environ["MODEL"])

    def score(features: list) -> float:
        return float(model.predict([features])[0])
else:
    booster = xgb.Booster(model_file=os.environ["MODEL"])
    booster.set_param({"nthread": 1})

    def score(features: list) -> float:
        return float(booster.inplace_predict(np.array([features], dtype=np.float32))[0])

app = Flask(__name__)


@app.post("/predict")
def predict():
    key = request.get_json()["key"]
    raw = store.get(f"flight:{key}")
    if raw is None:
        return jsonify({"error": f"no flight {key}"}), 404
    return jsonify({"key": key, "dep_delay": score(json.loads(raw))})
