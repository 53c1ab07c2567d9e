package itest

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// httpGet fetches url from the admin listener and returns the body.
func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, err %v: %s", url, resp.StatusCode, err, body)
	}
	return body
}

func TestAdminListenerServesMetricsAndPprof(t *testing.T) {
	admin := freeAddr(t)
	b := StartBroker(t, Options{ExtraArgs: []string{"--admin-listen", admin}})
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, b.Addr())
	produceSeqs(t, ctx, cl, "adm", 0, 25)

	metrics := string(httpGet(t, "http://"+admin+"/metrics"))
	for _, want := range []string{"chronik_produced_records_total 25\n", "# TYPE chronik_net_requests_total counter\n", "chronik_topics 1\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	heap := httpGet(t, "http://"+admin+"/debug/pprof/heap")
	p, err := profile.ParseData(heap)
	if err != nil || len(p.SampleType) == 0 {
		t.Fatalf("heap profile does not parse: %v", err)
	}
	// Contention profiling is off until asked for.
	if got := string(httpGet(t, "http://"+admin+"/debug/contention")); got != "mutex_fraction=0 block_rate_ns=0\n" {
		t.Fatalf("contention profiling at start: %q", got)
	}
}

func TestAdminListenRefusesNonLoopbackAddress(t *testing.T) {
	bin := binaryPath(t)
	ctx := testContext(t, startTimeout)
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen", freeAddr(t), "--data-dir", t.TempDir(), "--admin-listen", "0.0.0.0:0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "loopback") {
		t.Fatalf("serve --admin-listen 0.0.0.0:0: err %v, output:\n%s", err, out)
	}
}
