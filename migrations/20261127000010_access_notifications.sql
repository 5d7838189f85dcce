-- Serving processes keep recent access decisions in memory (core::access_cache). Whatever may
-- take access away announces it on the `trellis_access` channel, so every process forgets them,
-- whichever process (or tool) made the change.

CREATE FUNCTION trellis_announce_access_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('trellis_access', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_access_change
    AFTER UPDATE OF revoked_at, expires_at, predict_endpoints, project_id, user_id, token_hash OR DELETE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_announce_access_change();

CREATE TRIGGER users_access_change
    AFTER UPDATE OF disabled, is_instance_admin, email OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_announce_access_change();

CREATE TRIGGER project_members_access_change
    AFTER UPDATE OR DELETE ON project_members
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_announce_access_change();

CREATE TRIGGER projects_access_change
    AFTER UPDATE OF slug OR DELETE ON projects
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_announce_access_change();

CREATE TRIGGER endpoints_access_change
    AFTER UPDATE OF name, project_id OR DELETE ON endpoints
    FOR EACH STATEMENT EXECUTE FUNCTION trellis_announce_access_change();
