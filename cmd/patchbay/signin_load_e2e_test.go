package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// vmHWM is the peak resident set of a process in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestSignInFloodStaysBoundedAndLetsTheUserIn: 40 concurrent wrong
// sign-ins took the server from 227 MB to 2.7 GB (64 MiB of Argon2id
// each) and got 40 × 401. Now 200 concurrent wrong sign-ins from eight
// addresses keep it under 512 MiB and get 429s, while the right password
// from another address signs in.
func TestSignInFloodStaysBoundedAndLetsTheUserIn(t *testing.T) {
	const flood, addresses, limit = 200, 8, 512 << 20
	sp := startServerProc(t, "server")
	body, code := sp.httpDo(t, "POST", "/api/v1/users", sp.token(t), nil, strings.NewReader(`{"username":"alice","role":"operator"}`))
	if code != 201 {
		t.Fatalf("create alice: %d %s", code, body)
	}
	var alice struct{ Password string }
	if err := json.Unmarshal([]byte(body), &alice); err != nil || alice.Password == "" {
		t.Fatalf("create alice: %v %s", err, body)
	}
	clientFrom := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
		return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: sp.tlsConfig(t, nil),
			DialContext: d.DialContext, MaxIdleConnsPerHost: flood}}
	}
	signIn := func(c *http.Client, password string) (int, error) {
		code, _, err := signInBody(c, sp.url, password)
		return code, err
	}

	idle := vmHWM(t, sp.pid)
	start := time.Now()
	var (
		mu       sync.Mutex
		codes    = map[int]int{}
		errs     []error
		first429 = make(chan struct{})
		once     sync.Once
		wg       sync.WaitGroup
		go_      = make(chan struct{})
	)
	for i := range flood {
		c := clientFrom(fmt.Sprintf("127.0.0.%d", 2+i%addresses))
		wg.Go(func() {
			<-go_
			code, err := signIn(c, "wrong guess")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			codes[code]++
			if code == http.StatusTooManyRequests {
				once.Do(func() { close(first429) })
			}
		})
	}
	close(go_)
	// While the flood is being refused, alice signs in from her address.
	select {
	case <-first429:
	case <-time.After(30 * time.Second):
		t.Fatal("no 429 within 30 s of the flood")
	}
	// She is never refused for the attack; if every hash slot stays taken
	// for the server's whole wait (a loaded machine), she is told the
	// server is busy and tries again, as the message asks.
	home := clientFrom("127.0.0.200")
	aliceCode, body, err := signInBody(home, sp.url, alice.Password)
	tries := 1
	if aliceCode == http.StatusTooManyRequests && strings.Contains(body, "busy") {
		aliceCode, body, err = signInBody(home, sp.url, alice.Password)
		tries++
	}
	took := time.Since(start)
	wg.Wait()
	floodTook := time.Since(start)
	if err != nil || aliceCode != http.StatusCreated {
		t.Errorf("alice's right password from another address during the flood: %d %v %s, want 201", aliceCode, err, body)
	}
	if len(errs) > 0 {
		t.Errorf("%d flood requests failed outright, e.g. %v", len(errs), errs[0])
	}
	// Each address gets at most 5 tries at alice before the limit.
	if codes[401] == 0 || codes[401] > addresses*5 || codes[429] < flood-addresses*5 || codes[401]+codes[429] != flood {
		t.Errorf("flood answers %v: want at most %d × 401 and the rest 429", codes, addresses*5)
	}
	hwm := vmHWM(t, sp.pid)
	if hwm >= limit {
		t.Errorf("server peak RSS %d MiB, want under %d MiB", hwm>>20, limit>>20)
	}
	t.Logf("flood of %d from %d addresses: %v in %s; alice signed in after %s (%d tries); server peak RSS (VmHWM) %d MiB, %d MiB before the flood",
		flood, addresses, codes, floodTook.Round(time.Millisecond), took.Round(time.Millisecond), tries, hwm>>20, idle>>20)
}

// signInBody signs alice in over the API and returns the status and body.
func signInBody(c *http.Client, server, password string) (int, string, error) {
	resp, err := c.Post(server+"/api/v1/auth/login", "application/json",
		strings.NewReader(fmt.Sprintf(`{"username":"alice","password":%q}`, password)))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}
