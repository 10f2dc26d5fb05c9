//go:build !linux

package ftp

import "net"

// quickAck: TCP_QUICKACK is Linux's; elsewhere the delayed-ACK timer stays.
func quickAck(net.Conn) {}
