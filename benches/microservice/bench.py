"""The measurements of benches/microservice (run.sh starts the services and calls this).

    python bench.py serve RESULTS.json    the client sweep, both sides side by side
    python bench.py train RESULTS.json    training time and peak memory on scaled data

Settings come from the environment run.sh exports (ports, pid files, seconds, scale).
Results are merged into RESULTS.json, which report.py turns into REPORT.md and plots.
"""
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ENV = os.environ
HERE = Path(__file__).resolve().parent
PGBIN = ENV.get("PGBIN", "/usr/lib/postgresql/15/bin")
PG_PORT = ENV.get("PG_PORT", "5433")
BOUNCER_PORT = ENV.get("BOUNCER_PORT", "6440")
SECONDS = int(ENV.get("SECONDS_PER_POINT", "10"))
CLIENTS = [int(c) for c in ENV.get("CLIENTS", "1,2,4,8,16,32,64,100").split(",")]
# Postgres serves at most max_connections - superuser_reserved_connections (100 - 3 by
# default) direct clients: the 100-client point is PgBouncer's alone.
DIRECT_MAX = int(ENV.get("DIRECT_MAX", "64"))
BOUNCER_FROM = int(ENV.get("BOUNCER_FROM", "16"))


# ---------------------------------------------------------------------------- processes

def children(pid: int) -> list[int]:
    """pid and all its descendants."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def pss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # a process that ended between listing and reading
        total += int(re.search(r"^Pss:\s+(\d+) kB", text, re.M).group(1))
    return total


def pid_from(path: str) -> int:
    return int(Path(path).read_text().split()[0])


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def is_client_backend(pid: int) -> bool:
    """A Postgres backend serving a client over TCP ("postgres: user db 127.0.0.1(port) ...")."""
    try:
        return "127.0.0.1(" in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


class Side:
    """One serving stack: the processes whose memory is its footprint."""

    def __init__(self, name: str, roots: list[str]):
        self.name, self.roots = name, roots

    def pids(self) -> list[int]:
        return [p for root in self.roots for p in children(pid_from(root))]

    def serving_pids(self) -> list[int]:
        """The issue's narrower count: the processes that answer requests (Postgres's client
        backends, Gunicorn's workers; PgBouncer and Redis are one process each)."""
        pids = self.pids()
        if self.name == "postgres":
            return [p for p in pids if is_client_backend(p)]
        if self.name.startswith("python"):
            return pids[1:]  # the workers, without the master (the arbiter)
        return pids


def sample_during(seconds: float, sample) -> dict:
    """Runs sample() in the middle of a load of `seconds` (the load runs in the caller)."""
    box: dict = {}

    def worker() -> None:
        time.sleep(seconds / 2)
        box.update(sample())

    t = threading.Thread(target=worker)
    t.start()
    return {"thread": t, "box": box}


# ---------------------------------------------------------------------------- load

def run_wrk(url: str, clients: int, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t", str(min(clients, 2)), "-c", str(clients), "-d", f"{seconds}s",
         "--latency", "-s", str(HERE / "predict.lua"), url],
        capture_output=True, text=True, check=True).stdout

    def ms(text: str) -> float:
        value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "tps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "mean_ms": ms(re.search(r"Latency\s+(\S+)", out).group(1)),
        "p99_ms": ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "failed": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }


def run_pgbench(port: str, script: str, protocol: str, clients: int, seconds: int) -> dict:
    with tempfile.TemporaryDirectory() as logs:
        out = subprocess.run(
            [f"{PGBIN}/pgbench", "-n", "-h", "127.0.0.1", "-p", port, "-U", "pgml",
             "-M", protocol, "-c", str(clients), "-j", str(min(clients, 2)),
             "-T", str(seconds), "-f", str(HERE / script),
             "-l", "--log-prefix", f"{logs}/tx", "pgml"],
            capture_output=True, text=True, check=True).stdout
        # One line per transaction: client, number, latency in microseconds, ...
        latencies = sorted(int(line.split()[2]) for log in Path(logs).iterdir()
                           for line in log.read_text().splitlines())
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {
        "tps": float(re.search(r"^tps = ([\d.]+)", out, re.M).group(1)),
        "mean_ms": statistics.fmean(latencies) / 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] / 1000,
        "failed": int(failed.group(1)) if failed else 0,
    }


def gunicorn_spread(port: str, workers: list[int]) -> dict:
    """Which worker holds each keep-alive connection (a worker accept()s a connection and
    keeps it: all of them can land on one)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    held = {w: 0 for w in workers}
    for pid in re.findall(r"pid=(\d+)", out):
        if int(pid) in held:
            held[int(pid)] += 1
    return {"connections_per_worker": sorted(held.values(), reverse=True)}


# ---------------------------------------------------------------------------- sweep

def serve(results: dict) -> None:
    postgres = Side("postgres", [ENV["POSTMASTER_PID"]])
    bouncer = Side("pgbouncer", [ENV["BOUNCER_PID"]])
    redis = Side("redis", [ENV["REDIS_PID"]])
    services = {  # name: (gunicorn pid file, port)
        "python": (ENV["SERVICE_PIDFILE"], ENV["SERVICE_PORT"]),
        "python inplace": (ENV["SERVICE_INPLACE_PIDFILE"], ENV["SERVICE_INPLACE_PORT"]),
    }
    # Warm both sides first: the Python workers import lazily on their first requests, and
    # each new Postgres backend loads the model once (what FIRST_PREDICT.md measures).
    for name, (pidfile, port) in services.items():
        run_wrk(f"http://127.0.0.1:{port}", 2, 2)
    run_pgbench(PG_PORT, "predict.sql", "prepared", 2, 1)
    points = []
    for clients in CLIENTS:
        for name, (pidfile, port) in services.items():
            gunicorn = Side(name, [pidfile])
            workers = gunicorn.pids()[1:]
            ticks = {w: cpu_ticks(w) for w in workers}
            s = sample_during(SECONDS, lambda: {
                "pss_kib": pss_kib(gunicorn.pids() + redis.pids()),
                "serving_pss_kib": pss_kib(gunicorn.serving_pids() + redis.pids()),
                "pss_parts_kib": {"gunicorn": pss_kib(gunicorn.pids()),
                                  "redis": pss_kib(redis.pids())},
                **gunicorn_spread(port, workers)})
            r = run_wrk(f"http://127.0.0.1:{port}", clients, SECONDS)
            s["thread"].join()
            busy = sorted((cpu_ticks(w) - ticks[w] for w in workers), reverse=True)
            r["worker_cpu_share"] = [round(b / max(1, sum(busy)), 2) for b in busy]
            points.append({"side": name, "clients": clients, **r, **s["box"]})
            report(points[-1])
        runs = []
        if clients <= DIRECT_MAX:
            runs.append(("pgml direct", PG_PORT, "predict.sql", "prepared", [postgres]))
            runs.append(("postgres lookup, no ML", PG_PORT, "lookup.sql", "prepared", [postgres]))
        if clients >= BOUNCER_FROM:
            # PgBouncer 1.18 (Debian 12) cannot keep prepared statements in transaction
            # pooling: the pooled runs use the simple protocol.
            runs.append(("pgml pgbouncer", BOUNCER_PORT, "predict.sql", "simple", [postgres, bouncer]))
        for name, port, script, protocol, sides in runs:
            s = sample_during(SECONDS, lambda: {
                "pss_kib": pss_kib([p for side in sides for p in side.pids()]),
                "serving_pss_kib": pss_kib([p for side in sides for p in side.serving_pids()]),
                "pss_parts_kib": {side.name: pss_kib(side.pids()) for side in sides}})
            r = run_pgbench(port, script, protocol, clients, SECONDS)
            s["thread"].join()
            points.append({"side": name, "clients": clients, "protocol": protocol, **r, **s["box"]})
            report(points[-1])
    results["machine"] = json.loads(Path(ENV["MACHINE_JSON"]).read_text())
    results["serve"] = {"seconds_per_point": SECONDS, "points": points}


def report(point: dict) -> None:
    print(f"{point['side']:>24} {point['clients']:>4} clients: {point['tps']:>9.0f} tps, "
          f"mean {point['mean_ms']:.3f} ms, p99 {point['p99_ms']:.3f} ms, "
          f"PSS {point['pss_kib'] / 1024:.0f} MiB, failed {point['failed']}", flush=True)


# ---------------------------------------------------------------------------- training

def psql(sql: str) -> str:
    return subprocess.run(
        [f"{PGBIN}/psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", PG_PORT, "-U", "pgml",
         "-d", "pgml", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True, check=True).stdout.strip()


def train(results: dict) -> None:
    scale = int(ENV.get("SCALE", "80"))
    csv = Path(ENV["SCALED_CSV"])
    # The same labelled rows on both sides, `scale` times over: a CSV for pandas, a table
    # for pgml.
    lines = Path(ENV["FLIGHTS_CSV"]).read_text().splitlines(keepends=True)
    labelled = [line for line in lines[1:] if not line.rstrip("\n").endswith(",")]
    with csv.open("w") as f:
        f.write(lines[0])
        for _ in range(scale):
            f.writelines(labelled)
    rows = len(labelled) * scale
    psql(f"""DROP TABLE IF EXISTS flights_scaled;
      CREATE UNLOGGED TABLE flights_scaled AS
      SELECT month, day, hour, minute, sched_dep_time, sched_arr_time, distance, carrier,
             origin, dest, dep_delay
        FROM flights, generate_series(1, {scale}) WHERE dep_delay IS NOT NULL""")
    psql("VACUUM ANALYZE flights_scaled")  # not in a transaction block: a call of its own
    features = 10
    matrix_mib = rows * features * 4 / 2**20

    start = time.monotonic()
    out = psql("""SET pgml.training_progress = off;
      DELETE FROM pgml.projects WHERE name = 'flights scaled';
      SELECT count(*) FROM pgml.train('flights scaled', 'regression', 'flights_scaled',
        'dep_delay', algorithm => 'xgboost', hyperparams => '{"n_estimators": 25}',
        test_size => 0.1);
      SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\\s+(\\d+)');""")
    pgml = {"seconds": round(time.monotonic() - start, 2),
            "peak_rss_mib": round(int(out.splitlines()[-1]) / 1024), "rows": rows}
    psql("DELETE FROM pgml.projects WHERE name = 'flights scaled'; DROP TABLE flights_scaled")

    python = {}
    for step in ("train", "train-lean"):
        out = subprocess.run([sys.executable, str(HERE / "python_side.py"), step, str(csv)],
                             capture_output=True, text=True, check=True).stdout
        python[step] = json.loads(out.splitlines()[-1])
    csv.unlink()
    results["train"] = {"scale": scale, "rows": rows, "features": features,
                        "matrix_f32_mib": round(matrix_mib), "matrix_f64_mib": round(matrix_mib * 2),
                        "pgml": pgml, "python": python["train"], "python_lean": python["train-lean"]}
    print(json.dumps(results["train"]), flush=True)


def main() -> None:
    step, path = sys.argv[1], Path(sys.argv[2])
    results = json.loads(path.read_text()) if path.exists() else {}
    {"serve": serve, "train": train}[step](results)
    path.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
