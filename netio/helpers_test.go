package netio

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handlerFunc adapts a function to Handler.
type handlerFunc func(req *Request, respond Responder) error

func (f handlerFunc) Handle(req *Request, respond Responder) error { return f(req, respond) }

// apiVersionsMax is the ApiVersions version range the test handler serves.
const apiVersionsMax = 4

// apiVersionsHandler answers ApiVersions v0-v4 the way a broker must:
// unknown higher versions get UNSUPPORTED_VERSION in a v0 response that
// still lists the ranges (KIP-511). Every other key is an error.
func apiVersionsHandler(maxVersion int16) Handler {
	return handlerFunc(func(req *Request, respond Responder) error {
		if req.Key != apiVersionsKey {
			return fmt.Errorf("unsupported key %d", req.Key)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		if req.Version > maxVersion {
			resp.Version = 0
			resp.ErrorCode = 35 // UNSUPPORTED_VERSION
		} else {
			r := kmsg.NewPtrApiVersionsRequest()
			r.Version = req.Version
			if err := r.ReadFrom(req.Body); err != nil {
				return fmt.Errorf("decode ApiVersions v%d: %w", req.Version, err)
			}
			resp.Version = req.Version
		}
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = apiVersionsKey, 0, maxVersion
		resp.ApiKeys = append(resp.ApiKeys, k)
		respond(resp)
		return nil
	})
}

func testLogger() *slog.Logger {
	if os.Getenv("NETIO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// startServer starts a server on a free loopback port and stops it when
// the test ends.
func startServer(t testing.TB, opts Options, h Handler) *Server {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	s := NewServer(opts, h)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// rawClient speaks Kafka framing over a plain TCP connection.
type rawClient struct {
	t    testing.TB
	c    net.Conn
	r    *bufio.Reader
	fmtr *kmsg.RequestFormatter
}

func dial(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{t: t, c: c, r: bufio.NewReader(c), fmtr: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))}
}

func (rc *rawClient) send(r kmsg.Request, corr int32) {
	rc.t.Helper()
	rc.write(rc.fmtr.AppendRequest(nil, r, corr))
}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// read returns the next response frame: correlation id and the bytes after it.
func (rc *rawClient) read() (int32, []byte, error) {
	_ = rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(rc.r, size[:]); err != nil {
		return 0, nil, err
	}
	frame := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(rc.r, frame); err != nil {
		return 0, nil, err
	}
	if len(frame) < 4 {
		return 0, nil, errors.New("short response frame")
	}
	return int32(binary.BigEndian.Uint32(frame)), frame[4:], nil
}

func (rc *rawClient) mustRead() (int32, []byte) {
	rc.t.Helper()
	corr, rest, err := rc.read()
	if err != nil {
		rc.t.Fatalf("read response: %v", err)
	}
	return corr, rest
}

// expectClosed asserts the server closed the connection.
func (rc *rawClient) expectClosed() {
	rc.t.Helper()
	_, _, err := rc.read()
	if err == nil {
		rc.t.Fatal("got a response, want the connection closed")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		rc.t.Fatal("connection still open after 5s, want it closed")
	}
}

// apiVersions sends ApiVersions v<version> and checks the answer.
func (rc *rawClient) apiVersions(version int16, corr int32) *kmsg.ApiVersionsResponse {
	rc.t.Helper()
	rc.send(&kmsg.ApiVersionsRequest{Version: version, ClientSoftwareName: "raw", ClientSoftwareVersion: "1"}, corr)
	got, body := rc.mustRead()
	if got != corr {
		rc.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = version
	if version > apiVersionsMax {
		resp.Version = 0
	}
	if err := resp.ReadFrom(body); err != nil {
		rc.t.Fatalf("decode ApiVersions v%d response: %v", resp.Version, err)
	}
	return resp
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
