package probe

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// meminfo returns /proc/meminfo content with the given values in kB.
func meminfo(totalKB, availKB uint64) string {
	return fmt.Sprintf("MemTotal:       %d kB\nMemFree:         1000 kB\nMemAvailable:   %d kB\nBuffers:          123 kB\nHugePages_Total:       0\n", totalKB, availKB)
}

// fakeStatfs returns a statfs that reports a file system of blocks blocks of
// 4 KiB, avail of which are available.
func fakeStatfs(blocks, avail uint64) func(string, *syscall.Statfs_t) error {
	return func(_ string, st *syscall.Statfs_t) error {
		*st = syscall.Statfs_t{Bsize: 4096, Frsize: 4096, Blocks: blocks, Bfree: avail + 10, Bavail: avail}
		return nil
	}
}

// loadEnv is what a load check reads, crafted for a test.
type loadEnv struct {
	loadavg string // content of /proc/loadavg; "-" for no such file
	meminfo string // content of /proc/meminfo; "-" for no such file
	cpus    int
	statfs  func(string, *syscall.Statfs_t) error
}

// craftedLoad builds a load check through New's validation and points it
// at files holding env's content in a temporary directory.
func craftedLoad(t *testing.T, s Spec, env loadEnv) (*loadCheck, string, string) {
	t.Helper()
	s.Timeout = time.Second
	k, _ := Lookup("load")
	if err := k.Validate(&s); err != nil {
		t.Fatal(err)
	}
	c, err := newLoad(s)
	if err != nil {
		t.Fatalf("newLoad: %v", err)
	}
	lc := c.(*loadCheck)
	dir := t.TempDir()
	lc.loadavgPath = filepath.Join(dir, "loadavg")
	lc.meminfoPath = filepath.Join(dir, "meminfo")
	for path, content := range map[string]string{lc.loadavgPath: env.loadavg, lc.meminfoPath: env.meminfo} {
		if content == "-" {
			continue
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lc.cpus = env.cpus
	if env.statfs != nil {
		lc.statfsFunc = env.statfs
	}
	return lc, lc.loadavgPath, lc.meminfoPath
}

func TestLoadCheckCrafted(t *testing.T) {
	const calm = "0.48 0.50 0.40 1/300 4242\n"
	all := Spec{MaxLoadPerCPU: 2, MinMemoryAvailable: "10%", MinDiskFree: "10%"}
	healthy := loadEnv{loadavg: calm, meminfo: meminfo(16000000, 12960000), cpus: 4, statfs: fakeStatfs(1000, 420)}
	with := func(f func(e *loadEnv)) loadEnv { e := healthy; f(&e); return e }
	// Paths are unknown until the files are written; {loadavg} and
	// {meminfo} in a wanted reason stand for them.
	tests := []struct {
		name   string
		spec   Spec
		env    loadEnv
		status Status
		reason string
	}{
		{"all pass", all, healthy, Pass, "load 0.12/cpu, memory 81% available, disk / 42% free"},
		{"load above", all, with(func(e *loadEnv) { e.loadavg = "12.40 1 1 1/1 1" }), Fail, "load 3.10/cpu above 2.00"},
		{"load just above shows more digits", all, with(func(e *loadEnv) { e.loadavg = "8.02 1 1 1/1 1" }), Fail, "load 2.005/cpu above 2.00"},
		{"load at limit passes", all, with(func(e *loadEnv) { e.loadavg = "8.00 1 1 1/1 1" }), Pass, "load 2.00/cpu, memory 81% available, disk / 42% free"},
		{"load with one cpu", Spec{MaxLoadPerCPU: 0.5}, with(func(e *loadEnv) { e.cpus = 1; e.loadavg = "0.75\n" }), Fail, "load 0.75/cpu above 0.50"},
		{"load limit with 3 decimals", Spec{MaxLoadPerCPU: 0.125}, with(func(e *loadEnv) { e.cpus = 1; e.loadavg = "0.2\n" }), Fail, "load 0.20/cpu above 0.125"},
		{"memory share below", all, with(func(e *loadEnv) { e.meminfo = meminfo(16000000, 480000) }), Fail, "memory 3% available below 10%"},
		{"memory share just below", all, with(func(e *loadEnv) { e.meminfo = meminfo(16000000, 1536000) }), Fail, "memory 9.6% available below 10%"},
		{"memory size below", Spec{MinMemoryAvailable: "512MiB"}, with(func(e *loadEnv) { e.meminfo = meminfo(16000000, 245760) }), Fail, "memory 240MiB available below 512MiB"},
		{"memory size just below", Spec{MinMemoryAvailable: "512MiB"}, with(func(e *loadEnv) { e.meminfo = meminfo(16000000, 524287) }), Fail, "memory 536869888 bytes available below 512MiB"},
		{"memory size pass", Spec{MinMemoryAvailable: "512MiB"}, healthy, Pass, "memory 12.4GiB available"},
		{"disk share below", all, with(func(e *loadEnv) { e.statfs = fakeStatfs(1000, 50) }), Fail, "disk / 5% free below 10%"},
		{"disk size below", Spec{MinDiskFree: "1GiB", DiskPath: "/tmp"}, with(func(e *loadEnv) { e.statfs = fakeStatfs(1<<20, 1<<17) }), Fail, "disk /tmp 512MiB free below 1GiB"},
		{"disk size pass", Spec{MinDiskFree: "1GiB", DiskPath: "/tmp/"}, with(func(e *loadEnv) { e.statfs = fakeStatfs(1<<20, 1<<19) }), Pass, "disk /tmp 2GiB free"},
		{"disk full", Spec{MinDiskFree: "1%"}, with(func(e *loadEnv) { e.statfs = fakeStatfs(1000, 0) }), Fail, "disk / 0% free below 1%"},
		{"zero share never fails", Spec{MinDiskFree: "0%"}, with(func(e *loadEnv) { e.statfs = fakeStatfs(1000, 0) }), Pass, "disk / 0% free"},
		{"all crossed", all, loadEnv{loadavg: "12.4", meminfo: meminfo(100, 3), cpus: 4, statfs: fakeStatfs(1000, 50)}, Fail,
			"load 3.10/cpu above 2.00; memory 3% available below 10%; disk / 5% free below 10%"},
		{"only what is set is read", Spec{MinMemoryAvailable: "10%"}, with(func(e *loadEnv) { e.loadavg = "-"; e.statfs = fakeStatfs(0, 0) }), Pass, "memory 81% available"},

		// Junk and missing content fails with a clear reason.
		{"no loadavg", all, with(func(e *loadEnv) { e.loadavg = "-" }), Fail, "read {loadavg}: no such file or directory"},
		{"empty loadavg", all, with(func(e *loadEnv) { e.loadavg = "" }), Fail, "parse {loadavg}: file is empty"},
		{"junk loadavg", all, with(func(e *loadEnv) { e.loadavg = "junk 1 2" }), Fail, `parse {loadavg}: first field "junk" is not a load average`},
		{"negative loadavg", all, with(func(e *loadEnv) { e.loadavg = "-1 0 0" }), Fail, `parse {loadavg}: first field "-1" is not a load average`},
		{"NaN loadavg", all, with(func(e *loadEnv) { e.loadavg = "NaN" }), Fail, `parse {loadavg}: first field "NaN" is not a load average`},
		{"hex loadavg", all, with(func(e *loadEnv) { e.loadavg = "0x1p3" }), Fail, `parse {loadavg}: first field "0x1p3" is not a load average`},
		{"binary loadavg", all, with(func(e *loadEnv) { e.loadavg = "\x00\xff\xfe" }), Fail, `parse {loadavg}: first field "\x00\xff\xfe" is not a load average`},
		{"long junk loadavg is cut", all, with(func(e *loadEnv) { e.loadavg = strings.Repeat("x", 100) }), Fail,
			`parse {loadavg}: first field "` + strings.Repeat("x", 40) + `…" is not a load average`},
		{"no meminfo", all, with(func(e *loadEnv) { e.meminfo = "-" }), Fail, "read {meminfo}: no such file or directory"},
		{"junk meminfo", all, with(func(e *loadEnv) { e.meminfo = "junk\n\x00\x01" }), Fail, "parse {meminfo}: no MemTotal line"},
		{"old kernel meminfo", all, with(func(e *loadEnv) { e.meminfo = "MemTotal: 100 kB\nMemFree: 50 kB\n" }), Fail, "parse {meminfo}: no MemAvailable line (Linux 3.14 or later has it)"},
		{"bad meminfo number", all, with(func(e *loadEnv) { e.meminfo = "MemTotal: 1x kB\nMemAvailable: 5 kB\n" }), Fail, `parse {meminfo}: MemTotal: "1x kB" is not a number of kB`},
		{"bad meminfo unit", all, with(func(e *loadEnv) { e.meminfo = "MemTotal: 10 MB\nMemAvailable: 5 kB\n" }), Fail, `parse {meminfo}: MemTotal: "10 MB" is not a number of kB`},
		{"overflowing meminfo", all, with(func(e *loadEnv) { e.meminfo = "MemTotal: 18446744073709551615 kB\nMemAvailable: 5 kB\n" }), Fail,
			`parse {meminfo}: MemTotal: "18446744073709551615 kB" is not a number of kB`},
		{"zero MemTotal", all, with(func(e *loadEnv) { e.meminfo = meminfo(0, 0) }), Fail, "parse {meminfo}: MemTotal is 0"},
		{"MemAvailable above MemTotal", all, with(func(e *loadEnv) { e.meminfo = meminfo(10, 20) }), Fail, "parse {meminfo}: MemAvailable 20480 is more than MemTotal 10240"},
		{"statfs error", all, with(func(e *loadEnv) {
			e.statfs = func(string, *syscall.Statfs_t) error { return syscall.EACCES }
		}), Fail, "statfs /: permission denied"},
		{"statfs without size", all, with(func(e *loadEnv) { e.statfs = fakeStatfs(0, 0) }), Fail, "statfs /: file system reports no size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, loadavg, meminfo := craftedLoad(t, tt.spec, tt.env)
			r := runBounded(t, timed{c: c, timeout: time.Second}, time.Second)
			want := strings.NewReplacer("{loadavg}", loadavg, "{meminfo}", meminfo).Replace(tt.reason)
			if r.Status != tt.status || r.Reason != want {
				t.Errorf("got %s %q, want %s %q", r.Status, r.Reason, tt.status, want)
			}
		})
	}
}

// TestLoadStatfsHangs shows a statfs that blocks in the kernel (a hung NFS
// mount) cannot hold the check past its timeout, and that later runs fail
// at once rather than pile up blocked calls. It runs in a synctest bubble:
// the timeout passes on the fake clock as soon as the check is blocked.
func TestLoadStatfsHangs(t *testing.T) {
	c, _, _ := craftedLoad(t, Spec{MinDiskFree: "10%", DiskPath: "/tmp"}, loadEnv{cpus: 1})
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		c.statfsFunc = func(_ string, st *syscall.Statfs_t) error {
			<-release
			return fakeStatfs(1000, 500)("", st)
		}
		p := timed{c: c, timeout: 200 * time.Millisecond}

		r := p.Probe(t.Context())
		if want := "timeout after 200ms during statfs /tmp"; r.Status != Fail || r.Reason != want || r.Latency != 200*time.Millisecond {
			t.Errorf("blocked: got %s %q after %s, want fail %q after 200ms", r.Status, r.Reason, r.Latency, want)
		}
		r = p.Probe(t.Context())
		if want := "statfs /tmp: an earlier statfs is still blocked"; r.Status != Fail || r.Reason != want || r.Latency != 0 {
			t.Errorf("still blocked: got %s %q after %s, want fail %q at once", r.Status, r.Reason, r.Latency, want)
		}
		close(release)
		synctest.Wait() // the blocked call returns and clears the flag
		r = p.Probe(t.Context())
		if want := "disk /tmp 50% free"; r.Status != Pass || r.Reason != want {
			t.Errorf("released: got %s %q, want pass %q", r.Status, r.Reason, want)
		}
	})
}

// TestLoadRealProc runs the check against this machine's /proc and root
// file system.
func TestLoadRealProc(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		spec   Spec
		status Status
		reason string // regular expression
	}{
		{"generous limits pass", Spec{MaxLoadPerCPU: 1e6, MinMemoryAvailable: "0%", MinDiskFree: "1B"}, Pass,
			`^load \d+\.\d\d/cpu, memory \d+% available, disk / [\d.]+[KMGTPE]?i?B free$`},
		{"disk path", Spec{MinDiskFree: "0%", DiskPath: dir}, Pass, `^disk ` + regexp.QuoteMeta(dir) + ` \d+% free$`},
		{"impossible memory fails", Spec{MinMemoryAvailable: "100PiB"}, Fail, `^memory [\d.]+[KMGTPE]?i?B available below 100PiB$`},
		{"full share of disk fails", Spec{MinDiskFree: "100%"}, Fail, `^disk / [\d.]+% free below 100%$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Timeout = time.Second
			r := runBounded(t, mustProbe(t, "load", tt.spec), time.Second)
			if r.Status != tt.status || !regexp.MustCompile(tt.reason).MatchString(r.Reason) {
				t.Errorf("got %s %q, want %s matching %s", r.Status, r.Reason, tt.status, tt.reason)
			}
		})
	}
}

func TestLoadValidation(t *testing.T) {
	const forms = `want a share such as "10%" or a size such as "512MiB", "1GiB", "500MB" or a number of bytes`
	nan, inf := 0.0, 1e308
	nan /= nan
	inf *= 10
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"nothing set", Spec{}, "max_load_per_cpu: set at least one of max_load_per_cpu, min_memory_available and min_disk_free"},
		{"only disk path", Spec{DiskPath: "/"}, "max_load_per_cpu: set at least one of max_load_per_cpu, min_memory_available and min_disk_free"},
		{"negative load", Spec{MaxLoadPerCPU: -1}, "max_load_per_cpu: must be a positive number, got -1"},
		{"NaN load", Spec{MaxLoadPerCPU: nan}, "max_load_per_cpu: must be a positive number, got NaN"},
		{"infinite load", Spec{MaxLoadPerCPU: inf}, "max_load_per_cpu: must be a positive number, got +Inf"},
		{"junk memory", Spec{MinMemoryAvailable: "abc"}, `min_memory_available: "abc" is not a share or a size; ` + forms},
		{"negative memory", Spec{MinMemoryAvailable: "-5%"}, `min_memory_available: "-5%" is not a share or a size; ` + forms},
		{"ambiguous unit", Spec{MinMemoryAvailable: "512M"}, `min_memory_available: "512M" has an unknown unit "M"; ` + forms},
		{"share above 100", Spec{MinDiskFree: "150%"}, `min_disk_free: "150%" is not a share from 0% to 100%`},
		{"size too large", Spec{MinDiskFree: "100000PiB"}, `min_disk_free: "100000PiB" is too large`},
		{"disk path without threshold", Spec{MaxLoadPerCPU: 1, DiskPath: "/"}, "disk_path: is set but min_disk_free is not"},
		{"relative disk path", Spec{MinDiskFree: "1%", DiskPath: "var"}, `disk_path: "var" is not an absolute path`},
		{"missing disk path", Spec{MinDiskFree: "1%", DiskPath: "/nonexistent/vitals"}, "disk_path: /nonexistent/vitals: no such file or directory"},
		{"address", Spec{MaxLoadPerCPU: 1, Address: "h:1"}, "address: is not used by type load"},
		{"foreign field", Spec{MaxLoadPerCPU: 1, Path: "/x"}, "path: is not allowed for type load"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.spec.Timeout = time.Second
			_, err := New("load", tt.spec)
			if fe, ok := errors.AsType[*FieldError](err); !ok || err.Error() != tt.want {
				t.Errorf("got %v (%T), want FieldError %q", err, fe, tt.want)
			}
		})
	}
}

func TestLoadParseLoadavg(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		err  string
	}{
		{"0.12 0.34 0.56 1/234 5678\n", 0.12, ""},
		{"  17.5\n", 17.5, ""},
		{"0 0 0", 0, ""},
		{"", 0, "file is empty"},
		{" \n\t", 0, "file is empty"},
		{"1e3 0 0", 0, `first field "1e3" is not a load average`},
		{"Inf", 0, `first field "Inf" is not a load average`},
		{".5", 0, `first field ".5" is not a load average`},
		{"1,5 0 0", 0, `first field "1,5" is not a load average`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := parseLoadavg([]byte(tt.in))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("got %v, %v; want error %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestLoadParseMeminfo(t *testing.T) {
	tests := []struct {
		name               string
		in                 string
		wantAvail, wantTot uint64
		err                string
	}{
		{"real shape", meminfo(16318412, 12000000), 12000000 << 10, 16318412 << 10, ""},
		{"no unit is bytes", "MemTotal: 1000\nMemAvailable: 10\n", 10, 1000, ""},
		{"first of a repeated key", "MemTotal: 10 kB\nMemAvailable: 5 kB\nMemTotal: junk\n", 5 << 10, 10 << 10, ""},
		{"CRLF, any order, no final newline", "MemAvailable: 1 kB\r\nMemTotal: 2 kB", 1 << 10, 2 << 10, ""},
		{"empty", "", 0, 0, "no MemTotal line"},
		{"three fields", "MemTotal: 1 kB x\nMemAvailable: 1 kB\n", 0, 0, `MemTotal: "1 kB x" is not a number of kB`},
		{"empty value", "MemTotal:\nMemAvailable: 1 kB\n", 0, 0, `MemTotal: "" is not a number of kB`},
		{"signed", "MemTotal: +5 kB\nMemAvailable: 1 kB\n", 0, 0, `MemTotal: "+5 kB" is not a number of kB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			avail, total, err := parseMeminfo([]byte(tt.in))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("got %d, %d, %v; want error %q", avail, total, err, tt.err)
				}
				return
			}
			if err != nil || avail != tt.wantAvail || total != tt.wantTot {
				t.Errorf("got %d, %d, %v; want %d, %d", avail, total, err, tt.wantAvail, tt.wantTot)
			}
		})
	}
}

func TestParseQuantity(t *testing.T) {
	const forms = `want a share such as "10%" or a size such as "512MiB", "1GiB", "500MB" or a number of bytes`
	tests := []struct {
		in      string
		share   float64 // when isShare
		bytes   uint64
		isShare bool
		err     string
	}{
		{in: "10%", share: 10, isShare: true},
		{in: "0%", share: 0, isShare: true},
		{in: "100%", share: 100, isShare: true},
		{in: "12.5%", share: 12.5, isShare: true},
		{in: " 10 % ", share: 10, isShare: true},
		{in: "512MiB", bytes: 512 << 20},
		{in: "1GiB", bytes: 1 << 30},
		{in: "1 GiB", bytes: 1 << 30},
		{in: "500MB", bytes: 500e6},
		{in: "1kb", bytes: 1000},
		{in: "1.5KiB", bytes: 1536},
		{in: "0.5B", bytes: 0},
		{in: "1048576", bytes: 1 << 20},
		{in: "2TiB", bytes: 2 << 40},
		{in: "1PB", bytes: 1e15},
		{in: "", err: `"" is not a share or a size; ` + forms},
		{in: "%", err: `"%" is not a share or a size; ` + forms},
		{in: "MiB", err: `"MiB" is not a share or a size; ` + forms},
		{in: ".5%", err: `".5%" is not a share or a size; ` + forms},
		{in: "5.%", err: `"5.%" is not a share or a size; ` + forms},
		{in: "1.2.3", err: `"1.2.3" is not a share or a size; ` + forms},
		{in: "1e3", err: `"1e3" has an unknown unit "e3"; ` + forms},
		{in: "0x10", err: `"0x10" has an unknown unit "x10"; ` + forms},
		{in: "+1", err: `"+1" is not a share or a size; ` + forms},
		{in: "NaN", err: `"NaN" is not a share or a size; ` + forms},
		{in: "10%%", err: `"10%%" has an unknown unit "%%"; ` + forms},
		{in: "10 M", err: `"10 M" has an unknown unit "M"; ` + forms},
		{in: "100.1%", err: `"100.1%" is not a share from 0% to 100%`},
		{in: "8EiB", err: `"8EiB" has an unknown unit "EiB"; ` + forms},
		{in: "9000PiB", err: `"9000PiB" is too large`},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			q, err := parseQuantity(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("got %+v, %v; want error %q", q, err, tt.err)
				}
				return
			}
			if err != nil || q.isShare != tt.isShare || q.share != tt.share || q.bytes != tt.bytes {
				t.Errorf("got %+v, %v; want share=%v %v%% %d bytes", q, err, tt.isShare, tt.share, tt.bytes)
			}
			if q.String() != strings.TrimSpace(tt.in) {
				t.Errorf("String() = %q, want %q", q.String(), strings.TrimSpace(tt.in))
			}
		})
	}
}
