package schedule

import (
	"testing"
	"time"
)

func TestFrozenAt(t *testing.T) {
	bf := Freeze{Name: "black-friday", Start: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)}
	ye := Freeze{Name: "year-end", Start: time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 26, 23, 59, 0, 0, time.UTC), ""},
		{time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "black-friday"},
		{time.Date(2026, 11, 29, 23, 59, 0, 0, time.UTC), "black-friday"},
		{time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), ""},
		{time.Date(2026, 12, 25, 12, 0, 0, 0, time.UTC), "year-end"},
	} {
		f, ok := FrozenAt([]Freeze{bf, ye}, tt.at)
		if f.Name != tt.want || ok != (tt.want != "") {
			t.Errorf("FrozenAt(%s) = %q %v, want %q", tt.at, f.Name, ok, tt.want)
		}
	}
}
