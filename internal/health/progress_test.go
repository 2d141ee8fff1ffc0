package health

import "testing"

func TestTrackerProgress(t *testing.T) {
	tests := []struct {
		rise, fall int
		results    string // P pass, F fail
		want       Progress
		text       string
	}{
		{2, 3, "", Progress{}, ""},
		{2, 3, "P", Progress{Toward: Down, Count: 0, Need: 3}, "0 of 3 failures"},
		{2, 3, "PF", Progress{Toward: Down, Count: 1, Need: 3}, "1 of 3 failures"},
		{2, 3, "PFF", Progress{Toward: Down, Count: 2, Need: 3}, "2 of 3 failures"},
		{2, 3, "PFFF", Progress{Toward: Up, Count: 0, Need: 2}, "0 of 2 passes"},
		{2, 3, "PFFFP", Progress{Toward: Up, Count: 1, Need: 2}, "1 of 2 passes"},
		{2, 3, "PFFFPP", Progress{Toward: Down, Count: 0, Need: 3}, "0 of 3 failures"},
		{2, 3, "PFFPF", Progress{Toward: Down, Count: 1, Need: 3}, "1 of 3 failures"}, // a pass resets
		{1, 1, "P", Progress{Toward: Down, Count: 0, Need: 1}, "0 of 1 failure"},
		{1, 1, "F", Progress{Toward: Up, Count: 0, Need: 1}, "0 of 1 pass"},
	}
	for _, tt := range tests {
		tr, err := NewTracker(tt.rise, tt.fall)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range tt.results {
			tr.Observe(r == 'P')
		}
		if got := tr.Progress(); got != tt.want || got.String() != tt.text {
			t.Errorf("rise %d fall %d after %q: %+v %q, want %+v %q", tt.rise, tt.fall, tt.results, got, got.String(), tt.want, tt.text)
		}
	}
}
