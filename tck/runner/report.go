package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sparetimecoders/messaging/tck"
)

// runReport is the upstream TCKReport (same JSON keys) plus what the harness
// adds: skipped scenarios and a fatal error that stopped the whole run.
type runReport struct {
	*tck.TCKReport
	Skipped []skippedEntry `json:"skipped"`
	Fatal   string         `json:"fatal,omitempty"`
}

type skippedEntry struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// newRunReport assembles the report; coverage covers only scenarios that ran.
func newRunReport(transport string, started time.Time, results []result, fatal string) runReport {
	rep := runReport{
		TCKReport: &tck.TCKReport{TransportKey: transport, Timestamp: started},
		Skipped:   []skippedEntry{},
		Fatal:     fatal,
	}
	var ran []tck.Scenario
	for _, r := range results {
		if r.verdict == verdictSkip {
			rep.Skipped = append(rep.Skipped, skippedEntry{Name: r.name, Reason: r.skipReason})
			continue
		}
		ran = append(ran, r.scenario)
		rep.Scenarios = append(rep.Scenarios, r.report)
	}
	rep.Summary = tallyOf(results).summary()
	rep.Coverage = tck.ComputeCoverageMatrix(ran)
	return rep
}

func (r runReport) json() ([]byte, error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// markdown renders the report: result line, per-phase scenario table, the
// failure messages, and the coverage matrix.
func (r runReport) markdown(summary string) string {
	var b strings.Builder
	transport := r.TransportKey
	if transport == "" {
		transport = "(unknown)"
	}
	fmt.Fprintf(&b, "# TCK Conformance Report: %s\n\n", transport)
	fmt.Fprintf(&b, "**Generated:** %s\n", r.Timestamp.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "**Result:** %s\n", summary)
	fmt.Fprintf(&b, "**Skipped:** %d\n", len(r.Skipped))
	for _, s := range r.Skipped {
		fmt.Fprintf(&b, "- %s (%s)\n", s.Name, s.Reason)
	}
	if r.Fatal != "" {
		b.WriteString("\n## Fatal error\n\n")
		writeCodeBlock(&b, []string{r.Fatal})
	}
	if len(r.Scenarios) > 0 {
		r.writeScenarioTable(&b)
		r.writeFailures(&b)
	}
	r.writeCoverage(&b)
	return b.String()
}

var tablePhases = append(append([]string(nil), reportPhases...), phaseCleanup)

func (r runReport) writeScenarioTable(b *strings.Builder) {
	b.WriteString("\n## Scenarios\n\n")
	b.WriteString("| # | Scenario | Result | Duration | Setup | Topology | Broker | Delivery | Probes | Cleanup |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for i, s := range r.Scenarios {
		cells := []string{fmt.Sprint(i + 1), cell(s.Name), passFail(s.Passed), fmt.Sprintf("%.2fs", s.Duration.Seconds())}
		for _, name := range tablePhases {
			cells = append(cells, phaseCell(s, name))
		}
		fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
	}
}

func (r runReport) writeFailures(b *strings.Builder) {
	header := false
	for i, s := range r.Scenarios {
		var lines []string
		for _, p := range s.Phases {
			for _, e := range p.Errors {
				lines = append(lines, fmt.Sprintf("[%s] %s", p.Name, e))
			}
		}
		if len(lines) == 0 {
			continue
		}
		if !header {
			b.WriteString("\n## Failures\n")
			header = true
		}
		fmt.Fprintf(b, "\n### %d. %s\n\n", i+1, s.Name)
		writeCodeBlock(b, lines)
	}
}

func (r runReport) writeCoverage(b *strings.Builder) {
	b.WriteString("\n## Coverage Matrix\n\n")
	b.WriteString("| Pattern | Direction | Ephemeral | Covered By |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, e := range r.Coverage.Entries {
		covered := "-"
		if len(e.Scenarios) > 0 {
			covered = cell(strings.Join(e.Scenarios, ", "))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", e.Pattern, e.Direction, ephemeralCell(e.IntentKey), covered)
	}
	b.WriteString("\n")
	if missing := len(r.Coverage.Missing); missing > 0 {
		fmt.Fprintf(b, "**%d intent combination(s) missing coverage.**\n", missing)
	} else {
		fmt.Fprintf(b, "**All %d intent combinations covered.**\n", len(r.Coverage.Entries))
	}
}

// ephemeralCell: the flag only means something for stream consumers.
func ephemeralCell(k tck.IntentKey) string {
	if k.Direction != "consume" || k.Pattern == "service-request" || k.Pattern == "service-response" {
		return "-"
	}
	if k.Ephemeral {
		return "yes"
	}
	return "no"
}

// phaseCell is PASS/FAIL, or "-" for a phase that did not run.
func phaseCell(s tck.ScenarioReport, name string) string {
	for _, p := range s.Phases {
		if p.Name == name {
			return passFail(p.Passed)
		}
	}
	return "-"
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// cell keeps a value inside one Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// writeCodeBlock fences lines; the fence outgrows any backtick run inside.
func writeCodeBlock(b *strings.Builder, lines []string) {
	body := strings.Join(lines, "\n")
	fence := "```"
	for strings.Contains(body, fence) {
		fence += "`"
	}
	fmt.Fprintf(b, "%stext\n%s\n%s\n", fence, body, fence)
}

// writeOutput writes data to path, or to stdout for "-".
func writeOutput(path string, data []byte, stdout io.Writer) error {
	if path == "-" {
		_, err := stdout.Write(data)
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
