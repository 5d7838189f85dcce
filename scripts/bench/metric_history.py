"""Metric history benchmark: logs N points of one metric to a run (log-batch, 1,000 per
request), then reads the whole history back the way the mlflow client pages it (25,000 per
request, following next_page_token), and times the reading: HTTP only, HTTP + JSON parsing, and
the official client's get_metric_history (which also builds a Python object per point).

Usage: python metric_history.py URL TOKEN [N [RUN_ID [READS]]]   (TOKEN may be "" for a server
without auth). With RUN_ID, reads that run's N-point history READS times (default 3) over HTTP
only, without logging: for comparing server builds on the same data.
Needs `requests`; the last measurement also needs `mlflow`."""
import json
import sys
import time

import requests

url, token = sys.argv[1].rstrip("/"), sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
s = requests.Session()
if token:
    s.headers["Authorization"] = f"Bearer {token}"


def call(method, path, **kw):
    r = s.request(method, f"{url}/api/2.0/mlflow/{path}", **kw)
    r.raise_for_status()
    return r


run = sys.argv[4] if len(sys.argv) > 4 else None
reads = int(sys.argv[5]) if len(sys.argv) > 5 else 3
if run is None:
    name = f"history-{int(time.time())}"
    exp = call("POST", "experiments/create", json={"name": name}).json()["experiment_id"]
    run = call("POST", "runs/create", json={"experiment_id": exp, "start_time": 0}).json()["run"]["info"]["run_id"]
    t0 = time.time()
    for start in range(0, n, 1000):
        metrics = [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 1_700_000_000_000 + i, "step": i} for i in range(start, min(n, start + 1000))]
        call("POST", "runs/log-batch", json={"run_id": run, "metrics": metrics})
    print(f"logged {n} points to run {run} in {time.time() - t0:.1f} s")


def read_all(parse):
    got, token_ = 0, None
    while True:
        params = {"run_id": run, "metric_key": "loss", "max_results": 25000}
        if token_:
            params["page_token"] = token_
        body = call("GET", "metrics/get-history", params=params).content
        if parse:
            page = json.loads(body)
            got += len(page.get("metrics", []))
            token_ = page.get("next_page_token")
        else:
            # Only the token, found without parsing the page.
            i = body.rfind(b'"next_page_token":"')
            token_ = body[i + 19:body.index(b'"', i + 19)].decode() if i >= 0 else None
            got += body.count(b'"step"')
        if not token_:
            return got


for parse in (False,) if len(sys.argv) > 4 else (False, True):
    times = []
    for _ in range(reads):
        t0 = time.time()
        got = read_all(parse)
        times.append(time.time() - t0)
    assert got == n, (got, n)
    print(f"read {got} points {'with' if parse else 'without'} JSON parsing: best {min(times):.3f} s, median {sorted(times)[len(times) // 2]:.3f} s")

if len(sys.argv) > 4:
    sys.exit(0)
try:
    import os

    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_TRACKING_URI"] = url
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    t0 = time.time()
    h = MlflowClient().get_metric_history(run, "loss")
    print(f"mlflow client get_metric_history: {len(h)} points in {time.time() - t0:.3f} s")
except ImportError:
    pass
