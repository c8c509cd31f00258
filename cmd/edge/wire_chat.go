package main

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/edge-server/edge/chat"
	"github.com/edge-server/edge/internal/config"
)

// chatHub builds the chat when some route has chat: true, or returns nil. The token key
// comes from chat.secret, else from state_dir (generated there once).
func chatHub(cfg *config.Config, log *zap.Logger) (*chat.Hub, error) {
	if !cfg.ChatEnabled {
		return nil, nil
	}
	cc := cfg.Chat
	cc.KeepHijackedConns = true // the proxy keeps hijacked TLS connections; plain ones are duplicated (proxy/server.go)
	if len(cc.Secret) == 0 {
		secret, err := loadOrCreateSecret(cfg.StateDir)
		if err != nil {
			return nil, err
		}
		cc.Secret = secret
	}
	hub, err := chat.New(cc, log)
	if err != nil {
		return nil, fmt.Errorf("setting up the chat: %w", err)
	}
	return hub, nil
}
