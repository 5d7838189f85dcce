-- wrk script: MLflow log-batch with 100 metrics per request (keys m0..m99, a fresh step each time).
-- Usage: RUN_ID=<run> TOKEN=<token> wrk -t2 -c8 -d20s -s scripts/bench/mlflow-log-batch.lua http://HOST
local run_id = os.getenv("RUN_ID")
local token = os.getenv("TOKEN")
local counter = 0
request = function()
  counter = counter + 1
  local parts = {}
  for i = 0, 99 do
    parts[#parts + 1] = string.format('{"key":"m%d","value":%f,"timestamp":1700000000000,"step":%d}', i, counter * 0.001 + i, counter)
  end
  local body = '{"run_id":"' .. run_id .. '","metrics":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format("POST", "/api/2.0/mlflow/runs/log-batch",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
end
