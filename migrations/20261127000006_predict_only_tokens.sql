-- Predict-only tokens (Vertex's "predict-only" role): a token that may only call prediction
-- routes (`:predict`, `:explain`, the Open Inference Protocol) on the listed endpoints of its
-- project, acting as the user who made it while that user may predict there.
ALTER TABLE api_tokens ADD COLUMN predict_endpoints BIGINT[];
