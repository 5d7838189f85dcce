#!/usr/bin/env bash
# The same MLflow requests, with the same load tool, against a tracking server: log-batch
# (100 metrics per request), runs/create, and runs/search with a metric filter and order over
# 2,000 runs. Run it against Trellis and against `mlflow server` on the same PostgreSQL.
# Usage: scripts/bench/mlflow_side_by_side.sh URL [TOKEN]   (needs wrk, curl and python3)
set -euo pipefail
url="${1:?server URL}"
token="${2:-none}"
here="$(cd "$(dirname "$0")" && pwd)"
python="${TRELLIS_TEST_PYTHON:-python3}"
auth=(-H "Authorization: Bearer $token")
post() { curl -sf "${auth[@]}" -H 'Content-Type: application/json' -d "$2" "$url/api/2.0/mlflow/$1"; }
field() { "$python" -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }
rate() { grep -E '^Requests/sec' | awk '{print $2}'; }

stamp="$(date +%s)"
exp="$(post experiments/create "{\"name\": \"bench-$stamp\"}" | field "['experiment_id']")"
run="$(post runs/create "{\"experiment_id\": \"$exp\", \"start_time\": 0}" | field "['run']['info']['run_id']")"

lb="$(RUN_ID=$run TOKEN=$token wrk -t2 -c8 -d15s -s "$here/mlflow-log-batch.lua" "$url" | rate)"
echo "log-batch: $lb req/s = $(awk "BEGIN {print int($lb * 100)}") metric rows/s"
cr="$(EXPERIMENT_ID=$exp TOKEN=$token wrk -t2 -c8 -d10s -s "$here/mlflow-create-run.lua" "$url" | rate)"
echo "runs/create: $cr req/s"

# 2,000 runs, each with metric m1, in a fresh experiment.
sexp="$(post experiments/create "{\"name\": \"search-$stamp\"}" | field "['experiment_id']")"
"$python" - "$url" "$token" "$sexp" <<'PY'
import json, sys, urllib.request
url, token, exp = sys.argv[1:]
def post(path, body):
    req = urllib.request.Request(f"{url}/api/2.0/mlflow/{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    return json.load(urllib.request.urlopen(req))
for i in range(2000):
    run = post("runs/create", {"experiment_id": exp, "start_time": i})["run"]["info"]["run_id"]
    post("runs/log-batch", {"run_id": run, "metrics": [{"key": "m1", "value": i % 97, "timestamp": i, "step": 0}],
                            "params": [{"key": "p", "value": str(i % 5)}]})
PY
se="$(EXPERIMENT_ID=$sexp TOKEN=$token wrk -t2 -c8 -d10s -s "$here/mlflow-search-runs.lua" "$url" | rate)"
echo "runs/search over 2,000 runs: $se req/s"
