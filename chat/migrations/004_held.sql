-- Messages the word filter held for review (filter action "hold"). They are not in
-- messages (no id, nobody sees them) until an operator approves them; approving sends
-- them through the writer with their client_id, so approving twice stores one message.
CREATE TABLE IF NOT EXISTS chat_held (
    id              BIGSERIAL PRIMARY KEY,
    room_id         VARCHAR(64)  NOT NULL,
    sender_id       VARCHAR(64)  NOT NULL,
    sender_nickname VARCHAR(100) NOT NULL,
    avatar          VARCHAR(100) NOT NULL DEFAULT '',
    content         TEXT         NOT NULL,
    client_id       VARCHAR(64)  NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL,
    CONSTRAINT chat_held_sender_client_id_key UNIQUE (sender_id, client_id)
);
