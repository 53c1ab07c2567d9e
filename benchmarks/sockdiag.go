package benchmarks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's own count of the bytes each TCP socket received
// (tcp_info.tcpi_bytes_received, RFC 4898's HCThruOctetsReceived: payload
// bytes acknowledged in order), read for every IPv4 TCP socket of the
// machine through the sock_diag netlink interface (what ss -ti prints).
// The lab checks the brokers' own replication byte counters against it: a
// counter that missed or double-counted bytes would disagree with the
// sockets underneath.

// TCPSocket is one IPv4 TCP socket as sock_diag describes it.
type TCPSocket struct {
	Local, Remote netip.AddrPort
	Inode         uint32
	BytesReceived uint64 // tcpi_bytes_received
	RecvQueue     uint32 // bytes received, not yet read by the process
}

// Layout of the netlink messages (linux/inet_diag.h, linux/netlink.h).
const (
	nlmsgHdrLen        = 16
	inetDiagReqV2Len   = 56
	inetDiagMsgLen     = 72
	inetDiagInfo       = 2 // INET_DIAG_INFO: struct tcp_info
	inetDiagAllStates  = 0xffffffff
	tcpInfoBytesRecvAt = 128 // offsetof(struct tcp_info, tcpi_bytes_received)
)

// TCPSockets lists every IPv4 TCP socket with its received byte count.
func TCPSockets() ([]TCPSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	req := make([]byte, nlmsgHdrLen+inetDiagReqV2Len)
	binary.NativeEndian.PutUint32(req[0:], uint32(len(req)))
	binary.NativeEndian.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(req[8:], 1) // sequence
	body := req[nlmsgHdrLen:]
	body[0], body[1], body[2] = unix.AF_INET, unix.IPPROTO_TCP, 1<<(inetDiagInfo-1)
	binary.NativeEndian.PutUint32(body[4:], inetDiagAllStates)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("sock_diag request: %w", err)
	}
	var out []TCPSocket
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("sock_diag answer: %w", err)
		}
		done, err := parseDiagMessages(buf[:n], &out)
		if err != nil || done {
			return out, err
		}
	}
}

// parseDiagMessages appends the sockets of one netlink datagram to out;
// done at NLMSG_DONE.
func parseDiagMessages(b []byte, out *[]TCPSocket) (done bool, err error) {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b[0:]))
		typ := binary.NativeEndian.Uint16(b[4:])
		if l < nlmsgHdrLen || l > len(b) {
			return false, errors.New("sock_diag: truncated message")
		}
		msg := b[nlmsgHdrLen:l]
		switch typ {
		case unix.NLMSG_DONE:
			return true, nil
		case unix.NLMSG_ERROR:
			if len(msg) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(msg)); e != 0 {
					return false, fmt.Errorf("sock_diag: %w", unix.Errno(-e))
				}
			}
			return false, errors.New("sock_diag: error message")
		case unix.SOCK_DIAG_BY_FAMILY:
			if s, ok := parseDiagMsg(msg); ok {
				*out = append(*out, s)
			}
		}
		b = b[min(nlmsgAlign(l), len(b)):]
	}
	return false, nil
}

func nlmsgAlign(n int) int { return (n + 3) &^ 3 }

// parseDiagMsg reads one inet_diag_msg and its INET_DIAG_INFO attribute.
func parseDiagMsg(m []byte) (TCPSocket, bool) {
	if len(m) < inetDiagMsgLen {
		return TCPSocket{}, false
	}
	id := m[4:52] // inet_diag_sockid: ports and addresses in network order
	addr := func(at int) netip.Addr { return netip.AddrFrom4([4]byte(id[at : at+4])) }
	s := TCPSocket{
		Local:     netip.AddrPortFrom(addr(4), binary.BigEndian.Uint16(id[0:])),
		Remote:    netip.AddrPortFrom(addr(20), binary.BigEndian.Uint16(id[2:])),
		RecvQueue: binary.NativeEndian.Uint32(m[56:]),
		Inode:     binary.NativeEndian.Uint32(m[68:]),
	}
	for a := m[inetDiagMsgLen:]; len(a) >= 4; {
		l, typ := int(binary.NativeEndian.Uint16(a[0:])), binary.NativeEndian.Uint16(a[2:])
		if l < 4 || l > len(a) {
			break
		}
		if typ == inetDiagInfo && l-4 >= tcpInfoBytesRecvAt+8 {
			s.BytesReceived = binary.NativeEndian.Uint64(a[4+tcpInfoBytesRecvAt:])
		}
		a = a[min(nlmsgAlign(l), len(a)):]
	}
	return s, true
}

// The offset of tcpi_bytes_received must be the kernel's.
var _ = [1]struct{}{}[unsafe.Offsetof(unix.TCPInfo{}.Bytes_received)-tcpInfoBytesRecvAt]

// socketInodes are the inodes of pid's open sockets.
func socketInodes(pid int) (map[uint32]bool, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint32]bool{}
	for _, e := range ents {
		l, err := os.Readlink(dir + "/" + e.Name())
		if err != nil || !strings.HasPrefix(l, "socket:[") {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"), 10, 32); err == nil {
			out[uint32(n)] = true
		}
	}
	return out, nil
}

// SocketBytesFrom sums what pid's sockets connected to each of remotes
// (name -> host:port) received so far, by the kernel's count; bytes still
// in a receive queue are left out, so the figure is what the process has
// read. A socket closed before the call counts no more.
func SocketBytesFrom(pid int, remotes map[int32]string) (map[int32]int64, error) {
	socks, err := socketsFrom(pid, remotes)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, s := range socks {
		out[s.remote] += s.read
	}
	return out, nil
}

// remoteSocket is one of a process's sockets to a named remote.
type remoteSocket struct {
	inode  uint32
	remote int32
	read   int64 // bytes received less those still queued
}

func socketsFrom(pid int, remotes map[int32]string) ([]remoteSocket, error) {
	want := map[netip.AddrPort]int32{}
	for id, r := range remotes {
		ap, err := netip.ParseAddrPort(r)
		if err != nil {
			if tcp, rerr := net.ResolveTCPAddr("tcp4", r); rerr == nil {
				ap = tcp.AddrPort()
			} else {
				return nil, fmt.Errorf("address %q: %w", r, err)
			}
		}
		want[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = id
	}
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	socks, err := TCPSockets()
	if err != nil {
		return nil, err
	}
	var out []remoteSocket
	for _, s := range socks {
		id, ok := want[s.Remote]
		if !ok || !inodes[s.Inode] {
			continue
		}
		out = append(out, remoteSocket{inode: s.Inode, remote: id, read: int64(s.BytesReceived) - int64(s.RecvQueue)})
	}
	return out, nil
}

// SocketTracker follows processes' sockets to a set of remotes from Start
// to Stop, reading them every interval, so that a connection closed
// meanwhile still counts what it read up to its last reading (lost: what
// it read after, and a connection opened and closed between two readings).
type SocketTracker struct {
	pids    map[int32]int
	remotes map[int32]string
	stop    chan struct{}
	done    chan struct{}
	// per process and socket inode: the count at the first reading (0 for
	// a socket opened after Start) and at the last
	base, last map[int32]map[uint32]int64
	err        error
}

// StartSocketTracker reads the sockets of every process in pids (name ->
// pid) to remotes now and every interval until Stop.
func StartSocketTracker(pids map[int32]int, remotes map[int32]string, interval time.Duration) (*SocketTracker, error) {
	t := &SocketTracker{pids: pids, remotes: remotes, stop: make(chan struct{}), done: make(chan struct{}),
		base: map[int32]map[uint32]int64{}, last: map[int32]map[uint32]int64{}}
	if err := t.read(true); err != nil {
		return nil, err
	}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				if err := t.read(false); err != nil && t.err == nil {
					t.err = err
				}
			}
		}
	}()
	return t, nil
}

func (t *SocketTracker) read(first bool) error {
	for name, pid := range t.pids {
		socks, err := socketsFrom(pid, t.remotes)
		if err != nil {
			return err
		}
		if t.last[name] == nil {
			t.base[name], t.last[name] = map[uint32]int64{}, map[uint32]int64{}
		}
		for _, s := range socks {
			if _, seen := t.last[name][s.inode]; !seen {
				t.base[name][s.inode] = 0
				if first {
					t.base[name][s.inode] = s.read
				}
			}
			t.last[name][s.inode] = s.read
		}
	}
	return nil
}

// Stop reads once more and returns the bytes each process read through its
// tracked sockets since Start.
func (t *SocketTracker) Stop() (map[int32]int64, error) {
	close(t.stop)
	<-t.done
	if t.err != nil {
		return nil, t.err
	}
	if err := t.read(false); err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for name, socks := range t.last {
		for inode, n := range socks {
			out[name] += n - t.base[name][inode]
		}
	}
	return out, nil
}
