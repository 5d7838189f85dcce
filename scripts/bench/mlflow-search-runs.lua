-- wrk script: MLflow runs/search with a metric filter and order.
-- Usage: EXPERIMENT_ID=<id> TOKEN=<token> wrk … -s this http://HOST
wrk.method = "POST"
wrk.body = '{"experiment_ids":["' .. os.getenv("EXPERIMENT_ID") .. '"],"filter":"metrics.m1 > 0","order_by":["metrics.m1 DESC"],"max_results":100}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.path = "/api/2.0/mlflow/runs/search"
