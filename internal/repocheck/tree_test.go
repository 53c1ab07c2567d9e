package repocheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxTrackedBytes is the largest file git may track (baseline.json and
// small test data are far below it).
const maxTrackedBytes = 1 << 20

// repoRoot returns the top of the git work tree, or skips the test when the
// source is not a git checkout (an unpacked archive has nothing tracked).
func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not a git work tree (%v): nothing is tracked", err)
	}
	return strings.TrimSpace(string(out))
}

// executableMagic lists the first bytes of the executable formats a Go or
// C build writes: ELF, Mach-O (32/64-bit, both byte orders, fat) and PE.
var executableMagic = [][]byte{
	{0x7f, 'E', 'L', 'F'},
	{0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf},
	{0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe},
	{0xca, 0xfe, 0xba, 0xbe},
	{'M', 'Z'},
}

// trackedProblem says what is wrong with a tracked file, or "".
func trackedProblem(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Size() > maxTrackedBytes {
		return fmt.Sprintf("%d bytes, over the %d byte limit", st.Size(), maxTrackedBytes), nil
	}
	head := make([]byte, 4)
	n, _ := f.Read(head)
	for _, m := range executableMagic {
		if n >= len(m) && bytes.Equal(head[:len(m)], m) {
			return "an executable binary (build into bin/, which is ignored)", nil
		}
	}
	return "", nil
}

// TestNoBuildOutputOrLargeFileIsTracked fails when git tracks an
// executable or a file over 1 MiB: build output belongs in bin/ (ignored),
// results in bench-results/ (ignored).
func TestNoBuildOutputOrLargeFileIsTracked(t *testing.T) {
	root := repoRoot(t)
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		problem, err := trackedProblem(filepath.Join(root, name))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, not yet committed
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if problem != "" {
			t.Errorf("tracked file %s is %s; git rm --cached it", name, problem)
		}
	}
}

// TestTrackedFileCheckCatchesBinariesAndLargeFiles shows the check above
// can fail: a small ELF header and a 1 MiB+1 file are both refused, a text
// file is not.
func TestTrackedFileCheckCatchesBinariesAndLargeFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name string
		data []byte
		bad  bool
	}{
		{"elf", append([]byte{0x7f, 'E', 'L', 'F'}, make([]byte, 60)...), true},
		{"macho", []byte{0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1}, true},
		{"big.json", bytes.Repeat([]byte("x"), maxTrackedBytes+1), true},
		{"ok.json", []byte(`{"schema":1}`), false},
		{"empty", nil, false},
	} {
		problem, err := trackedProblem(write(c.name, c.data))
		if err != nil {
			t.Fatal(err)
		}
		if (problem != "") != c.bad {
			t.Errorf("%s: problem %q, want bad=%v", c.name, problem, c.bad)
		}
	}
}
