package benchmarks

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	builtDir  string
	builtBin  string
	buildErr  error
)

// chronikBin is $CHRONIK_BIN (make test sets it) or ../cmd/chronik built
// once per test process.
func chronikBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHRONIK_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		if builtDir, buildErr = os.MkdirTemp("", "chronik-bench-test-"); buildErr != nil {
			return
		}
		builtBin = filepath.Join(builtDir, "chronik")
		out, err := exec.Command("go", "build", "-o", builtBin, "../cmd/chronik").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ../cmd/chronik: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// testPeers starts Chronik from chronikBin and kfake from this test binary.
func testPeers(t *testing.T, chronikConfig map[string]string) Peers {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(kfakeServeEnv, "1") // inherited by the kfake child only; tests here are not parallel
	return Peers{ChronikBin: chronikBin(t), ChronikConfig: chronikConfig, KfakeCmd: []string{self}, WorkDir: t.TempDir()}
}
