package server

import (
	"context"
	"time"
)

// ticker calls fn every interval, the first time one interval after the
// start, until ctx ends. fn runs on the caller's goroutine: a slow call
// delays the next one instead of overlapping it.
func ticker(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
