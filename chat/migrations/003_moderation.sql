-- Moderation. A deleted message keeps its row (ids stay gap-free for clients resuming
-- with "after"); deleted_at marks it and readers serve a placeholder without its content.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS deleted_at TIMESTAMPTZ;

-- Bans, enforced by every instance (each keeps a copy, refreshed on NOTIFY edge_chat_mod
-- and every poll interval). Exactly one of user_id and cidr is set.
CREATE TABLE IF NOT EXISTS chat_bans (
    id         BIGSERIAL PRIMARY KEY,
    user_id    VARCHAR(64),
    cidr       CIDR,
    reason     TEXT        NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ,
    CONSTRAINT chat_bans_one_target CHECK ((user_id IS NULL) <> (cidr IS NULL))
);
CREATE INDEX IF NOT EXISTS chat_bans_user_idx ON chat_bans (user_id);

-- A client resuming with "after" is told which of the messages it already has were
-- deleted meanwhile; this small index finds them.
CREATE INDEX IF NOT EXISTS messages_room_deleted_idx ON messages (room_id, deleted_at) WHERE deleted_at IS NOT NULL;
