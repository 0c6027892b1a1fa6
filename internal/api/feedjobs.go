package api

import "time"

// FeedJob is the matching a feed import started, run off the request
// path: new or changed advisories matched against the fleet's package
// versions, findings opened, resolved and rescored.
type FeedJob struct {
	ID         string     `json:"id"`
	Feed       string     `json:"feed"`
	State      string     `json:"state"` // queued, running, done, failed
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Keys       int        `json:"keys"`   // package names of a release to match again
	Tuples     int        `json:"tuples"` // distinct package versions whose matches changed
	Hosts      int        `json:"hosts"`  // hosts whose findings changed
	Opened     int        `json:"opened"`
	Resolved   int        `json:"resolved"`
	Reopened   int        `json:"reopened"`
	Updated    int        `json:"updated"`
	Rescored   int        `json:"rescored"`
	Error      string     `json:"error,omitempty"`
}
