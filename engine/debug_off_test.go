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
