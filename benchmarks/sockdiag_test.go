package benchmarks

import (
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// The kernel's count of a socket's received bytes, found by the remote
// address and this process's inodes, is what was read through it; a
// second connection to another listener is told apart.
func TestSocketBytesFromCountsWhatWasRead(t *testing.T) {
	lnA, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lnA.Close()
	lnB, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lnB.Close()
	serve := func(ln net.Listener, n int) {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(make([]byte, n))
		io.Copy(io.Discard, c)
	}
	const nA, nB = 123_457, 4_321
	go serve(lnA, nA)
	go serve(lnB, nB)
	remotes := map[int32]string{1: lnA.Addr().String(), 2: lnB.Addr().String()}
	for _, r := range []string{remotes[1], remotes[2]} {
		c, err := net.Dial("tcp4", r)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		want := map[string]int{remotes[1]: nA, remotes[2]: nB}[r]
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, make([]byte, want)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := SocketBytesFrom(os.Getpid(), remotes)
	if err != nil {
		t.Fatal(err)
	}
	if got[1] != nA || got[2] != nB {
		t.Fatalf("socket bytes %v, want 1:%d 2:%d", got, nA, nB)
	}
	// Another process's sockets are not this one's.
	other, err := SocketBytesFrom(os.Getppid(), remotes)
	if err != nil {
		t.Fatal(err)
	}
	if len(other) != 0 {
		t.Fatalf("parent process holds %v", other)
	}
}
