-- wrk script: MLflow runs/create. Usage: EXPERIMENT_ID=<id> TOKEN=<token> wrk … -s this http://HOST
local body = '{"experiment_id":"' .. os.getenv("EXPERIMENT_ID") .. '","start_time":1700000000000}'
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.path = "/api/2.0/mlflow/runs/create"
