package raftmeta

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// The cluster config file lists every node, one per line; '#' starts a
// comment. Each broker derives its peers (Raft voters, replication peers,
// the brokers it advertises) from this list and nothing else:
//
//	# id  kafka            replication      raft             [rack]
//	1     127.0.0.1:9092   127.0.0.1:9192   127.0.0.1:9292   rack-a
//	2     127.0.0.1:9093   127.0.0.1:9193   127.0.0.1:9293   rack-b
//	3     127.0.0.1:9094   127.0.0.1:9194   127.0.0.1:9294
//
// Fields are separated by spaces or tabs; addresses are host:port.

// ParseClusterConfig parses a cluster config file body.
func ParseClusterConfig(body string) ([]Member, error) {
	var out []Member
	for i, line := range strings.Split(body, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m, err := parseMember(f)
		if err != nil {
			return nil, fmt.Errorf("cluster config line %d: %w", i+1, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cluster config lists no nodes")
	}
	return out, checkMembers(out)
}

func parseMember(f []string) (Member, error) {
	if len(f) != 4 && len(f) != 5 {
		return Member{}, fmt.Errorf("want: id kafka replication raft [rack], got %d fields", len(f))
	}
	id, err := strconv.ParseInt(f[0], 10, 32)
	if err != nil || id < 0 {
		return Member{}, fmt.Errorf("node id %q: want an integer >= 0", f[0])
	}
	for _, a := range f[1:4] {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			return Member{}, fmt.Errorf("address %q: want host:port", a)
		}
	}
	m := Member{ID: int32(id), KafkaAddr: f[1], ReplicationAddr: f[2], RaftAddr: f[3]}
	if len(f) == 5 {
		m.Rack = f[4]
	}
	return m, nil
}

// checkMembers refuses repeated ids and addresses.
func checkMembers(ms []Member) error {
	ids := map[int32]bool{}
	addrs := map[string]bool{}
	for _, m := range ms {
		if ids[m.ID] {
			return fmt.Errorf("cluster config: node id %d listed twice", m.ID)
		}
		ids[m.ID] = true
		for _, a := range []string{m.KafkaAddr, m.ReplicationAddr, m.RaftAddr} {
			if addrs[a] {
				return fmt.Errorf("cluster config: address %s used twice", a)
			}
			addrs[a] = true
		}
	}
	return nil
}

// FormatClusterConfig writes members in the cluster config format.
func FormatClusterConfig(ms []Member) string {
	var b strings.Builder
	b.WriteString("# id  kafka  replication  raft  [rack]\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "%d\t%s\t%s\t%s", m.ID, m.KafkaAddr, m.ReplicationAddr, m.RaftAddr)
		if m.Rack != "" {
			b.WriteString("\t" + m.Rack)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
