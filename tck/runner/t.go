package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/sparetimecoders/messaging/spectest"
)

// failNow is the panic value Fatalf and FailNow use to unwind a scenario;
// runChild recovers it.
type failNow struct{}

// phaseCleanup names errors raised while a scenario's cleanups run, which
// the tck package's own report has no phase for.
const phaseCleanup = "cleanup"

// tckPhases maps the tck package's phase functions (pinned at v0.0.1) to the
// phase names its report uses, so a fatal error can be pinned to its phase.
var tckPhases = map[string]string{
	"github.com/sparetimecoders/messaging/tck.phaseSetup":       "setup",
	"github.com/sparetimecoders/messaging/tck.phaseTopology":    "topology",
	"github.com/sparetimecoders/messaging/tck.phaseBrokerState": "broker",
	"github.com/sparetimecoders/messaging/tck.phaseDelivery":    "delivery",
	"github.com/sparetimecoders/messaging/tck.phaseProbes":      "probes",
}

// failure is one Errorf/Fatalf (or recovered panic) of a scenario.
type failure struct {
	phase string // a tckPhases value, phaseCleanup, or "" when unknown
	msg   string
	fatal bool
}

// console serialises output: the subprocess adapter logs adapter stdout and
// stderr from its own goroutines while a scenario prints.
type console struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
}

func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.w, format, args...)
}

// harnessT implements spectest.T outside `go test`: failures are printed and
// recorded, Fatalf unwinds through a panic, and cleanups run LIFO.
type harnessT struct {
	name    string
	depth   int
	out     *console
	onFatal func(msg string)

	mu       sync.Mutex
	failed   bool
	fatal    bool
	cleaning bool
	failures []failure
	cleanups []func()
}

var _ spectest.T = (*harnessT)(nil)

func newRootT(out *console, onFatal func(string)) *harnessT {
	return &harnessT{name: "TCK", out: out, onFatal: onFatal}
}

func (t *harnessT) Helper() {}

func (t *harnessT) Errorf(format string, args ...any) {
	t.record(fmt.Sprintf(format, args...), false)
}

func (t *harnessT) Fatalf(format string, args ...any) {
	t.record(fmt.Sprintf(format, args...), true)
	panic(failNow{})
}

func (t *harnessT) Fatal(args ...any) {
	t.record(fmt.Sprint(args...), true)
	panic(failNow{})
}

func (t *harnessT) FailNow() {
	t.mu.Lock()
	t.failed, t.fatal = true, true
	t.mu.Unlock()
	panic(failNow{})
}

func (t *harnessT) Logf(format string, args ...any) {
	if t.out.verbose {
		t.print(fmt.Sprintf(format, args...))
	}
}

func (t *harnessT) Log(args ...any) {
	if t.out.verbose {
		t.print(fmt.Sprint(args...))
	}
}

func (t *harnessT) Cleanup(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, fn)
}

func (t *harnessT) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *harnessT) Name() string { return t.name }

// Run runs f as a nested test; the harness itself calls runChild directly
// because it needs the child's failures, not just a bool.
func (t *harnessT) Run(name string, f func(spectest.T)) bool {
	child := t.runChild(name, func(c *harnessT) { f(c) })
	if child.Failed() {
		t.mu.Lock()
		t.failed = true
		t.mu.Unlock()
	}
	return !child.Failed()
}

// runChild runs f under a fresh child T, prints `=== RUN`/`--- PASS|FAIL`,
// and contains every panic, both in f and in each cleanup, so one broken
// scenario cannot stop the run.
func (t *harnessT) runChild(name string, f func(*harnessT)) *harnessT {
	child := &harnessT{name: name, depth: t.depth + 1, out: t.out, onFatal: t.onFatal}
	t.out.printf("%s=== RUN   %s\n", indent(t.depth), name)
	start := time.Now()
	child.guard(func() { f(child) })
	child.runCleanups()
	verdict := "PASS"
	if child.Failed() {
		verdict = "FAIL"
	}
	t.out.printf("%s--- %s: %s (%.2fs)\n", indent(t.depth), verdict, name, time.Since(start).Seconds())
	return child
}

// runCleanups runs registered cleanups LIFO, each guarded on its own, and
// also those registered by a cleanup while it runs.
func (t *harnessT) runCleanups() {
	t.mu.Lock()
	t.cleaning = true
	t.mu.Unlock()
	for {
		t.mu.Lock()
		n := len(t.cleanups)
		if n == 0 {
			t.cleaning = false
			t.mu.Unlock()
			return
		}
		fn := t.cleanups[n-1]
		t.cleanups = t.cleanups[:n-1]
		t.mu.Unlock()
		t.guard(fn)
	}
}

// guard runs fn; a failNow unwinds quietly (already recorded), any other
// panic is recorded as a fatal failure with its stack.
func (t *harnessT) guard(fn func()) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if _, ok := p.(failNow); ok {
			return
		}
		t.record(fmt.Sprintf("panic: %v\n%s", p, debug.Stack()), true)
	}()
	fn()
}

func (t *harnessT) record(msg string, fatal bool) {
	t.mu.Lock()
	phase := phaseCleanup
	if !t.cleaning {
		phase = callerPhase()
	}
	t.failed = true
	t.fatal = t.fatal || fatal
	t.failures = append(t.failures, failure{phase: phase, msg: msg, fatal: fatal})
	t.mu.Unlock()
	t.print(msg)
	if fatal && t.onFatal != nil {
		t.onFatal(msg)
	}
}

// snapshot returns a copy of the recorded failures and whether any was fatal.
func (t *harnessT) snapshot() ([]failure, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]failure(nil), t.failures...), t.fatal
}

func (t *harnessT) print(msg string) {
	prefix := indent(t.depth)
	var b strings.Builder
	for _, line := range strings.Split(msg, "\n") {
		b.WriteString(prefix)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	t.out.printf("%s", b.String())
}

// callerPhase finds the innermost tck phase function on the stack. Closures
// (`phaseSetup.func1`, the broker cleanup) do not match, by design.
func callerPhase() string {
	pcs := make([]uintptr, 128)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	for {
		frame, more := frames.Next()
		if phase, ok := tckPhases[frame.Function]; ok {
			return phase
		}
		if !more {
			return ""
		}
	}
}

func indent(depth int) string {
	return strings.Repeat("    ", max(depth, 0))
}
