package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/sparetimecoders/messaging/spectest"
)

func newTestRoot(verbose bool) (*harnessT, *bytes.Buffer, *[]string) {
	var buf bytes.Buffer
	var fatals []string
	root := newRootT(&console{w: &buf, verbose: verbose}, func(msg string) { fatals = append(fatals, msg) })
	return root, &buf, &fatals
}

func TestRunChildRecoversFatalAndStillRunsCleanupsInReverse(t *testing.T) {
	root, buf, fatals := newTestRoot(false)
	var order []string
	reachedAfterFatal := false
	child := root.runChild("scenario", func(c *harnessT) {
		c.Cleanup(func() { order = append(order, "first") })
		c.Cleanup(func() { order = append(order, "second") })
		c.Errorf("soft %d", 1)
		c.Fatalf("hard %s", "stop")
		reachedAfterFatal = true
	})
	if reachedAfterFatal {
		t.Error("Fatalf must stop the scenario body")
	}
	if !slices.Equal(order, []string{"second", "first"}) {
		t.Errorf("cleanup order: got %v", order)
	}
	failures, fatal := child.snapshot()
	if !fatal || !child.Failed() {
		t.Errorf("fatal=%v failed=%v, want both true", fatal, child.Failed())
	}
	want := []failure{{msg: "soft 1"}, {msg: "hard stop", fatal: true}}
	if !slices.Equal(failures, want) {
		t.Errorf("failures: got %+v, want %+v", failures, want)
	}
	if !slices.Equal(*fatals, []string{"hard stop"}) {
		t.Errorf("onFatal saw %q", *fatals)
	}
	wantOut := "=== RUN   scenario\n    soft 1\n    hard stop\n--- FAIL: scenario ("
	if !strings.HasPrefix(buf.String(), wantOut) {
		t.Errorf("output:\n%s", buf.String())
	}
}

func TestFailingCleanupDoesNotStopTheOthers(t *testing.T) {
	root, _, _ := newTestRoot(false)
	var ran []string
	child := root.runChild("scenario", func(c *harnessT) {
		c.Cleanup(func() { ran = append(ran, "broker") })
		c.Cleanup(func() { c.Fatalf("close_service refused") })
		c.Cleanup(func() { panic("boom") })
		c.Cleanup(func() {
			ran = append(ran, "nested-registrar")
			c.Cleanup(func() { ran = append(ran, "nested") })
		})
	})
	if !slices.Equal(ran, []string{"nested-registrar", "nested", "broker"}) {
		t.Errorf("cleanups run: %v", ran)
	}
	failures, fatal := child.snapshot()
	if !fatal || len(failures) != 2 {
		t.Fatalf("fatal=%v failures=%+v", fatal, failures)
	}
	if failures[0].phase != phaseCleanup || !strings.HasPrefix(failures[0].msg, "panic: boom\n") {
		t.Errorf("panic failure: %+v", failures[0])
	}
	if failures[1] != (failure{phase: phaseCleanup, msg: "close_service refused", fatal: true}) {
		t.Errorf("fatal cleanup failure: %+v", failures[1])
	}
}

func TestPassingChildAndLogVerbosity(t *testing.T) {
	for _, verbose := range []bool{false, true} {
		root, buf, _ := newTestRoot(verbose)
		ok := root.Run("quiet", func(c spectest.T) { c.Logf("mapped %s", "orders") })
		if !ok || root.Failed() {
			t.Errorf("verbose=%v: a child without failures must pass", verbose)
		}
		if got := strings.Contains(buf.String(), "    mapped orders\n"); got != verbose {
			t.Errorf("verbose=%v: log shown=%v\n%s", verbose, got, buf.String())
		}
		if !strings.Contains(buf.String(), "--- PASS: quiet (") {
			t.Errorf("missing PASS line:\n%s", buf.String())
		}
	}
}

func TestRunPropagatesChildFailureToParent(t *testing.T) {
	root, _, _ := newTestRoot(false)
	if root.Run("bad", func(c spectest.T) { c.FailNow() }) {
		t.Error("Run must report the failed child")
	}
	if !root.Failed() {
		t.Error("parent must be marked failed")
	}
}
