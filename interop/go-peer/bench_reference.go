package main

// The work the Go reference does around each message besides nats.go itself,
// restated for the bench commands (NATS-TRANSPORT-DIGEST.md §1.9, §2.6,
// §2.9, §4.1, §4.2). The spec helpers are restated exactly (they are small
// and stdlib-only). Prometheus and OpenTelemetry are not dependencies of the
// peer, so their parts are stand-ins that do work of the same shape: the
// reference updates its package-global metrics whether or not anyone
// registered them, and with no tracer provider configured it still builds
// span attributes, a span name and a span context for every message.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// specHeaders is the spec module's `Headers` (`map[string]any`).
type specHeaders map[string]any

// specMetadata is the spec module's `Metadata`.
type specMetadata struct {
	ID              string
	CorrelationID   string
	Timestamp       time.Time
	Source          string
	Type            string
	Subject         string
	DataContentType string
	SpecVersion     string
}

// specDeliveryInfo is the spec module's `DeliveryInfo`.
type specDeliveryInfo struct {
	Destination string
	Source      string
	Key         string
	Headers     specHeaders
}

// consumableEvent is the spec module's `ConsumableEvent[T]`.
type consumableEvent[T any] struct {
	specMetadata
	DeliveryInfo specDeliveryInfo
	Payload      T
}

// unmarshalEvent is what the reference's consumer loop hands to the
// type-erased handler: metadata, delivery info and the raw body.
type unmarshalEvent struct {
	specMetadata
	DeliveryInfo specDeliveryInfo
	Payload      json.RawMessage
}

// wrappedHandler is the reference's type-erased handler.
type wrappedHandler func(ctx context.Context, event unmarshalEvent) error

// errParseJSON stands for the spec's ErrParseJSON (→ Term, §2.7).
var errParseJSON = errors.New("failed to parse")

// wrapHandler erases T as the reference does: raw payload types are handed
// over unparsed, every other T is JSON-decoded (§1.6).
func wrapHandler[T any](h func(context.Context, consumableEvent[T]) error) wrappedHandler {
	var zero T
	if t := reflect.TypeOf(zero); t == nil || t.String() == "json.RawMessage" {
		return func(ctx context.Context, e unmarshalEvent) error {
			ev := consumableEvent[T]{specMetadata: e.specMetadata, DeliveryInfo: e.DeliveryInfo}
			ev.Payload = any(e.Payload).(T)
			return h(ctx, ev)
		}
	}
	return func(ctx context.Context, e unmarshalEvent) error {
		ev := consumableEvent[T]{specMetadata: e.specMetadata, DeliveryInfo: e.DeliveryInfo}
		if err := json.Unmarshal(e.Payload, &ev.Payload); err != nil {
			return fmt.Errorf("%w: %v", errParseJSON, err)
		}
		return h(ctx, ev)
	}
}

// fromNATSHeaders keeps each header's first value, boxed as `any` (§2.9).
func fromNATSHeaders(nh nats.Header) specHeaders {
	h := make(specHeaders, len(nh))
	for k := range nh {
		h[k] = nh.Get(k)
	}
	return h
}

func headerString(h specHeaders, key string) string {
	s, _ := h[key].(string)
	return s
}

// metadataFromHeaders maps the ce-* headers onto Metadata; an absent or
// unparsable ce-time leaves the zero time (§2.9).
func metadataFromHeaders(h specHeaders) specMetadata {
	m := specMetadata{
		ID:              headerString(h, hdrID),
		Source:          headerString(h, hdrSource),
		Type:            headerString(h, hdrType),
		Subject:         headerString(h, "ce-subject"),
		DataContentType: headerString(h, hdrDataContentType),
		SpecVersion:     headerString(h, hdrSpecVersion),
		CorrelationID:   headerString(h, "ce-correlationid"),
	}
	if s := headerString(h, hdrTime); s != "" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			m.Timestamp = t
		}
	}
	return m
}

// validateCEHeaders lists the required attributes that are missing or not
// strings; the reference only logs them (§2.9).
func validateCEHeaders(h specHeaders) []string {
	var warnings []string
	for _, k := range requiredCE {
		v, ok := h[k]
		if !ok {
			warnings = append(warnings, fmt.Sprintf("missing required attribute %q", k))
			continue
		}
		if _, ok := v.(string); !ok {
			warnings = append(warnings, fmt.Sprintf("attribute %q is not a string", k))
		}
	}
	return warnings
}

// matchRoutingKey is the spec's regex matcher (§2.6). The reference builds
// and compiles the expression for every message, so this does too.
func matchRoutingKey(pattern, key string) bool {
	expr := strings.ReplaceAll(pattern, ".", `\.`)
	expr = strings.ReplaceAll(expr, "*", "[^.]*")
	expr = strings.ReplaceAll(expr, "#", ".*")
	ok, err := regexp.MatchString("^"+expr+"$", key)
	return err == nil && ok
}

// handlerFor returns the first pattern in handlers that matches key (map
// order, as in the reference).
func handlerFor(handlers map[string]wrappedHandler, key string) (wrappedHandler, bool) {
	for pattern, h := range handlers {
		if matchRoutingKey(pattern, key) {
			return h, true
		}
	}
	return nil, false
}

// --- Prometheus stand-ins (§4.1) -------------------------------------------

// routingKeyMapper is read on every metric update, as the reference's
// atomic.Value mapper is.
var routingKeyMapper atomic.Value

func init() {
	routingKeyMapper.Store(func(s string) string { return s })
}

func routingKeyLabel(key string) string {
	if m := routingKeyMapper.Load().(func(string) string)(key); m != "" {
		return m
	}
	return "unknown"
}

// metricVec finds a labelled child the way a client_golang vector does:
// FNV-1a over the label values, then a map lookup under a read lock.
type metricVec[C any] struct {
	mu       sync.RWMutex
	children map[uint64]*C
	newChild func() *C
}

func newMetricVec[C any](newChild func() *C) *metricVec[C] {
	return &metricVec[C]{children: map[uint64]*C{}, newChild: newChild}
}

func (v *metricVec[C]) with(labels ...string) *C {
	h := uint64(14695981039346656037)
	for _, l := range labels {
		for i := 0; i < len(l); i++ {
			h = (h ^ uint64(l[i])) * 1099511628211
		}
		h = (h ^ 0xff) * 1099511628211
	}
	v.mu.RLock()
	c, ok := v.children[h]
	v.mu.RUnlock()
	if ok {
		return c
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok = v.children[h]; !ok {
		c = v.newChild()
		v.children[h] = c
	}
	return c
}

type counter struct{ n atomic.Uint64 }

func (c *counter) inc() { c.n.Add(1) }

// histogram keeps per-bucket counts, a float sum updated by CAS and a total.
type histogram struct {
	upper  []float64
	counts []atomic.Uint64
	sum    atomic.Uint64
	total  atomic.Uint64
}

func newHistogram(upper []float64) func() *histogram {
	return func() *histogram {
		return &histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
	}
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.upper) && v > h.upper[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.total.Add(1)
}

// The reference's collectors that the bench paths touch. Package-global, as
// in the reference, so concurrent instances share them.
var (
	metricReceived  = newMetricVec(func() *counter { return &counter{} })
	metricAck       = newMetricVec(func() *counter { return &counter{} })
	metricProcessed = newMetricVec(newHistogram([]float64{100, 200, 500, 1000, 3000, 5000, 10000}))
	metricPublished = newMetricVec(func() *counter { return &counter{} })
	metricPublishMs = newMetricVec(newHistogram([]float64{1, 5, 10, 25, 50, 100, 250, 500, 1000}))
)

func eventReceived(consumer, key string) {
	metricReceived.with(consumer, routingKeyLabel(key)).inc()
}

func eventAck(consumer, key string, ms int64) {
	metricAck.with(consumer, routingKeyLabel(key)).inc()
	metricProcessed.with(consumer, routingKeyLabel(key), "ACK").observe(float64(ms))
}

func eventPublishSucceed(stream, key string, ms int64) {
	metricPublished.with(stream, routingKeyLabel(key)).inc()
	metricPublishMs.with(stream, routingKeyLabel(key), "OK").observe(float64(ms))
}

// --- OpenTelemetry stand-ins (§4.2) ----------------------------------------

// spanAttr has the size of an OTel attribute.KeyValue (64 bytes).
type spanAttr struct {
	key   string
	kind  int
	num   uint64
	str   string
	slice any
}

func strAttr(k, v string) spanAttr { return spanAttr{key: k, str: v} }
func intAttr(k string, v int) spanAttr {
	return spanAttr{key: k, kind: 1, num: uint64(v)}
}

// span is the non-recording span the global no-op tracer returns.
type span struct {
	name  string
	attrs []spanAttr
}

type spanKey struct{}

// startSpan puts a non-recording span into ctx, as the global tracer does
// when no SDK is installed.
func startSpan(ctx context.Context, name string, attrs ...spanAttr) (context.Context, span) {
	s := span{name: name, attrs: attrs}
	return context.WithValue(ctx, spanKey{}, s), s
}

func (span) end()                      {}
func (span) setOK()                    {}
func (span) setAttributes(...spanAttr) {}

// consumerSpanName is the reference's default `<Destination>#<Key>`.
func consumerSpanName(d specDeliveryInfo) string {
	return fmt.Sprintf("%s#%s", d.Destination, d.Key)
}

func consumerSpanAttrs(d specDeliveryInfo, service, messageID string, size int) []spanAttr {
	attrs := []spanAttr{
		strAttr("messaging.system", "nats"),
		strAttr("messaging.operation", "receive"),
		strAttr("messaging.destination.name", d.Source),
		strAttr("messaging.nats.subject", d.Key),
		strAttr("messaging.destination.subscription", d.Destination),
		intAttr("messaging.message.body.size", size),
		strAttr("messaging.client_id", service),
	}
	if messageID != "" {
		attrs = append(attrs, strAttr("messaging.message.id", messageID))
	}
	return attrs
}

func publishSpanAttrs(stream, subject, service string) []spanAttr {
	return []spanAttr{
		strAttr("messaging.system", "nats"),
		strAttr("messaging.operation", "publish"),
		strAttr("messaging.destination.name", stream),
		strAttr("messaging.nats.subject", subject),
		strAttr("messaging.client_id", service),
	}
}

// noopPropagator is the global propagator's default. Being called through a
// variable, like an interface method, the carrier escapes to the heap as the
// reference's does.
var noopPropagator = func(context.Context, map[string]string) {}

// extractToContext copies every header into a carrier map for the global
// propagator, whose default Extract returns ctx unchanged.
func extractToContext(ctx context.Context, h nats.Header) context.Context {
	carrier := map[string]string{}
	for k := range h {
		carrier[k] = h.Get(k)
	}
	noopPropagator(ctx, carrier)
	return ctx
}

// injectToHeaders hands an empty carrier to the propagator and copies back
// whatever it wrote (nothing, by default).
func injectToHeaders(ctx context.Context, h nats.Header) nats.Header {
	carrier := map[string]string{}
	noopPropagator(ctx, carrier)
	for k, v := range carrier {
		h.Set(k, v)
	}
	return h
}
