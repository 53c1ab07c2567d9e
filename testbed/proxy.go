package testbed

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"
)

// Clients stands for every process that is not a broker of the cluster
// (the test's own clients) in a Link.
const Clients int32 = 0

// Link is one direction of traffic: the bytes From sends to To, whoever
// dialed the connection they travel on.
type Link struct{ From, To int32 }

func (l Link) String() string { return fmt.Sprintf("%s->%s", linkEnd(l.From), linkEnd(l.To)) }

func linkEnd(id int32) string {
	if id == Clients {
		return "clients"
	}
	return fmt.Sprintf("n%d", id)
}

// linkRule is the fault set on one directed link.
type linkRule struct {
	cut   bool
	delay time.Duration
}

// Net is a set of fault-injecting TCP proxies on loopback, one per
// destination listener (a node's replication, Raft or Kafka address), and
// the faults of every directed link between the nodes: each accepted
// connection is attributed to the node that dialed it (Source), so the
// proxy in front of node B forwards A's bytes under the rule of link A->B
// and B's answers under B->A. A cut link holds its bytes (the sender's
// socket buffers fill, as behind a firewall that drops packets) until it
// is healed, and a connection dialed across a cut link is held before it
// reaches its target; a delayed link delivers each chunk that much later,
// in order. Methods are safe for concurrent use.
type Net struct {
	// Source names the node that dialed a connection from dialer to the
	// proxy's address proxy; Clients when it is none of them.
	Source func(dialer, proxy *net.TCPAddr) int32

	mu      sync.Mutex
	rules   map[Link]linkRule
	changed chan struct{} // closed and replaced on every rule change
	proxies []*Proxy
	closed  bool
}

// NewNet returns a network without faults; source attributes connections.
func NewNet(source func(dialer, proxy *net.TCPAddr) int32) *Net {
	return &Net{Source: source, rules: map[Link]linkRule{}, changed: make(chan struct{})}
}

// Proxy is one listener of a Net: connections to Addr are forwarded to
// Target, which node To listens on.
type Proxy struct {
	Addr   string
	Target string
	To     int32
	Kind   string // "kafka", "replication", "raft": for logs and stats

	net *Net
	ln  net.Listener

	mu    sync.Mutex
	conns map[*proxyConn]bool
	wg    sync.WaitGroup
}

// proxyConn is one forwarded connection: client (the dialer) and server
// (the target), and the node that dialed.
type proxyConn struct {
	from           int32
	client, server net.Conn
}

// Listen starts a proxy on a free 127.0.0.1 port forwarding to target, a
// listener of node to.
func (n *Net) Listen(kind string, to int32, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("testbed: proxy listen: %w", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), Target: target, To: to, Kind: kind, net: n, ln: ln, conns: map[*proxyConn]bool{}}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		ln.Close()
		return nil, errors.New("testbed: net closed")
	}
	n.proxies = append(n.proxies, p)
	n.mu.Unlock()
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Cut stops the bytes from sends to to (one way); Heal lets them through
// again.
func (n *Net) Cut(from, to int32) { n.update(Link{from, to}, func(r *linkRule) { r.cut = true }) }

// Heal ends the cut of from->to (its delay stays).
func (n *Net) Heal(from, to int32) { n.update(Link{from, to}, func(r *linkRule) { r.cut = false }) }

// CutBoth cuts a->b and b->a.
func (n *Net) CutBoth(a, b int32) { n.Cut(a, b); n.Cut(b, a) }

// Delay adds d to every chunk of bytes from sends to to (0 removes it).
func (n *Net) Delay(from, to int32, d time.Duration) {
	n.update(Link{from, to}, func(r *linkRule) { r.delay = d })
}

// HealAll removes every cut and delay.
func (n *Net) HealAll() {
	n.mu.Lock()
	n.rules = map[Link]linkRule{}
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// Faults lists the links that are cut or delayed, sorted.
func (n *Net) Faults() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for l, r := range n.rules {
		switch {
		case r.cut:
			out = append(out, l.String()+" cut")
		case r.delay > 0:
			out = append(out, fmt.Sprintf("%v +%v", l, r.delay))
		}
	}
	sort.Strings(out)
	return out
}

func (n *Net) update(l Link, f func(*linkRule)) {
	n.mu.Lock()
	r := n.rules[l]
	f(&r)
	if r == (linkRule{}) {
		delete(n.rules, l)
	} else {
		n.rules[l] = r
	}
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// rule returns the rule of l and a channel closed at the next change.
func (n *Net) rule(l Link) (linkRule, <-chan struct{}, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rules[l], n.changed, n.closed
}

// waitOpen blocks while l is cut; false once the net is closed or stop
// is.
func (n *Net) waitOpen(l Link, stop <-chan struct{}) (time.Duration, bool) {
	for {
		r, ch, closed := n.rule(l)
		if closed {
			return 0, false
		}
		if !r.cut {
			return r.delay, true
		}
		select {
		case <-ch:
		case <-stop:
			return 0, false
		}
	}
}

// Close stops every proxy and closes every forwarded connection.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.changed)
	n.changed = make(chan struct{})
	ps := n.proxies
	n.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.close())
	}
	return errors.Join(errs...)
}

// Sever closes every connection forwarded between a and b (either way),
// as a peer's reset would; new ones are accepted as usual.
func (n *Net) Sever(a, b int32) int {
	n.mu.Lock()
	ps := append([]*Proxy(nil), n.proxies...)
	n.mu.Unlock()
	count := 0
	for _, p := range ps {
		p.mu.Lock()
		for c := range p.conns {
			if (c.from == a && p.To == b) || (c.from == b && p.To == a) {
				c.closeBoth()
				count++
			}
		}
		p.mu.Unlock()
	}
	return count
}

func (p *Proxy) close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.closeBoth()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (c *proxyConn) closeBoth() {
	c.client.Close()
	if c.server != nil {
		c.server.Close()
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		conn, err := p.ln.Accept()
		if err != nil {
			return
		}
		from := Clients
		if p.net.Source != nil {
			ra, ok1 := conn.RemoteAddr().(*net.TCPAddr)
			la, ok2 := conn.LocalAddr().(*net.TCPAddr)
			if ok1 && ok2 {
				from = p.net.Source(ra, la)
			}
		}
		c := &proxyConn{from: from, client: conn}
		p.mu.Lock()
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve connects c to the target once neither direction is cut (a
// handshake needs both) and pumps bytes both ways until either side
// closes.
func (p *Proxy) serve(c *proxyConn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.closeBoth()
	}()
	up, down := Link{c.from, p.To}, Link{p.To, c.from}
	gone := watchClosed(c.client)
	for {
		if _, ok := p.net.waitOpen(up, gone.closed); !ok {
			return
		}
		if _, ok := p.net.waitOpen(down, gone.closed); !ok {
			return
		}
		if r, _, _ := p.net.rule(up); !r.cut {
			break
		}
	}
	server, err := net.DialTimeout("tcp", p.Target, 2*time.Second)
	if err != nil {
		// The target is down: reset the client's connection, as the
		// refused connect would have been (a clean close reads as a
		// broker that hangs up during the handshake, which clients do not
		// retry).
		if tc, ok := c.client.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		return
	}
	p.mu.Lock()
	c.server = server
	p.mu.Unlock()
	select {
	case <-gone.closed:
		return
	default:
	}
	done, quit := make(chan struct{}, 2), make(chan struct{})
	defer close(quit)
	go func() { p.net.pump(up, gone.reader(), server, quit); done <- struct{}{} }()
	go func() { p.net.pump(down, server, c.client, quit); done <- struct{}{} }()
	<-done
}

// chunk is bytes read on a link and when.
type chunk struct {
	b  []byte
	at time.Time
}

// pumpQueue bounds the chunks a held link buffers before its reader
// stops reading (then the sender's socket buffers fill).
const pumpQueue = 16

// pump copies src to dst under the rule of l: a reader queues what it
// reads, a writer delivers each chunk once l is not cut and its delay has
// passed. It returns when either side fails or quit is closed; dst is
// closed for writing.
func (n *Net) pump(l Link, src io.Reader, dst net.Conn, quit <-chan struct{}) {
	q := make(chan chunk, pumpQueue)
	stop := make(chan struct{})
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			k, err := src.Read(buf)
			if k > 0 {
				select {
				case q <- chunk{buf[:k], time.Now()}:
				case <-stop:
					return
				case <-quit:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer close(stop)
	for ch := range q {
		delay, ok := n.waitOpen(l, quit)
		if !ok {
			return
		}
		if wait := time.Until(ch.at.Add(delay)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-quit:
				return
			}
			if _, ok := n.waitOpen(l, quit); !ok {
				return
			}
		}
		if _, err := dst.Write(ch.b); err != nil {
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
		return
	}
	dst.Close()
}

// firstRead is the first read of a held connection's client: it tells
// the proxy the client went away while it waits to connect it, and its
// bytes come first once connected.
type firstRead struct {
	conn   net.Conn
	b      []byte
	err    error
	done   chan struct{} // the read returned
	closed chan struct{} // ... with an error: the client is gone
}

func watchClosed(conn net.Conn) *firstRead {
	fr := &firstRead{conn: conn, done: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		buf := make([]byte, 32<<10)
		k, err := conn.Read(buf)
		fr.b, fr.err = buf[:k], err
		close(fr.done)
		if err != nil {
			close(fr.closed)
		}
	}()
	return fr
}

// reader returns the connection's bytes, the first read's included.
func (fr *firstRead) reader() io.Reader { return &prefixReader{fr: fr} }

type prefixReader struct {
	fr    *firstRead
	rest  []byte
	state int // 0 first read pending, 1 serving its bytes, 2 reading conn
}

func (r *prefixReader) Read(b []byte) (int, error) {
	if r.state == 0 {
		<-r.fr.done
		r.rest, r.state = r.fr.b, 1
	}
	if r.state == 1 {
		if len(r.rest) > 0 {
			k := copy(b, r.rest)
			r.rest = r.rest[k:]
			return k, nil
		}
		if r.fr.err != nil {
			return 0, r.fr.err
		}
		r.state = 2
	}
	return r.fr.conn.Read(b)
}

// Connections counts the live forwarded connections per link (dialer ->
// the proxied node).
func (n *Net) Connections() map[Link]int {
	n.mu.Lock()
	ps := append([]*Proxy(nil), n.proxies...)
	n.mu.Unlock()
	out := map[Link]int{}
	for _, p := range ps {
		p.mu.Lock()
		for c := range p.conns {
			out[Link{c.from, p.To}]++
		}
		p.mu.Unlock()
	}
	return out
}
