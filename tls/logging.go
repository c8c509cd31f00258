package edgetls

import (
	"context"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// certmagicLogger gives certmagic its own named logger. Its routine chatter (locks,
// retries, "served key authentication") is debug-level noise for an operator unless
// edge runs with debug logging; warnings and errors always get through, except while
// shutting down, when cancelled work is expected and reported at info level.
// Certificate events are logged by onEvent.
func certmagicLogger(log *zap.Logger, stopping context.Context) *zap.Logger {
	l := log.Named("certmagic").WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return &shutdownCore{Core: c, stopping: stopping}
	}))
	if l.Core().Enabled(zapcore.DebugLevel) {
		return l
	}
	return l.WithOptions(zap.IncreaseLevel(zapcore.WarnLevel))
}

// shutdownCore lowers certmagic's warnings and errors to info once stopping is done.
type shutdownCore struct {
	zapcore.Core
	stopping context.Context
}

func (c *shutdownCore) With(fields []zapcore.Field) zapcore.Core {
	return &shutdownCore{Core: c.Core.With(fields), stopping: c.stopping}
}

func (c *shutdownCore) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if ent.Level > zapcore.InfoLevel && ent.Level < zapcore.DPanicLevel && c.stopping.Err() != nil {
		ent.Level = zapcore.InfoLevel
		ent.Message += " (during shutdown)"
	}
	return c.Core.Check(ent, ce)
}
