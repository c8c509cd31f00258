-- Idempotent resend: a client retries a send with the same client_id and gets the
-- original message back. The key is scoped to the sender, so one visitor can neither
-- collide with nor probe another visitor's client ids. Rows without a client_id (older
-- rows) are not constrained (NULLs are distinct).
ALTER TABLE messages ADD COLUMN IF NOT EXISTS client_id VARCHAR(64);
ALTER TABLE messages ADD CONSTRAINT messages_sender_client_id_key UNIQUE (sender_id, client_id);
