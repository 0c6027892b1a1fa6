package server

import (
	"bytes"
	"io"
	"net/http"

	"github.com/patchbay/patchbay/internal/protocol"
)

// decodeAgentJSON reads a bounded JSON body from an agent and refuses it
// whole when it is not valid UTF-8 (protocol.CheckJSONText): decoding
// would silently replace the bad bytes, and docs/architecture.md promises
// that a hostile host's invalid text is refused, not stored altered.
func decodeAgentJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return err
	}
	if err := protocol.CheckJSONText(raw); err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(raw))
	return decodeJSON(w, r, limit, v)
}
