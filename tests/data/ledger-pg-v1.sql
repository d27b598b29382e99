-- asyncjobs 0.1's PostgreSQL ledger: its DDL as _ledger_pg.PG_MIGRATIONS had it, and rows
CREATE SCHEMA asyncjobs;
SET search_path TO asyncjobs;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (
            seq              BIGSERIAL UNIQUE,
            key              TEXT PRIMARY KEY,
            provider         TEXT NOT NULL,
            job_id           TEXT,
            kind             TEXT NOT NULL,
            params           TEXT NOT NULL,
            state            TEXT NOT NULL,
            status           TEXT,
            raw_status       TEXT,
            error            TEXT,
            created_at       DOUBLE PRECISION NOT NULL,
            updated_at       DOUBLE PRECISION NOT NULL,
            submitted_at     DOUBLE PRECISION,
            started_at       DOUBLE PRECISION,
            completed_at     DOUBLE PRECISION,
            expires_at       DOUBLE PRECISION,
            meta             TEXT,
            finished_seen_at DOUBLE PRECISION,
            lease_holder     TEXT,
            lease_until      DOUBLE PRECISION
        );
CREATE UNIQUE INDEX jobs_by_id ON jobs(provider, job_id) WHERE job_id IS NOT NULL;
CREATE INDEX jobs_by_status ON jobs(status, provider);
CREATE INDEX jobs_created ON jobs(created_at);
CREATE INDEX jobs_pending ON jobs(seq) WHERE status = 'pending' AND job_id IS NOT NULL;
CREATE INDEX jobs_by_holder ON jobs(lease_holder) WHERE lease_holder IS NOT NULL;
CREATE TABLE statuses (
            seq        BIGSERIAL PRIMARY KEY,
            key        TEXT NOT NULL REFERENCES jobs(key),
            seen_at    DOUBLE PRECISION NOT NULL,
            status     TEXT NOT NULL,
            raw_status TEXT
        );
CREATE INDEX statuses_by_key ON statuses(key, seen_at);
INSERT INTO meta (name, value) VALUES ('application', 'asyncjobs'), ('version', '1');
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('74ebfe75ce0045869edc588cd85964a9', 'convertapi', NULL, 'convert', '{"source": {"path": "/in/a.docx"}, "to": "pdf"}', 'submitting', NULL, NULL, NULL, 1796635911.3922274, 1796635911.3922274, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('510f0267cfd64948ac30f846037522e0', 'convertapi', 'job-done', 'convert', '{"to": "pdf"}', 'submitted', 'done', 'finished', NULL, 1796635911.3923266, 1796635911.3927257, 1772600767.890123, 1772600767.890123, 1772600767.890123, 1772600767.890123, '{"progress": 100, "files": ["a.pdf"]}', 1796635911.3927257, NULL, NULL);
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('abaaa0fd2a504fa699de4ab9385e0a43', 'groupdocs', 'g-1', 'convert', '{"to": "png"}', 'submitted', 'failed', 'Error', 'bad', 1796635911.3928297, 1796635911.3930008, NULL, NULL, NULL, NULL, NULL, 1796635911.3930008, NULL, NULL);
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('9765792ec2604aa388323c7d2b5880f9', 'conversio', NULL, 'export', '{}', 'rejected', NULL, NULL, '401 refused', 1796635911.3930533, 1796635911.3930955, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('39291abec2754759806e15fcfffb5024', 'conversio', NULL, 'export', '{}', 'unknown', NULL, NULL, 'timed out', 1796635911.3931334, 1796635911.3931732, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('4bf3461385b345bdb86540c728e03f9c', 'conversio', NULL, 'export', '{"n": 1}', 'superseded', 'pending', NULL, 'conversio issued the job id ''c-1'' again to a newer job; this one is forgotten', 1796635911.3931894, 1796635911.3933477, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('247273d029f146a8989256846f33d97b', 'conversio', 'c-1', 'export', '{"n": 2}', 'submitted', 'pending', NULL, NULL, 1796635911.393301, 1796635911.3933635, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('69a2eee60dd643359f8c68f05fad3ba1', 'conversio', 'c-2', 'export', '{}', 'cancelled', 'failed', 'cancelled', NULL, 1796635911.3934455, 1796635911.3935552, NULL, NULL, NULL, NULL, NULL, 1796635911.3935552, NULL, NULL);
INSERT INTO jobs (key, provider, job_id, kind, params, state, status, raw_status, error, created_at, updated_at, submitted_at, started_at, completed_at, expires_at, meta, finished_seen_at, lease_holder, lease_until) VALUES ('bf8b451f196c4c2db653d56b68f3ab34', 'conversio', 'c-3', 'export', '{}', 'submitted', 'pending', NULL, NULL, 1796635911.3937159, 1796635911.3937309, NULL, NULL, NULL, NULL, NULL, NULL, 'host:1:abc', 1900000000.5);
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('510f0267cfd64948ac30f846037522e0', 1796635911.3924615, 'pending', 'queued');
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('510f0267cfd64948ac30f846037522e0', 1796635911.3927257, 'done', 'finished');
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('abaaa0fd2a504fa699de4ab9385e0a43', 1796635911.392911, 'pending', NULL);
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('abaaa0fd2a504fa699de4ab9385e0a43', 1796635911.3930008, 'failed', 'Error');
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('4bf3461385b345bdb86540c728e03f9c', 1796635911.393246, 'pending', NULL);
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('247273d029f146a8989256846f33d97b', 1796635911.3933635, 'pending', NULL);
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('69a2eee60dd643359f8c68f05fad3ba1', 1796635911.3934758, 'pending', NULL);
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('69a2eee60dd643359f8c68f05fad3ba1', 1796635911.3935552, 'failed', 'cancelled');
INSERT INTO statuses (key, seen_at, status, raw_status) VALUES ('bf8b451f196c4c2db653d56b68f3ab34', 1796635911.3937309, 'pending', NULL);
