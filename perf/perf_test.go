package perf

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// synthetic builds a CPU-like profile. A stack is a comma-separated list
// of locations, leaf first; a location "inner<outer" holds two lines, inner
// inlined into outer (pprof lists the innermost line first).
func synthetic(stacks map[string]int64) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 1,
	}
	funcs := map[string]*profile.Function{}
	fn := func(name string) *profile.Function {
		if f, ok := funcs[name]; ok {
			return f
		}
		f := &profile.Function{ID: uint64(len(funcs) + 1), Name: name}
		funcs[name] = f
		p.Function = append(p.Function, f)
		return f
	}
	for stack, v := range stacks {
		s := &profile.Sample{Value: []int64{v, v}}
		for _, frame := range strings.Split(stack, ",") {
			loc := &profile.Location{ID: uint64(len(p.Location) + 1)}
			for _, name := range strings.Split(frame, "<") { // "inner<outer": inner inlined into outer
				loc.Line = append(loc.Line, profile.Line{Function: fn(name)})
			}
			p.Location = append(p.Location, loc)
			s.Location = append(s.Location, loc)
		}
		p.Sample = append(p.Sample, s)
	}
	return p
}

func TestReduceFlatIsLeafCumCountsOncePerSample(t *testing.T) {
	p := synthetic(map[string]int64{
		"crc<append,produce,serve": 10, // crc inlined into append: crc is the leaf
		"produce,serve":            5,
		"serve,serve":              1, // recursion counts once in cum
	})
	c, err := Reduce(p, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]FuncCost{
		"crc": {"crc", 10, 10}, "append": {"append", 0, 10}, "produce": {"produce", 5, 15}, "serve": {"serve", 1, 16},
	}
	if c.Total != 16 || c.Unit != "nanoseconds" || len(c.Funcs) != len(want) {
		t.Fatalf("costs = %+v", c)
	}
	for n, w := range want {
		if c.Funcs[n] != w {
			t.Errorf("%s = %+v, want %+v", n, c.Funcs[n], w)
		}
	}
	if top := c.Top(2, false); top[0].Name != "crc" || top[1].Name != "produce" {
		t.Errorf("top by flat = %+v", top)
	}
	if top := c.Top(1, true); top[0].Name != "serve" {
		t.Errorf("top by cum = %+v", top)
	}
	if _, err := Reduce(p, "alloc_space"); err == nil {
		t.Error("unknown sample type accepted")
	}
}

func TestDiffListsWhatGrewByShare(t *testing.T) {
	before, _ := Reduce(synthetic(map[string]int64{"a,main": 50, "b,main": 50}), "cpu")
	// Twice as long a capture: a's share grew from 50% to 75%, b shrank.
	after, _ := Reduce(synthetic(map[string]int64{"a,main": 150, "b,main": 50, "c,main": 0}), "cpu")
	ds := Diff(before, after, 10)
	if len(ds) != 1 || ds[0].Name != "a" || ds[0].FlatShareDelta != 25 || ds[0].CumShareDelta != 25 {
		t.Fatalf("diff = %+v, want only a at +25 points", ds)
	}
	var b bytes.Buffer
	WriteDiff(&b, "cpu", before, after, 10)
	if !strings.Contains(b.String(), "+25.00") || !strings.Contains(b.String(), " a\n") {
		t.Fatalf("diff table:\n%s", b.String())
	}
}

// fakeAdmin serves the admin endpoints a capture uses and records the
// contention settings it was sent.
func fakeAdmin(t *testing.T, prof []byte) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var settings []string
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/contention", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		settings = append(settings, r.Method+" "+r.URL.RawQuery)
		mu.Unlock()
	})
	mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/profile") && r.URL.Query().Get("seconds") != "2" {
			http.Error(w, "want seconds=2", http.StatusBadRequest)
			return
		}
		w.Write(prof)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &settings
}

func TestCaptureWritesEveryProfileAndTurnsContentionOff(t *testing.T) {
	var buf bytes.Buffer
	if err := synthetic(map[string]int64{"x,main": 3}).Write(&buf); err != nil {
		t.Fatal(err)
	}
	srv, settings := fakeAdmin(t, buf.Bytes())
	dir := t.TempDir()
	c := &Capturer{AdminAddr: strings.TrimPrefix(srv.URL, "http://"), Dir: dir}
	wait, err := c.Start(context.Background(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		if _, err := os.Stat(filepath.Join(dir, k.Name+".pb.gz")); err != nil {
			t.Errorf("%s not written: %v", k.Name, err)
		}
	}
	if got := strings.Join(*settings, "; "); got != "POST mutex_fraction=5&block_rate_ns=10000; POST mutex_fraction=0&block_rate_ns=0" {
		t.Errorf("contention settings: %s", got)
	}
	// The fake serves a cpu-typed profile for every kind, so only cpu
	// summarises; the others must be reported, not skipped silently.
	text, err := SummarizeDir(dir, 5)
	if !strings.Contains(text, "== cpu (cpu, total 0.000s)") || err == nil {
		t.Fatalf("summary err=%v:\n%s", err, text)
	}
}
