package main

// What a reference consumer needs from a message it receives. The reference
// only logs a warning for missing CloudEvents attributes and uses a zero
// timestamp when ce-time does not parse; the peer treats both as a mismatch,
// since a Rust publisher must never cause them.

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// checkIncoming returns every way h and body fall short of what the
// reference expects from a publish.
func checkIncoming(h nats.Header, body []byte) []string {
	var problems []string
	for _, k := range requiredCE {
		switch vs := h[k]; {
		case len(vs) == 0:
			problems = append(problems, fmt.Sprintf("missing header %q", k))
		case len(vs) > 1:
			problems = append(problems, fmt.Sprintf("header %q has %d values", k, len(vs)))
		case vs[0] == "":
			problems = append(problems, fmt.Sprintf("header %q is empty", k))
		}
	}
	if v := h.Get(hdrSpecVersion); v != "" && v != specVersion {
		problems = append(problems, fmt.Sprintf("%s is %q, want %q", hdrSpecVersion, v, specVersion))
	}
	if v := h.Get(hdrTime); v != "" {
		if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
			problems = append(problems, fmt.Sprintf("%s %q is not RFC 3339: %v", hdrTime, v, err))
		}
	}
	// A typed reference handler json.Unmarshal's the body; invalid JSON is
	// terminated as not parsable.
	if !json.Valid(body) {
		problems = append(problems, fmt.Sprintf("body is not valid JSON: %q", body))
	}
	return problems
}

// mismatch wraps problems found in a message into one error.
func mismatch(subject string, problems []string) error {
	return fmt.Errorf("message on %s does not match the reference wire format: %s",
		subject, strings.Join(problems, "; "))
}
