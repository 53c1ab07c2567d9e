package engine

import "time"

// Test hooks.
//
// debugKeys are config keys that are not Kafka's. They exist only so that
// tests and the benchmark lab's regression gate can make the broker
// measurably slower on purpose (benchmarks/gate_test.go shows the gate
// failing with one set). They are accepted by Config.Set and the --config
// file, but BrokerConfigKeys does not list them, so DescribeConfigs does
// not either. Never set them in production.
//
//	debug.append.delay.ms  sleep this long before each partition append of
//	                       a Produce request (on the connection's worker
//	                       goroutine, never an event loop). 0 = off.
var debugKeys = map[string]configKey{
	"debug.append.delay.ms": intKey64(func(c *Config) *int64 { return &c.DebugAppendDelayMs }),
}

// debugAppendDelay applies debug.append.delay.ms.
func (b *Broker) debugAppendDelay() {
	if d := b.cfg.DebugAppendDelayMs; d > 0 {
		time.Sleep(time.Duration(d) * time.Millisecond)
	}
}
