package replicate

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/chronik/chronik/wal"
	"github.com/chronik/chronik/wal/vfs/memfs"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// silentLeader accepts follower connections, decodes each Fetch request
// and sends its partitions (topic id + partition) to seen, and never
// answers: every fetch is a long poll that does not end.
func silentLeader(t *testing.T) (addr string, seen <-chan []tpKey) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan []tpKey, 16)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { nc.Close() })
			go func() {
				for {
					var size [4]byte
					if _, err := io.ReadFull(nc, size[:]); err != nil {
						return
					}
					frame := make([]byte, binary.BigEndian.Uint32(size[:]))
					if _, err := io.ReadFull(nc, frame); err != nil {
						return
					}
					// Header v2: key, version, correlation id, client id, tags.
					idLen := int(binary.BigEndian.Uint16(frame[8:]))
					body := frame[10+idLen+1:]
					req := kmsg.NewPtrFetchRequest()
					req.Version = int16(binary.BigEndian.Uint16(frame[2:]))
					if err := req.ReadFrom(body); err != nil {
						t.Errorf("decode fetch: %v", err)
						return
					}
					var ks []tpKey
					for _, rt := range req.Topics {
						for _, rp := range rt.Partitions {
							ks = append(ks, tpKey{rt.TopicID, rp.Partition})
						}
					}
					ch <- ks
				}
			}()
		}
	}()
	return ln.Addr().String(), ch
}

type memReplica struct {
	name string
	log  *wal.Log
}

func (r *memReplica) String() string                      { return r.name }
func (r *memReplica) Log() *wal.Log                       { return r.log }
func (r *memReplica) TruncateTo(int64) error              { return nil }
func (r *memReplica) TruncateFullyAndStartAt(int64) error { return nil }
func (r *memReplica) FollowerHighWatermark(int64)         {}
func (r *memReplica) AppendReplicated(b []byte, h []wal.BatchHeader) ([]wal.BatchHeader, error) {
	return r.log.AppendReplica(b, h)
}

func memTarget(t *testing.T, fsys *memfs.FS, p int32) Target {
	t.Helper()
	l, err := wal.Open(fsys, "/data/t-"+string(rune('0'+p)), wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return Target{Topic: "t", TopicID: [16]byte{9}, Partition: p, Leader: 1, LeaderEpoch: 1, Replica: &memReplica{name: "t-" + string(rune('0'+p)), log: l}}
}

// A partition that joins a fetcher whose fetch is in flight is fetched at
// once, not after that fetch's long poll: the first acks=-1 produce on a
// new leader waits for this. The leader here never answers, so without the
// interruption the second partition would wait for the exchange deadline
// (MaxWait + 10 s).
func TestAJoiningPartitionInterruptsTheLongPoll(t *testing.T) {
	addr, seen := silentLeader(t)
	m := NewManager(Options{Self: 2, MaxWait: 500 * time.Millisecond,
		LeaderAddr: func(int32) (string, bool) { return addr, true }})
	defer m.Close()
	fsys := memfs.New()
	fsys.MkdirAll("/data", 0o755)
	a, b := memTarget(t, fsys, 0), memTarget(t, fsys, 1)
	m.Set([]Target{a})
	wait := func(want tpKey, within time.Duration) {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case ks := <-seen:
				for _, k := range ks {
					if k == want {
						return
					}
				}
			case <-deadline:
				t.Fatalf("no fetch of partition %d within %v", want.partition, within)
			}
		}
	}
	wait(a.key(), 5*time.Second)
	m.Set([]Target{a, b})
	wait(b.key(), 2*time.Second)
	if st := m.Stats(); st.Errors != 0 {
		t.Fatalf("the interruption counted as %d errors", st.Errors)
	}
}
