package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runBenchPublish publishes --count events one at a time, each waiting for
// its PubAck, doing per event what the reference's Publisher.Publish does
// (§1.8). It times the loop from before the first publish to the last
// PubAck.
func runBenchPublish(args []string) error {
	var c common
	var stream, key string
	var count int
	var ensure, msgID bool
	fs := newFlags("bench-publish", &c, 120*time.Second)
	fs.StringVar(&stream, "stream", "", "stream name (must exist unless --ensure)")
	fs.StringVar(&key, "key", benchKey, "routing key")
	fs.IntVar(&count, "count", 0, "how many events")
	fs.BoolVar(&ensure, "ensure", false, "create-or-update the stream first, as the reference's StreamPublisher does")
	fs.BoolVar(&msgID, "msg-id", false, "also send Nats-Msg-Id = ce-id (the Rust transport does; the reference does not)")
	if err := parse(fs, args, map[string]*string{"stream": &stream, "key": &key}); err != nil {
		return err
	}
	if c.service == "" {
		c.service = "gobench"
	}
	if err := checkCount(count); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	// The reference passes no client options of its own (§1.3).
	nc, err := nats.Connect(c.url)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", c.url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if ensure {
		if _, err := ensureStream(ctx, js, stream, streamReference); err != nil {
			return err
		}
	} else if _, err := js.Stream(ctx, stream); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("stream %s does not exist: create it first or pass --ensure", stream)
		}
		return fmt.Errorf("looking up stream %s: %w", stream, err)
	}
	p := &benchPublisher{js: js, stream: stream, service: c.service, msgID: msgID}
	start, err := takeSample()
	if err != nil {
		return err
	}
	for i := range count {
		// The reference's callers pass their own ctx; with none, nats.go
		// bounds each PubAck wait by its 5 s default.
		if err := p.publish(context.Background(), key, benchOrder{ID: i, Name: "order", Amount: 12.5}); err != nil {
			return fmt.Errorf("publish %d of %d: %w", i+1, count, err)
		}
	}
	end, err := takeSample()
	if err != nil {
		return err
	}
	return printResult(between(count, start, end))
}

// benchPublisher is a wired reference Publisher for a stream.
type benchPublisher struct {
	js      jetstream.JetStream
	stream  string
	service string
	msgID   bool
}

// publish follows Publisher.Publish step by step (§1.8): default `service`
// header, span, JSON body, CE headers set if absent, ce-id, trace
// injection, JetStream publish awaiting the PubAck, metrics.
func (p *benchPublisher) publish(ctx context.Context, key string, msg any) error {
	headers := nats.Header{}
	headers.Set(hdrService, p.service)
	subject := publishSubject(p.stream, key)
	ctx, sp := startSpan(ctx, fmt.Sprintf("publish %s", key), publishSpanAttrs(p.stream, subject, p.service)...)
	defer sp.end()
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	setDefault := func(k, v string) {
		if headers.Get(k) == "" {
			headers.Set(k, v)
		}
	}
	setDefault(hdrSpecVersion, specVersion)
	setDefault(hdrType, key)
	setDefault(hdrSource, p.service)
	setDefault(hdrDataContentType, contentTypeJSON)
	setDefault(hdrTime, ceTime(time.Now()))
	id := uuid.New().String()
	if existing := headers.Get(hdrID); existing != "" {
		id = existing
	}
	headers.Set(hdrID, id)
	sp.setAttributes(strAttr("messaging.message.id", id), intAttr("messaging.message.body.size", len(body)))
	headers = injectToHeaders(ctx, headers)
	if p.msgID {
		headers.Set(hdrMsgID, id)
	}
	m := &nats.Msg{Subject: subject, Data: body, Header: headers}
	began := time.Now()
	_, err = p.js.PublishMsg(ctx, m)
	elapsed := time.Since(began).Milliseconds()
	if err != nil {
		return err
	}
	sp.setOK()
	eventPublishSucceed(p.stream, key, elapsed)
	return nil
}
