package benchmarks

import (
	"strings"
	"testing"
)

func TestRatesSummaryCountsFailuresAndEffects(t *testing.T) {
	run := func(variant string, i int, value float64, firstPass, pass bool) RateRun {
		return RateRun{Variant: variant, Run: i, Seconds: float64(60 + i), Passed: pass, Retried: !firstPass,
			Ratios: []RateRatio{{Name: "r", Baseline: 1, Limit: 0.9, Tolerance: 0.1, Higher: true, First: value, FirstPass: firstPass,
				Value: value, Pass: pass}}}
	}
	runs := []RateRun{
		run("unchanged", 1, 1.0, true, true), run("slow", 1, 0.8, false, false),
		run("unchanged", 2, 0.95, false, true), run("slow", 2, 0.85, false, false),
		run("unchanged", 3, 1.05, true, true), run("slow", 3, 0.95, true, true),
	}
	var b strings.Builder
	WriteRatesSummary(&b, runs)
	out := b.String()
	for _, want := range []string{
		"unchanged          3       0        1        62      63",
		"slow               3       2        2        62      63",
		// unchanged: median 1.0, worst 0.95, best 1.05
		"r                                     10.0%      0      1    +0.0%    -5.0%    +5.0%",
		// slow: 2 verdicts and 2 first attempts failed; median 0.85: effect -15% against unchanged's 1.0
		"r                                     10.0%      2      2   -15.0%   -20.0%    -5.0%   -15.0%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}
