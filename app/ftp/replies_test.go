package ftp_test

import (
	"strings"
	"testing"
)

// Each reply rewrite of replies.go, provoked through a real session: if the
// library's wording changes, the rewrite stops matching and these fail.
// (425 for busy data ports: TestAllDataPortsBusy; 536 for PROT C:
// TestBadInputKeepsTheSession.)

// A transfer that fails midway is answered 451 (retry), not the library's 550.
func TestFailedTransferIs451(t *testing.T) {
	g := startGateway(t, gatewayOptions{backend: "file"})
	c := dialRaw(t, g.addr, true)
	c.login()
	dc := c.startStor("cut.bin")
	dc.Write(randomData(1 << 20))
	dc.NetConn().Close() // TCP FIN without close_notify: a cut upload
	code, msg := c.reply()
	if code != 451 || !strings.Contains(msg, "close_notify") {
		t.Fatalf("cut upload answered %q, want 451 saying why", msg)
	}
	c.expect(200, "NOOP")
}
