package repocheck

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/chronik/chronik"

// importRule says which of our packages a package may import. It covers
// pkg and its subpackages, unless a longer rule covers a subpackage; allow
// lists module-relative path prefixes.
type importRule struct {
	pkg   string   // module-relative path; the rule covers pkg and pkg/...
	allow []string // module-relative prefixes it may import
	why   string
}

// importRules are the design's dependency directions (DESIGN.md: "cmd
// wires netio to engine; engine -> {replicate, wal, raftmeta}; replicate
// -> {wal, raftmeta}, never engine; wal imports no other package of ours").
var importRules = []importRule{
	{"netio", nil, "netio frames requests and knows nothing of topics: it imports no package of ours"},
	{"wal", []string{"wal"}, "wal imports no other package of ours"},
	{"raftmeta", []string{"internal/kwire"}, "raftmeta holds metadata only and imports no package of ours but the wire client"},
	{"replicate", []string{"wal", "raftmeta", "replicate", "internal/kwire"}, "replicate imports wal and raftmeta, never engine"},
	{"internal/kwire", nil, "the wire client is a leaf"},
	{"engine/partition", []string{"wal", "engine/partition"}, "partition state knows the log, not the broker"},
	{"engine/group", []string{"wal", "engine/group", "engine/compression"}, "the group coordinator reaches the broker only through group.Host"},
	{"engine/compression", nil, "codecs only"},
	{"engine", []string{"engine", "wal", "raftmeta", "replicate"}, "engine knows nothing of sockets (netio) or of the binaries"},
}

// testSupport are packages only tests may link.
var testSupport = []string{"wal/vfs/memfs"}

// violations checks an import graph (package -> imports, module-relative
// for ours) against the rules.
func violations(graph map[string][]string) []string {
	var out []string
	for pkg, imports := range graph {
		rule, ok := ruleFor(pkg)
		if !ok {
			continue
		}
		for _, imp := range imports {
			if !slices.ContainsFunc(rule.allow, func(a string) bool { return within(imp, a) }) {
				out = append(out, fmt.Sprintf("%s imports %s: %s", pkg, imp, rule.why))
			}
		}
	}
	slices.Sort(out)
	return out
}

// ruleFor returns the most specific rule covering pkg.
func ruleFor(pkg string) (importRule, bool) {
	best, found := importRule{}, false
	for _, r := range importRules {
		if within(pkg, r.pkg) && (!found || len(r.pkg) > len(best.pkg)) {
			best, found = r, true
		}
	}
	return best, found
}

// within reports whether pkg is prefix or below it.
func within(pkg, prefix string) bool {
	return pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

// goList runs go list in the module and returns "path imports..." per
// package, our packages only, module-relative.
func goList(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	root := repoRoot(t)
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	graph := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		var ours []string
		for _, imp := range f[1:] {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				ours = append(ours, rel)
			}
		}
		graph[strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")] = ours
	}
	return graph
}

// TestPackagesImportInTheDesignsDirections fails when a package imports one
// the design forbids (e.g. netio importing engine, wal importing raftmeta,
// a subpackage of engine importing engine).
func TestPackagesImportInTheDesignsDirections(t *testing.T) {
	graph := goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
	if len(graph) < 5 {
		t.Fatalf("go list found only %d packages", len(graph))
	}
	for _, v := range violations(graph) {
		t.Error(v)
	}
}

// TestShippedBinariesLinkNoTestSupport fails when a binary under cmd/
// depends on a test-support package (the crash-simulating file system).
func TestShippedBinariesLinkNoTestSupport(t *testing.T) {
	for _, bin := range []string{"./cmd/chronik", "./cmd/chronik-bench", "./cmd/chronik-testbed"} {
		deps := goList(t, "-deps", "-f", "{{.ImportPath}}", bin)
		for dep := range deps {
			for _, ts := range testSupport {
				if within(dep, ts) {
					t.Errorf("%s links %s, which is test support", bin, dep)
				}
			}
		}
	}
}

// TestImportRulesCatchForbiddenImports shows the check can fail.
func TestImportRulesCatchForbiddenImports(t *testing.T) {
	bad := map[string][]string{
		"netio":            {"engine"},
		"wal":              {"wal/vfs", "raftmeta"},
		"engine":           {"wal", "netio"},
		"engine/group":     {"engine"},
		"engine/partition": {"wal"},
		"replicate":        {"wal", "engine"},
		"cmd/chronik":      {"engine", "netio", "internal/serve"},
	}
	got := violations(bad)
	want := []string{"engine imports netio", "engine/group imports engine", "netio imports engine", "replicate imports engine", "wal imports raftmeta"}
	if len(got) != len(want) {
		t.Fatalf("violations:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w+":") {
			t.Errorf("violation %d = %q, want %q", i, got[i], w)
		}
	}
}
