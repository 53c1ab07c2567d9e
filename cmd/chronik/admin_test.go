package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chronik/chronik/engine"
	"github.com/chronik/chronik/netio"
	"github.com/chronik/chronik/wal"
)

func TestAdminListenRefusesNonLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:0": true, "[::1]:9000": true, "localhost:9000": true, "127.1.2.3:1": true,
		"0.0.0.0:9000": false, ":9000": false, "10.0.0.1:9000": false, "example.com:80": false, "127.0.0.1": false,
	} {
		if err := checkLoopback(addr); (err == nil) != ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
	if _, _, err := loadConfig([]string{"--admin-listen", "0.0.0.0:9999", "--data-dir", t.TempDir()}); err == nil {
		t.Fatal("serve accepted --admin-listen 0.0.0.0:9999")
	}
}

func TestMetricsExpositionFormat(t *testing.T) {
	var b strings.Builder
	writeMetrics(&b, netio.Stats{Requests: 42, OpenConns: 2},
		engine.Metrics{ProducedRecords: 1e7, WAL: wal.Stats{Syncs: 3}})
	out := b.String()
	for _, want := range []string{
		"# TYPE chronik_net_requests_total counter\nchronik_net_requests_total 42\n",
		"# TYPE chronik_net_open_connections gauge\nchronik_net_open_connections 2\n",
		"chronik_produced_records_total 1e+07\n",
		"chronik_wal_syncs_total 3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "# HELP chronik_") && !strings.HasPrefix(line, "# TYPE chronik_") &&
			len(strings.Fields(line)) != 2 {
			t.Errorf("malformed exposition line %q", line)
		}
	}
}

func TestContentionEndpointSetsRatesAndRejectsBadInput(t *testing.T) {
	t.Cleanup(func() {
		rec := httptest.NewRecorder()
		handleContention(rec, httptest.NewRequest(http.MethodPost, "/debug/contention?mutex_fraction=0&block_rate_ns=0", nil))
	})
	for _, tc := range []struct {
		method, query string
		code          int
		body          string
	}{
		{http.MethodGet, "", 200, "mutex_fraction=0 block_rate_ns=0\n"},
		{http.MethodPost, "?mutex_fraction=5&block_rate_ns=10000", 200, "mutex_fraction=5 block_rate_ns=10000\n"},
		{http.MethodGet, "", 200, "mutex_fraction=5 block_rate_ns=10000\n"},
		{http.MethodPost, "?mutex_fraction=-1&block_rate_ns=1", 400, ""},
		{http.MethodPost, "?mutex_fraction=x", 400, ""},
		{http.MethodDelete, "", 405, ""},
	} {
		rec := httptest.NewRecorder()
		handleContention(rec, httptest.NewRequest(tc.method, "/debug/contention"+tc.query, nil))
		if rec.Code != tc.code || (tc.body != "" && rec.Body.String() != tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.query, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
}
