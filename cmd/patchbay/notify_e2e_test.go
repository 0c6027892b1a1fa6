package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNotificationSurvivesAServerKilledMidDelivery: a test message is
// written; the receiver holds the first delivery open and the server is
// killed with SIGKILL while it waits. The restarted server finds the
// message in the outbox, takes it over when the dead process's lease ends,
// and the receiver (checking signature and timestamp as documented) gets
// it delivered once.
func TestNotificationSurvivesAServerKilledMidDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server")
	}
	var mu sync.Mutex
	hold := true
	held := make(chan struct{}, 4)
	delivered := map[string]int{}
	var refused []string
	rcv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		holding := hold
		mu.Unlock()
		if holding { // the first delivery: never answered
			held <- struct{}{}
			<-r.Context().Done()
			return
		}
		var ts, v1 string
		for _, p := range strings.Split(r.Header.Get("X-Patchbay-Signature"), ",") {
			if v, ok := strings.CutPrefix(p, "t="); ok {
				ts = v
			} else if v, ok := strings.CutPrefix(p, "v1="); ok {
				v1 = v
			}
		}
		mac := hmac.New(sha256.New, []byte("e2e-secret"))
		mac.Write([]byte(ts + "." + string(body)))
		sec, _ := strconv.ParseInt(ts, 10, 64)
		mu.Lock()
		defer mu.Unlock()
		if v1 != hex.EncodeToString(mac.Sum(nil)) || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			refused = append(refused, r.Header.Get("X-Patchbay-Signature"))
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		delivered[r.Header.Get("Idempotency-Key")]++
		w.WriteHeader(http.StatusNoContent)
	}))
	rcv.StartTLS()
	t.Cleanup(rcv.Close)
	caPath := filepath.Join(t.TempDir(), "receiver-ca.pem")
	if err := os.WriteFile(caPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rcv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	k := startKillable(t, "--webhook", rcv.URL+"/hooks/patchbay", "--webhook-secret", "e2e-secret",
		"--notify-allow", "127.0.0.1", "--notify-ca", caPath)
	sp := k.sp
	out := sp.mustCLI(t, "notifications", "test", "--channel", "webhook")
	if !strings.Contains(out, "over webhook queued") {
		t.Fatalf("notifications test: %s", out)
	}
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver never saw the first delivery")
	}
	k.kill() // between the write and a recorded delivery
	mu.Lock()
	hold = false
	mu.Unlock()
	k.start(t)

	type entry struct {
		Key       string `json:"idempotency_key"`
		Status    string `json:"status"`
		Attempts  int    `json:"attempts"`
		LastError string `json:"last_error"`
	}
	var log []entry
	deadline := time.Now().Add(90 * time.Second) // the dead process's 30 s lease, then a poll
	for time.Now().Before(deadline) {
		if err := json.Unmarshal([]byte(sp.mustCLI(t, "-o", "json", "notifications", "list", "--channel", "webhook")), &log); err != nil {
			t.Fatal(err)
		}
		if len(log) == 1 && log[0].Status == "delivered" {
			break
		}
		time.Sleep(time.Second)
	}
	if len(log) != 1 || log[0].Status != "delivered" || log[0].Attempts != 2 {
		t.Fatalf("delivery log after the restart: %+v; want one message delivered on its second attempt", log)
	}
	time.Sleep(3 * time.Second) // a second delivery would come within a poll
	mu.Lock()
	defer mu.Unlock()
	if len(refused) > 0 {
		t.Errorf("the receiver refused signatures %q", refused)
	}
	if len(delivered) != 1 || delivered[log[0].Key] != 1 {
		t.Errorf("receiver got %v, want the message %s once", delivered, log[0].Key)
	}
	// The table view shows the delivery log's columns.
	table := sp.mustCLI(t, "notifications", "list", "--channel", "webhook")
	for _, col := range []string{"EVENT", "RECIPIENT", "ATTEMPTS", "LATENCY", "LAST ERROR", "test", "delivered"} {
		if !strings.Contains(table, col) {
			t.Errorf("notifications list lacks %q:\n%s", col, table)
		}
	}
}
