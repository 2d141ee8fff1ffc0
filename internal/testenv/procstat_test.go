package testenv

import (
	"os"
	"testing"
)

// TestProcStat reads this process's RSS and descriptors, and sees a new
// descriptor counted.
func TestProcStat(t *testing.T) {
	rss, err := ProcRSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("ProcRSS = %d, %v; want at least 1 MiB", rss, err)
	}
	before, err := ProcFDs(os.Getpid())
	if err != nil || before < 3 {
		t.Fatalf("ProcFDs = %d, %v; want at least 3", before, err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if after, err := ProcFDs(os.Getpid()); err != nil || after < before+1 {
		t.Errorf("ProcFDs after one open = %d, %v; want at least %d", after, err, before+1)
	}
	if _, err := ProcRSS(-1); err == nil {
		t.Error("ProcRSS(-1) succeeded")
	}
}
