package schedule

import (
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// HostDelay returns how long after occ.Start the host hostID should begin,
// to spread a fleet across the window. It is a deterministic hash of the
// host, the window name and the occurrence start, uniform in
// [0, w.MaxRandomDelay), and also below the occurrence's length so that a
// window trimmed by a freeze still starts inside itself. Delays of a second
// or more are whole seconds. It returns 0 when there is nothing to spread.
func HostDelay(w Window, hostID string, occ Occurrence) time.Duration {
	limit := min(w.MaxRandomDelay, occ.End.Sub(occ.Start))
	if limit <= 0 {
		return 0
	}
	h := sha256.New()
	h.Write([]byte(hostID))
	h.Write([]byte{0})
	h.Write([]byte(w.Name))
	h.Write([]byte{0})
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(occ.Start.UnixNano())))
	sum := binary.BigEndian.Uint64(h.Sum(nil))
	// The modulo bias is below 2^-30 for any limit under 2^33s (272 years).
	if limit >= time.Second {
		return time.Duration(sum%uint64(limit/time.Second)) * time.Second
	}
	return time.Duration(sum % uint64(limit))
}
