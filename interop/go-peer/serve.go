package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

type serveResult struct {
	Subject  string    `json:"subject"`
	Requests []message `json:"requests"`
	// The reply body sent for each request, in order ("" when the request
	// had no reply subject and nothing was sent).
	Replies []string `json:"replies"`
}

// runServe answers --count requests on `<service>.request.<key>` as a
// reference RequestResponseHandler does: a plain subscription (no queue
// group), the handler's JSON as the reply body, `{"error":"…"}` when the
// handler fails, and no reply headers.
func runServe(args []string) error {
	var c common
	var key, reply, failure string
	var count int
	fs := newFlags("serve", &c, 10*time.Second)
	fs.StringVar(&key, "key", "", "routing key")
	fs.StringVar(&reply, "reply", "", "JSON the handler returns")
	fs.StringVar(&failure, "error", "", "error text the handler fails with")
	fs.IntVar(&count, "count", 1, "exit after this many requests")
	if err := parse(fs, args, map[string]*string{"service": &c.service, "key": &key}); err != nil {
		return err
	}
	if (reply == "") == (failure == "") {
		return fmt.Errorf("%w: give exactly one of --reply and --error", errUsage)
	}
	if reply != "" && !json.Valid([]byte(reply)) {
		return fmt.Errorf("%w: --reply is not JSON", errUsage)
	}
	body := []byte(reply)
	if failure != "" {
		body = errorBody(failure)
	}
	nc, err := connect(&c)
	if err != nil {
		return err
	}
	defer nc.Close()
	subject := requestSubject(c.service, key)
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		return fmt.Errorf("subscribing to %s: %w", subject, err)
	}
	// The reference does not flush; the peer does so the test knows when
	// requests can reach it.
	if err := nc.FlushTimeout(c.timeout); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	signalReady()
	result := serveResult{Subject: subject, Requests: []message{}, Replies: []string{}}
	var problems []error
	until := time.Now().Add(c.timeout)
	for len(result.Requests) < count {
		msg, err := sub.NextMsg(time.Until(until))
		if err != nil {
			_ = printResult(result)
			return fmt.Errorf("got %d of %d request(s) within %v: %w", len(result.Requests), count, c.timeout, err)
		}
		result.Requests = append(result.Requests, wireMessage(msg.Subject, msg.Header, msg.Data))
		out := body
		if p := checkIncoming(msg.Header, msg.Data); len(p) > 0 {
			e := mismatch(msg.Subject, p)
			problems = append(problems, e)
			out = errorBody(e.Error())
		}
		if msg.Reply == "" {
			result.Replies = append(result.Replies, "")
			continue
		}
		if err := msg.Respond(out); err != nil {
			return fmt.Errorf("replying to %s: %w", msg.Subject, err)
		}
		result.Replies = append(result.Replies, string(out))
	}
	// Replies must leave before the connection closes.
	if err := nc.FlushTimeout(c.timeout); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if err := printResult(result); err != nil {
		return err
	}
	return errors.Join(problems...)
}
