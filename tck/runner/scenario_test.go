package main

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sparetimecoders/messaging/spectest"
	"github.com/sparetimecoders/messaging/tck"
)

func TestSynthesizeReportStopsAtTheFatalPhase(t *testing.T) {
	s := tck.Scenario{Name: "fan-out"}
	failures := []failure{
		{phase: "topology", msg: "endpoint count mismatch"},
		{phase: "delivery", msg: "publish failed", fatal: true},
		{phase: "", msg: "unattributed"},
		{phase: phaseCleanup, msg: "close refused", fatal: true},
	}
	got := synthesizeReport(s, failures)
	want := []tck.PhaseResult{
		{Name: "setup", Passed: true},
		{Name: "topology", Passed: false, Errors: []string{"endpoint count mismatch"}},
		{Name: "broker", Passed: true},
		{Name: "delivery", Passed: false, Errors: []string{"publish failed", "unattributed"}},
	}
	if !reflect.DeepEqual(got.Phases, want) {
		t.Errorf("phases:\n got %+v\nwant %+v", got.Phases, want)
	}
	if got.Name != "fan-out" || got.Passed {
		t.Errorf("name=%q passed=%v", got.Name, got.Passed)
	}
}

func TestSynthesizeReportWithoutKnownPhaseFailsSetup(t *testing.T) {
	got := synthesizeReport(tck.Scenario{Name: "s"}, []failure{{msg: "panic: nil map", fatal: true}})
	want := []tck.PhaseResult{{Name: "setup", Passed: false, Errors: []string{"panic: nil map"}}}
	if !reflect.DeepEqual(got.Phases, want) {
		t.Errorf("phases: got %+v", got.Phases)
	}
}

func TestWithCleanupAppendsCleanupPhase(t *testing.T) {
	rep := tck.ScenarioReport{Phases: []tck.PhaseResult{{Name: "setup", Passed: true}}}
	failures := []failure{{phase: "setup", msg: "x"}, {phase: phaseCleanup, msg: "close refused"}}
	got := withCleanup(rep, failures, 3*time.Millisecond)
	want := []tck.PhaseResult{
		{Name: "setup", Passed: true},
		{Name: "cleanup", Passed: false, Duration: 3 * time.Millisecond, Errors: []string{"close refused"}},
	}
	if !reflect.DeepEqual(got.Phases, want) {
		t.Errorf("phases: got %+v", got.Phases)
	}
}

func TestServicesAndPatternsAreStable(t *testing.T) {
	s := tck.Scenario{Services: map[string]spectest.ServiceConfig{
		"web-app":   {Setups: []spectest.SetupIntent{{Pattern: "service-request"}, {Pattern: "service-response"}}},
		"email-svc": {Setups: []spectest.SetupIntent{{Pattern: "service-request"}}},
		"audit":     {Setups: []spectest.SetupIntent{{Pattern: "custom-stream"}}},
	}}
	if got := sortedServices(s); !slices.Equal(got, []string{"audit", "email-svc", "web-app"}) {
		t.Errorf("services: %v", got)
	}
	if got := patternsOf(s); !slices.Equal(got, []string{"custom-stream", "service-request", "service-response"}) {
		t.Errorf("patterns: %v", got)
	}
}
