package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

type requestResult struct {
	Request message `json:"request"`
	Reply   message `json:"reply"`
}

// runRequest sends one Core NATS request as the reference's service
// publisher does (standard publish headers, `<target>.request.<key>`) and
// prints the reply, which the reference itself would discard.
func runRequest(args []string) error {
	var c common
	var target, key, body string
	fs := newFlags("request", &c, 5*time.Second)
	fs.StringVar(&target, "target", "", "service to call")
	fs.StringVar(&key, "key", "", "routing key")
	fs.StringVar(&body, "body", "", "JSON payload, sent verbatim")
	required := map[string]*string{"service": &c.service, "target": &target, "key": &key, "body": &body}
	if err := parse(fs, args, required); err != nil {
		return err
	}
	if !json.Valid([]byte(body)) {
		return fmt.Errorf("%w: --body is not JSON", errUsage)
	}
	nc, err := connect(&c)
	if err != nil {
		return err
	}
	defer nc.Close()
	msg := nats.NewMsg(requestSubject(target, key))
	msg.Header = publishHeaders(c.service, key, time.Now())
	msg.Data = []byte(body)
	reply, err := nc.RequestMsg(msg, c.timeout)
	if err != nil {
		return fmt.Errorf("request to %s: %w", msg.Subject, err)
	}
	return printResult(requestResult{
		Request: wireMessage(msg.Subject, msg.Header, msg.Data),
		Reply:   wireMessage(reply.Subject, reply.Header, reply.Data),
	})
}
