package benchmarks

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// kfakeServeEnv makes the test binary act as `chronik-bench kfake-serve`,
// so tests can start kfake as a separate process without building the lab.
const kfakeServeEnv = "CHRONIK_BENCH_TEST_KFAKE_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(kfakeServeEnv) == "1" {
		if err := ServeKfake(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "kfake-serve:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if ms := os.Getenv(burnCPUEnv); ms != "" {
		n, err := strconv.Atoi(ms)
		if err != nil {
			fmt.Fprintln(os.Stderr, "burn-cpu:", err)
			os.Exit(1)
		}
		burnCPUChild(n)
		os.Exit(0)
	}
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// builds holds the binaries the tests built, by build tags, and builtDir
// where they are (removed by TestMain).
var (
	buildMu  sync.Mutex
	builtDir string
	builds   = map[string]string{}
)

// chronikBin is $CHRONIK_BIN (make test sets it) or ../cmd/chronik built
// once per test process.
func chronikBin(t *testing.T) string { return buildChronik(t, "CHRONIK_BIN", "") }

// chronikDebugBin is $CHRONIK_DEBUG_BIN (make test sets it) or ../cmd/chronik
// built with -tags chronikdebug (the debug.* test hooks) once per test
// process.
func chronikDebugBin(t *testing.T) string {
	return buildChronik(t, "CHRONIK_DEBUG_BIN", "chronikdebug")
}

func buildChronik(t *testing.T, env, tags string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := builds[tags]; ok {
		return bin
	}
	if builtDir == "" {
		dir, err := os.MkdirTemp("", "chronik-bench-test-")
		if err != nil {
			t.Fatal(err)
		}
		builtDir = dir
	}
	bin := filepath.Join(builtDir, "chronik"+tags)
	out, err := exec.Command("go", "build", "-tags", tags, "-o", bin, "../cmd/chronik").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -tags %q ../cmd/chronik: %v\n%s", tags, err, out)
	}
	builds[tags] = bin
	return bin
}

// testPeers starts Chronik from bin and kfake from this test binary.
func testPeers(t *testing.T, bin string, chronikConfig map[string]string) Peers {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(kfakeServeEnv, "1") // inherited by the kfake child only; tests here are not parallel
	return Peers{ChronikBin: bin, ChronikConfig: chronikConfig, KfakeCmd: []string{self}, WorkDir: t.TempDir()}
}
