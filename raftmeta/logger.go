package raftmeta

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/lni/dragonboat/v4/logger"
)

// dragonboat logs through its own logger package; route it to slog. Its
// Info and Warning output (elections, snapshots, dropped proposals while
// there is no leader, unreachable peers: all normal while a node is down)
// goes to slog's Debug level and its errors to Warn; raftmeta itself logs
// what an operator needs (registration, controller changes, fencing). dragonboat allows the factory to be
// set once per process, so package init does it.
func init() {
	logger.SetLoggerFactory(func(pkg string) logger.ILogger { return &dbLogger{pkg: pkg} })
}

type dbLogger struct {
	pkg string
}

func (l *dbLogger) SetLevel(logger.LogLevel) {}

func (l *dbLogger) emit(level slog.Level, format string, args []any) {
	lg := slog.Default()
	if !lg.Enabled(context.Background(), level) {
		return
	}
	lg.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", "dragonboat/"+l.pkg)
}

func (l *dbLogger) Debugf(format string, args ...any)   { l.emit(slog.LevelDebug-4, format, args) }
func (l *dbLogger) Infof(format string, args ...any)    { l.emit(slog.LevelDebug, format, args) }
func (l *dbLogger) Warningf(format string, args ...any) { l.emit(slog.LevelDebug, format, args) }
func (l *dbLogger) Errorf(format string, args ...any)   { l.emit(slog.LevelWarn, format, args) }
func (l *dbLogger) Panicf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	slog.Error(msg, "component", "dragonboat/"+l.pkg)
	panic(msg)
}
