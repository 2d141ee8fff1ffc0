package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// The kernel files the load check reads.
const (
	procLoadavg = "/proc/loadavg"
	procMeminfo = "/proc/meminfo"
)

// maxProcFile bounds how much of a /proc file the load check reads. The
// real files are a few KiB.
const maxProcFile = 64 << 10

// loadCheck fails when the host is too busy to serve: the 1-minute load
// average per CPU is above a limit, or available memory or free disk space
// is below one. Only the thresholds that are set are read.
type loadCheck struct {
	maxLoadPerCPU float64  // 0: not checked
	minMemory     quantity // of MemTotal; checked when memorySet
	memorySet     bool
	minDisk       quantity // of the file system's size; checked when diskSet
	diskSet       bool
	diskPath      string // absolute; the file system of minDisk

	// cpus is the number of CPUs the load average is divided by:
	// runtime.NumCPU() at New, which honours the CPU affinity mask but not
	// a cgroup CPU quota.
	cpus int
	// loadavgPath and meminfoPath are the kernel files read; tests point
	// them at crafted files.
	loadavgPath, meminfoPath string
	// statfsFunc is syscall.Statfs; tests replace it.
	statfsFunc func(path string, st *syscall.Statfs_t) error

	// statfsBusy is set while a statfs call runs. A statfs on a hung
	// network file system can block in the kernel beyond any timeout; the
	// check then returns at its deadline and leaves that one call behind,
	// and later runs fail at once until it returns rather than pile up.
	statfsBusy atomic.Bool
}

func newLoad(s Spec) (checker, error) {
	c := &loadCheck{
		diskPath:    "/",
		cpus:        runtime.NumCPU(),
		loadavgPath: procLoadavg,
		meminfoPath: procMeminfo,
		statfsFunc:  syscall.Statfs,
	}
	if s.MaxLoadPerCPU == 0 && s.MinMemoryAvailable == "" && s.MinDiskFree == "" {
		return nil, &FieldError{Field: "max_load_per_cpu", Msg: "set at least one of max_load_per_cpu, min_memory_available and min_disk_free"}
	}
	if v := s.MaxLoadPerCPU; v != 0 {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, &FieldError{Field: "max_load_per_cpu", Msg: fmt.Sprintf("must be a positive number, got %v", v)}
		}
		c.maxLoadPerCPU = v
	}
	if s.MinMemoryAvailable != "" {
		q, err := parseQuantity(s.MinMemoryAvailable)
		if err != nil {
			return nil, &FieldError{Field: "min_memory_available", Msg: err.Error()}
		}
		c.minMemory, c.memorySet = q, true
	}
	if s.MinDiskFree != "" {
		q, err := parseQuantity(s.MinDiskFree)
		if err != nil {
			return nil, &FieldError{Field: "min_disk_free", Msg: err.Error()}
		}
		c.minDisk, c.diskSet = q, true
	}
	if s.DiskPath != "" {
		if !c.diskSet {
			return nil, &FieldError{Field: "disk_path", Msg: "is set but min_disk_free is not"}
		}
		if !filepath.IsAbs(s.DiskPath) {
			return nil, &FieldError{Field: "disk_path", Msg: fmt.Sprintf("%q is not an absolute path", s.DiskPath)}
		}
		c.diskPath = filepath.Clean(s.DiskPath)
	}
	if c.diskSet {
		var st syscall.Statfs_t
		if err := syscall.Statfs(c.diskPath, &st); err != nil {
			return nil, &FieldError{Field: "disk_path", Msg: fmt.Sprintf("%s: %v", c.diskPath, err)}
		}
	}
	return c, nil
}

// check reads what is set and compares it with its threshold. Reasons:
//
//	load 0.12/cpu, memory 81% available, disk / 42% free
//	load 3.10/cpu above 2.00; memory 240MiB available below 512MiB
//	disk /var/lib/mysql 3% free below 10%
//	read /proc/loadavg: no such file or directory
//	parse /proc/meminfo: no MemAvailable line
//	statfs /data: permission denied
//	timeout after 1s during statfs /data (from judge)
func (c *loadCheck) check(ctx context.Context) (string, error) {
	var readings, crossed []string
	if c.maxLoadPerCPU > 0 {
		b, err := readProcFile(c.loadavgPath)
		if err != nil {
			return "", err
		}
		load, err := parseLoadavg(b)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", c.loadavgPath, err)
		}
		per := load / float64(max(c.cpus, 1))
		limit := fmtLimit(c.maxLoadPerCPU)
		if per > c.maxLoadPerCPU {
			crossed = append(crossed, fmt.Sprintf("load %s/cpu above %s", fmtNear(per, c.maxLoadPerCPU, 2), limit))
		}
		readings = append(readings, fmt.Sprintf("load %s/cpu", strconv.FormatFloat(per, 'f', 2, 64)))
	}
	if c.memorySet {
		b, err := readProcFile(c.meminfoPath)
		if err != nil {
			return "", err
		}
		avail, total, err := parseMeminfo(b)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", c.meminfoPath, err)
		}
		r := c.minMemory.reading(avail, total)
		if c.minMemory.below(avail, total) {
			crossed = append(crossed, fmt.Sprintf("memory %s available below %s", r, c.minMemory))
		}
		readings = append(readings, fmt.Sprintf("memory %s available", r))
	}
	if c.diskSet {
		avail, total, err := c.statfs(ctx)
		if err != nil {
			return "", step("statfs "+c.diskPath, err)
		}
		r := c.minDisk.reading(avail, total)
		if c.minDisk.below(avail, total) {
			crossed = append(crossed, fmt.Sprintf("disk %s %s free below %s", c.diskPath, r, c.minDisk))
		}
		readings = append(readings, fmt.Sprintf("disk %s %s free", c.diskPath, r))
	}
	if len(crossed) > 0 {
		return "", mismatch("%s", strings.Join(crossed, "; "))
	}
	return strings.Join(readings, ", "), nil
}

// statfs returns the bytes available to unprivileged users (Bavail) and
// the size (Blocks) of the file system holding diskPath. It returns when
// ctx ends even if the kernel call does not; see statfsBusy.
func (c *loadCheck) statfs(ctx context.Context) (avail, total uint64, err error) {
	if !c.statfsBusy.CompareAndSwap(false, true) {
		return 0, 0, errors.New("an earlier statfs is still blocked")
	}
	type result struct {
		st  syscall.Statfs_t
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer c.statfsBusy.Store(false)
		var r result
		r.err = c.statfsFunc(c.diskPath, &r.st)
		done <- r
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	if r.err != nil {
		return 0, 0, r.err
	}
	// Block counts are in fragment-size units; Bsize is only the
	// preferred I/O size, although the two are usually equal.
	unit := uint64(r.st.Frsize)
	if unit == 0 {
		unit = uint64(r.st.Bsize)
	}
	if r.st.Blocks == 0 || unit == 0 {
		return 0, 0, errors.New("file system reports no size")
	}
	return r.st.Bavail * unit, r.st.Blocks * unit, nil
}

// readProcFile reads at most maxProcFile bytes of a kernel file.
func readProcFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, step("read "+path, unwrapPathErr(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProcFile))
	if err != nil {
		return nil, step("read "+path, unwrapPathErr(err))
	}
	return b, nil
}

// parseLoadavg returns the 1-minute load average, the first field of
// /proc/loadavg ("0.12 0.34 0.56 1/234 5678"). It accepts only a plain
// non-negative decimal number.
func parseLoadavg(b []byte) (float64, error) {
	fields := bytes.Fields(b)
	if len(fields) == 0 {
		return 0, errors.New("file is empty")
	}
	f := string(fields[0])
	if !isDecimal(f) {
		return 0, fmt.Errorf("first field %q is not a load average", clip(f, 40))
	}
	v, err := strconv.ParseFloat(f, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("first field %q is not a load average", clip(f, 40))
	}
	return v, nil
}

// parseMeminfo returns MemAvailable and MemTotal in bytes from the
// content of /proc/meminfo, whose lines read "MemTotal:  16318412 kB".
// Other lines are ignored; the first of a repeated key counts.
// MemAvailable appeared in Linux 3.14.
func parseMeminfo(b []byte) (avail, total uint64, err error) {
	var haveAvail, haveTotal bool
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		key, rest, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch {
		case string(key) == "MemTotal" && !haveTotal:
			dst, haveTotal = &total, true
		case string(key) == "MemAvailable" && !haveAvail:
			dst, haveAvail = &avail, true
		default:
			continue
		}
		v, err := parseMeminfoValue(rest)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", key, err)
		}
		*dst = v
	}
	switch {
	case !haveTotal:
		return 0, 0, errors.New("no MemTotal line")
	case !haveAvail:
		return 0, 0, errors.New("no MemAvailable line (Linux 3.14 or later has it)")
	case total == 0:
		return 0, 0, errors.New("MemTotal is 0")
	case avail > total:
		return 0, 0, fmt.Errorf("MemAvailable %d is more than MemTotal %d", avail, total)
	}
	return avail, total, nil
}

// parseMeminfoValue parses "  16318412 kB" to bytes.
func parseMeminfoValue(b []byte) (uint64, error) {
	f := bytes.Fields(b)
	bad := func() (uint64, error) {
		return 0, fmt.Errorf("%q is not a number of kB", clip(string(bytes.TrimSpace(b)), 40))
	}
	if len(f) == 0 || len(f) > 2 {
		return bad()
	}
	mult := uint64(1)
	if len(f) == 2 {
		if string(f[1]) != "kB" {
			return bad()
		}
		mult = 1024
	}
	for _, c := range f[0] {
		if c < '0' || c > '9' {
			return bad()
		}
	}
	v, err := strconv.ParseUint(string(f[0]), 10, 64)
	if err != nil || v > math.MaxUint64/mult {
		return bad()
	}
	return v * mult, nil
}

// fmtLimit formats a load limit with two decimals, or more when it has them.
func fmtLimit(v float64) string {
	if s := strconv.FormatFloat(v, 'f', -1, 64); len(s) > len(strconv.FormatFloat(v, 'f', 2, 64)) {
		return s
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// clip cuts s to at most n bytes for a reason, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
