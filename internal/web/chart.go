package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Charts are SVG drawn on the server: no script, no inline style (the
// strokes and fills come from classes in app.css), and a title and
// description for screen readers; the same figures are in a table next to
// each chart.

// Geometry of every chart, in SVG user units.
const (
	chartW, chartH        = 640, 220
	chartLeft, chartRight = 52, 12
	chartTop, chartBottom = 12, 30
	chartPlotW            = chartW - chartLeft - chartRight
	chartPlotH            = chartH - chartTop - chartBottom
	chartYTicks           = 4
	chartMaxXTicks        = 6
)

// chartSeries is one line: a value per date, nil where there is no data.
type chartSeries struct {
	Name   string
	Class  string // one of the fixed classes in app.css: s1, s2, s3
	Values []*float64
}

// lineChart is what the "chart" template draws.
type lineChart struct {
	ID, Title, Desc string
	W, H            int
	Left, Right     int // x of the plot's edges
	Bottom          int // y of the x axis
	YTicks, XTicks  []chartTick
	Lines           []chartLine
	Empty           bool
}

type chartTick struct {
	X, Y  float64
	Label string
}

// chartLine is one series as polylines (a gap in the data breaks the line)
// and dots for points that stand alone.
type chartLine struct {
	Name, Class string
	Segments    []string // SVG points attributes
	Dots        []chartTick
}

// newLineChart lays out series over dates. yMax is the top of the scale;
// 0 picks a round number above the largest value. format labels the y axis.
func newLineChart(id, title string, dates []time.Time, series []chartSeries, yMax float64, format func(float64) string) lineChart {
	ch := lineChart{ID: id, Title: title, W: chartW, H: chartH, Left: chartLeft, Right: chartW - chartRight, Bottom: chartTop + chartPlotH}
	largest, points := 0.0, 0
	for _, s := range series {
		for _, v := range s.Values {
			if v != nil && !math.IsNaN(*v) && !math.IsInf(*v, 0) {
				largest = max(largest, *v)
				points++
			}
		}
	}
	if yMax <= 0 {
		yMax = niceCeil(largest)
	}
	n := len(dates)
	ch.Empty = points == 0 || n == 0
	x := func(i int) float64 {
		if n <= 1 {
			return chartLeft + chartPlotW/2
		}
		return chartLeft + float64(i)*chartPlotW/float64(n-1)
	}
	y := func(v float64) float64 {
		v = min(max(v, 0), yMax)
		return chartTop + chartPlotH*(1-v/yMax)
	}
	for i := 0; i <= chartYTicks; i++ {
		v := yMax * float64(i) / chartYTicks
		ch.YTicks = append(ch.YTicks, chartTick{X: chartLeft - 6, Y: y(v), Label: format(v)})
	}
	step := max(1, (n+chartMaxXTicks-1)/chartMaxXTicks)
	for i := 0; i < n; i += step {
		ch.XTicks = append(ch.XTicks, chartTick{X: x(i), Y: chartTop + chartPlotH + 18, Label: dates[i].Format("Jan 2")})
	}
	var desc []string
	for _, s := range series {
		line := chartLine{Name: s.Name, Class: s.Class}
		var seg []chartTick
		flush := func() {
			switch len(seg) {
			case 0:
			case 1:
				line.Dots = append(line.Dots, seg[0])
			default:
				pts := make([]string, len(seg))
				for i, p := range seg {
					pts[i] = fmt.Sprintf("%.1f,%.1f", p.X, p.Y)
				}
				line.Segments = append(line.Segments, strings.Join(pts, " "))
			}
			seg = nil
		}
		var last *float64
		for i, v := range s.Values {
			if i >= n || v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
				flush()
				continue
			}
			seg = append(seg, chartTick{X: x(i), Y: y(*v)})
			last = v
		}
		flush()
		if last != nil {
			desc = append(desc, fmt.Sprintf("%s: latest %s", s.Name, format(*last)))
		} else {
			desc = append(desc, s.Name+": no data")
		}
		ch.Lines = append(ch.Lines, line)
	}
	if n > 0 {
		ch.Desc = fmt.Sprintf("Daily values from %s to %s. %s.", dates[0].Format(time.DateOnly), dates[n-1].Format(time.DateOnly), strings.Join(desc, "; "))
	}
	return ch
}

// niceCeil is a round number at or above v: 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func percentLabel(v float64) string { return strconv.FormatFloat(v*100, 'f', 0, 64) + "%" }

func daysLabel(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64) + " d"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " d"
}

// kpiCharts are the three trend charts of a series: mean time to patch,
// coverage and SLA compliance.
func kpiCharts(prefix string, series []ReportPoint) []lineChart {
	dates := make([]time.Time, len(series))
	var mttp, mttpFix, cov, slaOpen, slaClosed []*float64
	for i, p := range series {
		dates[i] = p.Date
		mttp, mttpFix = append(mttp, p.MTTPDays), append(mttpFix, p.MTTPFixDays)
		cov = append(cov, p.Coverage)
		slaOpen, slaClosed = append(slaOpen, p.SLAOpen), append(slaClosed, p.SLAClosed)
	}
	return []lineChart{
		newLineChart(prefix+"-mttp", "Mean time to patch (days)", dates, []chartSeries{
			{Name: "from publication", Class: "s1", Values: mttp},
			{Name: "from fix available", Class: "s2", Values: mttpFix},
		}, 0, daysLabel),
		newLineChart(prefix+"-coverage", "Patch coverage", dates, []chartSeries{
			{Name: "hosts missing no security update", Class: "s1", Values: cov},
		}, 1, percentLabel),
		newLineChart(prefix+"-sla", "SLA compliance", dates, []chartSeries{
			{Name: "open findings not overdue", Class: "s1", Values: slaOpen},
			{Name: "findings closed within SLA", Class: "s3", Values: slaClosed},
		}, 1, percentLabel),
	}
}

// backlogChart is the open and the overdue findings of each day: a state
// with a value every day, so the line shows the trend over the whole
// period (the mean time to patch has a value only on days something was
// patched).
func backlogChart(prefix string, series []ReportPoint) lineChart {
	dates := make([]time.Time, len(series))
	open, overdue := make([]*float64, len(series)), make([]*float64, len(series))
	for i, p := range series {
		dates[i] = p.Date
		o, d := float64(p.OpenFindings), float64(p.Overdue)
		open[i], overdue[i] = &o, &d
	}
	return newLineChart(prefix+"-backlog", "Open findings", dates, []chartSeries{
		{Name: "open findings", Class: "s1", Values: open},
		{Name: "overdue", Class: "s3", Values: overdue},
	}, 0, countLabel)
}

func countLabel(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
