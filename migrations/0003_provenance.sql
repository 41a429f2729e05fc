-- 0003: how a tracked run was produced (`openrlb track`), for `openrlb reproduce` and `openrlb diff`.
--
-- One row per run started by `openrlb track`; ingested or fetched runs have none. Secrets never
-- get here: the command is stored with key/token-looking values redacted, and env holds only
-- allow-listed variables.

CREATE TABLE run_provenance (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    command TEXT NOT NULL,               -- JSON array: argv, secrets redacted
    cwd TEXT NOT NULL,                   -- working directory of the command
    git TEXT,                            -- JSON object (root, remote, commit, branch, dirty, untracked_files,
                                         -- diff_sha256) or NULL outside a git repository
    system TEXT NOT NULL DEFAULT '{}',   -- JSON object: python {version, implementation, executable},
                                         -- platform, system, machine, hostname, cpu_count, gpus
    packages TEXT NOT NULL DEFAULT '[]', -- JSON array of "name==version", sorted like `pip freeze`
    env TEXT NOT NULL DEFAULT '{}',      -- JSON object: allow-listed environment variables only
    host TEXT,                           -- hostname where the command ran
    pid INTEGER,                         -- the command's process id (for --resume)
    logdir TEXT,                         -- the log directory ingested into this run (NULL: none found)
    scan_root TEXT,                      -- where the log directory was looked for
    exit_code INTEGER,                   -- 128 + N when killed by signal N; NULL while running / unknown
    started_at REAL NOT NULL,            -- unix seconds
    ended_at REAL,
    duration REAL,                       -- seconds
    diff TEXT,                           -- `git diff HEAD` at start, only with --save-diff
    extra TEXT NOT NULL DEFAULT '{}'     -- JSON object: signal, other log directories, warnings
);
