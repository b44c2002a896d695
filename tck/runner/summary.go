package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sparetimecoders/messaging/tck"
)

// verdict is a scenario's outcome; skipped scenarios are not counted as run.
type verdict int

const (
	verdictPass verdict = iota
	verdictFail
	verdictSkip
)

// result is one selected scenario after the run.
type result struct {
	name       string
	verdict    verdict
	skipReason string             // set when verdict == verdictSkip
	report     tck.ScenarioReport // zero when skipped
	scenario   tck.Scenario
}

// selectScenarios keeps, in file order, the scenarios whose name contains
// filter (case-sensitive, as the upstream runner); an empty filter keeps all.
func selectScenarios(all []tck.Scenario, filter string) []tck.Scenario {
	var out []tck.Scenario
	for _, s := range all {
		if strings.Contains(s.Name, filter) {
			out = append(out, s)
		}
	}
	return out
}

// skipReason says why s does not run on transport, or "" if it runs: a
// scenario with a `transports` list runs only on the transports it names.
func skipReason(s tck.Scenario, transport string) string {
	if len(s.Transports) == 0 || slices.Contains(s.Transports, transport) {
		return ""
	}
	return fmt.Sprintf("transport %q not in %v", transport, s.Transports)
}

// tally counts outcomes.
type tally struct {
	passed, failed, skipped int
}

func tallyOf(results []result) tally {
	var t tally
	for _, r := range results {
		switch r.verdict {
		case verdictPass:
			t.passed++
		case verdictFail:
			t.failed++
		case verdictSkip:
			t.skipped++
		}
	}
	return t
}

func (t tally) ran() int { return t.passed + t.failed }

// ok requires at least one scenario to have run: a run that checked nothing
// must not report conformance.
func (t tally) ok() bool { return t.failed == 0 && t.ran() > 0 }

// summaryLine is `PASS (n/m scenarios)` or `FAIL (n/m scenarios)`, m
// excluding skipped scenarios.
func (t tally) summaryLine() string {
	word := "FAIL"
	if t.ok() {
		word = "PASS"
	}
	return fmt.Sprintf("%s (%d/%d scenarios)", word, t.passed, t.ran())
}

func (t tally) skippedLine() string {
	return fmt.Sprintf("(%d skipped)", t.skipped)
}

func (t tally) summary() tck.ReportSummary {
	return tck.ReportSummary{Total: t.ran(), Passed: t.passed, Failed: t.failed}
}
