package protocol

import (
	"strconv"
	"unicode/utf8"

	"github.com/patchbay/patchbay/internal/fielderr"
)

// CheckJSONText refuses a JSON request body that is not valid UTF-8 or
// whose \u escapes name a lone surrogate. encoding/json replaces both with
// U+FFFD while decoding, so a check on the decoded strings cannot see them:
// agents' bodies are checked as bytes first, and refused whole.
func CheckJSONText(raw []byte) error {
	if !utf8.Valid(raw) {
		return fielderr.New("body", "is not valid UTF-8")
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 >= len(raw) || raw[i+1] != 'u' {
			i++ // a two-character escape; skipping it also skips an escaped backslash
			continue
		}
		r, ok := hex4(raw, i+2)
		if !ok {
			continue // the decoder refuses a malformed escape itself
		}
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return fielderr.New("body", "has a \\u escape of a lone low surrogate (not valid UTF-16)")
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := rune(0), false
			if i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				lo, ok = hex4(raw, i+8)
			}
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return fielderr.New("body", "has a \\u escape of a lone high surrogate (not valid UTF-16)")
			}
			i += 11
		default:
			i += 5
		}
	}
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(n), true
}
