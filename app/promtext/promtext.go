// Package promtext writes metrics in Prometheus' text exposition format, so
// that each part of the gateway can describe its own metrics and the health
// server can serve them all without knowing any.
package promtext

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// A Source writes its metrics in Prometheus' text format.
type Source interface {
	WritePrometheus(w io.Writer)
}

// Sources writes each of its sources in turn.
type Sources []Source

// WritePrometheus implements Source.
func (s Sources) WritePrometheus(w io.Writer) {
	for _, src := range s {
		if src != nil {
			src.WritePrometheus(w)
		}
	}
}

// SourceFunc adapts a function to a Source.
type SourceFunc func(w io.Writer)

// WritePrometheus implements Source.
func (f SourceFunc) WritePrometheus(w io.Writer) { f(w) }

// Counter writes a counter without labels.
func Counter(w io.Writer, name, help string, v int64) {
	header(w, name, help, "counter")
	fmt.Fprintf(w, "%s %d\n", name, v)
}

// Gauge writes a gauge without labels.
func Gauge(w io.Writer, name, help string, v float64) {
	header(w, name, help, "gauge")
	fmt.Fprintf(w, "%s %s\n", name, strconv.FormatFloat(v, 'f', -1, 64))
}

// A Sample is one labelled value of a metric.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Labelled writes a metric of kind "counter" or "gauge" with one line per
// sample.
func Labelled(w io.Writer, name, help, kind string, samples ...Sample) {
	header(w, name, help, kind)
	for _, s := range samples {
		fmt.Fprintf(w, "%s%s %s\n", name, labels(s.Labels), strconv.FormatFloat(s.Value, 'f', -1, 64))
	}
}

func header(w io.Writer, name, help, kind string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, kind)
}

func labels(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(m[k])
		parts[i] = k + `="` + v + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}
