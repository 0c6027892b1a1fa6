package protocol

import "testing"

func TestCheckJSONTextRefusesWhatTheDecoderWouldReplace(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"plain ASCII", `{"name":"bash"}`, true},
		{"UTF-8 text", `{"name":"café ☕"}`, true},
		{"a literal replacement character", "{\"name\":\"\uFFFD\"}", true},
		{"an escaped BMP character", `{"name":"caf\u00e9"}`, true},
		{"an escaped surrogate pair", `{"name":"\ud83d\ude00"}`, true},
		{"an escaped backslash before u", `{"name":"C:\\users"}`, true},
		{"an invalid byte", "{\"name\":\"\xff\"}", false},
		{"a truncated sequence", "{\"name\":\"\xe2\x82\"}", false},
		{"an overlong encoding", "{\"name\":\"\xc0\xaf\"}", false},
		{"a lone low surrogate escape", `{"name":"\udc00"}`, false},
		{"a lone high surrogate escape", `{"name":"\ud800x"}`, false},
		{"a high surrogate before a non-surrogate", `{"name":"\ud800\u0041"}`, false},
	} {
		err := CheckJSONText([]byte(tc.body))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func FuzzCheckJSONText(f *testing.F) {
	f.Add([]byte(`{"name":"\ud83d\ude00"}`))
	f.Add([]byte("{\"name\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		CheckJSONText(b) // must not panic
	})
}
