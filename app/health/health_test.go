package health

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ftps3/ftps3/app/promtext"
)

func TestHealthChecksAndDrain(t *testing.T) {
	m := promtext.Sources{
		promtext.SourceFunc(func(w io.Writer) { promtext.Counter(w, "ftps3_test_total", "A counter.", 2) }),
		promtext.SourceFunc(func(w io.Writer) { promtext.Gauge(w, "ftps3_test_gauge", "A gauge.", 7) }),
	}
	s, err := Start("127.0.0.1:0", "127.0.0.1:0", m, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := net.Dial("tcp", s.TCPAddr().String())
	if err != nil {
		t.Fatalf("health check port: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Error("the health check port should accept and close")
	}
	c.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d while serving", code)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{"# TYPE ftps3_test_total counter\nftps3_test_total 2\n", "# TYPE ftps3_test_gauge gauge\nftps3_test_gauge 7\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code, _ := get("/debug/pprof/"); code != 404 {
		t.Errorf("pprof served without being enabled: %d", code)
	}

	s.Drain()
	if code, _ := get("/healthz"); code != 503 {
		t.Errorf("/healthz = %d while draining, want 503", code)
	}
	if c, err := net.DialTimeout("tcp", s.TCPAddr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the health check port still accepts while draining")
	}
}

// Several tasks behind one load balancer: /owner/PORT is the health check
// of a data port's target group, healthy only on the task that hands that
// port out, draining or not.
func TestOwnerAnswersForItsOwnDataPortsOnly(t *testing.T) {
	s, err := Start("127.0.0.1:0", "127.0.0.1:0", promtext.Sources{}, false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	status := func(path string) int {
		resp, err := http.Get("http://" + s.HTTPAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/owner/8042"); got != http.StatusNotFound {
		t.Errorf("before Own: %d, want 404", got)
	}
	s.Own(8042, 20) // task 1 of a plan of 20 ports from 8022
	for port, want := range map[string]int{"8041": 404, "8042": 200, "8061": 200, "8062": 404, "8022": 404, "x": 400, "70000": 400} {
		if got := status("/owner/" + port); got != want {
			t.Errorf("/owner/%s: %d, want %d", port, got, want)
		}
	}
	s.Drain()
	if got := status("/owner/8050"); got != http.StatusOK {
		t.Errorf("draining: /owner/8050 %d, want 200 (its sessions still open data connections)", got)
	}
	if got := status("/healthz"); got != http.StatusServiceUnavailable {
		t.Errorf("draining: /healthz %d, want 503", got)
	}
}
