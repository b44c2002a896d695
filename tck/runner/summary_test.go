package main

import (
	"slices"
	"testing"

	"github.com/sparetimecoders/messaging/tck"
)

func scenarios(names ...string) []tck.Scenario {
	out := make([]tck.Scenario, len(names))
	for i, n := range names {
		out[i] = tck.Scenario{Name: n}
	}
	return out
}

func names(ss []tck.Scenario) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name
	}
	return out
}

func TestSelectScenariosKeepsFileOrderAndIsCaseSensitive(t *testing.T) {
	all := scenarios("event stream fan-out", "wildcard routing", "wildcard catch-all routing", "Wildcard")
	cases := []struct {
		filter string
		want   []string
	}{
		{"", []string{"event stream fan-out", "wildcard routing", "wildcard catch-all routing", "Wildcard"}},
		{"wildcard", []string{"wildcard routing", "wildcard catch-all routing"}},
		{"routing", []string{"wildcard routing", "wildcard catch-all routing"}},
		{"nothing", []string{}},
	}
	for _, c := range cases {
		if got := names(selectScenarios(all, c.filter)); !slices.Equal(got, c.want) {
			t.Errorf("filter %q: got %q, want %q", c.filter, got, c.want)
		}
	}
}

func TestSkipReason(t *testing.T) {
	cases := []struct {
		transports []string
		want       string
	}{
		{nil, ""},
		{[]string{}, ""},
		{[]string{"nats"}, ""},
		{[]string{"amqp", "nats"}, ""},
		{[]string{"amqp"}, `transport "nats" not in [amqp]`},
	}
	for _, c := range cases {
		got := skipReason(tck.Scenario{Name: "s", Transports: c.transports}, "nats")
		if got != c.want {
			t.Errorf("transports %v: got %q, want %q", c.transports, got, c.want)
		}
	}
}

func TestTallyExcludesSkippedFromTotal(t *testing.T) {
	results := []result{
		{verdict: verdictPass}, {verdict: verdictSkip}, {verdict: verdictPass}, {verdict: verdictSkip},
	}
	got := tallyOf(results)
	if got != (tally{passed: 2, skipped: 2}) {
		t.Fatalf("tally: got %+v", got)
	}
	if line := got.summaryLine(); line != "PASS (2/2 scenarios)" {
		t.Errorf("summary line: got %q", line)
	}
	if line := got.skippedLine(); line != "(2 skipped)" {
		t.Errorf("skipped line: got %q", line)
	}
	if s := got.summary(); s != (tck.ReportSummary{Total: 2, Passed: 2, Failed: 0}) {
		t.Errorf("report summary: got %+v", s)
	}
}

func TestTallyFailsOnAnyFailure(t *testing.T) {
	got := tallyOf([]result{{verdict: verdictPass}, {verdict: verdictFail}, {verdict: verdictSkip}})
	if got.ok() {
		t.Error("a failed scenario must fail the run")
	}
	if line := got.summaryLine(); line != "FAIL (1/2 scenarios)" {
		t.Errorf("summary line: got %q", line)
	}
}

func TestTallyFailsWhenNothingRan(t *testing.T) {
	for _, results := range [][]result{nil, {{verdict: verdictSkip}}} {
		got := tallyOf(results)
		if got.ok() {
			t.Errorf("%+v: a run that checked nothing must not pass", got)
		}
		if line := got.summaryLine(); line != "FAIL (0/0 scenarios)" {
			t.Errorf("summary line: got %q", line)
		}
	}
}
