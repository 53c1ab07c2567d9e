// Package serve wires netio to the engine: the netio.Handler that hands
// framed requests to an engine.Broker, and the netio.Options that follow
// the broker's Kafka-named settings. netio knows nothing of topics and the
// engine nothing of sockets; this is the one place that knows both (used
// by cmd/chronik and by tests that serve a broker in process).
package serve

import (
	"time"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/netio"
)

// Handler adapts an engine.Broker to a netio.Handler: netio frames and
// orders, the engine decodes and answers.
func Handler(b *engine.Broker) netio.Handler { return brokerHandler{b} }

type brokerHandler struct{ b *engine.Broker }

func (h brokerHandler) Handle(r *netio.Request, respond netio.Responder) error {
	return h.b.Handle(&engine.Request{
		Key:           r.Key,
		Version:       r.Version,
		CorrelationID: r.CorrelationID,
		ClientID:      r.ClientID,
		Body:          r.Body,
		RemoteAddr:    r.RemoteAddr,
		ConnID:        r.ConnID,
		BodyOwner:     r,
	}, respond)
}

// Inline implements netio.Inliner: the requests the engine handles
// without blocking run on the event loop.
func (h brokerHandler) Inline(key, version int16, size int) bool {
	return h.b.Inline(key, version, size)
}

// ConnClosed implements netio.ConnCloser.
func (h brokerHandler) ConnClosed(connID uint64) { h.b.ConnClosed(connID) }

// Drain implements netio.Drainer: parked fetches answer when a stop begins.
func (h brokerHandler) Drain() { h.b.Drain() }

// Options returns the server options for cfg's listener and bounds
// (socket.request.max.bytes, queued.max.requests, queued.max.request.bytes,
// connections.max.idle.ms), with multicore event loops.
func Options(cfg engine.Config) netio.Options {
	return netio.Options{
		Addr:              cfg.Listen,
		MaxRequestBytes:   cfg.SocketRequestMaxBytes,
		MaxQueuedRequests: int(cfg.QueuedMaxRequests),
		MaxQueuedBytes:    cfg.QueuedMaxBytes,
		IdleTimeout:       time.Duration(cfg.ConnectionsMaxIdleMs) * time.Millisecond,
		Multicore:         true,
	}
}
