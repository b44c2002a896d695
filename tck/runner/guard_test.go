package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/sparetimecoders/messaging"
	"github.com/sparetimecoders/messaging/spectest"
	"github.com/sparetimecoders/messaging/tck"
)

func TestIsDesync(t *testing.T) {
	cases := map[string]bool{
		"tck subprocess: timeout waiting for response id=6 after 30s":    true,
		"tck subprocess: unexpected EOF while waiting for response id=5": true,
		"tck subprocess: response id mismatch: got 3, want 4":            true,
		"tck subprocess: start_service returned error: [-1] nope":        false,
		"tck subprocess: failed to unmarshal received result: bad":       false,
	}
	for msg, want := range cases {
		if got := isDesync(msg); got != want {
			t.Errorf("%q: got %v", msg, got)
		}
	}
}

type stubAdapter struct{ calls []string }

func (s *stubAdapter) TransportKey() string           { return "nats" }
func (s *stubAdapter) BrokerConfig() tck.BrokerConfig { return tck.BrokerConfig{} }
func (s *stubAdapter) StartService(_ spectest.T, name string, _ []spectest.SetupIntent) *spectest.ServiceHandle {
	s.calls = append(s.calls, "start "+name)
	return &spectest.ServiceHandle{
		Topology: func() messaging.Topology { return messaging.Topology{ServiceName: name} },
		Received: func() []spectest.ReceivedMessage {
			s.calls = append(s.calls, "received "+name)
			return nil
		},
		Close: func() error {
			s.calls = append(s.calls, "close "+name)
			return nil
		},
	}
}

func TestGuardShortCircuitsAfterDesync(t *testing.T) {
	stub := &stubAdapter{}
	guard := &guardedAdapter{inner: stub}
	root, _, _ := newTestRoot(false)
	root.onFatal = guard.noteFatal

	var handle *spectest.ServiceHandle
	root.runChild("healthy", func(c *harnessT) {
		handle = guard.StartService(c, "orders-1", nil)
		handle.Received()
		c.Fatalf("tck subprocess: unexpected EOF while waiting for response id=%d", 4)
	})
	if got := guard.brokenReason(); got != "tck subprocess: unexpected EOF while waiting for response id=4" {
		t.Fatalf("broken reason: %q", got)
	}
	child := root.runChild("after", func(c *harnessT) {
		guard.StartService(c, "orders-2", nil)
	})
	if err := handle.Close(); err != nil {
		t.Errorf("close after desync: %v", err)
	}
	if want := []string{"start orders-1", "received orders-1"}; !slices.Equal(stub.calls, want) {
		t.Errorf("inner calls: got %q, want %q", stub.calls, want)
	}
	failures, fatal := child.snapshot()
	if !fatal || len(failures) != 1 || !strings.HasPrefix(failures[0].msg, "adapter unusable after an earlier protocol failure: ") {
		t.Errorf("later scenario: fatal=%v failures=%+v", fatal, failures)
	}
}

func TestGuardIgnoresErrorReplies(t *testing.T) {
	guard := &guardedAdapter{inner: &stubAdapter{}}
	guard.noteFatal("tck subprocess: close_service returned error: [-1] nope")
	if got := guard.brokenReason(); got != "" {
		t.Errorf("an error reply must not mark the protocol broken, got %q", got)
	}
}
