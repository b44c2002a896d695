package main

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/sparetimecoders/messaging"
	"github.com/sparetimecoders/messaging/spectest"
	"github.com/sparetimecoders/messaging/tck"
)

// desyncMarkers are the tck v0.0.1 subprocess failures after which the
// request/response stream can no longer be trusted: the adapter is gone, or
// a reply is missing, unreadable or late. An error *reply* is not among them;
// the stream stays in step after one.
var desyncMarkers = []string{
	"tck subprocess: failed to write",
	"tck subprocess: read error",
	"tck subprocess: unexpected EOF",
	"tck subprocess: invalid JSON response",
	"tck subprocess: response id mismatch",
	"tck subprocess: timeout waiting for response",
}

func isDesync(msg string) bool {
	for _, m := range desyncMarkers {
		if strings.HasPrefix(msg, m) {
			return true
		}
	}
	return false
}

// guardedAdapter wraps the subprocess adapter so that, once the protocol has
// desynchronised, later calls fail at once instead of each waiting 30 s or
// racing the subprocess adapter's still-blocked reader goroutine.
type guardedAdapter struct {
	inner tck.Adapter

	mu     sync.Mutex
	broken string
}

// noteFatal is the harnessT onFatal hook.
func (g *guardedAdapter) noteFatal(msg string) {
	if !isDesync(msg) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.broken == "" {
		g.broken = msg
	}
}

func (g *guardedAdapter) brokenReason() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.broken
}

func (g *guardedAdapter) require(t spectest.T) {
	if reason := g.brokenReason(); reason != "" {
		t.Fatalf("adapter unusable after an earlier protocol failure: %s", firstLine(reason))
	}
}

func (g *guardedAdapter) TransportKey() string { return g.inner.TransportKey() }

func (g *guardedAdapter) BrokerConfig() tck.BrokerConfig { return g.inner.BrokerConfig() }

func (g *guardedAdapter) StartService(t spectest.T, serviceName string, intents []spectest.SetupIntent) *spectest.ServiceHandle {
	g.require(t)
	h := g.inner.StartService(t, serviceName, intents)
	publishers := make(map[string]spectest.PublishFunc, len(h.Publishers))
	for key, publish := range h.Publishers {
		publishers[key] = func(ctx context.Context, routingKey string, payload json.RawMessage, headers map[string]string) error {
			g.require(t)
			return publish(ctx, routingKey, payload, headers)
		}
	}
	return &spectest.ServiceHandle{
		Topology:   func() messaging.Topology { return h.Topology() },
		Publishers: publishers,
		Received: func() []spectest.ReceivedMessage {
			g.require(t)
			return h.Received()
		},
		Close: func() error {
			if g.brokenReason() != "" {
				t.Logf("not closing %s: adapter protocol is broken", serviceName)
				return nil
			}
			return h.Close()
		},
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
