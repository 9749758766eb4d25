package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"

	"github.com/echt-dev/echt/internal/loadgen"
)

// Plot geometry.
const (
	svgW      = 1000.0
	svgH      = 505.0
	panelTop  = 128.0
	panelH    = 300.0
	panelW    = 380.0
	leftPanel = 90.0
	gapPanels = 120.0
)

type point struct{ x, y float64 }

type series struct {
	label  string
	color  string
	dash   string
	marker string // "circle" or "square"
	pts    []point
}

var storeColors = map[string]string{storeSQLite: "#1f77b4", storePostgres: "#d95f02"}

// svg draws throughput (left) and p99 latency (right) against the number
// of activations on a log scale: one series per store and scenario.
func (rep *report) svg() string {
	var thr, lat []series
	var xs []float64
	for _, st := range []string{storeSQLite, storePostgres} {
		for _, sc := range []string{loadgen.ScenarioValidate, loadgen.ScenarioActivate} {
			s := series{label: st + " " + sc, color: storeColors[st], marker: "circle"}
			if sc == loadgen.ScenarioActivate {
				s.dash, s.marker = "7 4", "square"
			}
			t, l := s, s
			for _, r := range rep.Results {
				if r.Store != st || r.Scenario != sc || r.Activations <= 0 {
					continue
				}
				x := float64(r.Activations)
				xs = append(xs, x)
				t.pts = append(t.pts, point{x, r.Bench.RPS})
				l.pts = append(l.pts, point{x, r.Bench.LatencyMS.P99})
			}
			if len(t.pts) > 0 {
				thr, lat = append(thr, t), append(lat, l)
			}
		}
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="13">`+"\n", svgW, svgH, svgW, svgH)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	m := rep.Machine
	p(`<text x="%.0f" y="28" text-anchor="middle" font-size="18" font-weight="600" fill="#222">echt: validate and activate as the database grows</text>`+"\n", svgW/2)
	sub := fmt.Sprintf("%s · %d CPUs · %s RAM · %s · %s · %d workers, %s per point", m.CPUModel, m.CPUs, bytesIEC(m.MemoryBytes), m.GoVersion,
		rep.Started.Format("2006-01-02"), rep.Params.Concurrency, rep.Params.Duration)
	p(`<text x="%.0f" y="50" text-anchor="middle" fill="#555">%s</text>`+"\n", svgW/2, html.EscapeString(sub))

	// Legend, one row.
	entries := thr
	// Text width estimated at 7.5 px a character.
	width := func(s series) float64 { return 42 + 7.5*float64(len(s.label)) + 28 }
	total := 0.0
	for _, s := range entries {
		total += width(s)
	}
	x := (svgW - total) / 2
	for _, s := range entries {
		p(`<line x1="%.1f" y1="80" x2="%.1f" y2="80" stroke="%s" stroke-width="2.5"%s/>`+"\n", x, x+34, s.color, dashAttr(s.dash))
		marker(&b, s, x+17, 80)
		p(`<text x="%.1f" y="84" fill="#222">%s</text>`+"\n", x+42, html.EscapeString(s.label))
		x += width(s)
	}
	if len(xs) == 0 {
		p(`<text x="%.0f" y="%.0f" text-anchor="middle" fill="#888">no results yet</text>`+"\n", svgW/2, panelTop+panelH/2)
		p("</svg>\n")
		return b.String()
	}
	slices.Sort(xs)
	xs = slices.Compact(xs)
	panel(&b, leftPanel, "Throughput", "requests per second", thr, xs, false)
	panel(&b, leftPanel+panelW+gapPanels, "p99 latency", "milliseconds", lat, xs, true)
	p("</svg>\n")
	return b.String()
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, d)
}

func marker(b *strings.Builder, s series, x, y float64) {
	if s.marker == "square" {
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="8" height="8" fill="%s" stroke="#fff" stroke-width="1"/>`, x-4, y-4, s.color)
	} else {
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="4.5" fill="%s" stroke="#fff" stroke-width="1"/>`, x, y, s.color)
	}
}

// panel draws one chart: x is the number of activations (log scale, a
// tick at each measured size); y is linear from zero, or logarithmic when
// mayLog and the values span more than a factor of 20.
func panel(b *strings.Builder, x0 float64, title, ylabel string, ss []series, xs []float64, mayLog bool) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	lx0, lx1 := math.Log10(xs[0]), math.Log10(xs[len(xs)-1])
	if lx1-lx0 < 0.5 {
		mid := (lx0 + lx1) / 2
		lx0, lx1 = mid-0.25, mid+0.25
	}
	pad := (lx1 - lx0) * 0.08
	lx0, lx1 = lx0-pad, lx1+pad
	sx := func(x float64) float64 { return x0 + (math.Log10(x)-lx0)/(lx1-lx0)*panelW }

	ymin, ymax := math.Inf(1), 0.0
	for _, s := range ss {
		for _, pt := range s.pts {
			if pt.y > 0 {
				ymin = math.Min(ymin, pt.y)
			}
			ymax = math.Max(ymax, pt.y)
		}
	}
	if ymax <= 0 {
		ymax, ymin = 1, 1
	}
	logY := mayLog && ymax/ymin > 20
	var ticks []float64
	var sy func(float64) float64
	bottom := panelTop + panelH
	if logY {
		lo, hi := logBounds(ymin/1.1, ymax*1.1)
		for d := math.Floor(math.Log10(lo)); d <= math.Ceil(math.Log10(hi)); d++ {
			for _, m := range []float64{1, 2, 5} {
				if v := m * math.Pow(10, d); v >= lo*0.999 && v <= hi*1.001 {
					ticks = append(ticks, v)
				}
			}
		}
		l0, l1 := math.Log10(lo), math.Log10(hi)
		sy = func(y float64) float64 {
			return bottom - (math.Log10(math.Max(y, lo))-l0)/(l1-l0)*panelH
		}
	} else {
		step := niceStep(ymax * 1.1 / 5)
		top := math.Ceil(ymax*1.05/step) * step
		for v := 0.0; v <= top+step/2; v += step {
			ticks = append(ticks, v)
		}
		sy = func(y float64) float64 { return bottom - y/top*panelH }
	}

	p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="15" font-weight="600" fill="#222">%s</text>`+"\n", x0+panelW/2, panelTop-12, html.EscapeString(title))
	// Grid and y ticks.
	for _, v := range ticks {
		y := sy(v)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0, y, x0+panelW, y)
		p(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#444">%s</text>`+"\n", x0-8, y+4, axisLabel(v))
	}
	// x ticks at the measured sizes.
	for _, x := range xs {
		X := sx(x)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", X, panelTop, X, bottom)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444"/>`+"\n", X, bottom, X, bottom+5)
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%s</text>`+"\n", X, bottom+20, short(x))
	}
	p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>`+"\n", x0, panelTop, panelW, panelH)
	scale := ""
	if logY {
		scale = ", log scale"
	}
	p(`<text x="%.1f" y="%.1f" text-anchor="middle" fill="#222">activations in the database (log scale)</text>`+"\n", x0+panelW/2, bottom+44)
	p(`<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle" fill="#222">%s</text>`+"\n", x0-62, panelTop+panelH/2, html.EscapeString(ylabel+scale))
	// Series.
	for _, s := range ss {
		var pts []string
		for _, pt := range s.pts {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", sx(pt.x), sy(pt.y)))
		}
		p(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5"%s/>`+"\n", strings.Join(pts, " "), s.color, dashAttr(s.dash))
		for _, pt := range s.pts {
			p(`<g><title>%s at %s activations: %s</title>`, html.EscapeString(s.label), group(pt.x), axisLabel(pt.y))
			marker(b, s, sx(pt.x), sy(pt.y))
			p("</g>\n")
		}
	}
}

// logBounds widens [lo, hi] to values of the 1, 2, 5 series.
func logBounds(lo, hi float64) (float64, float64) {
	series := func(d float64) []float64 {
		e := math.Pow(10, d)
		return []float64{e, 2 * e, 5 * e}
	}
	var l, h float64
	for d := math.Floor(math.Log10(lo)); l == 0; d-- {
		for _, v := range slices.Backward(series(d)) {
			if v <= lo {
				l = v
				break
			}
		}
	}
	for d := math.Floor(math.Log10(hi)); h == 0; d++ {
		for _, v := range series(d) {
			if v >= hi {
				h = v
				break
			}
		}
	}
	return l, h
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= raw {
			return m * e
		}
	}
	return 10 * e
}

func axisLabel(v float64) string {
	switch {
	case v >= 1e6:
		return short(v)
	case v >= 100 || v == math.Trunc(v):
		return group(v)
	case v >= 1:
		return trimZero(v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}
