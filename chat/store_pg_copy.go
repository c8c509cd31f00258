package chat

import "encoding/binary"

// The writer's rows in PostgreSQL's binary COPY format, appended straight from the
// Message: the same bytes pgx's CopyFrom sends (TestCopyRowMatchesPgx), without its
// eight boxed values and encode-plan lookups per row.

// copyStatement names copyColumns in the order appendCopyRow writes them.
const copyStatement = "COPY messages (id, room_id, sender_id, sender_nickname, avatar, content, created_at, client_id) FROM STDIN (FORMAT binary)"

var copyColumns = []string{"id", "room_id", "sender_id", "sender_nickname", "avatar", "content", "created_at", "client_id"}

// maxKeptCopyBuf: a batch's buffer is reused by the next one unless it grew beyond this.
const maxKeptCopyBuf = 4 << 20

// microsecondsToY2K is the Unix time of 2000-01-01 UTC, PostgreSQL's timestamp epoch.
const microsecondsToY2K = 946_684_800 * 1_000_000

func appendCopyHeader(b []byte) []byte {
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0) // flags, header extension length
}

func appendCopyTrailer(b []byte) []byte { return append(b, 0xff, 0xff) }

func appendCopyRow(b []byte, m *Message) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(copyColumns)))
	b = appendCopyInt64(b, m.ID)
	b = appendCopyText(b, m.Room)
	b = appendCopyText(b, m.SenderID)
	b = appendCopyText(b, m.Nickname)
	b = appendCopyText(b, m.Avatar)
	b = appendCopyText(b, m.Content)
	b = appendCopyInt64(b, m.CreatedAt.Unix()*1_000_000+int64(m.CreatedAt.Nanosecond())/1000-microsecondsToY2K)
	return appendCopyText(b, m.ClientID)
}

func appendCopyInt64(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func appendCopyText(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}
