-- Who did something, and in which project, is a record of what happened, kept as it was written:
-- the audit log's user and project and a run's creator are no longer foreign keys. Each such key
-- cost every audited change and every new run a lookup that also locked the user's or the
-- project's row (one row locked by every concurrent writer: shared row locks, written to the WAL).
-- The application never deletes users or projects; when an operator does, these references are
-- cleared as the foreign keys' ON DELETE SET NULL did, by the triggers below.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_user_id_fkey, DROP CONSTRAINT audit_log_project_id_fkey;
ALTER TABLE runs DROP CONSTRAINT runs_user_id_fkey;

CREATE FUNCTION trellis_forget_deleted_users() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_log SET user_id = NULL WHERE user_id IN (SELECT id FROM gone);
    UPDATE runs SET user_id = NULL WHERE user_id IN (SELECT id FROM gone);
    RETURN NULL;
END;
$$;
CREATE TRIGGER users_forgotten AFTER DELETE ON users REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_forget_deleted_users();

CREATE FUNCTION trellis_forget_deleted_projects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE audit_log SET project_id = NULL WHERE project_id IN (SELECT id FROM gone);
    RETURN NULL;
END;
$$;
CREATE TRIGGER projects_forgotten AFTER DELETE ON projects REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_forget_deleted_projects();

-- The audit log's newest-first reads (`ORDER BY id DESC`) scan the primary key backwards; a
-- second index on `id DESC` only cost every audited change one more index entry.
DROP INDEX audit_log_at_idx;
