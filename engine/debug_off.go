//go:build !chronikdebug

package engine

import (
	"errors"
	"time"

	"github.com/chronik/chronik/wal"
)

// The shipped build has no test hooks (debug.go, built with -tags
// chronikdebug, has them): no debug.* config key is known, and the hooks
// are empty functions the compiler removes from the produce and fetch
// paths.
var debugKeys = map[string]configKey{}

type debugConfig struct{}

func (debugConfig) validate() error { return nil }

func (*Broker) debugAppendCost(int) {}

func (*Broker) debugFetchCost(int, bool) {}

// DebugHooks reports whether this binary has the debug hooks (no).
const DebugHooks = false

type debugState struct{}

func (*Broker) debugWrapFS(fsys wal.FS) wal.FS { return fsys }

var errNoDebugHooks = errors.New("disk faults need bin/chronik-debug (-tags chronikdebug)")

// SetDiskFault fails: the shipped build has no disk faults.
func (*Broker) SetDiskFault(string, time.Duration) error { return errNoDebugHooks }

// DiskFault reports no fault.
func (*Broker) DiskFault() (string, time.Duration, int64) { return "off", 0, 0 }
