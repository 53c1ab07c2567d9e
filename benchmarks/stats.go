package benchmarks

import (
	"math"
	"sort"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Median returns the median of xs (the mean of the middle two for an even
// count), ignoring NaNs; NaN when nothing is left.
func Median(xs []float64) float64 {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// IQM is the interquartile mean of positive ratios: the geometric mean of
// the middle half, after dropping floor(n/4) from each end (the plain
// geometric mean for fewer than 4). NaN, zero and negative values are
// ignored; NaN when nothing is left. It is as robust as the median to a
// few outliers (a pair hit by a burst of load) and, on the spread the lab
// sees, less noisy.
func IQM(xs []float64) float64 {
	var logs []float64
	for _, x := range xs {
		if x > 0 && !math.IsInf(x, 0) {
			logs = append(logs, math.Log(x))
		}
	}
	if len(logs) == 0 {
		return math.NaN()
	}
	sort.Float64s(logs)
	k := len(logs) / 4
	logs = logs[k : len(logs)-k]
	var sum float64
	for _, l := range logs {
		sum += l
	}
	return math.Exp(sum / float64(len(logs)))
}

// Ratio returns a/b, NaN when b is zero or either is NaN.
func Ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a / b
}

// curvePercentiles are the points of a latency percentile curve.
var curvePercentiles = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100}

// LatencyPoint is one point of a latency percentile curve.
type LatencyPoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

// LatencySummary holds latency percentiles in milliseconds.
type LatencySummary struct {
	Count  int64          `json:"count"`
	P50Ms  float64        `json:"p50_ms"`
	P90Ms  float64        `json:"p90_ms"`
	P99Ms  float64        `json:"p99_ms"`
	P999Ms float64        `json:"p999_ms"`
	MaxMs  float64        `json:"max_ms"`
	Curve  []LatencyPoint `json:"curve"`
}

// summarizeLatency reads percentiles from a microsecond histogram.
func summarizeLatency(h *hdrhistogram.Histogram) LatencySummary {
	if h == nil || h.TotalCount() == 0 {
		return LatencySummary{}
	}
	ms := func(p float64) float64 { return float64(h.ValueAtQuantile(p)) / 1000 }
	s := LatencySummary{Count: h.TotalCount(), P50Ms: ms(50), P90Ms: ms(90), P99Ms: ms(99), P999Ms: ms(99.9),
		MaxMs: float64(h.Max()) / 1000}
	for _, p := range curvePercentiles {
		v := ms(p)
		if p == 100 {
			v = s.MaxMs
		}
		s.Curve = append(s.Curve, LatencyPoint{Percentile: p, Ms: v})
	}
	return s
}

// medianCurve is the point-wise median of several curves with the same
// percentiles.
func medianCurve(curves [][]LatencyPoint) []LatencyPoint {
	if len(curves) == 0 {
		return nil
	}
	var out []LatencyPoint
	for i, pt := range curves[0] {
		var vs []float64
		for _, c := range curves {
			if i < len(c) {
				vs = append(vs, c[i].Ms)
			}
		}
		out = append(out, LatencyPoint{Percentile: pt.Percentile, Ms: Median(vs)})
	}
	return out
}
