package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// How the peer makes sure its stream exists.
const (
	// streamEnsure creates the stream when it is missing and leaves an
	// existing one alone.
	streamEnsure = "ensure"
	// streamReference does what the reference's Start does:
	// CreateOrUpdateStream with its full, zero-valued config, which resets
	// limits other services set (last starter wins).
	streamReference = "reference"
)

// referenceStreamConfig is the config the reference sends: subjects
// `<stream>.>`, file storage, everything else zero (server defaults).
func referenceStreamConfig(name string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:     name,
		Subjects: streamSubjects(name),
		Storage:  jetstream.FileStorage,
	}
}

// ensureStream makes sure stream exists and captures `<stream>.>`.
// It reports whether the stream was created by this call.
func ensureStream(ctx context.Context, js jetstream.JetStream, name, mode string) (bool, error) {
	existing, err := js.Stream(ctx, name)
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrStreamNotFound):
		existing = nil
	default:
		return false, fmt.Errorf("looking up stream %s: %w", name, err)
	}
	switch mode {
	case streamReference:
		if _, err := js.CreateOrUpdateStream(ctx, referenceStreamConfig(name)); err != nil {
			return false, fmt.Errorf("create-or-update of stream %s (reference config): %w", name, err)
		}
		return existing == nil, nil
	case streamEnsure:
		if existing != nil {
			subjects := existing.CachedInfo().Config.Subjects
			if !slices.Contains(subjects, streamSubjects(name)[0]) {
				return false, fmt.Errorf("stream %s exists with subjects %q, without %q",
					name, subjects, streamSubjects(name)[0])
			}
			return false, nil
		}
		_, err := js.CreateStream(ctx, referenceStreamConfig(name))
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another service created it meanwhile.
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("creating stream %s: %w", name, err)
		}
		return true, nil
	default:
		return false, fmt.Errorf("%w: --stream-mode must be %q or %q, not %q",
			errUsage, streamEnsure, streamReference, mode)
	}
}

// streamFlags adds --stream and --stream-mode to fs.
func streamFlags(fs *flag.FlagSet, stream, mode *string) {
	fs.StringVar(stream, "stream", "events", "stream name")
	fs.StringVar(mode, "stream-mode", streamEnsure, "ensure | reference")
}

// openStream connects and makes sure stream exists (see ensureStream). The
// caller closes the connection.
func openStream(ctx context.Context, c *common, stream, mode string) (*nats.Conn, jetstream.JetStream, bool, error) {
	nc, err := connect(c)
	if err != nil {
		return nil, nil, false, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		var created bool
		if created, err = ensureStream(ctx, js, stream, mode); err == nil {
			return nc, js, created, nil
		}
	}
	nc.Close()
	return nil, nil, false, err
}
