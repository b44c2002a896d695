package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sparetimecoders/messaging/spectest"
	"github.com/sparetimecoders/messaging/tck"
)

func TestMarkdownReport(t *testing.T) {
	started := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ran := tck.Scenario{Name: "a|b", Services: map[string]spectest.ServiceConfig{
		"orders": {Setups: []spectest.SetupIntent{{Pattern: "event-stream", Direction: "publish"}}},
	}}
	results := []result{
		{name: ran.Name, verdict: verdictFail, scenario: ran, report: tck.ScenarioReport{
			Name: ran.Name, Duration: 1500 * time.Millisecond,
			Phases: []tck.PhaseResult{
				{Name: "setup", Passed: true},
				{Name: "topology", Passed: false, Errors: []string{"has ``` fence"}},
				{Name: "cleanup", Passed: true},
			},
		}},
		{name: "amqp only", verdict: verdictSkip, skipReason: `transport "nats" not in [amqp]`},
	}
	rep := newRunReport("nats", started, results, "")
	md := rep.markdown(tallyOf(results).summaryLine())
	for _, want := range []string{
		"# TCK Conformance Report: nats\n",
		"**Generated:** 2026-03-01T12:00:00Z\n",
		"**Result:** FAIL (0/1 scenarios)\n",
		"**Skipped:** 1\n- amqp only (transport \"nats\" not in [amqp])\n",
		"| 1 | a\\|b | FAIL | 1.50s | PASS | FAIL | - | - | - | PASS |\n",
		"### 1. a|b\n\n````text\n[topology] has ``` fence\n````\n",
		"| event-stream | publish | - | a\\|b |\n",
		"| event-stream | consume | yes | - |\n",
		"**10 intent combination(s) missing coverage.**\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if rep.Summary != (tck.ReportSummary{Total: 1, Passed: 0, Failed: 1}) || len(rep.Scenarios) != 1 {
		t.Errorf("summary %+v, %d scenarios", rep.Summary, len(rep.Scenarios))
	}
}
