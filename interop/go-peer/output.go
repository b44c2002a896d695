package main

// What the peer prints: one JSON object on stdout per run, so the Rust test
// can assert on exact values. Bodies are printed as strings (the exact
// bytes, which are JSON text here) and headers with every value, keys in
// their wire case.

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// message is one message as seen on the wire.
type message struct {
	Subject string              `json:"subject"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
	// Stream sequence, for JetStream messages.
	Sequence uint64 `json:"sequence,omitempty"`
	// Delivery count, for JetStream messages.
	Delivered uint64 `json:"delivered,omitempty"`
}

func wireMessage(subject string, h nats.Header, body []byte) message {
	headers := make(map[string][]string, len(h))
	for k, v := range h {
		headers[k] = append([]string(nil), v...)
	}
	return message{Subject: subject, Headers: headers, Body: string(body)}
}

// printResult writes v as one JSON line on stdout.
func printResult(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding the result: %w", err)
	}
	b = append(b, '\n')
	_, err = os.Stdout.Write(b)
	return err
}

// signalReady tells the test (on stderr) that the peer's subscription is
// registered on the server.
func signalReady() {
	fmt.Fprintln(os.Stderr, readyLine)
}

// readyLine is what the Rust test waits for on stderr.
const readyLine = "go-peer: ready"
