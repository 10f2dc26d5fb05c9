package ftp

import (
	"net"
	"syscall"
)

// quickAck makes the kernel acknowledge what conn received at once, instead
// of after the delayed-ACK timer (40 ms on Linux). See rawReader.
func quickAck(conn net.Conn) {
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
