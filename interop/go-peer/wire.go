package main

// The wire formulas of the Go reference transport (go-messaging-nats), as
// NATS-TRANSPORT-DIGEST.md §2.1 and §2.8 state them. Everything the peer
// sends is built here, so a reader can check it against the digest in one
// place.

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// Header keys exactly as the reference writes them (NATS headers are
// case-sensitive).
const (
	hdrSpecVersion     = "ce-specversion"
	hdrType            = "ce-type"
	hdrSource          = "ce-source"
	hdrID              = "ce-id"
	hdrTime            = "ce-time"
	hdrDataContentType = "ce-datacontenttype"
	hdrService         = "service"
	// hdrMsgID is never set by the reference; the peer reports it when a
	// Rust publisher sends it.
	hdrMsgID = "Nats-Msg-Id"

	specVersion     = "1.0"
	contentTypeJSON = "application/json"
)

// requiredCE are the attributes whose absence makes the reference log
// "incoming message has invalid CloudEvents headers".
var requiredCE = []string{hdrSpecVersion, hdrType, hdrSource, hdrID, hdrTime}

// streamSubjects is the one subject a stream captures: `<stream>.>`.
func streamSubjects(stream string) []string {
	return []string{stream + ".>"}
}

// publishSubject is `<stream>.<routingKey>`, the key verbatim.
func publishSubject(stream, key string) string {
	return stream + "." + key
}

// filterSubject is `<stream>.<key>` with every `#` replaced by `>`.
func filterSubject(stream, key string) string {
	return stream + "." + strings.ReplaceAll(key, "#", ">")
}

// durableName is `<service>` or `<service>-<suffix>`.
func durableName(service, suffix string) string {
	if suffix == "" {
		return service
	}
	return service + "-" + suffix
}

// requestSubject is `<target>.request.<routingKey>` (no wildcard translation).
func requestSubject(target, key string) string {
	return target + ".request." + key
}

// ceTime is the reference's `ce-time`: UTC, RFC 3339, whole seconds, `Z`.
func ceTime(now time.Time) string {
	return now.UTC().Format(time.RFC3339)
}

// publishHeaders are the headers of one reference publish: `service`, then
// the CloudEvents attributes, and no `Nats-Msg-Id`.
func publishHeaders(service, key string, now time.Time) nats.Header {
	// Assigned directly: the map keeps the keys' case as written.
	return nats.Header{
		hdrService:         {service},
		hdrSpecVersion:     {specVersion},
		hdrType:            {key},
		hdrSource:          {service},
		hdrDataContentType: {contentTypeJSON},
		hdrTime:            {ceTime(now)},
		hdrID:              {uuid.NewString()},
	}
}

// errorBody is the reply of a failing reference request handler:
// `{"error":"<text>"}`.
func errorBody(text string) []byte {
	// Marshalling a map of strings cannot fail.
	b, _ := json.Marshal(map[string]string{"error": text})
	return b
}
