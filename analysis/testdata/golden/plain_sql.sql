-- expect: require-concurrent-index-creation prefer-robust-stmts ban-char-field
CREATE INDEX users_email_idx ON users (email);
ALTER TABLE users ADD COLUMN country char(2);
