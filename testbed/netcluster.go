package testbed

import (
	"errors"
	"net"
	"strconv"

	"github.com/chronik/chronik/raftmeta"
)

// proxiedMembers builds the members of a cluster whose links pass through
// nw: the cluster config names a proxy for each node's replication and
// Raft address (and Kafka address with clients), and the node binds the
// real listener the proxy forwards to (--replication-listen,
// --raft-listen, --listen); listenArgs holds those flags per node id.
// Proxies are listening before any real address is picked, so no picked
// port is one of theirs.
func proxiedMembers(cfg Config, nw *Net, addrs *addrPicker) (ms []raftmeta.Member, listenArgs map[int32][]string, err error) {
	listenArgs = map[int32][]string{}
	if len(cfg.KafkaPorts) > 0 && cfg.ProxyClients {
		return nil, nil, errors.New("testbed: fixed Kafka ports and ProxyClients exclude each other")
	}
	type real struct{ kafka, repl, raft string }
	for i := range cfg.Nodes {
		m := raftmeta.Member{ID: int32(i + 1)}
		var rl real
		for _, a := range []*string{&rl.repl, &rl.raft} {
			if *a, err = addrs.pick(); err != nil {
				return nil, nil, err
			}
		}
		repl, err := nw.Listen("replication", m.ID, rl.repl)
		if err != nil {
			return nil, nil, err
		}
		raft, err := nw.Listen("raft", m.ID, rl.raft)
		if err != nil {
			return nil, nil, err
		}
		m.ReplicationAddr, m.RaftAddr = repl.Addr, raft.Addr
		switch {
		case len(cfg.KafkaPorts) > 0:
			m.KafkaAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.KafkaPorts[i]))
		case cfg.ProxyClients:
			if rl.kafka, err = addrs.pick(); err != nil {
				return nil, nil, err
			}
			kp, err := nw.Listen("kafka", m.ID, rl.kafka)
			if err != nil {
				return nil, nil, err
			}
			m.KafkaAddr = kp.Addr
			listenArgs[m.ID] = append(listenArgs[m.ID], "--listen", rl.kafka)
		default:
			if m.KafkaAddr, err = addrs.pick(); err != nil {
				return nil, nil, err
			}
		}
		if i < len(cfg.Racks) {
			m.Rack = cfg.Racks[i]
		}
		listenArgs[m.ID] = append(listenArgs[m.ID], "--replication-listen", rl.repl, "--raft-listen", rl.raft)
		addrs.used[m.ReplicationAddr], addrs.used[m.RaftAddr] = true, true
		ms = append(ms, m)
	}
	return ms, listenArgs, nil
}

// sourceOf attributes a connection to the node whose live process dialed
// it (Clients for any other process).
func (c *Cluster) sourceOf(dialer, proxy *net.TCPAddr) int32 {
	var pids []int
	ids := map[int]int32{}
	nodes := c.nodes.Load()
	if nodes == nil {
		return Clients
	}
	for _, n := range *nodes {
		if pid := n.Proc.Pid(); pid != 0 {
			pids = append(pids, pid)
			ids[pid] = n.ID
		}
	}
	if pid, ok := SocketOwner(dialer, proxy, pids); ok {
		return ids[pid]
	}
	return Clients
}
