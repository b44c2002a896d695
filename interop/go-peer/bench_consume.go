package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runBenchConsume consumes --count messages through durable pull consumers
// set up as the reference's Start sets them up (§2.3, §2.5), doing per
// message what its consumer loop does (§2.6, §2.7, §2.9). With
// --concurrency K it runs K reference instances (§2.4): K connections, each
// with its own serial Consume on the shared durable. The clock runs from
// just before the first Consume to the return of the handler that acks the
// Nth message.
func runBenchConsume(args []string) error {
	var c common
	var stream, durable, key string
	var count, concurrency int
	fs := newFlags("bench-consume", &c, 120*time.Second)
	fs.StringVar(&stream, "stream", "", "stream name (must exist)")
	fs.StringVar(&durable, "durable", "gobench", "durable name (the reference's service name)")
	fs.StringVar(&key, "key", "#", "routing key pattern (`#` becomes `>` in the filter)")
	fs.IntVar(&count, "count", 0, "how many messages to ack")
	fs.IntVar(&concurrency, "concurrency", 1, "reference instances sharing the durable")
	required := map[string]*string{"stream": &stream, "durable": &durable, "key": &key}
	if err := parse(fs, args, required); err != nil {
		return err
	}
	if c.service == "" {
		c.service = durable
	}
	if err := checkCount(count); err != nil {
		return err
	}
	if concurrency < 1 {
		return fmt.Errorf("%w: --concurrency must be at least 1", errUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	run := &benchRun{want: int64(count), done: make(chan struct{})}
	var instances []*benchInstance
	defer func() {
		for _, in := range instances {
			in.nc.Close()
		}
	}()
	for i := range concurrency {
		in, err := openInstance(ctx, &c, stream, durable, key, i == 0, run)
		if err != nil {
			return err
		}
		instances = append(instances, in)
	}

	start, err := takeSample()
	if err != nil {
		return err
	}
	for _, in := range instances {
		// No pull options: the reference takes nats.go's defaults (500
		// messages per pull, 30 s expiry, 15 s heartbeat, refill at 250).
		cc, err := in.cons.Consume(in.handleMessage)
		if err != nil {
			return fmt.Errorf("consume on %s: %w", stream, err)
		}
		in.cc = cc
	}
	var waitErr error
	select {
	case <-run.done:
	case <-ctx.Done():
		waitErr = fmt.Errorf("acked %d of %d message(s) within %v (%d terminated)",
			run.acked.Load(), count, c.timeout, run.terminated.Load())
	}
	for _, in := range instances {
		in.cc.Stop()
	}
	cleanupErr := instances[0].finish(stream, durable)
	if waitErr != nil {
		return errors.Join(waitErr, cleanupErr)
	}
	if err := printResult(between(count, start, run.end)); err != nil {
		return err
	}
	return cleanupErr
}

// benchRun is what all instances share: the target, the counters and the
// sample taken when the target is reached.
type benchRun struct {
	want       int64
	acked      atomic.Int64
	terminated atomic.Int64
	end        sample
	endErr     error
	done       chan struct{}
}

// handled counts one acked message; the handler that completes the count
// takes the end sample.
func (r *benchRun) handled() {
	if r.acked.Add(1) == r.want {
		r.end, r.endErr = takeSample()
		close(r.done)
	}
}

// benchInstance is one reference Connection with its one consumer group.
type benchInstance struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	cons     jetstream.Consumer
	cc       jetstream.ConsumeContext
	run      *benchRun
	name     string
	stream   string
	service  string
	handlers map[string]wrappedHandler
	logger   *slog.Logger
}

// openInstance connects and creates-or-updates the durable as the
// reference's Start does (§2.3). The first instance deletes a leftover
// durable of that name, so every run starts at the stream's first message.
func openInstance(ctx context.Context, c *common, stream, durable, key string, first bool, run *benchRun) (*benchInstance, error) {
	// The reference passes no client options of its own (§1.3).
	nc, err := nats.Connect(c.url)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.url, err)
	}
	in := &benchInstance{nc: nc, run: run, name: durable, stream: stream, service: c.service}
	if err := in.setUp(ctx, durable, key, first); err != nil {
		nc.Close()
		return nil, err
	}
	return in, nil
}

func (in *benchInstance) setUp(ctx context.Context, durable, key string, first bool) error {
	js, err := jetstream.New(in.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	in.js = js
	// The reference create-or-updates the stream here; the bench leaves the
	// stream the Rust bench made alone.
	s, err := js.Stream(ctx, in.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s does not exist: create it first (bench-publish --ensure)", in.stream)
	}
	if err != nil {
		return fmt.Errorf("looking up stream %s: %w", in.stream, err)
	}
	if first {
		err := s.DeleteConsumer(ctx, durable)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("deleting leftover consumer %s: %w", durable, err)
		}
	}
	in.cons, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       durable,
		FilterSubject: filterSubject(in.stream, key),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("create-or-update of consumer %s on %s: %w", durable, in.stream, err)
	}
	in.handlers = map[string]wrappedHandler{
		key: wrapHandler(func(context.Context, consumableEvent[benchOrder]) error { return nil }),
	}
	in.logger = slog.Default().With("service", in.service).With("consumer", durable, "stream", in.stream)
	return nil
}

// handleMessage is the reference's consumer loop body (§2.6): routing key,
// received metric, handler lookup, then delivery or Term.
func (in *benchInstance) handleMessage(msg jetstream.Msg) {
	subject := msg.Subject()
	key := subject
	if i := strings.IndexByte(subject, '.'); i >= 0 {
		key = subject[i+1:]
	}
	eventReceived(in.name, key)
	h, ok := handlerFor(in.handlers, key)
	if !ok {
		in.logger.Warn("no handler for routing key, rejecting", "routingKey", key, "stream", in.stream)
		_ = msg.Term()
		in.run.terminated.Add(1)
		return
	}
	if in.deliver(h, msg, key) {
		in.run.handled()
	} else {
		in.run.terminated.Add(1)
	}
}

// deliver builds metadata and delivery info from the headers, runs the
// handler inside a span and acks (§2.7, §2.9). It reports whether the
// message was acked. The benchmark handler never fails, so the Nak branch
// is left out; a body that does not decode is terminated.
func (in *benchInstance) deliver(h wrappedHandler, msg jetstream.Msg, key string) bool {
	headers := fromNATSHeaders(msg.Headers())
	info := specDeliveryInfo{Destination: in.name, Source: in.stream, Key: key, Headers: headers}
	if warnings := validateCEHeaders(headers); len(warnings) > 0 {
		in.logger.Warn("incoming message has invalid CloudEvents headers",
			"routingKey", key, "stream", in.stream, "warnings", warnings)
	}
	ctx := extractToContext(context.Background(), msg.Headers())
	id, _ := headers[hdrID].(string)
	ctx, sp := startSpan(ctx, consumerSpanName(info), consumerSpanAttrs(info, in.service, id, len(msg.Data()))...)
	defer sp.end()
	began := time.Now()
	event := unmarshalEvent{specMetadata: metadataFromHeaders(headers), DeliveryInfo: info, Payload: msg.Data()}
	if err := h(ctx, event); err != nil {
		in.logger.Warn("failed to parse message, terminating", "routingKey", key, "stream", in.stream, "error", err)
		_ = msg.Term()
		return false
	}
	elapsed := time.Since(began).Milliseconds()
	sp.setOK()
	// The reference acks without waiting for the server's confirmation and
	// ignores the error.
	_ = msg.Ack()
	eventAck(in.name, key, elapsed)
	in.logger.Debug("message processed", "routingKey", key, "stream", in.stream, "durationMs", elapsed)
	return true
}

// finish flushes the acks, warns about redeliveries (the run would have
// handled some messages twice) and deletes the durable.
func (in *benchInstance) finish(stream, durable string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if in.run.endErr != nil {
		return in.run.endErr
	}
	if err := in.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flushing acks: %w", err)
	}
	if info, err := in.cons.Info(ctx); err == nil && info.NumRedelivered > 0 {
		fmt.Fprintf(os.Stderr, "go-peer bench-consume: %d message(s) were redelivered during the run\n", info.NumRedelivered)
	}
	if err := in.js.DeleteConsumer(ctx, stream, durable); err != nil {
		return fmt.Errorf("deleting consumer %s: %w", durable, err)
	}
	return nil
}
