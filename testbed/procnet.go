package testbed

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"strings"
)

// SocketOwner returns which of pids holds the TCP socket whose local
// address is local and remote address remote (one end of a loopback
// connection), read from /proc (Linux; no privileges needed for one's own
// processes). ok is false when no listed process holds it, e.g. it exited
// since.
func SocketOwner(local, remote *net.TCPAddr, pids []int) (int, bool) {
	inode, ok := socketInode(local, remote)
	if !ok {
		return 0, false
	}
	want := "socket:[" + inode + "]"
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == want {
				return pid, true
			}
		}
	}
	return 0, false
}

// socketInode finds the inode of the socket local<->remote in
// /proc/net/tcp (IPv4) or tcp6.
func socketInode(local, remote *net.TCPAddr) (string, bool) {
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 {
				continue
			}
			if procAddrIs(fs[1], local) && procAddrIs(fs[2], remote) {
				f.Close()
				return fs[9], true
			}
		}
		f.Close()
	}
	return "", false
}

// procAddrIs reports whether a /proc/net/tcp address (hex IP as native
// 32-bit words, ':', hex port) is a.
func procAddrIs(s string, a *net.TCPAddr) bool {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil || int(port) != a.Port {
		return false
	}
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw)%4 != 0 {
		return false
	}
	ip := make([]byte, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(ip[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	return net.IP(ip).Equal(a.IP)
}
