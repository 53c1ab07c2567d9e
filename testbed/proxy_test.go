package testbed

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// Nodes of the proxy tests: a connection dialed from 127.0.0.2 is node 1's,
// from 127.0.0.3 node 2's (Linux answers on all of 127/8, no privileges).
func ipSource(dialer, _ *net.TCPAddr) int32 {
	switch dialer.IP.String() {
	case "127.0.0.2":
		return 1
	case "127.0.0.3":
		return 2
	}
	return Clients
}

// target is a listener standing for node 2: every accepted connection is
// handed to the test.
func target(t *testing.T) (string, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			ch <- c
		}
	}()
	return ln.Addr().String(), ch
}

func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newProxy(t *testing.T) (*Net, *Proxy, <-chan net.Conn) {
	t.Helper()
	addr, accepted := target(t)
	nw := NewNet(ipSource)
	t.Cleanup(func() { nw.Close() })
	p, err := nw.Listen("raft", 2, addr)
	if err != nil {
		t.Fatal(err)
	}
	return nw, p, accepted
}

func accept(t *testing.T, ch <-chan net.Conn) net.Conn {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy did not connect to the target")
		return nil
	}
}

// readN reads exactly len(want) bytes within d and compares them.
func readN(t *testing.T, c net.Conn, want string, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %q: %v (got %q)", want, err, got)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// nothing checks that c delivers no byte for d.
func nothing(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	var b [1]byte
	if k, err := c.Read(b[:]); k > 0 || err == nil {
		t.Fatalf("read %q across a cut link", b[:k])
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read across a cut link: %v, want a timeout (the connection held, not closed)", err)
	}
}

func TestProxyForwardsBothWaysAndAttributesTheDialer(t *testing.T) {
	nw, p, accepted := newProxy(t)
	c := dialFrom(t, "127.0.0.2", p.Addr)
	c.Write([]byte("ping"))
	s := accept(t, accepted)
	readN(t, s, "ping", 5*time.Second)
	s.Write([]byte("pong"))
	readN(t, c, "pong", 5*time.Second)
	big := bytes.Repeat([]byte("0123456789"), 100_000) // several chunks, in order
	go c.Write(big)
	readN(t, s, string(big), 10*time.Second)
	if got := nw.Connections(); got[Link{1, 2}] != 1 || len(got) != 1 {
		t.Fatalf("connections %v, want one of n1->n2", got)
	}
	c2 := dialFrom(t, "127.0.0.1", p.Addr)
	c2.Write([]byte("x"))
	readN(t, accept(t, accepted), "x", 5*time.Second)
	if got := nw.Connections(); got[Link{Clients, 2}] != 1 {
		t.Fatalf("connections %v, want one of clients->n2", got)
	}
}

// A one-way cut holds the bytes of that direction only, on every
// connection of the link whoever dialed it, and heal delivers them in order.
func TestProxyCutsOneWayAndHeals(t *testing.T) {
	nw, p, accepted := newProxy(t)
	c := dialFrom(t, "127.0.0.2", p.Addr)
	c.Write([]byte("a"))
	s := accept(t, accepted)
	readN(t, s, "a", 5*time.Second)

	nw.Cut(1, 2)
	c.Write([]byte("bc"))
	nothing(t, s, 300*time.Millisecond)
	s.Write([]byte("back"))
	readN(t, c, "back", 5*time.Second)        // 2->1 still flows
	other := dialFrom(t, "127.0.0.1", p.Addr) // clients->n2 is not cut
	other.Write([]byte("z"))
	readN(t, accept(t, accepted), "z", 5*time.Second)
	if f := nw.Faults(); len(f) != 1 || f[0] != "n1->n2 cut" {
		t.Fatalf("faults %v", f)
	}
	nw.Heal(1, 2)
	readN(t, s, "bc", 5*time.Second)

	nw.Cut(2, 1) // the answers of node 2 to node 1
	s.Write([]byte("held"))
	nothing(t, c, 300*time.Millisecond)
	c.Write([]byte("d"))
	readN(t, s, "d", 5*time.Second)
	nw.HealAll()
	readN(t, c, "held", 5*time.Second)
	if f := nw.Faults(); len(f) != 0 {
		t.Fatalf("faults after HealAll: %v", f)
	}
}

// A connection dialed across a cut link does not reach the target until
// the link heals; a client that gives up meanwhile is never connected.
func TestProxyHoldsNewConnectionsAcrossACut(t *testing.T) {
	nw, p, accepted := newProxy(t)
	nw.CutBoth(1, 2)
	gaveUp := dialFrom(t, "127.0.0.2", p.Addr)
	c := dialFrom(t, "127.0.0.2", p.Addr)
	c.Write([]byte("hello"))
	select {
	case <-accepted:
		t.Fatal("the target was connected across a cut link")
	case <-time.After(300 * time.Millisecond):
	}
	gaveUp.Close()
	time.Sleep(100 * time.Millisecond)
	nw.Heal(1, 2)
	select {
	case <-accepted:
		t.Fatal("connected with only one direction healed")
	case <-time.After(300 * time.Millisecond):
	}
	nw.Heal(2, 1)
	s := accept(t, accepted)
	readN(t, s, "hello", 5*time.Second)
	select {
	case s2 := <-accepted:
		t.Fatalf("a client that closed while held was connected: %v", s2.RemoteAddr())
	case <-time.After(300 * time.Millisecond):
	}
}

func TestProxyDelaysAndSevers(t *testing.T) {
	nw, p, accepted := newProxy(t)
	c := dialFrom(t, "127.0.0.2", p.Addr)
	c.Write([]byte("a"))
	s := accept(t, accepted)
	readN(t, s, "a", 5*time.Second)
	const d = 400 * time.Millisecond
	nw.Delay(1, 2, d)
	start := time.Now()
	c.Write([]byte("slow"))
	readN(t, s, "slow", 5*time.Second)
	if took := time.Since(start); took < d {
		t.Fatalf("delayed link delivered after %v, want >= %v", took, d)
	}
	s.Write([]byte("fast")) // 2->1 has no delay
	readN(t, c, "fast", d/2)
	nw.Delay(1, 2, 0)

	if k := nw.Sever(2, 1); k != 1 {
		t.Fatalf("severed %d connections, want 1", k)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("a severed connection still reads")
	}
}

// SocketOwner finds the process that holds one end of a loopback
// connection: this one.
func TestSocketOwnerFindsTheDialingProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local, remote := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
	me := os.Getpid()
	if pid, ok := SocketOwner(local, remote, []int{1, me}); !ok || pid != me {
		t.Fatalf("owner %d %v, want this process %d", pid, ok, me)
	}
	if pid, ok := SocketOwner(local, remote, []int{1}); ok {
		t.Fatalf("owner %d among processes that do not hold it", pid)
	}
	other := &net.TCPAddr{IP: local.IP, Port: remote.Port + 1}
	if _, ok := SocketOwner(local, other, []int{me}); ok {
		t.Fatal("found a socket that does not exist")
	}
}

// A proxied cluster starts through its proxies, every link between two
// brokers is attributed to the broker that dialed it, and cutting a
// broker off its peers and clients stops its traffic until healed.
func TestProxiedClusterLinks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 3 brokers")
	}
	bin, err := ChronikBin(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(Config{Bin: bin, Nodes: 3, Dir: t.TempDir(), Proxy: true, ProxyClients: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Raft (the shard leader and each follower) and heartbeats (each
	// broker to the controller): every broker dials another one.
	links := c.Net.Connections()
	for _, from := range []int32{1, 2, 3} {
		dials := 0
		for l, k := range links {
			if l.From == from && l.To != Clients {
				dials += k
			}
		}
		if dials == 0 {
			t.Errorf("no connection dialed by n%d among %v", from, links)
		}
	}
	for _, n := range c.Nodes {
		if n.KafkaAddr == "" || n.RaftAddr == "" {
			t.Fatalf("node %d has no address", n.ID)
		}
	}
	for _, other := range []int32{Clients, 2, 3} {
		c.Net.CutBoth(1, other)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if _, err := MetadataBrokers(ctx, c.Node(1).KafkaAddr); err == nil {
		t.Error("a cut-off broker answered Metadata")
	}
	cancel()
	c.Net.HealAll()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("not ready after heal: %v\n%s", err, c.Logs())
	}
}
