// Command tck-harness runs the official gomessaging TCK (module
// github.com/sparetimecoders/messaging/tck) against a subprocess adapter.
//
// Usage:
//
//	tck-harness -adapter PATH -fixtures PATH [-scenario SUBSTR]
//	            [-report-md FILE|-] [-report-json FILE|-] [-v]
//
// Progress and the summary go to stderr; stdout is kept for reports written
// to "-". Exit status: 0 all ran scenarios passed, 1 a failure (or nothing
// ran), 2 a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sparetimecoders/messaging/tck"
)

const (
	exitPass  = 0
	exitFail  = 1
	exitUsage = 2
)

// errFlags reports a flag-syntax error the flag package has already printed.
var errFlags = errors.New("invalid flags")

type config struct {
	adapter    string
	fixtures   string
	filter     string
	reportMD   string
	reportJSON string
	verbose    bool
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("tck-harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.adapter, "adapter", "", "adapter `executable`, spawned with no arguments (required)")
	fs.StringVar(&cfg.fixtures, "fixtures", "", "path to tck.json (required)")
	fs.StringVar(&cfg.filter, "scenario", "", "run only scenarios whose name contains this `substring`")
	fs.StringVar(&cfg.reportMD, "report-md", "", "write a Markdown report to `file` (- for stdout)")
	fs.StringVar(&cfg.reportJSON, "report-json", "", "write a JSON report to `file` (- for stdout)")
	fs.BoolVar(&cfg.verbose, "v", false, "print TCK logs and adapter stdout/stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, errFlags
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	case cfg.adapter == "":
		return cfg, errors.New("-adapter is required")
	case cfg.fixtures == "":
		return cfg, errors.New("-fixtures is required")
	case cfg.reportMD == "-" && cfg.reportJSON == "-":
		return cfg, errors.New("only one report can go to stdout")
	}
	return cfg, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitPass
	}
	if errors.Is(err, errFlags) {
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "tck-harness: %v (see -h)\n", err)
		return exitUsage
	}
	if info, err := os.Stat(cfg.adapter); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		fmt.Fprintf(stderr, "tck-harness: adapter %q is not an executable file\n", cfg.adapter)
		return exitUsage
	}
	scenarios, err := tck.LoadScenariosFile(cfg.fixtures)
	if err != nil {
		fmt.Fprintf(stderr, "tck-harness: %v\n", err)
		return exitFail
	}
	selected := selectScenarios(scenarios, cfg.filter)
	if len(selected) == 0 {
		fmt.Fprintf(stderr, "tck-harness: no scenario name contains %q\n", cfg.filter)
		return exitUsage
	}

	started := time.Now()
	out := &console{w: stderr, verbose: cfg.verbose}
	guard := &guardedAdapter{}
	root := newRootT(out, guard.noteFatal)

	var (
		results []result
		fatal   string
	)
	root.guard(func() { guard.inner = tck.NewSubprocessAdapter(root, cfg.adapter) })
	if guard.inner == nil {
		fatal = "adapter handshake failed"
		if failures, _ := root.snapshot(); len(failures) > 0 {
			fatal += ": " + failures[len(failures)-1].msg
		}
	} else {
		results = runAll(root, guard, selected)
	}
	// Root cleanups send `shutdown` and reap the adapter (SIGKILL after 5 s).
	root.runCleanups()

	transport := ""
	if guard.inner != nil {
		transport = guard.TransportKey()
	}
	t := tallyOf(results)
	rep := newRunReport(transport, started, results, fatal)
	status := exitPass
	if !t.ok() {
		status = exitFail
	}
	if err := writeReports(cfg, rep, t.summaryLine(), stdout); err != nil {
		fmt.Fprintf(stderr, "tck-harness: %v\n", err)
		status = exitFail
	}

	if fatal != "" {
		fmt.Fprintf(stderr, "\n%s\n", fatal)
	} else if t.ran() == 0 {
		fmt.Fprintf(stderr, "\nno scenario ran on transport %q\n", transport)
	}
	fmt.Fprintf(stderr, "\n%s\n%s\n", t.summaryLine(), t.skippedLine())
	return status
}

// runAll runs the selected scenarios in file order, skipping those not meant
// for the adapter's transport.
func runAll(root *harnessT, adapter *guardedAdapter, selected []tck.Scenario) []result {
	transport := adapter.TransportKey()
	results := make([]result, 0, len(selected))
	for _, s := range selected {
		if reason := skipReason(s, transport); reason != "" {
			root.out.printf("=== RUN   %s\n    skipped: %s\n--- SKIP: %s (0.00s)\n", s.Name, reason, s.Name)
			results = append(results, result{name: s.Name, verdict: verdictSkip, skipReason: reason, scenario: s})
			continue
		}
		results = append(results, runScenario(root, adapter, s))
	}
	return results
}

func writeReports(cfg config, rep runReport, summary string, stdout io.Writer) error {
	if cfg.reportJSON != "" {
		data, err := rep.json()
		if err != nil {
			return fmt.Errorf("encoding JSON report: %w", err)
		}
		if err := writeOutput(cfg.reportJSON, data, stdout); err != nil {
			return fmt.Errorf("writing JSON report: %w", err)
		}
	}
	if cfg.reportMD != "" {
		if err := writeOutput(cfg.reportMD, []byte(rep.markdown(summary)), stdout); err != nil {
			return fmt.Errorf("writing Markdown report: %w", err)
		}
	}
	return nil
}
