package wal

import (
	"bytes"
	"io"
	"net"
	"testing"
)

// joinRanges reads the bytes a Ranges names.
func joinRanges(t testing.TB, r *Ranges) []byte {
	t.Helper()
	var out []byte
	for _, rg := range r.Ranges {
		b := make([]byte, rg.Len)
		if _, err := rg.File.ReadAt(b, rg.Pos); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// A segment deleted under a pending Ranges keeps its file open and whole
// until the Ranges is released.
func TestRangesKeepDeletedSegmentsOpen(t *testing.T) {
	clk := &fakeClock{ms: 1000}
	l, _ := openMem(t, Options{SegmentBytes: 1000, RetentionMs: Retain(10), Now: clk.now})
	defer l.Close()
	for i := range 30 {
		mustAppend(t, l, makeBatch(2, 50, int64(i)), 0)
	}
	var r Ranges
	if err := l.ReadRanges(0, 1<<20, l.LogEndOffset(), &r); err != nil {
		t.Fatal(err)
	}
	want := joinRanges(t, &r)
	clk.ms = 1 << 40
	if n, err := l.ApplyRetention(l.LogEndOffset()); err != nil || n == 0 {
		t.Fatalf("retention deleted %d: %v", n, err)
	}
	if got := joinRanges(t, &r); !bytes.Equal(got, want) {
		t.Fatal("ranges of deleted segments no longer read their bytes")
	}
	first := r.Ranges[0].File
	r.Release()
	if _, err := first.ReadAt(make([]byte, 1), 0); err == nil {
		t.Fatal("segment file still open after the last release")
	}
}

// Range.Sendfile moves the bytes to a socket; what arrives is what Read
// returns.
func TestRangeSendfileSendsTheBatches(t *testing.T) {
	l := openOS(t, Options{SegmentBytes: 64 << 10})
	defer l.Close()
	for i := range 200 {
		mustAppend(t, l, makeBatch(3, 200, int64(i)), 0)
	}
	want, _ := l.Read(0, 1<<30, l.LogEndOffset())
	var r Ranges
	if err := l.ReadRanges(0, 1<<30, l.LogEndOffset(), &r); err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	got := sendRanges(t, &r)
	if !bytes.Equal(got, want) || len(r.Ranges) < 2 {
		t.Fatalf("received %d bytes over %d ranges, want %d", len(got), len(r.Ranges), len(want))
	}
}

// sendRanges sendfiles every range of r to a loopback socket and returns
// what arrived.
func sendRanges(t testing.TB, r *Ranges) []byte {
	t.Helper()
	return sendOverLoopback(t, func(sock int) error {
		for _, rg := range r.Ranges {
			for done := int64(0); done < rg.Len; {
				n, err := rg.Sendfile(sock, done)
				if err != nil {
					return err
				}
				done += n
			}
		}
		return nil
	})
}

// sendOverLoopback runs send with the descriptor of a connected (blocking)
// loopback TCP socket and returns what the other end received.
func sendOverLoopback(t testing.TB, send func(sock int) error) []byte {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.(*net.TCPConn).File() // a blocking duplicate of the descriptor
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	serr := send(int(f.Fd()))
	f.Close()
	if serr != nil {
		t.Fatal(serr)
	}
	return <-got
}
