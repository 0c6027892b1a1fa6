package notify

import "time"

// Retry is how delivery attempts are spaced: the n-th failed attempt waits
// Base·2^(n-1), at most Max, with "equal jitter" (half fixed, half random)
// so that messages failing together do not come back together. After
// Attempts attempts a message is a dead letter.
type Retry struct {
	Base     time.Duration
	Max      time.Duration
	Attempts int
}

// DefaultRetry makes 12 attempts: waits of 15 s doubling to 30 min, so a
// message is a dead letter 1¼ to 2½ hours (jitter) after its first attempt.
var DefaultRetry = Retry{Base: 15 * time.Second, Max: 30 * time.Minute, Attempts: 12}

// Next says what follows failed attempt number attempt (1 for the first):
// the wait before the next attempt, or dead when none is left. jitter is a
// random number in [0, 1).
func (r Retry) Next(attempt int, jitter float64) (wait time.Duration, dead bool) {
	if attempt >= r.Attempts {
		return 0, true
	}
	d := r.Base
	for i := 1; i < attempt && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	return d/2 + time.Duration(jitter*float64(d/2)), false
}
