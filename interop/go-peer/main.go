// Command go-peer speaks the wire format of the Go reference transport
// (github.com/sparetimecoders/go-messaging-nats) using nats.go directly, so
// tests can check a Rust service against a Go one on a real nats-server.
// The reference module is not importable here; every formula it uses is
// restated in wire.go from NATS-TRANSPORT-DIGEST.md §2.
//
// Each subcommand prints one JSON line on stdout and exits 0, or prints a
// message on stderr and exits 1 (2 for bad usage). See docs/interop.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
)

// errUsage marks errors in the command line (exit status 2).
var errUsage = errors.New("usage")

const usage = `usage: go-peer <command> [flags]

commands:
  publish  --url U --service S [--stream events] --key K --body JSON [--count N] [--stream-mode ensure|reference]
  consume  --url U --service S [--stream events] --key K [--suffix X] (--expect N | --drain) [--timeout 10s]
  serve    --url U --service S --key K (--reply JSON | --error TEXT) [--count N] [--timeout 10s]
  request  --url U --service S --target T --key K --body JSON [--timeout 5s]
  bench-publish --url U --stream S --count N [--service gobench] [--key Order.Created] [--ensure] [--msg-id] [--timeout 120s]
  bench-consume --url U --stream S --count N [--concurrency 1] [--durable gobench] [--key '#'] [--timeout 120s]
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	commands := map[string]func([]string) error{
		"publish": runPublish,
		"consume": runConsume,
		"serve":   runServe,
		"request": runRequest,
		// Imitations of the reference's hot paths for benchmarks.
		"bench-publish": runBenchPublish,
		"bench-consume": runBenchConsume,
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "go-peer: unknown command %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err := cmd(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "go-peer %s: %v\n", os.Args[1], err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// common are the flags every command takes.
type common struct {
	url     string
	service string
	timeout time.Duration
}

func newFlags(name string, c *common, timeout time.Duration) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.url, "url", nats.DefaultURL, "NATS server URL")
	fs.StringVar(&c.service, "service", "", "this peer's service name")
	fs.DurationVar(&c.timeout, "timeout", timeout, "bound on the whole command")
	return fs
}

// parse parses args and checks that every named flag value is non-empty.
func parse(fs *flag.FlagSet, args []string, required map[string]*string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	for name, v := range required {
		if *v == "" {
			return fmt.Errorf("%w: --%s is required", errUsage, name)
		}
	}
	return nil
}

// connect opens a client named after the service, as the reference does.
func connect(c *common) (*nats.Conn, error) {
	nc, err := nats.Connect(c.url, nats.Name(c.service), nats.Timeout(c.timeout))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.url, err)
	}
	return nc, nil
}
