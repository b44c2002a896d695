package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type consumeResult struct {
	// The consumer's config as the server reports it after create-or-update.
	Consumer jetstream.ConsumerConfig `json:"consumer"`
	Messages []message                `json:"messages"`
}

// longestPull bounds one pull, so the peer re-checks its stop condition.
const longestPull = time.Second

// runConsume creates the durable pull consumer exactly as the reference does
// (create-or-update; durable `<service>[-<suffix>]`; singular filter_subject;
// ack explicit; deliver all), then pulls and acks until --expect messages
// arrived, or with --drain until the consumer has nothing left to deliver.
func runConsume(args []string) error {
	var c common
	var stream, key, suffix, mode string
	var expect int
	var drain bool
	fs := newFlags("consume", &c, 10*time.Second)
	streamFlags(fs, &stream, &mode)
	fs.StringVar(&key, "key", "", "routing key pattern (`#` becomes `>` in the filter)")
	fs.StringVar(&suffix, "suffix", "", "durable name suffix")
	fs.IntVar(&expect, "expect", 0, "how many messages must arrive")
	fs.BoolVar(&drain, "drain", false, "take whatever the consumer has pending (shared durables)")
	if err := parse(fs, args, map[string]*string{"service": &c.service, "key": &key}); err != nil {
		return err
	}
	if drain == (expect > 0) {
		return fmt.Errorf("%w: give exactly one of --expect N (N > 0) and --drain", errUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	nc, js, _, err := openStream(ctx, &c, stream, mode)
	if err != nil {
		return err
	}
	defer nc.Close()
	cons, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       durableName(c.service, suffix),
		FilterSubject: filterSubject(stream, key),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("create-or-update of consumer %s on %s: %w", durableName(c.service, suffix), stream, err)
	}
	result := consumeResult{Consumer: cons.CachedInfo().Config, Messages: []message{}}
	var problems []error
	for {
		if ctx.Err() != nil {
			_ = printResult(result)
			return fmt.Errorf("got %d message(s) within %v, want %s", len(result.Messages), c.timeout, wanted(expect, drain))
		}
		want := expect - len(result.Messages)
		if drain {
			info, err := cons.Info(ctx)
			if err != nil {
				return fmt.Errorf("consumer info: %w", err)
			}
			want = int(info.NumPending)
		}
		if want <= 0 {
			break
		}
		wait := min(longestPull, time.Until(deadline(ctx)))
		if wait <= 0 {
			continue
		}
		batch, err := cons.Fetch(want, jetstream.FetchMaxWait(wait))
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		for msg := range batch.Messages() {
			m, err := take(ctx, msg)
			if err != nil {
				problems = append(problems, err)
			}
			result.Messages = append(result.Messages, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("fetch: %w", err)
		}
	}
	if err := printResult(result); err != nil {
		return err
	}
	return errors.Join(problems...)
}

// take records msg, checks it against the reference's expectations and acks
// it. The ack waits for the server's confirmation so that nothing acked here
// is redelivered elsewhere after the peer exits.
func take(ctx context.Context, msg jetstream.Msg) (message, error) {
	m := wireMessage(msg.Subject(), msg.Headers(), msg.Data())
	if meta, err := msg.Metadata(); err == nil {
		m.Sequence = meta.Sequence.Stream
		m.Delivered = meta.NumDelivered
	}
	if err := msg.DoubleAck(ctx); err != nil {
		return m, fmt.Errorf("ack of %s #%d: %w", m.Subject, m.Sequence, err)
	}
	if problems := checkIncoming(msg.Headers(), msg.Data()); len(problems) > 0 {
		return m, mismatch(m.Subject, problems)
	}
	return m, nil
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func wanted(expect int, drain bool) string {
	if drain {
		return "all pending"
	}
	return fmt.Sprint(expect)
}
