//go:build !chronikdebug

package engine_test

import (
	"strings"
	"testing"

	"github.com/chronik/chronik/engine"
)

// The shipped build knows no debug.* key: a config file naming one is
// rejected like any unknown key, so the hooks cannot be switched on.
func TestShippedBuildRejectsDebugKeys(t *testing.T) {
	for _, key := range []string{"debug.append.burn.ns.per.kib", "debug.fetch.burn.ns.per.kib", "debug.append.delay.ms"} {
		cfg := engine.DefaultConfig()
		err := cfg.ParseProperties(key + "=1000\n")
		if err == nil || !strings.Contains(err.Error(), "unknown config key") {
			t.Errorf("%s in the shipped build: %v, want unknown config key", key, err)
		}
	}
}

// The shipped build has no disk faults: the admin listener does not serve
// /debug/disk (DebugHooks), and SetDiskFault refuses.
func TestShippedBuildHasNoDiskFaults(t *testing.T) {
	if engine.DebugHooks {
		t.Fatal("DebugHooks in the shipped build")
	}
	tb := startBroker(t)
	if err := tb.b.SetDiskFault("fsync", 0); err == nil {
		t.Fatal("SetDiskFault worked in the shipped build")
	}
	if f, _, _ := tb.b.DiskFault(); f != "off" {
		t.Fatalf("disk fault %q in the shipped build", f)
	}
}
