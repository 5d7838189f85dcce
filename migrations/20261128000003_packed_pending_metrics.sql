-- Pending metric values packed into one `bytea` per row instead of four arrays.
--
-- Each value, one after another: the key's length in bytes (one byte; keys are at most 250
-- bytes), the key in UTF-8, then the value, the timestamp and the step, 8 bytes each, big-endian
-- (as `float8send` and `int8send` write them). PostgreSQL takes such a row without parsing an
-- array element by element, and hands it back to the fold the same way. The writer cuts a write
-- into rows of at most 8,000 bytes of values, which stay in the table's pages (the table's
-- `toast_tuple_target`) instead of going out of line into its TOAST table.

-- Packs values the way the server does (for converting the rows below, and for inspection).
CREATE FUNCTION metric_values_packed(keys text[], vals float8[], timestamps int8[], steps int8[]) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(string_agg(set_byte('\x00'::bytea, 0, octet_length(k)) || convert_to(k, 'UTF8')
                               || float8send(v) || int8send(t) || int8send(s), ''::bytea ORDER BY n), ''::bytea)
      FROM unnest(keys, vals, timestamps, steps) WITH ORDINALITY AS u(k, v, t, s, n)
$$;

-- The values of a packed row, in order (for the view below; the server unpacks rows itself).
CREATE FUNCTION metric_values_unpacked(packed bytea) RETURNS TABLE (key text, value float8, "timestamp" int8, step int8)
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    i int := 0;
    len int;
    bits int8;
    exponent int;
    fraction float8;
BEGIN
    WHILE i < octet_length(packed) LOOP
        len := get_byte(packed, i);
        key := convert_from(substring(packed FROM i + 2 FOR len), 'UTF8');
        i := i + 1 + len;
        bits := ('x' || encode(substring(packed FROM i + 1 FOR 8), 'hex'))::bit(64)::int8;
        -- IEEE 754 double: sign, 11 bits of exponent, 52 of fraction.
        exponent := ((bits >> 52) & 2047)::int;
        fraction := (bits & 4503599627370495)::float8 / '4503599627370496'::float8;
        IF exponent = 2047 THEN
            value := CASE WHEN fraction <> 0 THEN 'NaN'::float8 ELSE 'Infinity'::float8 END;
        ELSIF exponent = 0 THEN
            value := fraction * '2'::float8 ^ -1022;
        ELSE
            value := (1 + fraction) * '2'::float8 ^ (exponent - 1023);
        END IF;
        IF bits < 0 AND NOT value = 'NaN'::float8 THEN
            value := -value;
        END IF;
        "timestamp" := ('x' || encode(substring(packed FROM i + 9 FOR 8), 'hex'))::bit(64)::int8;
        step := ('x' || encode(substring(packed FROM i + 17 FOR 8), 'hex'))::bit(64)::int8;
        i := i + 24;
        RETURN NEXT;
    END LOOP;
END;
$$;

DROP VIEW run_metric_values;
ALTER TABLE run_metric_pending ADD COLUMN packed bytea;
UPDATE run_metric_pending SET packed = metric_values_packed(keys, vals, timestamps, steps);
ALTER TABLE run_metric_pending ALTER COLUMN packed SET NOT NULL, DROP COLUMN keys, DROP COLUMN vals, DROP COLUMN timestamps, DROP COLUMN steps;
-- Not compressed (numbers hardly compress), and never looked into by the planner.
ALTER TABLE run_metric_pending ALTER COLUMN packed SET STORAGE EXTERNAL, ALTER COLUMN packed SET STATISTICS 0;
ALTER TABLE run_metric_pending SET (toast_tuple_target = 8160);

-- Every value of every run, pending or folded, in no particular order (for inspection).
CREATE VIEW run_metric_values AS
    SELECT c.run_id, c.key, u.value, u.timestamp, u.step
      FROM run_metric_chunks c, unnest(c.vals, c.timestamps, c.steps) AS u(value, timestamp, step)
    UNION ALL
    SELECT p.run_id, u.key, u.value, u.timestamp, u.step
      FROM run_metric_pending p, metric_values_unpacked(p.packed) AS u;
