package probe

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// The system calls of a check's nonblocking socket, made with
// syscall.RawSyscall rather than syscall.Syscall: none of them can block,
// so there is no point in telling the Go scheduler that the goroutine
// enters a system call. Connect and close on loopback do take a while (the
// kernel runs the peer's side of the handshake or reset right there), long
// enough that, told of it, the scheduler hands the goroutine's P to
// another thread, and its sysmon thread wakes every 20µs to do so: a cost
// per check greater than the syscalls' own.

// rawConnect starts connecting the nonblocking socket fd to ap.
func rawConnect(fd int, ap netip.AddrPort) error {
	var (
		sa4 syscall.RawSockaddrInet4
		sa6 syscall.RawSockaddrInet6
		p   unsafe.Pointer
		n   uintptr
	)
	port := ap.Port()
	if a := ap.Addr(); a.Is4() {
		sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
		bp := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		bp[0], bp[1] = byte(port>>8), byte(port)
		p, n = unsafe.Pointer(&sa4), syscall.SizeofSockaddrInet4
	} else {
		sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		bp := (*[2]byte)(unsafe.Pointer(&sa6.Port))
		bp[0], bp[1] = byte(port>>8), byte(port)
		p, n = unsafe.Pointer(&sa6), syscall.SizeofSockaddrInet6
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(p), n); e != 0 {
		return e
	}
	return nil
}

// rawRead reads from the nonblocking socket fd, retrying on EINTR.
func rawRead(fd int, p []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// rawWrite writes to the nonblocking socket fd, retrying on EINTR. A
// connection the peer broke fails with EPIPE and no SIGPIPE.
func rawWrite(fd int, p []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// closeResetFd closes the socket fd with a reset (SO_LINGER 0); see
// closeReset. A socket with a zero linger never blocks in close.
func closeResetFd(fd int) {
	syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
	syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
}
