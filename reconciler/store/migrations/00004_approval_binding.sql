-- +goose Up
-- An approval names what it approves: the file's content (sha256) and the
-- commit that merged it; a CLI approval also records the OS user and host.
-- Approvals recorded before this carry neither and approve nothing.
ALTER TABLE approvals ADD COLUMN sha256 text NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN merge_commit text NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN os_user text NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN host text NOT NULL DEFAULT '';
ALTER TABLE approvals DROP CONSTRAINT approvals_pkey;
ALTER TABLE approvals ADD PRIMARY KEY (version, sha256, merge_commit, by_name);

-- +goose Down
DELETE FROM approvals a USING approvals b
  WHERE a.version = b.version AND a.by_name = b.by_name AND (a.sha256, a.merge_commit) > (b.sha256, b.merge_commit);
ALTER TABLE approvals DROP CONSTRAINT approvals_pkey;
ALTER TABLE approvals ADD PRIMARY KEY (version, by_name);
ALTER TABLE approvals DROP COLUMN host;
ALTER TABLE approvals DROP COLUMN os_user;
ALTER TABLE approvals DROP COLUMN merge_commit;
ALTER TABLE approvals DROP COLUMN sha256;
