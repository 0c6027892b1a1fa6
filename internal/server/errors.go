package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/patchbay/patchbay/internal/fielderr"
	"github.com/patchbay/patchbay/internal/store"
)

// Error is an error with an HTTP status and a stable code, shown to the
// caller as {"error":{"code":...,"message":...}}.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

func errBadRequest(msg string) error   { return &Error{http.StatusBadRequest, "bad_request", msg} }
func errUnauthorized(msg string) error { return &Error{http.StatusUnauthorized, "unauthorized", msg} }
func errForbidden(msg string) error    { return &Error{http.StatusForbidden, "forbidden", msg} }

// errorResponse is the one place where errors become HTTP statuses.
func errorResponse(err error) *Error {
	var e *Error
	var fl *fielderr.List
	var fe *fielderr.Error
	var ee *store.EnrollError
	var mbe *http.MaxBytesError
	var cre *store.CheckinRateError
	if le, ok := lifecycleError(err); ok {
		return le
	}
	var fre *store.FeedRefusedError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &fl):
		return &Error{http.StatusBadRequest, "invalid", fl.Error()}
	case errors.As(err, &fe):
		return &Error{http.StatusBadRequest, "invalid", fe.Error()}
	case errors.As(err, &ee):
		return &Error{http.StatusForbidden, "enroll_refused", ee.Error()}
	case errors.As(err, &cre):
		return &Error{http.StatusTooManyRequests, "rate_limited", cre.Error()}
	case errors.As(err, &mbe):
		return &Error{http.StatusRequestEntityTooLarge, "too_large", "request body is larger than the limit"}
	case errors.Is(err, store.ErrBadCursor):
		return &Error{http.StatusBadRequest, "invalid", "invalid page_token; start again from the first page"}
	case errors.Is(err, store.ErrNotFound):
		return &Error{http.StatusNotFound, "not_found", "not found"}
	case errors.Is(err, store.ErrConflict):
		return &Error{http.StatusConflict, "conflict", "conflicts with an existing object"}
	case errors.As(err, &fre):
		return &Error{http.StatusConflict, "feed_refused", fre.Error()}
	case errors.Is(err, store.ErrRevoked):
		return &Error{http.StatusForbidden, "revoked", "this host has been revoked; enroll it again with a new token"}
	}
	return &Error{http.StatusInternalServerError, "internal", "internal error"}
}

func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := errorResponse(err)
	if e.Status >= 500 {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		log.Info("request refused", "method", r.Method, "path", r.URL.Path, "status", e.Status, "reason", e.Message)
	}
	body := map[string]any{"code": e.Code, "message": e.Message}
	if e.Code == "invalid" {
		// The field paths, so a client can point at what to fix.
		if fields := fielderr.Problems(err); len(fields) > 0 {
			body["fields"] = fields
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decodeJSON reads a bounded JSON body into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errBadRequest("malformed JSON body: " + err.Error())
	}
	if dec.More() {
		return errBadRequest("malformed JSON body: trailing data")
	}
	return nil
}

// asStatus returns a field error as the *Error the API answers it with, and
// any other error unchanged, for callers that branch on *Error.
func asStatus(err error) error {
	if fielderr.Problems(err) != nil {
		return errorResponse(err)
	}
	return err
}
