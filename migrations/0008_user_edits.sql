-- 0008: run metadata fixed by the user (`openrlb set`), which later ingests and syncs keep.
--
-- Ingest infers experiment/env/seed from paths and configs, and fetch/sync copy the server's
-- fields; when the user corrects one of them, that correction must win over the next inference.
-- `user_fields` records which fields the user set and to what (JSON object, NULL = none):
-- {"experiment": "sac", "env": "Hopper-v3", "seed": 3, "project": "p", "name": "n",
--  "tags_added": ["paper"], "tags_removed": ["draft"]}. Every writer of a run applies it to the
-- record it writes (`Store.apply_user_edits`). `note` is free text only the user writes.

ALTER TABLE runs ADD COLUMN user_fields TEXT;
ALTER TABLE runs ADD COLUMN note TEXT;
