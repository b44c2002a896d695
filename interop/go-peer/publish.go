package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

type publishResult struct {
	Stream        string    `json:"stream"`
	StreamCreated bool      `json:"stream_created"`
	Published     []message `json:"published"`
}

// runPublish publishes --count events as the reference's event publisher
// does and waits for each PubAck.
func runPublish(args []string) error {
	var c common
	var stream, key, body, mode string
	var count int
	fs := newFlags("publish", &c, 10*time.Second)
	streamFlags(fs, &stream, &mode)
	fs.StringVar(&key, "key", "", "routing key")
	fs.StringVar(&body, "body", "", "JSON payload, sent verbatim")
	fs.IntVar(&count, "count", 1, "how many messages (each with its own ce-id)")
	if err := parse(fs, args, map[string]*string{"service": &c.service, "key": &key, "body": &body}); err != nil {
		return err
	}
	if !json.Valid([]byte(body)) {
		return fmt.Errorf("%w: --body is not JSON", errUsage)
	}
	if count < 1 {
		return fmt.Errorf("%w: --count must be at least 1", errUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	nc, js, created, err := openStream(ctx, &c, stream, mode)
	if err != nil {
		return err
	}
	defer nc.Close()
	result := publishResult{Stream: stream, StreamCreated: created}
	for range count {
		msg := nats.NewMsg(publishSubject(stream, key))
		msg.Header = publishHeaders(c.service, key, time.Now())
		msg.Data = []byte(body)
		ack, err := js.PublishMsg(ctx, msg)
		if err != nil {
			return fmt.Errorf("publishing to %s: %w", msg.Subject, err)
		}
		if ack.Stream != stream || ack.Duplicate {
			return fmt.Errorf("unexpected PubAck for %s: stream %q duplicate %v", msg.Subject, ack.Stream, ack.Duplicate)
		}
		m := wireMessage(msg.Subject, msg.Header, msg.Data)
		m.Sequence = ack.Sequence
		result.Published = append(result.Published, m)
	}
	return printResult(result)
}
