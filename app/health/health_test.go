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
