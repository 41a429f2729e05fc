-- 0004: chunks may store steps and values compactly (see openrlb_cli/store/codec.py).
--
-- No table changes: `chunks.steps` is either n float64 or, when n > 2 and the steps are evenly
-- spaced, 16 bytes (first step, spacing: step i = first + i * spacing); `chunks.vals` is either n
-- float64 or n float32 (when every value is exactly a float32). The length of the BLOB says which.
-- This migration marks stores that may hold such chunks, so an older openrlb refuses them instead
-- of misreading them, and adds a view that names each chunk's encodings for sqlite3 users.

CREATE VIEW chunk_encodings AS
SELECT
    id,
    series_id,
    seq,
    n,
    CASE WHEN n > 2 AND length(steps) = 16 THEN 'spaced' ELSE 'float64' END AS steps_encoding,
    CASE WHEN length(vals) = 4 * n THEN 'float32' ELSE 'float64' END AS vals_encoding,
    CASE WHEN walls IS NULL THEN 'none' ELSE 'float64' END AS walls_encoding
FROM chunks;
