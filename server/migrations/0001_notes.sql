-- The demo's per-user notes: something a tool can change and delete, so that policies (the
-- gateway's) decide something real. Times are Unix seconds.
CREATE TABLE notes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner      TEXT NOT NULL,            -- the token's `sub`: a user sees only their own notes
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL             -- the client, and the actors (gateways) between, of the last change
);
CREATE INDEX notes_owner ON notes(owner, id);
