-- Runs searched by a metric's value (`metrics.loss < 0.5`, `order_by metrics.loss`): the latest
-- values of one key in value order.
CREATE INDEX run_latest_metrics_by_value ON run_latest_metrics (key, value);
