package main

import (
	"os"
	"strings"
	"testing"
)

func TestReproCommandRunsTheFailingScenariosAloneWithTheSameSettings(t *testing.T) {
	gf := gateFlags{basePath: "benchmarks/baseline.json", rounds: 6}
	pf := peerFlags{chronikBin: "bin/chronik-debug", chronikConfig: keyValues{"debug.fetch.burn.ns.per.kib": "40", "a.key": "1"}}
	got := reproCommand(gf, pf, []string{"consume", "consume"})
	want := os.Args[0] + " gate --scenarios consume --baseline benchmarks/baseline.json --chronik-bin bin/chronik-debug --rounds 6 " +
		"--chronik-config a.key=1 --chronik-config debug.fetch.burn.ns.per.kib=40"
	if got != want {
		t.Fatalf("reproCommand =\n%s\nwant\n%s", got, want)
	}
	s, err := gf.suite()
	// produce-acks1, produce-acks-1, consume, e2e, partitions-4, partitions-1000, repl-acks-1
	if err != nil || len(s.Scenarios) != 7 || s.Rounds != 6 {
		t.Fatalf("suite = %+v, %v", s, err)
	}
	for only, want := range map[string]string{
		"produce-acks1":       "produce-acks1,produce-acks-1", // with the rest of its slice group
		"e2e,partitions-1000": "e2e,partitions-4,partitions-1000",
	} {
		gf.only = only
		if s, err := gf.suite(); err != nil || strings.Join(scenarioNames(s), ",") != want {
			t.Fatalf("--scenarios %s: %v, %v; want %s", only, scenarioNames(s), err, want)
		}
	}
	gf.only = "nope"
	if _, err := gf.suite(); err == nil || !strings.Contains(err.Error(), "consume") {
		t.Fatalf("unknown scenario: %v", err)
	}
}

func TestSlowdownFlag(t *testing.T) {
	var s slowdownFlags
	if err := s.Set("cpu+15%:debug.append.burn.ns.per.kib=270,debug.fetch.burn.ns.per.kib=40"); err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s[0].name != "cpu+15%" || s[0].config["debug.fetch.burn.ns.per.kib"] != "40" || len(s[0].config) != 2 {
		t.Fatalf("parsed %+v", s)
	}
	for _, bad := range []string{"noname", ":k=v", "unchanged:k=v", "x:k"} {
		if err := s.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	for _, d := range defaultSlowdowns() {
		if err := s.Set(d); err != nil {
			t.Errorf("default slowdown %q: %v", d, err)
		}
	}
}
