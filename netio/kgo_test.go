package netio

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// seenHandler wraps a handler and records every (key, version, client id)
// and, for ApiVersions v3+, the decoded client software name: it proves
// the flexible request header was skipped exactly.
type seenHandler struct {
	next     Handler
	mu       sync.Mutex
	seen     []string
	versions []int16
}

func (h *seenHandler) Handle(req *Request, respond Responder) error {
	entry := req.ClientID
	if req.Key == apiVersionsKey && req.Version >= 3 && req.Version <= apiVersionsMax {
		r := kmsg.NewPtrApiVersionsRequest()
		r.Version = req.Version
		if err := r.ReadFrom(req.Body); err == nil {
			entry += "/" + r.ClientSoftwareName
		}
	}
	h.mu.Lock()
	h.seen = append(h.seen, entry)
	h.versions = append(h.versions, req.Version)
	h.mu.Unlock()
	return h.next.Handle(req, respond)
}

// TestKgoApiVersionsInterop has a real franz-go client talk to the server
// at every ApiVersions version 0-4 (pinned with kgo.MaxVersions), so both
// request header v1 and v2 and the always-v0 ApiVersions response header
// meet a real client.
func TestKgoApiVersionsInterop(t *testing.T) {
	for v := int16(0); v <= apiVersionsMax; v++ {
		h := &seenHandler{next: apiVersionsHandler(apiVersionsMax)}
		s := startServer(t, Options{}, h)
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(apiVersionsKey, v)
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr()), kgo.MaxVersions(vs),
			kgo.ClientID("kgo-interop"), kgo.SoftwareNameAndVersion("kgotest", "1.0"))
		if err != nil {
			t.Fatal(err)
		}
		resp := requestApiVersions(t, cl, v)
		cl.Close()
		if resp.ErrorCode != 0 || len(resp.ApiKeys) != 1 || resp.ApiKeys[0].MaxVersion != apiVersionsMax {
			t.Fatalf("v%d: response %+v", v, resp)
		}
		h.mu.Lock()
		if len(h.seen) < 2 { // kgo's own handshake, then our request
			t.Fatalf("v%d: handler saw %d requests", v, len(h.seen))
		}
		for _, e := range h.seen {
			want := "kgo-interop"
			if v >= 3 {
				want += "/kgotest"
			}
			if e != want {
				t.Fatalf("v%d: handler saw %q, want %q", v, e, want)
			}
		}
		h.mu.Unlock()
	}
}

// TestKgoDowngradesOnUnsupportedApiVersions: the server supports
// ApiVersions up to v2 only; franz-go sends its latest (v5 here), gets UNSUPPORTED_VERSION in
// a v0 response (KIP-511), and retries at v2.
func TestKgoDowngradesOnUnsupportedApiVersions(t *testing.T) {
	h := &seenHandler{next: apiVersionsHandler(2)}
	s := startServer(t, Options{}, h)
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp := requestApiVersions(t, cl, 2)
	if resp.ErrorCode != 0 || resp.ApiKeys[0].MaxVersion != 2 {
		t.Fatalf("response %+v", resp)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.versions) < 3 || h.versions[0] <= 2 || h.versions[1] != 2 {
		t.Fatalf("ApiVersions versions seen %v, want kgo's latest, then v2", h.versions)
	}
}

func requestApiVersions(t *testing.T, cl *kgo.Client, wantVersion int16) *kmsg.ApiVersionsResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "kgotest", "1.0"
	kresp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("ApiVersions through kgo (max v%d): %v", wantVersion, err)
	}
	resp := kresp.(*kmsg.ApiVersionsResponse)
	if resp.GetVersion() != wantVersion {
		t.Fatalf("kgo used ApiVersions v%d, want v%d", resp.GetVersion(), wantVersion)
	}
	return resp
}
