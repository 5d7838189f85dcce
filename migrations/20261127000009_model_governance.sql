-- Governance of registered models: a review state per version (pending → approved / rejected,
-- by a project admin, with a comment), an option that only approved versions may be deployed,
-- and a model card (markdown).
ALTER TABLE model_versions
    ADD COLUMN approval TEXT NOT NULL DEFAULT 'pending' CHECK (approval IN ('pending', 'approved', 'rejected')),
    ADD COLUMN approval_comment TEXT NOT NULL DEFAULT '',
    ADD COLUMN reviewed_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    ADD COLUMN reviewed_at TIMESTAMPTZ;
ALTER TABLE registered_models
    ADD COLUMN require_approval BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN card TEXT NOT NULL DEFAULT '';
