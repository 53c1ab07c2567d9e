package itest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOversizeFrameClosesOnlyThatConnection: a request frame whose size
// exceeds socket.request.max.bytes makes the broker close that connection
// without reading the body, while other clients keep producing and
// consuming.
func TestOversizeFrameClosesOnlyThatConnection(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	b := StartBroker(t, Options{Config: map[string]string{"socket.request.max.bytes": "1048576"}})
	const topic = "oversize-neighbour"
	cl := newClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSeqs(t, ctx, cl, topic, 0, 50)

	raw, err := net.DialTimeout("tcp", b.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer raw.Close()
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], 2<<20) // 2 MiB > 1 MiB limit
	if _, err := raw.Write(size[:]); err != nil {
		t.Fatalf("write frame size: %v", err)
	}

	// The other connection works while the oversize one is being dealt with.
	produceSeqs(t, ctx, cl, topic, 50, 50)

	if err := raw.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := raw.Read(make([]byte, 64))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Errorf("connection with a 2 MiB frame size still open after 5 s; want it closed")
	case err == nil:
		t.Errorf("broker answered %d bytes to a 2 MiB frame; want the connection closed", n)
	case !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET):
		t.Errorf("read after oversize frame: %v, want EOF or connection reset", err)
	}

	produceSeqs(t, ctx, cl, topic, 100, 50)
	checkDenseSeqs(t, consumeAll(t, ctx, b.Addr(), topic), 150)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordBatch encodes a v2 RecordBatch of uncompressed records without a
// producer id, with a correct length and CRC32C.
func recordBatch(ts time.Time, recs ...kmsg.Record) []byte {
	var body []byte
	for i := range recs {
		r := recs[i]
		r.OffsetDelta = int32(i)
		r.Length = 0
		r.Length = int32(len(r.AppendTo(nil)) - 1) // everything after the 1-byte varint 0
		body = r.AppendTo(body)
	}
	ms := ts.UnixMilli()
	batch := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       ms,
		MaxTimestamp:         ms,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              body,
	}
	raw := batch.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:12], uint32(len(raw)-12))                   // batchLength: bytes after it
	binary.BigEndian.PutUint32(raw[17:21], crc32.Checksum(raw[21:], castagnoli)) // crc: attributes..end
	return raw
}

// rawConn issues requests on one plain TCP connection, so the test chooses
// the exact bytes and version on the wire.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	corr int32
	fmt  *kmsg.RequestFormatter
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, conn: c, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("itest-raw"))}
}

// roundTrip sends req and decodes the answer into resp (same version).
func (c *rawConn) roundTrip(req kmsg.Request, resp kmsg.Response) {
	c.t.Helper()
	if err := c.exchange(req, resp, 15*time.Second); err != nil {
		c.t.Fatal(err)
	}
}

// exchange is roundTrip returning its error, for any goroutine: the
// answer must arrive within timeout.
func (c *rawConn) exchange(req kmsg.Request, resp kmsg.Response, timeout time.Duration) error {
	name := kmsg.NameForKey(req.Key())
	c.corr++
	if err := c.conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.conn.Write(c.fmt.AppendRequest(nil, req, c.corr)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		return fmt.Errorf("read %s response size: %w", name, err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.conn, body); err != nil {
		return fmt.Errorf("read %s response: %w", name, err)
	}
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != c.corr {
		return fmt.Errorf("%s response: correlation id mismatch or short body (%d bytes)", name, len(body))
	}
	body = body[4:]
	resp.SetVersion(req.GetVersion())         // before IsFlexible, which depends on it
	if resp.IsFlexible() && req.Key() != 18 { // response header v1: empty tag section
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("decode %s v%d response: %w", name, req.GetVersion(), err)
	}
	return nil
}

// produce sends one batch to topic[0] with acks=-1 at Produce v7 and returns
// the partition's answer.
func (c *rawConn) produce(topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	c.t.Helper()
	return c.produceAcks(topic, batch, -1)
}

// produceAcks is produce with the given acks.
func (c *rawConn) produceAcks(topic string, batch []byte, acks int16) kmsg.ProduceResponseTopicPartition {
	c.t.Helper()
	resp := kmsg.NewPtrProduceResponse()
	c.roundTrip(produceRequest(topic, batch, acks), resp)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		c.t.Fatalf("produce response has %d topics, want 1 with 1 partition: %+v", len(resp.Topics), resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

// produceRequest is a Produce v7 of one batch to topic[0].
func produceRequest(topic string, batch []byte, acks int16) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = acks
	req.TimeoutMillis = 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestCorruptBatchGetsCorruptMessage: a batch whose CRC or batchLength is
// wrong is refused with CORRUPT_MESSAGE and nothing of it is stored; the
// connection stays usable and the next valid batch lands at offset 0.
func TestCorruptBatchGetsCorruptMessage(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	b := StartBroker(t, Options{})
	const topic = "corrupt-batches"
	ensureTopic(t, ctx, b.Addr(), topic)
	conn := dialRaw(t, b.Addr())
	now := time.Now()
	rec := func(v string) kmsg.Record { return kmsg.Record{Key: []byte("k"), Value: []byte(v)} }

	corrupt := []struct {
		name   string
		mangle func(batch []byte)
	}{
		{"flipped crc byte", func(b []byte) { b[18] ^= 0x5a }},
		{"batchLength one too long", func(b []byte) {
			binary.BigEndian.PutUint32(b[8:12], binary.BigEndian.Uint32(b[8:12])+1)
		}},
		{"batchLength one too short", func(b []byte) {
			binary.BigEndian.PutUint32(b[8:12], binary.BigEndian.Uint32(b[8:12])-1)
		}},
	}
	for _, tc := range corrupt {
		batch := recordBatch(now, rec("bad: "+tc.name), rec("bad 2: "+tc.name))
		tc.mangle(batch)
		p := conn.produce(topic, batch)
		if p.ErrorCode != kerr.CorruptMessage.Code {
			t.Errorf("%s: error code %d (%v), base offset %d; want %d CORRUPT_MESSAGE",
				tc.name, p.ErrorCode, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, kerr.CorruptMessage.Code)
		}
	}

	if end := endOffset(t, ctx, b.Addr(), topic); end != 0 {
		t.Errorf("after corrupt batches the log end offset is %d, want 0 (nothing stored)", end)
	}

	p := conn.produce(topic, recordBatch(now, rec("good")))
	if p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("valid batch after corrupt ones: error %v, base offset %d; want no error at offset 0",
			kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	recs := consumeAll(t, ctx, b.Addr(), topic)
	if len(recs) != 1 || recs[0].Offset != 0 || string(recs[0].Key) != "k" || string(recs[0].Value) != "good" {
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d:%q=%q", r.Offset, r.Key, r.Value))
		}
		t.Errorf("topic holds %v, want only the valid record 0:\"k\"=\"good\"", got)
	}
}
