package promx

import (
	"io"
	"math"
	"strconv"
	"sync"
)

// Writer writes the Prometheus text format (0.0.4) to an io.Writer
// through a buffer that it reuses, flushing it whenever it passes
// flushAt: writing a series allocates nothing. The first error sticks;
// later writes are dropped.
type Writer struct {
	w   io.Writer
	buf []byte
	err error
}

// flushAt is how full the buffer gets before it goes to the client.
const flushAt = 32 << 10

var writers = sync.Pool{New: func() any { return &Writer{buf: make([]byte, 0, flushAt+4<<10)} }}

// NewWriter returns a pooled Writer to w; Release returns it.
func NewWriter(w io.Writer) *Writer {
	tw := writers.Get().(*Writer)
	tw.w, tw.err = w, nil
	return tw
}

// Release flushes the buffer and returns the Writer to the pool; it
// returns the first error of any write.
func (w *Writer) Release() error {
	err := w.Flush()
	w.w, w.buf = nil, w.buf[:0]
	if cap(w.buf) <= 1<<20 { // a giant help text must not stay
		writers.Put(w)
	}
	return err
}

// Err is the first error of a write to the underlying writer.
func (w *Writer) Err() error { return w.err }

// Flush writes what the buffer holds.
func (w *Writer) Flush() error {
	if len(w.buf) > 0 && w.err == nil {
		_, w.err = w.w.Write(w.buf)
	}
	w.buf = w.buf[:0]
	return w.err
}

func (w *Writer) maybeFlush() {
	if len(w.buf) >= flushAt {
		w.Flush()
	}
}

// Write appends p, so that other encoders (expfmt's) can share the
// buffer.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	w.maybeFlush()
	return len(p), nil
}

// Header writes a family's HELP and TYPE lines.
func (w *Writer) Header(name, help string, t Type) {
	w.buf = append(w.buf, "# HELP "...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ' ')
	w.buf = appendEscaped(w.buf, help, false)
	w.buf = append(w.buf, "\n# TYPE "...)
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, t.String()...)
	w.buf = append(w.buf, '\n')
	w.maybeFlush()
}

// Sample writes one series: name{label="value",…} v, with labels given
// as name, value, name, value, ….
func (w *Writer) Sample(name string, v float64, labels ...string) {
	w.buf = append(w.buf, name...)
	if len(labels) > 0 {
		w.buf = append(w.buf, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, labels[i]...)
			w.buf = append(w.buf, '=', '"')
			w.buf = appendEscaped(w.buf, labels[i+1], true)
			w.buf = append(w.buf, '"')
		}
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, ' ')
	w.buf = AppendFloat(w.buf, v)
	w.buf = append(w.buf, '\n')
	w.maybeFlush()
}

// appendEscaped appends s escaped as the text format wants: backslash
// and newline always, the double quote in label values.
func appendEscaped(b []byte, s string, quote bool) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch c := s[i]; {
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '"' && quote:
			esc = `\"`
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}

// AppendFloat appends v as the text format spells it: +Inf, -Inf, NaN,
// else Go's shortest 'g' form (as expfmt writes it).
func AppendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
