-- The seed schema of the chat (the same table the stand-alone chat service used, so an
-- existing table is adopted as is).
CREATE TABLE IF NOT EXISTS messages (
    id              BIGSERIAL PRIMARY KEY,
    room_id         VARCHAR(64)  NOT NULL,
    sender_id       VARCHAR(64)  NOT NULL,
    sender_nickname VARCHAR(100) NOT NULL,
    avatar          VARCHAR(100),
    content         TEXT         NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_room_created_at_idx ON messages (room_id, created_at);
CREATE INDEX IF NOT EXISTS messages_room_id_idx ON messages (room_id, id);
