//go:build !chronikdebug

package engine

// The shipped build has no test hooks (debug.go, built with -tags
// chronikdebug, has them): no debug.* config key is known, and the hooks
// are empty functions the compiler removes from the produce and fetch
// paths.
var debugKeys = map[string]configKey{}

type debugConfig struct{}

func (debugConfig) validate() error { return nil }

func (*Broker) debugAppendCost(int) {}

func (*Broker) debugFetchCost(int, bool) {}
