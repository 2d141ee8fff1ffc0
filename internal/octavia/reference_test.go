package octavia

import (
	"strings"
	"testing"
)

func TestWriteReferenceNamesEverything(t *testing.T) {
	var b strings.Builder
	if err := WriteReference(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	var want []string
	want = append(want, MonitorTypeNames()...)
	want = append(want, AlgorithmNames()...)
	want = append(want, SessionPersistenceTypeNames()...)
	want = append(want, strs(ProvisioningStatuses())...)
	want = append(want, strs(OperatingStatuses())...)
	for _, p := range Protocols() {
		want = append(want, p.Name)
	}
	for _, f := range MonitorFields() {
		want = append(want, f.Name)
	}
	for _, w := range want {
		if !strings.Contains(out, "| "+w+" |") {
			t.Errorf("reference has no row for %s", w)
		}
	}
	if !strings.Contains(out, "| url_path | / |") || !strings.Contains(out, "| HTTP | refused (not served by vitals) |") {
		t.Errorf("reference lacks defaults or refusals:\n%s", out)
	}
	// Every table row has as many cells as its header.
	cells := 0
	for line := range strings.SplitSeq(out, "\n") {
		switch {
		case strings.HasPrefix(line, "### "), line == "":
			cells = 0
		case cells == 0:
			cells = strings.Count(line, "|")
		case strings.Count(line, "|") != cells:
			t.Errorf("row %q has a different number of cells than its header", line)
		}
	}
}
