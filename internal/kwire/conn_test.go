package kwire

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeBroker answers one ApiVersions v0 request on each connection: it
// waits before (the broker parking the request), then sends the frame's
// first part, waits between, then the rest.
func fakeBroker(t *testing.T, before, between time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				var size [4]byte
				if _, err := io.ReadFull(nc, size[:]); err != nil {
					return
				}
				req := make([]byte, binary.BigEndian.Uint32(size[:]))
				if _, err := io.ReadFull(nc, req); err != nil {
					return
				}
				resp := kmsg.NewPtrApiVersionsResponse()
				for k := range int16(40) {
					resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MaxVersion: 3})
				}
				body := append(append([]byte(nil), req[4:8]...), resp.AppendTo(nil)...) // correlation id, body
				frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
				frame = append(frame, body...)
				time.Sleep(before)
				nc.Write(frame[:10])
				time.Sleep(between)
				nc.Write(frame[10:])
				io.Copy(io.Discard, nc)
			}()
		}
	}()
	return ln.Addr().String()
}

func dialT(t *testing.T, addr string) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), addr, time.Second, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func roundTrip(c *Conn, ctx, soft context.Context) (int, *kmsg.ApiVersionsResponse, error) {
	resp := kmsg.NewPtrApiVersionsResponse()
	n, err := c.RoundTripUnlessAnswering(ctx, soft, kmsg.NewPtrApiVersionsRequest(), resp, time.Now().Add(10*time.Second))
	return n, resp, err
}

// TestSoftCancelDuringAnswerReadsItWhole: a soft cancel after the
// response began does not throw away what the broker sent.
func TestSoftCancelDuringAnswerReadsItWhole(t *testing.T) {
	c := dialT(t, fakeBroker(t, 0, 300*time.Millisecond))
	soft, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	n, resp, err := roundTrip(c, context.Background(), soft)
	if err != nil || len(resp.ApiKeys) != 40 || n != 4+4+len(resp.AppendTo(nil)) {
		t.Fatalf("round trip with a soft cancel during the answer: %d bytes, %d keys, %v", n, len(resp.ApiKeys), err)
	}
}

// TestSoftCancelBeforeAnswerUnblocks: while the broker has sent nothing
// (a parked fetch), a soft cancel ends the exchange at once.
func TestSoftCancelBeforeAnswerUnblocks(t *testing.T) {
	c := dialT(t, fakeBroker(t, 2*time.Second, 0))
	soft, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if _, _, err := roundTrip(c, context.Background(), soft); err == nil {
		t.Fatal("round trip succeeded despite the soft cancel before the answer")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("soft cancel took %v to unblock", d)
	}
}

// TestHardCancelDuringAnswerUnblocks: ctx still cuts an answer short (a
// follower stopping does not wait for a stalled leader).
func TestHardCancelDuringAnswerUnblocks(t *testing.T) {
	c := dialT(t, fakeBroker(t, 0, 2*time.Second))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, _, err := roundTrip(c, ctx, context.Background()); err == nil {
		t.Fatal("round trip succeeded despite the cancel")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancel took %v to unblock", d)
	}
}
