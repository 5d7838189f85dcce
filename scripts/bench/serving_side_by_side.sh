#!/usr/bin/env bash
# The same Open Inference Protocol request (one row of 20 features through a 100-tree
# GradientBoostingClassifier), with the same load tool, against Trellis (the model exported to
# ONNX) and against MLServer (the scikit-learn model), at concurrency 1 and 16.
# Usage: scripts/bench/serving_side_by_side.sh TRELLIS_URL TOKEN [MLSERVER_URL]
#   TRELLIS_URL, TOKEN: a running Trellis and an API token of an editor of project "bench".
#   MLSERVER_URL: a running `mlserver start DIR/mlserver` (DIR from the first step, printed).
# Needs wrk, curl and a Python with scikit-learn, skl2onnx and joblib (TRELLIS_TEST_PYTHON).
set -euo pipefail
url="${1:?Trellis URL}"
token="${2:?token}"
mlserver="${3:-}"
here="$(cd "$(dirname "$0")" && pwd)"
python="${TRELLIS_TEST_PYTHON:-python3}"
dir="${BENCH_DIR:-$(mktemp -d)}"
echo "model files in $dir"
"$python" "$here/serving_model.py" "$dir"

# Register the ONNX model in Trellis: a run with the file as model/model.onnx, a version, an endpoint.
"$python" - "$url" "$token" "$dir" <<'PY'
import json, sys, time, urllib.request
url, token, d = sys.argv[1:]
def call(method, path, body=None, raw=None, ctype="application/json"):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url + path, data, {"Content-Type": ctype, "Authorization": f"Bearer {token}"}, method=method)
    with urllib.request.urlopen(req) as r:
        text = r.read()
        return json.loads(text) if text else {}
stamp = str(int(time.time()))
exp = call("POST", "/api/2.0/mlflow/experiments/create", {"name": f"bench/serving-{stamp}"})["experiment_id"]
run = call("POST", "/api/2.0/mlflow/runs/create", {"experiment_id": exp})["run"]["info"]["run_id"]
call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/model/model.onnx", raw=open(f"{d}/model.onnx", "rb").read(), ctype="application/octet-stream")
call("POST", "/api/2.0/mlflow/registered-models/create", {"name": f"bench.gbc-{stamp}"})
call("POST", "/api/2.0/mlflow/model-versions/create", {"name": f"bench.gbc-{stamp}", "source": f"runs:/{run}/model", "run_id": run})
call("POST", "/v1/projects/bench/endpoints", {"name": f"gbc-{stamp}"})
call("POST", f"/v1/projects/bench/endpoints/gbc-{stamp}:deploy", {"model": f"gbc-{stamp}", "version": 1})
open(f"{d}/endpoint", "w").write(f"bench.gbc-{stamp}")
PY
name="$(cat "$dir/endpoint")"
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d @"$dir/request.json" "$url/v2/models/$name/infer"
echo
summary() { awk '/Latency Distribution/ {d=1} d && /50%/ {p50=$2} /^Requests\/sec/ {rps=$2} END {print rps " req/s, p50 " p50}'; }
for c in 1 16; do
  t=$(( c < 2 ? 1 : 2 ))
  echo "Trellis  c=$c: $(MODEL=$name BODY_FILE=$dir/request.json TOKEN=$token wrk --latency -t$t -c$c -d15s -s "$here/oip-infer.lua" "$url" | summary)"
  if [ -n "$mlserver" ]; then
    echo "MLServer c=$c: $(MODEL=gbc BODY_FILE=$dir/request.json TOKEN=none wrk --latency -t$t -c$c -d15s -s "$here/oip-infer.lua" "$mlserver" | summary)"
  fi
done
