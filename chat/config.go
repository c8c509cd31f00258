// Package chat is the in-process WebSocket chat: rooms, history in Postgres, anonymous
// identities, and the embedded web UI.
package chat

// Config is what the chat needs. cmd/edge fills it from the YAML file and environment.
type Config struct {
	// Mount is the path prefix the chat is routed at. Default "/chat/".
	Mount string
	// DatabaseURL is a Postgres connection string. "" uses an in-memory store (demo only).
	DatabaseURL string
	// Origins are allowed WebSocket/embedding origins besides the chat's own.
	Origins []string
	// NicknameLocale is "ko" (default) or "en".
	NicknameLocale string
	// Secret signs session tokens (HS256). Required; cmd/edge generates one into state_dir.
	Secret []byte
}
