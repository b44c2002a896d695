package main

// Shared parts of bench-publish and bench-consume, which imitate the Go
// reference's publish and consume hot paths so a Rust benchmark can compare
// itself against "the Go reference (imitated with nats.go)". The per-message
// work is in bench_reference.go; docs/interop.md says what differs from the
// real reference.

import (
	"fmt"
	"syscall"
	"time"
)

// benchOrder is the payload both commands use.
type benchOrder struct {
	ID     int     `json:"id"`
	Name   string  `json:"name"`
	Amount float64 `json:"amount"`
}

// benchKey is the routing key bench-publish uses by default.
const benchKey = "Order.Created"

// benchResult is the one line a bench command prints.
type benchResult struct {
	Count     int   `json:"count"`
	ElapsedNs int64 `json:"elapsed_ns"`
	CPUUserNs int64 `json:"cpu_user_ns"`
	CPUSysNs  int64 `json:"cpu_sys_ns"`
}

// sample is a point on the wall clock and the process's CPU clocks.
type sample struct {
	wall      time.Time
	user, sys int64
}

// takeSample reads the clocks. RUSAGE_SELF covers every thread of the
// process, so the nats.go reader and flusher goroutines are included.
func takeSample() (sample, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return sample{}, fmt.Errorf("getrusage: %w", err)
	}
	return sample{wall: time.Now(), user: ru.Utime.Nano(), sys: ru.Stime.Nano()}, nil
}

// between is the result for count messages handled from a to b.
func between(count int, a, b sample) benchResult {
	return benchResult{
		Count:     count,
		ElapsedNs: b.wall.Sub(a.wall).Nanoseconds(),
		CPUUserNs: b.user - a.user,
		CPUSysNs:  b.sys - a.sys,
	}
}

// checkCount rejects a --count below 1.
func checkCount(count int) error {
	if count < 1 {
		return fmt.Errorf("%w: --count must be at least 1", errUsage)
	}
	return nil
}
