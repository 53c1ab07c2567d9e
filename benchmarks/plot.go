package benchmarks

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot is one written figure.
type Plot struct {
	Title string
	File  string // name inside the results directory
}

// WritePlots draws into dir, as SVG and PNG: throughput per scenario per system,
// CPU-seconds per million records, and one latency percentile curve per
// scenario.
func WritePlots(dir string, res *Results) ([]Plot, error) {
	var plots []Plot
	add := func(p Plot, err error) error {
		if err != nil {
			return err
		}
		if p.File != "" {
			plots = append(plots, p)
		}
		return nil
	}
	if err := add(barPlot(dir, res, "throughput.svg", "Throughput (median msg/s, thousands)",
		func(s Summary) float64 { return s.MsgPerSec / 1000 })); err != nil {
		return nil, err
	}
	if err := add(barPlot(dir, res, "cpu.svg", "Broker CPU-seconds per million records (median)",
		func(s Summary) float64 { return s.CPUSecPerMillion })); err != nil {
		return nil, err
	}
	for _, sc := range res.Scenarios {
		if err := add(latencyPlot(dir, res, sc.Name)); err != nil {
			return nil, err
		}
	}
	if res.Failover != nil {
		if err := add(failoverCDFPlot(dir, res.Failover)); err != nil {
			return nil, err
		}
	}
	if res.Scale != nil {
		ps, err := scalePlots(dir, res.Scale)
		if err != nil {
			return nil, err
		}
		plots = append(plots, ps...)
	}
	cps, err := clusterPlots(dir, res)
	return append(plots, cps...), err
}

// systemsOf lists the systems in the summaries, in first-seen order.
func systemsOf(res *Results) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range res.Summaries {
		if !seen[s.System] {
			seen[s.System] = true
			out = append(out, s.System)
		}
	}
	return out
}

// barPlot groups bars by scenario (fixed-rate scenarios are left out: their
// throughput is the rate asked for), one bar per system.
func barPlot(dir string, res *Results, file, title string, f func(Summary) float64) (Plot, error) {
	var names []string
	for _, sc := range res.Scenarios {
		if sc.Rate == 0 {
			names = append(names, sc.Name)
		}
	}
	if len(names) == 0 {
		return Plot{}, nil
	}
	p := plot.New()
	p.Title.Text = title
	systems := systemsOf(res)
	width := vg.Points(float64(60) / float64(len(systems)))
	top := 0.0
	for i, sys := range systems {
		vals := make(plotter.Values, len(names))
		for j, name := range names {
			for _, s := range res.Summaries {
				if s.Scenario == name && s.System == sys {
					vals[j] = f(s)
					top = math.Max(top, vals[j])
				}
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return Plot{}, fmt.Errorf("bar chart %s: %w", file, err)
		}
		bars.Color = plotutil.Color(i)
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(float64(i)-float64(len(systems)-1)/2)
		p.Add(bars)
		p.Legend.Add(sys, bars)
	}
	p.Legend.Top = true
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, top*1.3 // room for the legend above the bars
	return savePlot(p, dir, file, title, vg.Length(max(len(names), 2))*4*vg.Centimeter)
}

// nines maps a percentile to -log10(1 - p/100), so 90, 99, 99.9 are evenly
// spaced; 100 is drawn one step past the last finite point.
func nines(p float64) float64 {
	if p >= 100 {
		return 5
	}
	return -math.Log10(1 - p/100)
}

func latencyPlot(dir string, res *Results, scenario string) (Plot, error) {
	p := plot.New()
	p.Title.Text = "Latency percentiles: " + scenario
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "ms (log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Tick.Marker = plot.ConstantTicks{{Value: nines(0), Label: "0"}, {Value: nines(50), Label: "50"},
		{Value: nines(90), Label: "90"}, {Value: nines(99), Label: "99"}, {Value: nines(99.9), Label: "99.9"},
		{Value: nines(99.99), Label: "99.99"}, {Value: nines(100), Label: "max"}}
	n := 0
	for i, sys := range systemsOf(res) {
		for _, s := range res.Summaries {
			if s.Scenario != scenario || s.System != sys || len(s.Latency.Curve) == 0 {
				continue
			}
			var xys plotter.XYs
			for _, pt := range s.Latency.Curve {
				xys = append(xys, plotter.XY{X: nines(pt.Percentile), Y: math.Max(pt.Ms, 0.001)})
			}
			line, points, err := plotter.NewLinePoints(xys)
			if err != nil {
				return Plot{}, fmt.Errorf("latency plot %s: %w", scenario, err)
			}
			line.Color, points.Color = plotutil.Color(i), plotutil.Color(i)
			points.Shape = plotutil.Shape(i)
			p.Add(line, points)
			p.Legend.Add(sys, line, points)
			n++
		}
	}
	if n == 0 {
		return Plot{}, nil
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return savePlot(p, dir, "latency-"+scenario+".svg", p.Title.Text, 14*vg.Centimeter)
}

// savePlot writes file (SVG, which REPORT.md embeds) and a PNG beside it
// for viewers that do not render SVG.
func savePlot(p *plot.Plot, dir, file, title string, width vg.Length) (Plot, error) {
	png := strings.TrimSuffix(file, ".svg") + ".png"
	for _, f := range []string{file, png} {
		if err := p.Save(width, 9*vg.Centimeter, filepath.Join(dir, f)); err != nil {
			return Plot{}, fmt.Errorf("save %s: %w", f, err)
		}
	}
	return Plot{Title: title, File: file}, nil
}
