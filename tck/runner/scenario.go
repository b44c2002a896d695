package main

import (
	"slices"
	"sort"
	"time"

	"github.com/sparetimecoders/messaging/tck"
)

// reportPhases are the tck report's phase names, in run order.
var reportPhases = []string{"setup", "topology", "broker", "delivery", "probes"}

// runScenario runs one scenario through tck.RunScenarioWithReport under its
// own child T. A fatal failure is recovered by the child, the scenario's
// cleanups still run, and the result is a failure either way.
func runScenario(root *harnessT, adapter tck.Adapter, s tck.Scenario) result {
	start := time.Now()
	var (
		rep       tck.ScenarioReport
		completed bool
		bodyEnd   time.Time
	)
	child := root.runChild(s.Name, func(t *harnessT) {
		defer func() { bodyEnd = time.Now() }()
		rep = tck.RunScenarioWithReport(t, adapter, s)
		completed = true
	})
	end := time.Now()
	failures, _ := child.snapshot()
	if !completed {
		rep = synthesizeReport(s, failures)
	}
	rep = withCleanup(rep, failures, end.Sub(bodyEnd))
	// Upstream fills these from map iteration; sort for a stable report.
	rep.Services = sortedServices(s)
	rep.Patterns = patternsOf(s)
	rep.Duration = end.Sub(start)
	rep.Passed = !child.Failed()
	v := verdictPass
	if !rep.Passed {
		v = verdictFail
	}
	return result{name: s.Name, verdict: v, report: rep, scenario: s}
}

// synthesizeReport rebuilds the report entry the tck package drops when a
// scenario fails fatally: phases up to the fatal one, each with the failures
// attributed to it. Phase durations are unknown there and left at zero.
func synthesizeReport(s tck.Scenario, failures []failure) tck.ScenarioReport {
	last := 0
	for _, f := range failures {
		if i := slices.Index(reportPhases, f.phase); i > last {
			last = i
		}
	}
	rep := tck.ScenarioReport{Name: s.Name}
	for i, name := range reportPhases[:last+1] {
		var errs []string
		for _, f := range failures {
			// Failures with no known phase belong to the phase that stopped.
			if f.phase == name || (i == last && f.phase == "") {
				errs = append(errs, f.msg)
			}
		}
		passed := len(errs) == 0 && i != last
		rep.Phases = append(rep.Phases, tck.PhaseResult{Name: name, Passed: passed, Errors: errs})
	}
	return rep
}

// withCleanup appends a "cleanup" phase: closing services and wiping the
// broker can fail too, and upstream has no phase to record that in.
func withCleanup(rep tck.ScenarioReport, failures []failure, took time.Duration) tck.ScenarioReport {
	var errs []string
	for _, f := range failures {
		if f.phase == phaseCleanup {
			errs = append(errs, f.msg)
		}
	}
	rep.Phases = append(rep.Phases, tck.PhaseResult{
		Name: phaseCleanup, Passed: len(errs) == 0, Duration: took, Errors: errs,
	})
	return rep
}

// sortedServices lists template names sorted, for a stable report.
func sortedServices(s tck.Scenario) []string {
	names := make([]string, 0, len(s.Services))
	for name := range s.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// patternsOf lists the scenario's intent patterns, first seen first, walking
// services in name order.
func patternsOf(s tck.Scenario) []string {
	var out []string
	for _, name := range sortedServices(s) {
		for _, intent := range s.Services[name].Setups {
			if !slices.Contains(out, intent.Pattern) {
				out = append(out, intent.Pattern)
			}
		}
	}
	return out
}
