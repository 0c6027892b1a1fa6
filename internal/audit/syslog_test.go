package audit

import (
	"regexp"
	"strings"
	"testing"
)

func TestSyslogFormatsAnRFC5424Line(t *testing.T) {
	e := Chain(nil, Entry{Time: base.Add(123456789), Actor: "alice", Action: "login", Outcome: "ok"})
	got := Syslog(e, "pb-1.example.org", "patchbay")
	want := `<109>1 2024-05-01T10:00:00.123Z pb-1.example.org patchbay - audit [patchbay@32473 seq="1" actor="alice" action="login" target="" outcome="ok"] alice login: ok`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSyslogEscapesHostileValues(t *testing.T) {
	e := Chain(nil, Entry{
		Time:    base,
		Actor:   "eve\"] [forged@1 x=\"y\"]\n<13>1 fake line",
		Action:  `POST /api/v1/x\`,
		Target:  "host\r\n\u2028\x00\x7f\xff",
		Outcome: "error: ]]\"\\",
	})
	line := Syslog(e, "host name\n", "")
	if strings.ContainsAny(line, "\r\n\x00\x7f\u2028") {
		t.Fatalf("control characters survive: %q", line)
	}
	if !strings.HasPrefix(line, "<108>1 2024-05-01T10:00:00.000Z host_name_ - - audit [patchbay@32473 ") {
		t.Fatalf("header: %q", line)
	}
	params, msg := parseSD(t, line)
	want := map[string]string{
		"seq":     "1",
		"actor":   `eve"] [forged@1 x="y"] <13>1 fake line`,
		"action":  `POST /api/v1/x\`,
		"target":  "host     \ufffd", // \r \n U+2028 NUL DEL become spaces; \xff became U+FFFD
		"outcome": `error: ]]"\`,
	}
	for k, v := range want {
		if params[k] != v {
			t.Errorf("param %s = %q; want %q", k, params[k], v)
		}
	}
	if len(params) != 5 {
		t.Errorf("params %v; want exactly 5", params)
	}
	if !strings.HasPrefix(msg, "eve") {
		t.Errorf("message %q", msg)
	}
}

var sdParam = regexp.MustCompile(`^ ([a-z_]+)="((?:[^"\\\]]|\\["\\\]])*)"`)

// parseSD parses line's single SD-ELEMENT per RFC 5424 section 6.3 and
// returns its unescaped parameters and the MSG after it.
func parseSD(t *testing.T, line string) (map[string]string, string) {
	t.Helper()
	const id = "[patchbay@32473"
	i := strings.Index(line, id)
	if i < 0 {
		t.Fatalf("no structured data in %q", line)
	}
	rest := line[i+len(id):]
	params := map[string]string{}
	for {
		m := sdParam.FindStringSubmatch(rest)
		if m == nil {
			break
		}
		if _, dup := params[m[1]]; dup {
			t.Fatalf("duplicate param %s in %q", m[1], line)
		}
		params[m[1]] = regexp.MustCompile(`\\(["\\\]])`).ReplaceAllString(m[2], "$1")
		rest = rest[len(m[0]):]
	}
	if !strings.HasPrefix(rest, "] ") {
		t.Fatalf("structured data does not end cleanly: %q", rest)
	}
	return params, rest[2:]
}
